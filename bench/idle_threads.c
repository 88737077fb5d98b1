/*
 * idle_threads.c - many threads that do nothing, for the cost of watching
 * them (bench/threads.sh).
 *
 *   idle_threads N MODE SECONDS [DUMPS]
 *
 * Starts N threads (64 KiB stacks) idle in MODE: "cond" (a condition-variable
 * wait, like a worker pool with no work), "sleep" (nanosleep, one long
 * sleep) or "read" (read on a pipe nobody writes). The main thread sleeps
 * SECONDS in one nanosleep, then prints its CPU time (all threads, scry's
 * included: getrusage) and exits without waking the others. With DUMPS > 0 it
 * instead writes the threads profile DUMPS times (scry_profile_write, found
 * by dlsym) spread over SECONDS, to $DUMP_TO (default /dev/null), and
 * prints each call's wall time.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int fds[2];
static int mode; /* 0 cond, 1 sleep, 2 read */
static int started;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *idle(void *a)
{
    pthread_mutex_lock(&m);
    started++;
    if (mode == 0) {
        for (;;) pthread_cond_wait(&c, &m);
    }
    pthread_mutex_unlock(&m);
    if (mode == 1) {
        struct timespec ts = {100000, 0};
        for (;;) nanosleep(&ts, NULL);
    }
    char ch;
    for (;;)
        if (read(fds[0], &ch, 1) <= 0) pause();
    return a;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: idle_threads N cond|sleep|read SECONDS [DUMPS]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    mode = !strcmp(argv[2], "cond") ? 0 : !strcmp(argv[2], "sleep") ? 1 : 2;
    double secs = atof(argv[3]);
    int dumps = argc > 4 ? atoi(argv[4]) : 0;
    if (pipe(fds)) return 1;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 * 1024);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, &at, idle, NULL)) {
            perror("pthread_create");
            return 1;
        }
    }
    for (;;) {
        pthread_mutex_lock(&m);
        int s = started;
        pthread_mutex_unlock(&m);
        if (s == n) break;
        usleep(1000);
    }
    usleep(100000); /* every thread inside its wait */
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now();
    if (dumps > 0) {
        int (*write_profile)(const char *, const char *) =
            (int (*)(const char *, const char *))dlsym(RTLD_DEFAULT, "scry_profile_write");
        if (!write_profile) {
            fprintf(stderr, "idle_threads: not running under scry\n");
            return 1;
        }
        for (int i = 0; i < dumps; i++) {
            const char *path = getenv("DUMP_TO") ? getenv("DUMP_TO") : "/dev/null";
            double a = now();
            int rc = write_profile("threads", path);
            printf("write_ms %.3f rc %d\n", (now() - a) * 1e3, rc);
            usleep((useconds_t)(secs / dumps * 1e6));
        }
    } else {
        struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    double wall = now() - t0;
    getrusage(RUSAGE_SELF, &r1);
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    printf("threads %d mode %s wall_s %.3f cpu_s %.6f\n", n, argv[2], wall, cpu);
    fflush(stdout);
    _exit(0);
}
