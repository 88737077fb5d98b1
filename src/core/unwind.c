/*
 * unwind.c - the hybrid, frame-pointer and libunwind walks; see unwind.h.
 *
 * The hybrid walk, per frame: find the object whose code holds the pc and
 * its row for it (unwind_tables.h, cfi.h); compute the CFA from the row,
 * read the return address at CFA - 8 and the caller's fp where the row
 * says; the caller's sp is the CFA. A frame's lookup uses pc - 1 unless the
 * pc is exact (the interrupted instruction, or one a signal frame
 * restored): a return address may be the first byte of the next function
 * when the call was the last instruction of a noreturn path.
 *
 * Every stack read is 8-byte aligned and inside [lo, hi): the walking
 * thread's own stack from the interrupted sp to its top, read directly; or,
 * for another thread's stack (or a stack scry does not know the bounds of,
 * like a coroutine's), through process_vm_readv in 256-byte lines, so a
 * read of memory that went away fails instead of faulting. The CFA must
 * move up at every frame, which bounds the walk even before max.
 *
 * Frame-pointer walk (x86-64 and AArch64 share the frame record layout:
 * [fp] = caller's fp, [fp + 8] = return address). A frame is accepted only
 * when it lies between the interrupted stack pointer and the top of the
 * thread's stack, is 8-byte aligned, and the chain moves strictly upwards.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include "core/unwind.h"

#include <libunwind.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/cfi.h"
#include "core/codelog.h"
#include "core/threads.h"
#include "core/unwind_tables.h"

_Atomic uint64_t scry__unwind_ends[SCRY__UNW_END_COUNT];

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
#error "scry: unwinding supports x86-64 and AArch64"
#endif
}

/* Above the highest user-space address (47 bits on x86-64; AArch64 may
 * use up to 52). */
#if defined(__x86_64__)
#define USER_LIMIT ((uintptr_t)1 << 47)
#else
#define USER_LIMIT ((uintptr_t)1 << 52)
#endif

/* ---- memory a walk may read ---------------------------------------------- */

/* A walk reads other functions' frames, saved registers among their
 * locals: in the sanitizer build, an instrumented program's stack redzones
 * too, which is no error of scry's. */
#define NO_ASAN __attribute__((no_sanitize("address")))

#define LINE 256
#define LINES 4

typedef struct {
    uintptr_t lo, hi;
    int remote;
    pid_t pid;
    uintptr_t base[LINES]; /* 0: empty */
    unsigned next;
    uint8_t line[LINES][LINE];
} mem_t;

static int rd_remote(mem_t *m, uintptr_t a, uintptr_t *v);

NO_ASAN static inline int rd(mem_t *m, uintptr_t a, uintptr_t *v)
{
    if ((a & 7) || a < m->lo || a >= m->hi || m->hi - a < 8) return 0;
    if (__builtin_expect(!m->remote, 1)) {
        *v = *(const uintptr_t *)a;
        return 1;
    }
    return rd_remote(m, a, v);
}

__attribute__((noinline)) static int rd_remote(mem_t *m, uintptr_t a, uintptr_t *v)
{
    uintptr_t b = a & ~(uintptr_t)(LINE - 1);
    for (unsigned i = 0; i < LINES; i++) {
        if (m->base[i] == b) {
            memcpy(v, &m->line[i][a - b], 8);
            return 1;
        }
    }
    unsigned i = m->next++ % LINES;
    struct iovec local = {m->line[i], LINE}, remote = {(void *)b, LINE};
    if (syscall(SYS_process_vm_readv, m->pid, &local, 1, &remote, 1, 0) != LINE) return 0;
    m->base[i] = b;
    memcpy(v, &m->line[i][a - b], 8);
    return 1;
}

/* ---- the hybrid walk ------------------------------------------------------ */

typedef struct {
    uintptr_t pc, sp, fp;
    int exact; /* pc is an instruction, not a return address */
} frame_t;

/* sp points at the ucontext_t the kernel saved for a signal handler (the
 * handler's CFA: its return address, __restore_rt, was just popped). */
static int through_signal(mem_t *m, frame_t *f)
{
#if defined(__x86_64__)
    uintptr_t pc, sp, fp;
    uintptr_t g = f->sp + offsetof(ucontext_t, uc_mcontext.gregs);
    if (!rd(m, g + 8 * REG_RIP, &pc) || !rd(m, g + 8 * REG_RSP, &sp) ||
        !rd(m, g + 8 * REG_RBP, &fp))
        return 0;
    f->pc = pc;
    f->sp = sp;
    f->fp = fp;
    f->exact = 1;
    return 1;
#else
    (void)m, (void)f;
    return 0;
#endif
}

/* use_tables 0: the frame-pointer chain alone (fp mode on another thread's
 * published registers). */
NO_ASAN static uint32_t walk(frame_t f, mem_t *m, int use_tables, uintptr_t *out, uint32_t max)
{
    unsigned parity = 0;
    const scry__utab_snap_t *snap = use_tables ? scry__utab_enter_as_safe(&parity) : NULL;
    uint32_t n = 0;
    int end = SCRY__UNW_END_DEPTH, signals = 0;
    const scry__utab_range_t *rg = NULL; /* the last frame's object */
    scry__cfi_row_t buf;
    while (n < max) {
        uintptr_t look = f.exact ? f.pc : f.pc - 1;
        uint64_t e = snap ? scry__utab_cached_as_safe(look) : 0;
        if (e) {
            /* The common case, decoded here: CFA from sp or fp, the caller's
             * fp unchanged or saved below the CFA. */
            uintptr_t cfa = ((e >> 47 & 3) == 1 ? f.sp : f.fp) + ((e >> 49 & 511) << 3), ra,
                      fp = f.fp;
            uint64_t fk = e >> 58 & 3;
            if (!rd(m, cfa - 8, &ra) || (fk == 1 && !rd(m, cfa - ((e >> 60) << 3), &fp))) {
                out[n++] = look;
                end = SCRY__UNW_END_BAD_READ;
                break;
            }
            if (fk == 2) fp = 0;
            out[n++] = look;
            if (ra == 0) {
                end = SCRY__UNW_END_COMPLETE;
                break;
            }
            if (cfa <= f.sp || ra < 4096 || ra >= USER_LIMIT) {
                end = SCRY__UNW_END_BAD_READ;
                break;
            }
            f.pc = ra;
            f.sp = cfa;
            f.fp = fp;
            f.exact = 0;
            continue;
        }
        uintptr_t frame = look;
        const scry__cfi_row_t *row =
            snap ? scry__utab_row_as_safe(snap, look, &rg, &buf, &frame) : NULL;
        if (row && row->cfa == SCRY__CFA_SIGNAL) {
            /* The trampoline is not a frame of the program's: go on in the
             * code the signal interrupted. */
            if (++signals > 8 || !through_signal(m, &f)) {
                end = SCRY__UNW_END_BAD_READ;
                break;
            }
            continue;
        }
        out[n++] = frame;
        if (row && row->cfa == SCRY__CFA_END) {
            end = SCRY__UNW_END_COMPLETE;
            break;
        }
        uintptr_t cfa = 0, ra = 0, fp = 0;
        if (row) {
            int ok = 1;
            switch (row->cfa) {
            case SCRY__CFA_SP:
                cfa = f.sp + (intptr_t)row->cfa_off;
                break;
            case SCRY__CFA_FP:
                cfa = f.fp + (intptr_t)row->cfa_off;
                break;
            case SCRY__CFA_FP_DEREF:
                ok = rd(m, f.fp + (intptr_t)row->cfa_off, &cfa);
                break;
            case SCRY__CFA_PLT:
                cfa =
                    f.sp + (intptr_t)row->cfa_off + ((f.pc & 15) >= (uintptr_t)row->fp_off ? 8 : 0);
                break;
            default:
                ok = 0;
            }
            ok = ok && rd(m, cfa - 8, &ra);
            switch (row->fp) {
            case SCRY__FPR_SAME:
                fp = f.fp;
                break;
            case SCRY__FPR_CFA:
                ok = ok && rd(m, cfa + (intptr_t)row->fp_off, &fp);
                break;
            case SCRY__FPR_FP:
                ok = ok && rd(m, f.fp + (intptr_t)row->fp_off, &fp);
                break;
            default:
                fp = 0;
            }
            if (!ok) {
                end = SCRY__UNW_END_BAD_READ;
                break;
            }
        } else {
            /* No rule: one frame-pointer step, trusted only if it returns
             * into code scry knows (or, without tables, looks like it). */
            if (f.fp < f.sp || !rd(m, f.fp, &fp) || !rd(m, f.fp + 8, &ra)) {
                end = snap ? SCRY__UNW_END_NO_TABLE : SCRY__UNW_END_COMPLETE;
                break;
            }
            cfa = f.fp + 16;
            if (ra && snap && !scry__utab_range_as_safe(snap, ra - 1) &&
                !scry__utab_known_as_safe(ra - 1)) {
                end = SCRY__UNW_END_NO_TABLE;
                break;
            }
        }
        if (ra == 0) {
            end = SCRY__UNW_END_COMPLETE;
            break;
        }
        if (cfa <= f.sp || ra < 4096 || ra >= USER_LIMIT) {
            end = snap ? SCRY__UNW_END_BAD_READ : SCRY__UNW_END_COMPLETE;
            break;
        }
        f.pc = ra;
        f.sp = cfa;
        f.fp = fp;
        f.exact = 0;
    }
    if (use_tables) {
        scry__utab_leave_as_safe(parity);
        atomic_fetch_add_explicit(&scry__unwind_ends[end], 1, memory_order_relaxed);
    }
    return n;
}

/* x86-64's red zone: the 128 bytes below sp that a function may use
 * without moving sp, and that the kernel leaves alone when it pushes a
 * signal frame. An interrupted epilogue has popped rbp, but its unwind row
 * still says "saved at CFA - n", now below sp: the value is still there. */
#define RED_ZONE 128

/* The memory of the calling thread's own stack from the red zone below sp
 * up, read directly when sp is inside its known bounds, through system
 * calls otherwise. */
static void own_stack(mem_t *m, uintptr_t sp)
{
    uintptr_t lo = scry__tls.stack_lo, hi = scry__tls.stack_hi;
    m->lo = sp - RED_ZONE;
    if (hi && sp >= lo && sp < hi) {
        if (m->lo < lo) m->lo = lo;
        m->hi = hi;
        m->remote = 0;
    } else {
        /* An alternate signal stack, a coroutine's, or a thread scry does
         * not know: bounded by a megabyte and by what is mapped. */
        m->hi = sp + ((uintptr_t)1 << 20);
        m->remote = 1;
        m->pid = (pid_t)syscall(SYS_getpid);
        memset(m->base, 0, sizeof m->base);
        m->next = 0;
    }
}

uint32_t scry__unwind_hybrid_as_safe(const ucontext_t *uc, uintptr_t *out, uint32_t max)
{
    frame_t f = {.exact = 1};
    regs(uc, &f.pc, &f.fp, &f.sp);
    if (max > SCRY__UNWIND_MAX) max = SCRY__UNWIND_MAX;
    mem_t m;
    own_stack(&m, f.sp);
    return walk(f, &m, 1, out, max);
}

__attribute__((noinline)) static uint32_t hybrid_here(uintptr_t *out, uint32_t max)
{
#if defined(SCRY__REGS_HERE)
    scry__regs_t r;
    SCRY__REGS_HERE(&r);
    frame_t f = {.pc = r.pc, .sp = r.sp, .fp = r.fp, .exact = 1};
    uintptr_t buf[SCRY__UNWIND_MAX + 2];
    if (max > SCRY__UNWIND_MAX) max = SCRY__UNWIND_MAX;
    mem_t m;
    own_stack(&m, f.sp);
    /* Frames 0 and 1 are this function and scry__unwind_here. */
    uint32_t n = walk(f, &m, 1, buf, max + 2);
    if (n <= 2) return 0;
    memcpy(out, buf + 2, (n - 2) * sizeof *out);
    return n - 2;
#else
    (void)out, (void)max;
    return 0;
#endif
}

uint32_t scry__unwind_remote(int mode, const scry__regs_t *r, uintptr_t lo, uintptr_t hi,
                             uintptr_t *out, uint32_t max)
{
    (void)lo;
    if (!hi || r->sp >= hi) hi = r->sp + ((uintptr_t)1 << 20);
    mem_t m = {.lo = r->sp - RED_ZONE, .hi = hi, .remote = 1, .pid = (pid_t)syscall(SYS_getpid)};
    frame_t f = {.pc = r->pc, .sp = r->sp, .fp = r->fp, .exact = 1};
    if (max > SCRY__UNWIND_MAX) max = SCRY__UNWIND_MAX;
    return walk(f, &m, mode != SCRY__UNWIND_FP && scry__utab_ready(), out, max);
}

/* ---- frame pointers ---------------------------------------------------------- */

/* Follows the chain from frame fp; frames must lie in [lo, hi). */
NO_ASAN static uint32_t fp_walk(uintptr_t fp, uintptr_t lo, uintptr_t hi, uintptr_t *out,
                                uint32_t n, uint32_t max)
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

__attribute__((noinline)) static uint32_t fp_here(uintptr_t *out, uint32_t max)
{
    /* This function's own frame record links to scry__unwind_here's. */
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t hi = scry__tls.stack_hi;
    if (hi == 0) return 0;
    uintptr_t buf[SCRY__UNWIND_MAX + 1];
    if (max > SCRY__UNWIND_MAX) max = SCRY__UNWIND_MAX;
    uint32_t n = fp_walk(fp, fp, hi, buf, 0, max + 1);
    if (n <= 1) return 0;
    memcpy(out, buf + 1, (n - 1) * sizeof *out);
    return n - 1;
}

/* ---- libunwind ------------------------------------------------------------------ */

__attribute__((noinline)) static uint32_t libunwind_here(uintptr_t *out, uint32_t max)
{
    void *buf[SCRY__UNWIND_MAX + 2];
    if (max > SCRY__UNWIND_MAX) max = SCRY__UNWIND_MAX;
    int n = unw_backtrace(buf, (int)max + 2);
    /* Frames 0 and 1: this function and scry__unwind_here. */
    if (n <= 2) return 0;
    for (int i = 2; i < n; i++)
        out[i - 2] = (uintptr_t)buf[i] - 1;
    return (uint32_t)n - 2;
}

/* The step-by-step walk from the signal's context: exact, but libunwind 1.6
 * spends ~0.7 us a frame in it (45 us for 64 frames, bench/handler_cost). */
static uint32_t libunwind_step_walk(const ucontext_t *uc, uintptr_t *out, uint32_t max)
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

uint32_t scry__unwind_libunwind_as_safe(const ucontext_t *uc, uintptr_t *out, uint32_t max)
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
        for (int j = i + 1; j < n && k < max; j++)
            out[k++] = (uintptr_t)buf[j] - 1;
        return k;
    }
    return libunwind_step_walk(uc, out, max);
}

/* ---- by mode ------------------------------------------------------------------------ */

uint32_t scry__unwind_as_safe(int mode, const ucontext_t *uc, uintptr_t *out, uint32_t max)
{
    switch (mode) {
    case SCRY__UNWIND_FP:
        return scry__unwind_fp_as_safe(uc, out, max);
    case SCRY__UNWIND_LIBUNWIND:
        return scry__unwind_libunwind_as_safe(uc, out, max);
    default:
        return scry__unwind_hybrid_as_safe(uc, out, max);
    }
}

__attribute__((noinline)) uint32_t scry__unwind_here(int mode, uintptr_t *out, uint32_t max)
{
    uint32_t n;
    switch (mode) {
    case SCRY__UNWIND_FP:
        n = fp_here(out, max);
        break;
    case SCRY__UNWIND_LIBUNWIND:
        n = libunwind_here(out, max);
        break;
    default:
        n = hybrid_here(out, max);
    }
    __asm__ volatile("" ::: "memory"); /* not a tail call: the helpers skip this frame */
    return n;
}

void scry__unwind_init(int mode)
{
    if (mode == SCRY__UNWIND_LIBUNWIND)
        unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    /* libunwind's mode too: the waits' published registers are walked
     * with the tables whatever the mode, but fp's. */
    if (mode != SCRY__UNWIND_FP) {
        if (scry__utab_ready())
            scry__utab_poll();
        else
            scry__utab_refresh();
    }
}

const char *scry__unwind_describe(int mode, char *buf, size_t size)
{
    if (mode != SCRY__UNWIND_HYBRID) {
        snprintf(buf, size, "unwinder: %s",
                 mode == SCRY__UNWIND_FP ? "frame pointers" : "libunwind");
        return buf;
    }
    scry__utab_stats_t st;
    scry__utab_stats(&st);
    uint64_t e[SCRY__UNW_END_COUNT], all = 0;
    for (int i = 0; i < SCRY__UNW_END_COUNT; i++)
        all += e[i] = atomic_load(&scry__unwind_ends[i]);
    snprintf(
        buf, size,
        "unwinder: hybrid (.eh_frame tables of %u objects, %zu rows; %u objects never met; "
        "%llu rows read from .eh_frame in a walk; %u objects loaded later recorded, %llu frames "
        "not recorded); %llu of %llu stacks ended early: %llu no table, %llu bad read, %llu depth",
        st.with_table, st.rows, st.pending, (unsigned long long)st.probes, scry__codelog_count(),
        (unsigned long long)scry__codelog_dropped(),
        (unsigned long long)(all - e[SCRY__UNW_END_COMPLETE]), (unsigned long long)all,
        (unsigned long long)e[SCRY__UNW_END_NO_TABLE],
        (unsigned long long)e[SCRY__UNW_END_BAD_READ], (unsigned long long)e[SCRY__UNW_END_DEPTH]);
    if (st.leaked) {
        /* Memory kept, not freed under a walk that did not finish (a thread
         * stopped mid-walk): said, as every drop is. */
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, "; %llu replaced snapshots kept for a stalled walk",
                 (unsigned long long)st.leaked);
    }
    return buf;
}
