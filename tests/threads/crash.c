/*
 * crash.c - programs for the traceback tests.
 *
 *   crash quit   three threads parked in quit_parked, the main thread in
 *       main_waits: prints "ready PID", then runs on for 1.5 s after its
 *       first SIGQUIT-free second (it sleeps in slices, so a signal that
 *       lands on it only shortens one slice) and prints "carried on".
 *   crash segv   burns CPU in burn_cpu for 0.3 s (so the CPU profile has
 *       samples), then writes through a null pointer in crash_here.
 *   crash abort  calls abort() in abort_here.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int stop;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

__attribute__((noinline)) static void quit_parked(void)
{
    pthread_mutex_lock(&m);
    while (!stop)
        pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
    __asm__ volatile("");
}

static void *parker(void *a)
{
    quit_parked();
    return a;
}

__attribute__((noinline)) static void main_waits(long long ns)
{
    long long end = now_ns() + ns;
    while (now_ns() < end) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    __asm__ volatile("");
}

static int quit(void)
{
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, parker, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    main_waits(2500000000LL);
    pthread_mutex_lock(&m);
    stop = 1;
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("carried on\n");
    return 0;
}

__attribute__((noinline)) static void burn_cpu(void)
{
    long long end = now_ns() + 300000000LL;
    volatile unsigned long x = 0;
    do /* the clock on every turn: see threads_truth.c's on_cpu_work */
        x++;
    while (now_ns() < end);
    __asm__ volatile("");
}

__attribute__((noinline)) static void crash_here(volatile int *p)
{
    *p = 1; /* CRASH LINE */
    __asm__ volatile("");
}

__attribute__((noinline)) static void abort_here(void)
{
    abort(); /* ABORT LINE */
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "abort")) abort_here();
    if (argc == 2 && !strcmp(argv[1], "quit")) return quit();
    if (argc == 2 && !strcmp(argv[1], "segv")) {
        burn_cpu();
        crash_here(NULL);
        return 0;
    }
    fprintf(stderr, "usage: crash quit | segv\n");
    return 2;
}
