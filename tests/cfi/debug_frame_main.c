/*
 * debug_frame_main.c - spends a second of its thread's CPU (by its own
 * clock, read every call) in df_middle -> df_leaf of a library described by
 * .debug_frame only, and prints the CPU time it measured around the loop.
 */
#include <stdio.h>
#include <time.h>

double df_middle(int n);

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile double sink;

__attribute__((noinline)) static double df_caller(void)
{
    double t0 = cpu_ns(), t;
    while ((t = cpu_ns()) - t0 < 1e9) sink += df_middle(20000);
    return t - t0;
}

int main(void)
{
    printf("df_caller_cpu_ns %.0f\n", df_caller());
    return 0;
}
