/*
 * libc_loop.c - ground truth for unwinding out of libc: libc_loop's hot
 * loop calls libc on every turn, as real programs do: snprintf formats a
 * number, strtod parses it back, memcpy copies 4 KiB, qsort sorts 64 ints
 * through a callback of ours (called from inside libc), clock_gettime
 * reads CLOCK_MONOTONIC (the vDSO), and every 16 turns the thread's CPU
 * clock (a system call) says when to stop. libc and the vDSO are built without frame
 * pointers, so most samples land where a frame-pointer walk cannot find
 * libc_loop. The loop runs on the main thread until it has used MS of CPU,
 * then FINISH turns more (about 20 ms), whatever the clock says, so that a
 * long stretch without a timer signal at the end is still followed by a
 * signal inside libc_loop (see leaf_share.c's spend).
 *
 * Why not the CPU clock on every turn: read every 2 us, it made the kernel
 * (6.18 on the test VM, with two busy loops beside) deliver the thread's
 * CPU timer signals up to 100 ms of CPU time late, so that samples due at
 * the end of the call landed after it. Every 16 turns (35 us), as often as
 * leaf_share reads it, they come within a few ms.
 *
 * The program writes what it measured to REPORT: "libc_loop NS", the thread
 * CPU time read around the call, and "turns N".
 *
 * Usage: libc_loop MS REPORT
 */
#include <stdlib.h>
#include <string.h>

#include "leaf_common.h"

#define NSORT 64
#define FINISH 10000

static volatile size_t copy_bytes = 4096; /* not a constant: memcpy stays a call */
static volatile double sink;
static char src[4096], dst[4096];

/* qsort's callback: called from libc's msort, a frameless leaf of ours. */
TEST_FUNCTION int by_value(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

TEST_FUNCTION long libc_loop(long long ns)
{
    static const int unsorted[NSORT] = {
        41, 7,  63, 22, 5,  38, 17, 59, 0,  33, 48, 12, 27, 54, 9,  44, 2,  61, 19, 36, 51, 14,
        29, 56, 3,  46, 24, 11, 58, 31, 40, 6,  62, 21, 37, 16, 53, 8,  45, 28, 1,  60, 13, 34,
        49, 23, 57, 4,  42, 18, 30, 55, 10, 47, 26, 39, 15, 52, 32, 43, 20, 50, 25, 35};
    int v[NSORT];
    char buf[64];
    long turns = 0;
    long long start = thread_cpu_ns();
    long finish = FINISH;
    int used = 0; /* the CPU clock said ns have passed */
    while (!used || finish-- > 0) {
        long long now = clock_ns(CLOCK_MONOTONIC);
        snprintf(buf, sizeof buf, "%.9f", (double)(now % 1000000007) * 1e-6);
        char *end;
        double d = strtod(buf, &end);
        memcpy(dst, src, copy_bytes);
        memcpy(v, unsorted, sizeof v);
        qsort(v, NSORT, sizeof v[0], by_value);
        sink += d + v[turns % NSORT] + dst[turns % sizeof dst];
        turns++;
        if (!used && turns % 16 == 0) used = thread_cpu_ns() - start >= ns;
    }
    return turns;
}

int main(int argc, char **argv)
{
    if (argc != 3 || atol(argv[1]) <= 0) {
        fprintf(stderr, "usage: libc_loop MS REPORT\n");
        return 2;
    }
    FILE *report = open_report(argv[2]);
    long long t0 = thread_cpu_ns();
    long turns = libc_loop(atol(argv[1]) * 1000000LL);
    long long used = thread_cpu_ns() - t0;
    fprintf(report, "libc_loop %lld\nturns %ld\n", used, turns);
    return fclose(report) != 0;
}
