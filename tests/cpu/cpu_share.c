/*
 * cpu_share.c - ground truth for the CPU profiler: two threads do identical
 * work, one three times as much as the other, in two functions. The profile
 * must give first_function 75% of the CPU time, and its total must match
 * the process's own CPU time.
 */
#include <pthread.h>
#include <stdlib.h>

#include "common.h"

static long unit;
static double sink;

__attribute__((noinline)) void first_function(void)
{
    sink += spin(3 * unit);
}

__attribute__((noinline)) void second_function(void)
{
    sink += spin(unit);
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
    unit = argc > 1 ? atol(argv[1]) : 100000000;
    pthread_t a, b;
    pthread_create(&a, NULL, run_first, NULL);
    pthread_create(&b, NULL, run_second, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    report_cpu();
    return sink == 0.0;
}
