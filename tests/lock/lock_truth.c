/*
 * lock_truth - waits whose truth the program measures itself.
 *
 *   lock_truth mutex N   N rounds: a holder thread takes the mutex in
 *                        hold_lock and spins 300 us before releasing it
 *                        there; meanwhile a waiter asks for it in
 *                        wait_for_lock and measures its own time inside
 *                        pthread_mutex_lock. Every round contends.
 *   lock_truth cond N    ping and pong hand a turn back and forth N times
 *                        through one condition variable; each counts the
 *                        pthread_cond_wait calls it makes (in ping_wait and
 *                        pong_wait) and the time it spends in them.
 *
 * Prints "waiter_wait_ns X" or "ping_waits X pong_waits Y" for the driver.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static long rounds;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void spin_us(long us)
{
    long long end = now_ns() + us * 1000;
    while (now_ns() < end) {
    }
}

/* Strict turns, so that every round contends: the holder takes the lock
 * and says so (phase 1), the waiter then asks for it and blocks until the
 * holder lets go, and says it is done (phase 2). */
static _Atomic int phase;

/* The barrier after each unlock keeps it from being a tail call, which
 * would put the caller's caller on top of the stack. */
#define NOT_LAST() __asm__ volatile("" ::: "memory")

__attribute__((noinline)) static void hold_lock(void)
{
    pthread_mutex_lock(&m);
    atomic_store(&phase, 1);
    spin_us(300);
    pthread_mutex_unlock(&m);
    NOT_LAST();
}

static void *holder(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        while (atomic_load(&phase) != 0) {
        }
        hold_lock();
        while (atomic_load(&phase) != 2) {
        }
        atomic_store(&phase, 0);
    }
    return NULL;
}

static long long waited;

__attribute__((noinline)) static void wait_for_lock(void)
{
    long long t0 = now_ns();
    pthread_mutex_lock(&m);
    waited += now_ns() - t0;
    pthread_mutex_unlock(&m);
    NOT_LAST();
}

static void *waiter(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        while (atomic_load(&phase) != 1) {
        }
        wait_for_lock();
        atomic_store(&phase, 2);
    }
    return NULL;
}

/* ---- cond ping-pong ---- */

static int whose_turn; /* 0: ping, 1: pong */
static long waits[2];

__attribute__((noinline)) static void ping_wait(void)
{
    pthread_cond_wait(&turn_changed, &m);
    NOT_LAST();
}

__attribute__((noinline)) static void pong_wait(void)
{
    pthread_cond_wait(&turn_changed, &m);
    NOT_LAST();
}

static void play(int me, void (*wait)(void))
{
    for (long i = 0; i < rounds; i++) {
        pthread_mutex_lock(&m);
        while (whose_turn != me) {
            waits[me]++;
            wait();
        }
        whose_turn = !me;
        pthread_cond_broadcast(&turn_changed);
        pthread_mutex_unlock(&m);
    }
}

static void *ping(void *arg)
{
    (void)arg;
    play(0, ping_wait);
    return NULL;
}

static void *pong(void *arg)
{
    (void)arg;
    play(1, pong_wait);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "mutex") && strcmp(argv[1], "cond"))) {
        fprintf(stderr, "usage: lock_truth mutex|cond N\n");
        return 2;
    }
    rounds = atol(argv[2]);
    pthread_t a, b;
    if (!strcmp(argv[1], "mutex")) {
        pthread_create(&a, NULL, holder, NULL);
        pthread_create(&b, NULL, waiter, NULL);
        pthread_join(b, NULL);
        pthread_join(a, NULL);
        printf("waiter_wait_ns %lld\n", waited);
    } else {
        pthread_create(&a, NULL, ping, NULL);
        pthread_create(&b, NULL, pong, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        printf("ping_waits %ld pong_waits %ld\n", waits[0], waits[1]);
    }
    return 0;
}
