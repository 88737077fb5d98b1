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
    double t0 = cpu_ns();
    while (cpu_ns() - t0 < 1e9) sink += df_middle(20000);
    return cpu_ns() - t0;
}

/* Under load the kernel can hold a thread's CPU timer signal back for a
 * long stretch of its CPU time and deliver the expirations at once; the
 * process then needs to run on for that last signal to land before exit.
 * So main keeps working a while (in df_after_caller, not a frame the test
 * looks for) after df_caller's measured second. */
__attribute__((noinline)) static void df_after_caller(void)
{
    double t0 = cpu_ns();
    while (cpu_ns() - t0 < 2e8) sink += 1;
}

int main(void)
{
    double own = df_caller();
    df_after_caller();
    printf("df_caller_cpu_ns %.0f\n", own);
    return 0;
}
