/*
 * cpu_share.c - ground truth for the CPU profiler: two threads run the same
 * loop at the same time, first_function until its thread has used 3T of
 * CPU (by its own thread CPU clock), second_function until 1T. The CPU
 * split is therefore 3:1 by construction, whatever the machine does to the
 * speed of the work, and the profile must give first_function 75%. Its
 * total must also match the process's own CPU time.
 *
 * Usage: cpu_share [T in milliseconds, default 500]
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

static double quota; /* T, seconds */
static double sink;

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spins in small steps until this thread has used `seconds` of CPU. */
static inline void spin_for_cpu(double seconds)
{
    while (thread_cpu_seconds() < seconds) sink += spin(20000);
}

__attribute__((noinline)) void first_function(void)
{
    spin_for_cpu(3 * quota);
}

__attribute__((noinline)) void second_function(void)
{
    spin_for_cpu(quota);
}

static void *run_first(void *a)
{
    (void)a;
    first_function();
    return NULL;
}

static void *run_second(void *a)
{
    (void)a;
    second_function();
    return NULL;
}

int main(int argc, char **argv)
{
    quota = (argc > 1 ? atof(argv[1]) : 500) / 1000.0;
    if (quota <= 0) return 2;
    pthread_t a, b;
    pthread_create(&a, NULL, run_first, NULL);
    pthread_create(&b, NULL, run_second, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    report_cpu();
    return sink == 0.0;
}
