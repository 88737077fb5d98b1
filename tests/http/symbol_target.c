/*
 * symbol_target.c - allocates through a stripped library (stripped_lib.c)
 * for the symbol tests: dlopens LIB, takes its allocating function from
 * stripped_entry and calls it from drive_here, a thousand times every
 * millisecond, for SECONDS seconds. Prints "ready PID" once the library is
 * loaded and allocating.
 *
 *   http_symbol_target LIB SECONDS
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

__attribute__((noinline)) static void drive_here(void (*step)(void))
{
    for (int i = 0; i < 1000; i++)
        step();
    __asm__ volatile("");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: http_symbol_target LIB SECONDS\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW);
    void (*(*entry)(void))(void) = h ? (void (*(*)(void))(void))dlsym(h, "stripped_entry") : NULL;
    if (!entry) {
        fprintf(stderr, "http_symbol_target: %s\n", dlerror());
        return 2;
    }
    void (*step)(void) = entry();
    drive_here(step);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    long long end = now_ns() + (long long)(atof(argv[2]) * 1e9);
    while (now_ns() < end) {
        drive_here(step);
        usleep(1000);
    }
    printf("done\n");
    return 0;
}
