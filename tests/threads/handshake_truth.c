/*
 * handshake_truth.c - threads that enter waits a signal would cut short
 * (core/waits.h) as often as they can, with a little work between them.
 *
 * Each of THREADS threads spends the given seconds in io_loop: about a
 * microsecond of arithmetic, then one write of a byte to /dev/null, one
 * pread of a byte of a file and one poll of /dev/null (ready at once, so a
 * poll with a timeout that does not wait), over and over, and a 1 us
 * nanosleep every 64 turns. Every one of those calls is a published wait
 * that a signal would cut short, entered and left within a microsecond or
 * two. A stack request sent while the thread runs its arithmetic (the
 * moment the wall sampler signals it) often reaches it only as it enters
 * the next call: the request then lands in the handshake of
 * scry__wait_enter, which is what tests/threads/handshake.sh looks at.
 *
 * Every call must succeed: a request that landed inside the poll or the
 * sleep would make it fail with EINTR; the program then says which call
 * failed and exits 3.
 *
 * Prints "calls N" (all threads' calls) and "loop_ns N" (the sum of the
 * threads' own time in io_loop, by their own clock reads).
 *
 * Usage: handshake_truth SECONDS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define WORK 1000 /* turns of arithmetic between calls: about 1 us */

static double seconds;
static int devnull, file;
static long long calls[THREADS], spent[THREADS];

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void failed(const char *call)
{
    fprintf(stderr, "handshake_truth: %s failed: %s\n", call, strerror(errno));
    exit(3);
}

__attribute__((noinline)) static long long io_loop(void)
{
    long long n = 0, end = now_ns() + (long long)(seconds * 1e9);
    char b = 'x';
    struct pollfd p = {.fd = devnull, .events = POLLOUT};
    struct timespec us = {0, 1000};
    do {
        for (int i = 0; i < 64; i++) {
            for (volatile int k = 0; k < WORK; k++) {
            }
            if (write(devnull, &b, 1) != 1) failed("write");
            if (pread(file, &b, 1, 0) != 1) failed("pread");
            if (poll(&p, 1, 1000) != 1) failed("poll");
        }
        if (nanosleep(&us, NULL) != 0) failed("nanosleep");
        n += 3 * 64 + 1;
    } while (now_ns() < end);
    __asm__ volatile("");
    return n;
}

static void *worker(void *arg)
{
    long i = (long)arg;
    long long t0 = now_ns();
    calls[i] = io_loop();
    spent[i] = now_ns() - t0;
    return NULL;
}

int main(int argc, char **argv)
{
    seconds = argc > 1 ? atof(argv[1]) : 2;
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || file < 0) return 2;
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i)) return 2;
    long long n = 0, ns = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        n += calls[i];
        ns += spent[i];
    }
    printf("calls %lld\nloop_ns %lld\n", n, ns);
    return 0;
}
