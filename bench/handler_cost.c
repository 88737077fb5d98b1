/*
 * handler_cost.c - what scry's SIGPROF handler does for one sample, without
 * the signal: capture a ucontext at the bottom of a 64-deep call chain,
 * then, a million times, unwind it with the frame-pointer unwinder and
 * record it in the ring (reserve, fill, commit), draining the ring as the
 * aggregator would. Prints ns per sample, unwind + record, and unwind alone,
 * for fp and dwarf. Built from scry's own core sources.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "core/ring.h"
#include "core/threads.h"
#include "core/unwind.h"

#define DEPTH 64

static ucontext_t uc;
static volatile long sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void consume(const scry__sample_t *s, void *arg)
{
    (void)arg;
    sink += s->nframes;
}

static double measure(int mode, int record, long iters, uint32_t *frames)
{
    uintptr_t buf[SCRY__MAX_FRAMES];
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        uintptr_t *out = buf;
        scry__sample_t *s = NULL;
        if (record && (s = scry__ring_reserve_as_safe())) out = s->frames;
        uint32_t n = scry__unwind_as_safe(mode, &uc, out, SCRY__MAX_FRAMES);
        *frames = n;
        if (s) {
            s->kind = 0;
            s->nframes = n;
            s->values[0] = 1;
            s->values[1] = 1;
            scry__ring_commit_as_safe(s);
        }
        if ((i & 1023) == 1023) scry__ring_drain(consume, NULL);
    }
    return (now() - t0) * 1e9 / (double)iters;
}

__attribute__((noinline)) static void bottom(void)
{
    getcontext(&uc);
    uint32_t n;
    double fp_rec = measure(SCRY__UNWIND_FP, 1, 2000000, &n);
    double fp = measure(SCRY__UNWIND_FP, 0, 2000000, &n);
    printf("fp_frames %u\nfp_unwind_record_ns %.1f\nfp_unwind_ns %.1f\n", n, fp_rec, fp);
    double dw_rec = measure(SCRY__UNWIND_LIBUNWIND, 1, 20000, &n);
    printf("dwarf_step_frames %u\ndwarf_step_walk_record_ns %.1f (the fallback when the fast trace misses)\n", n, dw_rec);
}

__attribute__((noinline)) static void descend(int depth)
{
    if (depth <= 1)
        bottom();
    else
        descend(depth - 1);
    sink++; /* no tail call: every frame stays */
}

int main(void)
{
    scry__thread_register(); /* stack bounds for the fp unwinder */
    scry__ring_init();
    scry__unwind_init(SCRY__UNWIND_LIBUNWIND);
    descend(DEPTH); /* measures at the bottom, while the frames exist */
    return 0;
}
