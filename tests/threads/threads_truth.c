/*
 * threads_truth.c - programs whose threads are where the tests say.
 *
 *   threads_truth snapshot OUT   200 threads parked in parked_here (a
 *       condition-variable wait), one thread spinning in busy_here, the main
 *       thread asleep in main_sleeps (nanosleep, 1.5 s), and a fourth kind,
 *       dump_now, which writes the threads profile to OUT through
 *       scry_profile_write (found with dlsym: the program is not linked with
 *       scry) once everyone is in place. The spinner names itself
 *       "busy-worker" (pthread_setname_np). Prints how long main slept and what
 *       nanosleep returned: scry must not cut the sleep short.
 *   threads_truth wall           the main thread spends about 1 s on CPU in
 *       on_cpu_work, 1 s in nanosleep in sleep_work and 1 s blocked in read on
 *       a pipe in pipe_work (a helper thread writes after 1 s), and prints
 *       each phase's own wall time in ns.
 *   threads_truth exec N         spins for 20 ms on the CPU (so the wall
 *       sampler signals it at every tick), then execs itself with N - 1;
 *       at 0 exits with status 7. A stack request left pending across the
 *       exec would kill the new image (SIGVTALRM's default action).
 *   threads_truth exit 1|2       (with 2: a second thread asleep in
 *       sleeper_here first) the main thread calls finish, which calls
 *       exit(5): the threads profile written at exit shows finish as the
 *       exiting thread's leaf, and the sleeper in sleeper_here.
 *   threads_truth return 2       the same, but main returns 5.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PARKED 200

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int stop;
static int parked;
static atomic_int spinning;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

__attribute__((noinline)) static void parked_here(void)
{
    pthread_mutex_lock(&m);
    parked++;
    while (!stop)
        pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
    __asm__ volatile("");
}

static void *parker(void *a)
{
    parked_here();
    return a;
}

__attribute__((noinline)) static void busy_here(void)
{
    volatile unsigned long x = 0;
    atomic_store(&spinning, 1);
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
        x++;
    __asm__ volatile("");
}

static void *busy(void *a)
{
    pthread_setname_np(pthread_self(), "busy-worker");
    busy_here();
    return a;
}

static const char *out_path;
static int dumped = -1;

__attribute__((noinline)) static void dump_now(void)
{
    int (*write_profile)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_DEFAULT, "scry_profile_write");
    dumped = write_profile ? write_profile("threads", out_path) : -1000;
    __asm__ volatile("");
}

static void *dumper(void *a)
{
    for (;;) { /* everyone in place */
        pthread_mutex_lock(&m);
        int n = parked;
        pthread_mutex_unlock(&m);
        if (n == PARKED && atomic_load(&spinning)) break;
        usleep(1000);
    }
    usleep(200000); /* main is well into its sleep, the parked threads in their waits */
    dump_now();
    return a;
}

__attribute__((noinline)) static int main_sleeps(long long *slept)
{
    struct timespec ts = {1, 500000000};
    long long t0 = now_ns();
    int rc = nanosleep(&ts, NULL);
    *slept = now_ns() - t0;
    __asm__ volatile("");
    return rc;
}

static int snapshot(void)
{
    pthread_t t[PARKED + 2];
    for (int i = 0; i < PARKED; i++)
        if (pthread_create(&t[i], NULL, parker, NULL)) return 1;
    pthread_create(&t[PARKED], NULL, busy, NULL);
    pthread_create(&t[PARKED + 1], NULL, dumper, NULL);
    long long slept;
    int rc = main_sleeps(&slept);
    pthread_join(t[PARKED + 1], NULL);
    pthread_mutex_lock(&m);
    stop = 1;
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
    for (int i = 0; i <= PARKED; i++)
        pthread_join(t[i], NULL);
    printf("main_slept_ns %lld rc %d\n", slept, rc);
    printf("dumped %d\n", dumped);
    return dumped != 0;
}

/* ---- wall ---- */

static int fds[2];

/* Reads the clock on every turn, as a real timed loop does: most samples
 * land in clock_gettime (libc's, then the vDSO's), and only an unwinder
 * that follows their unwind tables finds this function above them (a
 * frame-pointer walk goes from libc's wrapper to main). */
__attribute__((noinline)) static void on_cpu_work(void)
{
    long long end = now_ns() + 1000000000LL;
    volatile unsigned long x = 0;
    do
        x++;
    while (now_ns() < end);
    __asm__ volatile("");
}

__attribute__((noinline)) static void sleep_work(void)
{
    struct timespec ts = {1, 0};
    while (nanosleep(&ts, &ts) != 0) {
    }
    __asm__ volatile("");
}

static void *writer(void *a)
{
    struct timespec ts = {1, 0};
    while (nanosleep(&ts, &ts) != 0) {
    }
    if (write(fds[1], "x", 1) != 1) abort();
    return a;
}

__attribute__((noinline)) static void pipe_work(void)
{
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    char ch;
    if (read(fds[0], &ch, 1) != 1) abort();
    pthread_join(t, NULL);
    __asm__ volatile("");
}

static int wall(void)
{
    if (pipe(fds)) return 1;
    long long t0 = now_ns();
    on_cpu_work();
    long long t1 = now_ns();
    sleep_work();
    long long t2 = now_ns();
    pipe_work();
    long long t3 = now_ns();
    printf("on_cpu_work %lld\nsleep_work %lld\npipe_work %lld\n", t1 - t0, t2 - t1, t3 - t2);
    return 0;
}

/* ---- exit ---- */

static atomic_int sleeper_in;

__attribute__((noinline, noclone)) static void sleeper_here(void)
{
    atomic_store(&sleeper_in, 1);
    for (;;) {
        struct timespec ts = {10, 0};
        nanosleep(&ts, NULL);
    }
}

static void *sleeper(void *a)
{
    sleeper_here();
    return a;
}

static void start_sleeper(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper, NULL)) abort();
    while (!atomic_load(&sleeper_in))
        usleep(1000);
    usleep(50000); /* inside its nanosleep */
}

__attribute__((noinline, noclone)) static void finish(int code)
{
    fflush(stdout);
    exit(code);
}

static int exec_loop(char *self, int n)
{
    if (n <= 0) return 7;
    long long end = now_ns() + 20000000LL;
    volatile unsigned long x = 0;
    while (now_ns() < end) x++;
    char arg[16];
    snprintf(arg, sizeof arg, "%d", n - 1);
    execl(self, self, "exec", arg, (char *)NULL);
    perror("execl");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "exec")) return exec_loop(argv[0], atoi(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "snapshot")) {
        out_path = argv[2];
        return snapshot();
    }
    if (argc == 2 && !strcmp(argv[1], "wall")) return wall();
    if (argc == 3 && !strcmp(argv[1], "exit")) {
        if (atoi(argv[2]) == 2) start_sleeper();
        finish(5);
    }
    if (argc == 3 && !strcmp(argv[1], "return")) {
        if (atoi(argv[2]) == 2) start_sleeper();
        return 5;
    }
    fprintf(stderr, "usage: threads_truth snapshot OUT | wall | exec N | exit 1|2 | return 2\n");
    return 2;
}
