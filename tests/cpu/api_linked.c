/*
 * api_linked.c - scry linked into the program (no preload, no SCRY_*):
 * the API's error contract, and a profile started, stopped and written
 * through it contains the work done while it ran and nothing after.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <scry.h>

#include "common.h"

static double sink;

__attribute__((noinline)) void profiled_work(void)
{
    sink += spin(100000000L);
}

__attribute__((noinline)) void unprofiled_work(void)
{
    sink += spin(100000000L);
}

#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        int got_ = (call);                                                                         \
        if (got_ != (want)) {                                                                      \
            fprintf(stderr, "FAIL %s = %d (%s), want %d\n", #call, got_, scry_strerror(got_),      \
                    want);                                                                         \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    EXPECT(scry_profile_start("bogus"), -EINVAL);
    EXPECT(scry_profile_stop("threads"), -EINVAL); /* not running */
    EXPECT(scry_wall_set_hz(0), -EINVAL);
    EXPECT(scry_wall_set_hz(SCRY_WALL_HZ_MAX + 1), -EINVAL);
    EXPECT(scry_profile_stop("cpu"), -EINVAL);
    EXPECT(scry_profile_write("cpu", argv[1]), -EINVAL); /* never started */
    EXPECT(scry_cpu_set_hz(0), -EINVAL);
    EXPECT(scry_cpu_set_hz(500), 0);
    EXPECT(scry_profile_start("cpu"), 0);
    EXPECT(scry_profile_start("cpu"), -EALREADY);
    EXPECT(scry_cpu_set_hz(100), -EBUSY);
    profiled_work();
    EXPECT(scry_profile_stop("cpu"), 0);
    unprofiled_work();
    EXPECT(scry_profile_write("cpu", argv[1]), 0);
    EXPECT(scry_profile_write_fd("cpu", -1), -EBADF);
    if (strcmp(scry_strerror(-ENOTSUP), "") == 0) return 1;
    puts("api ok");
    return sink == 0.0;
}
