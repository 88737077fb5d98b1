/*
 * unwind.c - frame-pointer and DWARF unwinders; see unwind.h.
 *
 * Frame-pointer walk (x86-64 and AArch64 share the frame record layout:
 * [fp] = caller's fp, [fp + 8] = return address). A frame is accepted only
 * when it lies between the interrupted stack pointer and the top of the
 * thread's stack, is 8-byte aligned, and the chain moves strictly upwards,
 * which also bounds the walk. A leaf interrupted in its prologue (before it
 * pushed its frame) loses its caller: the usual price of frame pointers.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include "core/unwind.h"

#include <libunwind.h>

#include "core/threads.h"

static void regs(const ucontext_t *uc, uintptr_t *pc, uintptr_t *fp, uintptr_t *sp)
{
#if defined(__x86_64__)
    *pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    *fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    *sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    *pc = (uintptr_t)uc->uc_mcontext.pc;
    *fp = (uintptr_t)uc->uc_mcontext.regs[29];
    *sp = (uintptr_t)uc->uc_mcontext.sp;
#else
#error "scry: frame-pointer unwinding supports x86-64 and AArch64"
#endif
}

/* Above the highest user-space address (47 bits on x86-64; AArch64 may
 * use up to 52). */
#if defined(__x86_64__)
#define USER_LIMIT ((uintptr_t)1 << 47)
#else
#define USER_LIMIT ((uintptr_t)1 << 52)
#endif

/* Follows the chain from frame fp; frames must lie in [lo, hi). */
static uint32_t fp_walk(uintptr_t fp, uintptr_t lo, uintptr_t hi, uintptr_t *out, uint32_t n,
                        uint32_t max)
{
    while (n < max) {
        if (fp < lo || fp > hi - 2 * sizeof(uintptr_t) || (fp & (sizeof(uintptr_t) - 1))) break;
        const uintptr_t *frame = (const uintptr_t *)fp;
        uintptr_t next = frame[0], ret = frame[1];
        /* A return address is in user space: a frame pointer that led into
         * data (code built without frame pointers) yields text or a small
         * number, and ends the walk here rather than a frame later. */
        if (ret < 4096 || ret >= USER_LIMIT) break;
        out[n++] = ret - 1;
        if (next <= fp) break;
        fp = next;
    }
    return n;
}

uint32_t scry__unwind_fp_as_safe(const ucontext_t *uc, uintptr_t *out, uint32_t max)
{
    uintptr_t pc, fp, sp;
    regs(uc, &pc, &fp, &sp);
    uint32_t n = 0;
    out[n++] = pc;
    uintptr_t lo = scry__tls.stack_lo, hi = scry__tls.stack_hi;
    if (hi == 0) return n; /* foreign thread: bounds unknown, read nothing */
    if (sp > lo) lo = sp;
    return fp_walk(fp, lo, hi, out, n, max);
}

__attribute__((noinline)) uint32_t scry__unwind_fp_here(uintptr_t *out, uint32_t max)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t hi = scry__tls.stack_hi;
    if (hi == 0) return 0;
    return fp_walk(fp, fp, hi, out, 0, max);
}

__attribute__((noinline)) uint32_t scry__unwind_dwarf_here(uintptr_t *out, uint32_t max)
{
    void *buf[SCRY__UNWIND_MAX];
    if (max > SCRY__UNWIND_MAX) max = SCRY__UNWIND_MAX;
    int n = unw_backtrace(buf, (int)max);
    for (int i = 0; i < n; i++) out[i] = (uintptr_t)buf[i] - 1;
    return n > 0 ? (uint32_t)n : 0;
}

void scry__unwind_init(int mode)
{
    if (mode == SCRY__UNWIND_DWARF) unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

/* The step-by-step walk from the signal's context: exact, but libunwind 1.6
 * spends ~0.7 us a frame in it (45 us for 64 frames, bench/handler_cost). */
static uint32_t dwarf_step_walk(const ucontext_t *uc, uintptr_t *out, uint32_t max)
{
    unw_cursor_t c;
    if (unw_init_local2(&c, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0) {
        uintptr_t pc, fp, sp;
        regs(uc, &pc, &fp, &sp);
        out[0] = pc;
        return 1;
    }
    uint32_t n = 0;
    do {
        unw_word_t ip;
        if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0) break;
        out[n] = n == 0 ? (uintptr_t)ip : (uintptr_t)ip - 1;
        n++;
    } while (n < max && unw_step(&c) > 0);
    return n;
}

/* Frames of the handler itself above the signal frame: on_sigprof, this
 * function, unw_backtrace's own, the kernel's restorer. */
#define HANDLER_FRAMES 16

uint32_t scry__unwind_dwarf_as_safe(const ucontext_t *uc, uintptr_t *out, uint32_t max)
{
    /* unw_backtrace takes libunwind's cached fast-trace path (~0.5 us for 64
     * frames, against ~45 us for unw_step) and walks through the signal
     * frame; the interrupted frames start where the trace meets the
     * context's pc. If it does not (the fast path gave up early), fall back
     * to the exact step-by-step walk. */
    uintptr_t pc, fp, sp;
    regs(uc, &pc, &fp, &sp);
    void *buf[SCRY__UNWIND_MAX + HANDLER_FRAMES];
    if (max > SCRY__UNWIND_MAX) max = SCRY__UNWIND_MAX;
    int n = unw_backtrace(buf, (int)(max + HANDLER_FRAMES));
    for (int i = 0; i < n && i < HANDLER_FRAMES; i++) {
        if ((uintptr_t)buf[i] != pc) continue;
        uint32_t k = 0;
        out[k++] = pc;
        for (int j = i + 1; j < n && k < max; j++) out[k++] = (uintptr_t)buf[j] - 1;
        return k;
    }
    return dwarf_step_walk(uc, out, max);
}
