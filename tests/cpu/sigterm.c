/*
 * sigterm.c - a program with no SIGTERM handler of its own spins until it
 * is killed. It says "ready" once it has used some CPU; the driver then
 * sends SIGTERM. The process must still die of SIGTERM, and its profile
 * must have been written first.
 */
#include <stdio.h>

#include "common.h"

static double sink;

__attribute__((noinline)) void spin_until_killed(void)
{
    int said = 0;
    for (;;) {
        sink += spin(1000000);
        if (!said && process_cpu_seconds() > 0.3) {
            puts("ready");
            fflush(stdout);
            said = 1;
        }
    }
}

int main(void)
{
    spin_until_killed();
    return 0;
}
