/*
 * handler_cost.c - what scry's SIGPROF handler does for one sample, without
 * the cost of the signal: unwinding a stack from a ucontext, alone and with
 * recording it in the ring (reserve, fill, commit; the ring drained as the
 * aggregator would), on two 64-deep call chains, one with a frame pointer in
 * every frame and one with none (chain.h: chain.c built twice). Built from
 * scry's own core sources.
 *
 * Two contexts at the bottom of each chain:
 *  - ctx: getcontext's, as a walk from a signal's context would start from
 *    the interrupted frame, but with no signal frame above it.
 *  - sig: a real signal's. The bottom of the chain sends itself one SIGUSR2;
 *    its handler walks the context it was given, many times, so delivery is
 *    paid once and is not in the numbers, and walks that go through the
 *    signal frame (libunwind's) go through a real one. (The handler measures
 *    and prints with stdio: it interrupted only the tgkill system call.)
 * For each, every unwinder (hybrid, fp, libunwind: scry__unwind_as_safe's
 * modes) walks it in a loop for at least 30 ms, in REPS interleaved
 * repetitions; the numbers are the medians, in ns per walk.
 *
 * libunwind's mode runs unw_backtrace (libunwind's cached fast trace) from
 * its own frame and takes the frames after the context's pc, where a signal
 * frame puts it among the first few; when the pc is not there it walks
 * step by step with unw_step (0.5 to 0.8 us a frame here). getcontext's pc is a return
 * address in the chain's bottom frame that the trace never holds (it passes
 * that frame at the call of the measuring code), so in "ctx" the mode is its
 * step walk; in "sig" it is the fast trace. Each row says which path it took
 * (*_path), and "ctx unw_backtrace" is the fast trace called directly at the
 * bottom of the chain (the same frames, plus those of the measuring code).
 *
 * Usage: handler_cost [UNWINDER] (default: all of them; one alone, for perf
 * record).
 *
 * Output: lines "key value"; keys are CHAIN_CTX_UNWINDER_WHAT (fp_ctx_hybrid_ns,
 * nofp_sig_fp_frames, ...). *_end is how the last hybrid walk ended
 * (unwind.h's SCRY__UNW_END_*).
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "chain.h"
#include "core/ring.h"
#include "core/threads.h"
#include "core/unwind.h"

#define REPS 7
#define MIN_NS 30000000.0 /* each repetition walks for at least this long */

enum { HYBRID, HYBRID_REC, FP, FP_REC, LIBUNWIND, UNW_BACKTRACE, NMODES };
static const char *const mode_names[NMODES] = {"hybrid",    "hybrid_record", "fp",
                                               "fp_record", "libunwind",     "unw_backtrace"};

static ucontext_t saved;
static const ucontext_t *ctx; /* what the walks start from */
static const char *chain_name, *ctx_name;
static int only = -1; /* measure this mode alone (for perf record) */
static volatile long sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void consume(const scry__sample_t *s, void *arg)
{
    (void)arg;
    sink += s->nframes;
}

/* unw_backtrace from here, as libunwind's mode runs it, without looking for
 * the context's pc. */
static __attribute__((noinline)) uint32_t backtrace_here(uintptr_t *out, uint32_t max)
{
    void *buf[SCRY__UNWIND_MAX];
    int n = unw_backtrace(buf, (int)max);
    for (int i = 0; i < n; i++)
        out[i] = (uintptr_t)buf[i];
    return n > 0 ? (uint32_t)n : 0;
}

static uint32_t walk_once(int m, uintptr_t *buf)
{
    scry__sample_t *s = NULL;
    uintptr_t *out = buf;
    if ((m == HYBRID_REC || m == FP_REC) && (s = scry__ring_reserve_as_safe())) out = s->frames;
    uint32_t n;
    switch (m) {
    case HYBRID:
    case HYBRID_REC:
        n = scry__unwind_as_safe(SCRY__UNWIND_HYBRID, ctx, out, SCRY__MAX_FRAMES);
        break;
    case FP:
    case FP_REC:
        n = scry__unwind_as_safe(SCRY__UNWIND_FP, ctx, out, SCRY__MAX_FRAMES);
        break;
    case LIBUNWIND:
        n = scry__unwind_as_safe(SCRY__UNWIND_LIBUNWIND, ctx, out, SCRY__MAX_FRAMES);
        break;
    default:
        n = backtrace_here(out, SCRY__MAX_FRAMES);
    }
    if (s) {
        s->kind = 0;
        s->nframes = n;
        s->values[0] = 1;
        s->values[1] = 1;
        scry__ring_commit_as_safe(s);
    }
    return n;
}

/* ns per walk over at least MIN_NS. */
static double measure(int m, uint32_t *frames)
{
    uintptr_t buf[SCRY__MAX_FRAMES];
    long iters = 0;
    double t0 = now_ns(), t;
    do {
        for (int i = 0; i < 64; i++)
            *frames = walk_once(m, buf);
        iters += 64;
        scry__ring_drain(consume, NULL);
        t = now_ns();
    } while (t - t0 < MIN_NS);
    return (t - t0) / (double)iters;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Whether libunwind's mode takes the fast trace from ctx: the same test it
 * makes (the context's pc among the trace's first 16 frames). */
static const char *libunwind_path(void)
{
    uintptr_t buf[SCRY__UNWIND_MAX];
    uint32_t n = backtrace_here(buf, SCRY__UNWIND_MAX);
    uintptr_t pc = (uintptr_t)ctx->uc_mcontext.gregs[REG_RIP];
    for (uint32_t i = 0; i < n && i < 16; i++)
        if (buf[i] == pc) return "fast";
    return "step";
}

/* How one hybrid walk from ctx ends. */
static const char *hybrid_end(void)
{
    static const char *const names[SCRY__UNW_END_COUNT] = {"complete", "no_table", "bad_read",
                                                           "depth"};
    uint64_t before[SCRY__UNW_END_COUNT];
    for (int i = 0; i < SCRY__UNW_END_COUNT; i++)
        before[i] = atomic_load(&scry__unwind_ends[i]);
    uintptr_t buf[SCRY__MAX_FRAMES];
    walk_once(HYBRID, buf);
    for (int i = 0; i < SCRY__UNW_END_COUNT; i++)
        if (atomic_load(&scry__unwind_ends[i]) != before[i]) return names[i];
    return "?";
}

static void measure_all(void)
{
    double ns[NMODES][REPS];
    uint32_t frames[NMODES] = {0};
    int sig = !strcmp(ctx_name, "sig");
    for (int r = 0; r < REPS; r++)
        for (int m = 0; m < NMODES; m++)
            if (!(sig && m == UNW_BACKTRACE) && (only < 0 || m == only))
                ns[m][r] = measure(m, &frames[m]);
    for (int m = 0; m < NMODES; m++) {
        if ((sig && m == UNW_BACKTRACE) || (only >= 0 && m != only)) continue;
        qsort(ns[m], REPS, sizeof ns[m][0], by_value);
        printf("%s_%s_%s_ns %.1f\n", chain_name, ctx_name, mode_names[m], ns[m][REPS / 2]);
        printf("%s_%s_%s_frames %u\n", chain_name, ctx_name, mode_names[m], frames[m]);
    }
    printf("%s_%s_libunwind_path %s\n", chain_name, ctx_name, libunwind_path());
    printf("%s_%s_hybrid_end %s\n", chain_name, ctx_name, hybrid_end());
    fflush(stdout);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si;
    ctx = uc;
    measure_all();
}

static void at_bottom(void)
{
    if (!strcmp(ctx_name, "ctx")) {
        ctx = &saved;
        measure_all();
    } else {
        syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGUSR2);
    }
}

int main(int argc, char **argv)
{
    for (int m = 0; argc > 1 && m < NMODES; m++)
        if (!strcmp(argv[1], mode_names[m])) only = m;
    if (argc > 1 && only < 0) {
        fprintf(
            stderr,
            "usage: handler_cost [hybrid|hybrid_record|fp|fp_record|libunwind|unw_backtrace]\n");
        return 2;
    }
    scry__thread_register(); /* stack bounds for the fp and hybrid walks */
    scry__ring_init();
    scry__unwind_init(SCRY__UNWIND_HYBRID); /* builds the tables of every loaded object */
    scry__unwind_init(SCRY__UNWIND_LIBUNWIND);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    printf("reps %d\n", REPS);
    const char *ctxs[] = {"ctx", "sig"};
    for (int c = 0; c < 2; c++) {
        ctx_name = ctxs[c];
        chain_name = "fp";
        chain_fp(c == 0 ? &saved : NULL, at_bottom);
        chain_name = "nofp";
        chain_nofp(c == 0 ? &saved : NULL, at_bottom);
    }
    return 0;
}
