/*
 * common.h - helpers shared by the CPU test programs: a unit of identical,
 * un-optimisable CPU work, and the process's own CPU time.
 */
#ifndef SCRY_TEST_CPU_COMMON_H
#define SCRY_TEST_CPU_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* Spins for `iters` iterations of a dependent floating-point chain. The
 * caller's frame stays on the stack (no tail call: the result is used). */
static inline double spin(long iters)
{
    volatile double x = 1.0;
    for (long i = 0; i < iters; i++) x = x * 1.0000001 + 1e-9;
    return x;
}

static inline double process_cpu_seconds(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec / 1e6;
}

/* Writes the process CPU time in nanoseconds to the file named by
 * $CPU_REPORT, for the driver script to compare with the profile. */
static inline void report_cpu(void)
{
    const char *path = getenv("CPU_REPORT");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%.0f\n", process_cpu_seconds() * 1e9);
    fclose(f);
}

#endif
