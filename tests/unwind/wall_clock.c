/*
 * wall_clock.c - ground truth for the wall profile of code that reads the
 * clock all the time: clock_loop spins for 1 s of wall time, reading
 * CLOCK_MONOTONIC on every turn (clock_gettime in libc, then the vDSO,
 * neither with a frame pointer), so nearly every sample lands in the clock
 * read, where a frame-pointer walk skips clock_loop.
 *
 * After the second, it reads the clock FINISH times more (about 10 ms),
 * whatever the time: a stall of the virtual CPU near the end would
 * otherwise end the loop on its first clock read after it, before the
 * sampler's next tick, and the tick would credit the stall's wall time to
 * whatever ran next.
 *
 * The program writes what it measured to REPORT: "clock_loop NS", the
 * monotonic time read around the call, and "turns N".
 *
 * Usage: wall_clock REPORT
 */
#include <stdlib.h>

#include "leaf_common.h"

#define FINISH 300000

TEST_FUNCTION long clock_loop(long long ns)
{
    long long end = clock_ns(CLOCK_MONOTONIC) + ns;
    long turns = 0, finish = FINISH;
    while (clock_ns(CLOCK_MONOTONIC) < end || finish-- > 0) turns++;
    return turns;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: wall_clock REPORT\n");
        return 2;
    }
    FILE *report = open_report(argv[1]);
    long long t0 = clock_ns(CLOCK_MONOTONIC);
    long turns = clock_loop(1000000000LL);
    long long t1 = clock_ns(CLOCK_MONOTONIC);
    fprintf(report, "clock_loop %lld\nturns %ld\n", t1 - t0, turns);
    return fclose(report) != 0;
}
