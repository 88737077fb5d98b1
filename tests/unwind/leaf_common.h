/*
 * leaf_common.h - helpers shared by the unwinder ground-truth programs
 * (leaf_share.c, libc_loop.c, wall_clock.c): the program's own clocks and
 * the file its measurements go to.
 */
#ifndef SCRY_TEST_UNWIND_LEAF_COMMON_H
#define SCRY_TEST_UNWIND_LEAF_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A function the tests look for by name: never inlined, and (GCC) never
 * cloned into a .constprop or .isra copy with another name. Clang has no
 * noclone and makes no such clones at -O2. */
#if defined(__clang__)
#define TEST_FUNCTION __attribute__((noinline))
#else
#define TEST_FUNCTION __attribute__((noinline, noclone))
#endif

static inline long long clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline long long thread_cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* Opens the file the driver script named for the program's measurements
 * ("NAME NANOSECONDS" lines), or exits 2. */
static inline FILE *open_report(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    return f;
}

#endif
