/*
 * dl_loop.c - two threads that each, round after round, dlopen each of 50
 * libraries (libdlburn_00.so .. libdlburn_49.so, built from dl_lib.c),
 * call its function dl_burn_NN through call_burn, and dlclose it: the
 * library is unmapped, and the next one is often mapped at the same
 * address. The threads start half a round apart, so each closes a library
 * the other does not hold, and the loader really unloads it.
 *
 * Ground truth: each thread measures, on its own CPU clock, the time spent
 * inside call_burn; the program writes "<ns in call_burn> <process CPU ns>"
 * to $CPU_REPORT at exit.
 * Usage: dl_loop DIR ROUNDS ITERS
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../cpu/common.h"

#define NLIBS 50

static const char *dir;
static long rounds, iters;
static double burn_seconds[2];

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The caller every sample inside a library must show above it (not a tail
 * call: the result is used). */
__attribute__((noinline)) double call_burn(double (*f)(long), long n)
{
    return f(n) + 1.0;
}

static void *worker(void *arg)
{
    long t = (long)arg;
    double sink = 0;
    for (long k = 0; k < rounds; k++) {
        for (int j = 0; j < NLIBS; j++) {
            int i = (int)((j + t * NLIBS / 2) % NLIBS);
            char path[4096], sym[32];
            snprintf(path, sizeof path, "%s/libdlburn_%02d.so", dir, i);
            snprintf(sym, sizeof sym, "dl_burn_%02d", i);
            void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (!h) {
                fprintf(stderr, "dl_loop: dlopen: %s\n", dlerror());
                exit(2);
            }
            double (*f)(long) = (double (*)(long))dlsym(h, sym);
            if (!f) {
                fprintf(stderr, "dl_loop: dlsym %s: %s\n", sym, dlerror());
                exit(2);
            }
            double a = thread_cpu();
            sink += call_burn(f, iters);
            burn_seconds[t] += thread_cpu() - a;
            if (dlclose(h)) {
                fprintf(stderr, "dl_loop: dlclose: %s\n", dlerror());
                exit(2);
            }
        }
    }
    return sink == 0.0 ? arg : NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: dl_loop DIR ROUNDS ITERS\n");
        return 2;
    }
    dir = argv[1];
    rounds = atol(argv[2]);
    iters = atol(argv[3]);
    pthread_t th[2];
    for (long t = 0; t < 2; t++)
        if (pthread_create(&th[t], NULL, worker, (void *)t)) return 2;
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    const char *path = getenv("CPU_REPORT");
    if (path) {
        FILE *f = fopen(path, "w");
        if (!f) return 2;
        fprintf(f, "%.0f %.0f\n", (burn_seconds[0] + burn_seconds[1]) * 1e9,
                process_cpu_seconds() * 1e9);
        fclose(f);
    }
    return 0;
}
