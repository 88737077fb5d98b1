/*
 * http_target.c - a program to point the live endpoint at: 200 threads
 * parked in parked_here (condition-variable waits), one thread spinning in
 * spin_here, two threads taking turns on a mutex in hold_here / wait_here,
 * and the main thread allocating in alloc_here, for SECONDS seconds.
 *
 *   http_target SECONDS
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
static pthread_mutex_t contended = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

__attribute__((noinline)) static void parked_here(void)
{
    pthread_mutex_lock(&m);
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

__attribute__((noinline)) static void spin_here(void)
{
    volatile unsigned long x = 0;
    while (!stop)
        for (int i = 0; i < 100000; i++)
            x++;
    __asm__ volatile("");
}

static void *spinner(void *a)
{
    spin_here();
    return a;
}

__attribute__((noinline)) static void hold_here(void)
{
    pthread_mutex_lock(&contended);
    long long end = now_ns() + 500000;
    while (now_ns() < end) {
    }
    pthread_mutex_unlock(&contended);
    __asm__ volatile("");
}

__attribute__((noinline)) static void wait_here(void)
{
    pthread_mutex_lock(&contended);
    pthread_mutex_unlock(&contended);
    __asm__ volatile("");
}

static void *holder(void *a)
{
    while (!stop) {
        hold_here();
        usleep(100);
    }
    return a;
}

static void *waiter(void *a)
{
    while (!stop) {
        wait_here();
        usleep(50);
    }
    return a;
}

__attribute__((noinline)) static void *alloc_here(size_t n)
{
    void *p = malloc(n);
    if (p) memset(p, 1, n);
    return p;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 10;
    pthread_t t[204];
    for (int i = 0; i < 200; i++)
        pthread_create(&t[i], NULL, parker, NULL);
    pthread_create(&t[200], NULL, spinner, NULL);
    pthread_create(&t[201], NULL, holder, NULL);
    pthread_create(&t[202], NULL, waiter, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    static void *keep[4096];
    long long end = now_ns() + (long long)(secs * 1e9);
    for (unsigned i = 0; now_ns() < end; i++) {
        free(keep[i % 4096]);
        keep[i % 4096] = alloc_here(64 + i % 4096);
        if (i % 1024 == 0) usleep(1000);
    }
    stop = 1;
    pthread_mutex_lock(&m);
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
    for (int i = 0; i < 203; i++)
        pthread_join(t[i], NULL);
    printf("done\n");
    return 0;
}
