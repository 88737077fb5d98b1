/*
 * read_cost.c - the cost of read(2) as the program sees it, through scry's
 * interposer when scry is preloaded: N 1-byte reads of /dev/zero on one
 * thread, timed with the thread's own CPU clock (so that scry's threads, and
 * anything else the machine runs, are not in the number; the profiles'
 * signal handlers running on this thread are).
 *
 * Run plain, under `scry run -p cpu` (the interposer's fast path: nothing
 * wants stacks) and under `scry run -p wall` (its slow path: every call
 * publishes its wait and registers), the difference is what the wall
 * profile adds to each call. bench/unwind.sh runs it.
 *
 * Against the plain run, any profile with a thread of its own makes the
 * process multi-threaded, and that alone makes read(2) dearer: glibc takes
 * its cancellable path (enable/disable asynchronous cancellation around the
 * system call) and the kernel's fdget_pos/fput take and drop a reference to
 * the file, which they skip while the file table is not shared (perf
 * record: fput, fdget_pos and __pthread_*_asynccancel appear). --idle-thread
 * starts one thread that only waits, to measure that part apart from scry.
 *
 * Usage: read_cost [--idle-thread] [N] (default 2000000). Prints ns_per_call.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *idle(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    int a = 1;
    if (argc > a && !strcmp(argv[a], "--idle-thread")) {
        pthread_t t;
        if (pthread_create(&t, NULL, idle, NULL) != 0) return 1;
        a++;
    }
    long n = argc > a ? atol(argv[a]) : 2000000;
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || n <= 0) {
        perror("read_cost: /dev/zero");
        return 1;
    }
    char c;
    for (long i = 0; i < n / 20; i++) /* warm-up: resolves read, faults pages */
        if (read(fd, &c, 1) != 1) return 1;
    double t0 = thread_ns();
    for (long i = 0; i < n; i++)
        if (read(fd, &c, 1) != 1) return 1;
    double t1 = thread_ns();
    printf("ns_per_call %.1f\n", (t1 - t0) / (double)n);
    close(fd);
    return 0;
}
