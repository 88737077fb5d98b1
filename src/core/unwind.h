/*
 * unwind.h - stack walking, from a signal handler's ucontext, from the
 * calling thread's own frame, or from registers another thread published.
 *
 * Three unwinders, chosen by SCRY_UNWIND (scry run --unwind):
 *   hybrid    (default) at each frame, looks the pc up in the unwind table
 *             compiled ahead of time from the object's .eh_frame
 *             (core/cfi.c, core/unwind_tables.c) and follows its rule: the
 *             canonical frame address from sp or fp plus an offset, the
 *             return address below it, the caller's fp where the rule saved
 *             it. That handles frameless leaves, prologues and epilogues at
 *             any instruction, PLT stubs and code built without frame
 *             pointers. Where no table covers the pc it follows the frame
 *             pointer once, accepting only a return address into known code;
 *             signal frames (__restore_rt) unwind into the interrupted code.
 *             No libunwind, no dl_iterate_phdr, no lock, no allocation: only
 *             loads from the tables (retired by generation, never freed
 *             under a reader) and bounds-checked loads from the stack.
 *   fp        follows the frame-pointer chain only (the price: a leaf that
 *             keeps no frame loses its caller, code built without frame
 *             pointers ends the walk).
 *   libunwind libunwind's unw_backtrace, kept for comparison. It finds
 *             .eh_frame through dl_iterate_phdr, which takes the loader's
 *             lock: a sample landing inside dlopen on the same thread could
 *             deadlock. Never the default.
 *
 * Output: out[0] is the interrupted instruction; out[i > 0] are return
 * addresses minus one, so that symbolization lands on the call (a frame
 * that a signal interrupted, past a signal frame, is its exact pc).
 */
#ifndef SCRY_CORE_UNWIND_H
#define SCRY_CORE_UNWIND_H

#include <stdatomic.h>
#include <stdint.h>
#include <ucontext.h>

enum { SCRY__UNWIND_HYBRID = 0, SCRY__UNWIND_FP = 1, SCRY__UNWIND_LIBUNWIND = 2 };

/* The most frames any unwinder returns (callers pass the ring's
 * SCRY__MAX_FRAMES, which must not exceed it). */
#define SCRY__UNWIND_MAX 128

/* Called outside any handler before the first walk in that mode (each
 * profile's start calls it): builds the unwind tables of every loaded
 * object for the hybrid walk (once; later calls only pick up objects
 * loaded since). Not async-signal-safe. */
void scry__unwind_init(int mode);

/* From a signal handler's context, with the given mode. Async-signal-safe
 * in every mode but libunwind's (see above). */
uint32_t scry__unwind_as_safe(int mode, const ucontext_t *uc, uintptr_t *out, uint32_t max);
uint32_t scry__unwind_hybrid_as_safe(const ucontext_t *uc, uintptr_t *out, uint32_t max);
uint32_t scry__unwind_fp_as_safe(const ucontext_t *uc, uintptr_t *out, uint32_t max);
uint32_t scry__unwind_libunwind_as_safe(const ucontext_t *uc, uintptr_t *out, uint32_t max);

/* The calling thread's own stack, from the caller of these functions
 * outwards (the heap and lock profiles sample inside interposers, not in a
 * handler). Every frame is a return address minus one; the first frames
 * are the caller's own. The hybrid and fp walks need the thread's stack
 * bounds and return 0 without them; libunwind's is not async-signal-safe. */
uint32_t scry__unwind_here(int mode, uintptr_t *out, uint32_t max);

/* Registers a thread published on its way into a wait (core/waits.h):
 * enough to walk its stack from another thread while it stays there. */
typedef struct {
    uintptr_t pc, sp, fp;
} scry__regs_t;

/* The calling point's own registers (a few instructions, no walk). Inline:
 * the pc is an instruction of the function it is inlined into, whose
 * unwind row describes the sp and fp captured with it. */
#if defined(__x86_64__)
#define SCRY__REGS_HERE(r)                                                                         \
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"                          \
                     : "=r"((r)->pc), "=r"((r)->sp), "=r"((r)->fp))
#elif defined(__aarch64__)
#define SCRY__REGS_HERE(r)                                                                         \
    __asm__ volatile("adr %0, .\n\tmov %1, sp\n\tmov %2, x29"                                      \
                     : "=r"((r)->pc), "=r"((r)->sp), "=r"((r)->fp))
#endif

/* Another thread's stack, from registers it published and will not leave
 * behind while the caller walks (the caller checks that afterwards and
 * discards the result if it did). Reads the other thread's stack with
 * process_vm_readv, so a stack that went away is a failed read, not a
 * fault. [lo, hi) bounds the reads (hi 0: unknown, 1 MiB above sp).
 * Frame 0 is r->pc itself. The fp mode follows frame pointers only; the
 * others walk by the hybrid's tables (libunwind cannot walk another
 * thread's stack). Not for signal handlers (it may read a page of
 * stack at a time into its own frame). */
uint32_t scry__unwind_remote(int mode, const scry__regs_t *r, uintptr_t lo, uintptr_t hi,
                             uintptr_t *out, uint32_t max);

/* How walks ended, since the process started: for the profiles' comments
 * ("unwinder: hybrid; 12 of 3051 stacks ended early: 10 no table, 2 bad
 * read, 0 depth"). Counted by the hybrid walk only. */
enum {
    SCRY__UNW_END_COMPLETE, /* reached the thread's entry (return address undefined or 0) */
    SCRY__UNW_END_NO_TABLE, /* no rule for a pc and no frame pointer to follow */
    SCRY__UNW_END_BAD_READ, /* a rule or pointer led outside the stack or to no code */
    SCRY__UNW_END_DEPTH,    /* out of room */
    SCRY__UNW_END_COUNT
};
extern _Atomic uint64_t scry__unwind_ends[SCRY__UNW_END_COUNT];
/* "unwinder: hybrid (.eh_frame tables of 14 objects); 12 of 3051 stacks
 * ended early: ..." into buf; returns buf. */
const char *scry__unwind_describe(int mode, char *buf, size_t size);

#endif
