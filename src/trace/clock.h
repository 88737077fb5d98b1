/*
 * clock.h - the tracer's clock: one read per event, as cheap as possible.
 *
 * When the kernel itself keeps time with the TSC (its clocksource is "tsc":
 * it found the counter invariant and in step on every CPU), events read the
 * TSC directly, about 7 ns here; otherwise CLOCK_MONOTONIC through the vDSO.
 * Raw readings are turned into CLOCK_MONOTONIC nanoseconds by the writer,
 * from a rate measured over 10 ms the first time a trace starts, so the
 * conversion costs the traced threads nothing. The trace's timestamps are
 * CLOCK_MONOTONIC, and it carries clock snapshots tying them to the boot
 * clock Perfetto uses.
 */
#ifndef SCRY_TRACE_CLOCK_H
#define SCRY_TRACE_CLOCK_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/* 1 when raw readings are TSC ticks. Set once, before any event. */
extern int scry__trace_clock_tsc;

static inline uint64_t scry__trace_clock(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (scry__trace_clock_tsc) return __rdtsc();
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Chooses the clock and measures the TSC's rate (once; later calls return
 * at once). Not from a signal handler: it sleeps 10 ms the first time. */
void scry__trace_clock_init(void);
/* 1 when the kernel's clocksource is the TSC (read once, no calibration):
 * the span clock (span/span.c) makes the same choice. */
int scry__trace_clock_tsc_capable(void);
/* A raw reading in CLOCK_MONOTONIC nanoseconds. */
int64_t scry__trace_clock_ns(uint64_t raw);
/* Nanoseconds per raw unit (1.0 without the TSC). */
double scry__trace_clock_ns_per_tick(void);

#endif
