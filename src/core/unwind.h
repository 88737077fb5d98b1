/*
 * unwind.h - stack walking from a signal handler's ucontext.
 *
 * Two unwinders, chosen by SCRY_UNWIND:
 *   fp     (default) follows the frame-pointer chain. Every frame address is
 *          checked against the thread's stack bounds before it is read, so a
 *          function built without frame pointers ends the walk early rather
 *          than faulting.
 *   dwarf  libunwind reads .eh_frame, so it walks code built without frame
 *          pointers too, at a higher cost per frame. Measured here (bench/cpu.sh,
 *          docs/unwinding.md), 64-deep stack: the fp handler adds 0.1-0.4 us,
 *          dwarf ~0.9 us (libunwind's fast trace; its step-by-step walk,
 *          kept as the fallback, costs 46 us), to the kernel's ~2.6 us of
 *          signal delivery on the test VM.
 *          libunwind finds
 *          .eh_frame through dl_iterate_phdr, which takes the loader's lock:
 *          a sample that lands while the same thread is inside dlopen could
 *          deadlock, which is why it is not the default.
 *
 * Output: out[0] is the interrupted instruction; out[i > 0] are return
 * addresses minus one, so that symbolization lands on the call.
 * Both functions are async-signal-safe and return the number of frames.
 */
#ifndef SCRY_CORE_UNWIND_H
#define SCRY_CORE_UNWIND_H

#include <stdint.h>
#include <ucontext.h>

enum { SCRY__UNWIND_FP = 0, SCRY__UNWIND_DWARF = 1 };

/* The most frames either unwinder returns (callers pass the ring's
 * SCRY__MAX_FRAMES, which must not exceed it). */
#define SCRY__UNWIND_MAX 128

/* Called once, outside any handler, before the first dwarf unwind. */
void scry__unwind_init(int mode);
uint32_t scry__unwind_fp_as_safe(const ucontext_t *uc, uintptr_t *out, uint32_t max);
uint32_t scry__unwind_dwarf_as_safe(const ucontext_t *uc, uintptr_t *out, uint32_t max);

/* The calling thread's own stack, from the caller of these functions
 * outwards (for the heap profile, which samples inside malloc, not in a
 * handler). Every frame is a return address minus one; the first frames are
 * the caller's own. The fp walk needs the thread's stack bounds and returns
 * 0 without them. Not async-signal-safe in dwarf mode (libunwind's cache). */
uint32_t scry__unwind_fp_here(uintptr_t *out, uint32_t max);
uint32_t scry__unwind_dwarf_here(uintptr_t *out, uint32_t max);

#endif
