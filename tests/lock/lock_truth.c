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
 *   lock_truth misc N    N contended rounds each of: an rwlock (rw_hold
 *                        writes, rw_wait reads), a C11 mtx_t (c11_hold,
 *                        c11_wait), a semaphore (sem_wait_here waits for
 *                        sem_post_later), a barrier (barrier_here, one side
 *                        late), and one pthread_join of a 5 ms thread
 *                        (join_here).
 *
 * Prints "waiter_wait_ns X", "ping_waits X pong_waits Y" or "rounds N".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
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

/* ---- the other primitives, each contended every round ---- */

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static mtx_t c11;

/* Ground truth, measured: the holder raises held while it has the lock;
 * the waiter counts the rounds in which it found it raised just before
 * asking (it cannot have been let in without waiting then, but for a
 * release in the few instructions between). A waiter descheduled until
 * after the release, which a busy machine does now and then, waits for
 * nothing, and is not counted. */
static atomic_int rw_held, c11_held;
static long rw_found_held, c11_found_held;
static sem_t sem;
static pthread_barrier_t barrier;

__attribute__((noinline)) static void rw_hold(void)
{
    pthread_rwlock_wrlock(&rw);
    atomic_store(&rw_held, 1);
    atomic_store(&phase, 1);
    spin_us(200);
    atomic_store(&rw_held, 0);
    pthread_rwlock_unlock(&rw);
    NOT_LAST();
}

__attribute__((noinline)) static void rw_wait(void)
{
    rw_found_held += atomic_load(&rw_held);
    pthread_rwlock_rdlock(&rw);
    pthread_rwlock_unlock(&rw);
    NOT_LAST();
}

__attribute__((noinline)) static void c11_hold(void)
{
    mtx_lock(&c11);
    atomic_store(&c11_held, 1);
    atomic_store(&phase, 1);
    spin_us(200);
    atomic_store(&c11_held, 0);
    mtx_unlock(&c11);
    NOT_LAST();
}

__attribute__((noinline)) static void c11_wait(void)
{
    c11_found_held += atomic_load(&c11_held);
    mtx_lock(&c11);
    mtx_unlock(&c11);
    NOT_LAST();
}

__attribute__((noinline)) static void sem_post_later(void)
{
    spin_us(200); /* the waiter is in sem_wait by now */
    sem_post(&sem);
    NOT_LAST();
}

__attribute__((noinline)) static void sem_wait_here(void)
{
    atomic_store(&phase, 1);
    sem_wait(&sem);
    NOT_LAST();
}

__attribute__((noinline)) static void barrier_here(void)
{
    pthread_barrier_wait(&barrier);
    NOT_LAST();
}

/* Runs hold then, in turn, lets wait contend with it, `rounds` times. */
static void (*hold_fn)(void), (*wait_fn)(void);

static void *misc_holder(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        while (atomic_load(&phase) != 0) {
        }
        hold_fn();
        while (atomic_load(&phase) != 2) {
        }
        atomic_store(&phase, 0);
    }
    return NULL;
}

static void *misc_waiter(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        while (atomic_load(&phase) != 1) {
        }
        wait_fn();
        atomic_store(&phase, 2);
    }
    return NULL;
}

static void pair(void (*hold)(void), void (*wait)(void))
{
    pthread_t a, b;
    hold_fn = hold;
    wait_fn = wait;
    atomic_store(&phase, 0);
    pthread_create(&a, NULL, misc_holder, NULL);
    pthread_create(&b, NULL, misc_waiter, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}

static void *sem_poster(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        while (atomic_load(&phase) != 1) {
        }
        atomic_store(&phase, 0);
        sem_post_later();
    }
    return NULL;
}

static void *barrier_body(void *arg)
{
    for (long i = 0; i < rounds; i++) {
        if (arg) spin_us(100); /* one side arrives late: the other waits */
        barrier_here();
    }
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    spin_us(5000);
    return NULL;
}

__attribute__((noinline)) static void join_here(pthread_t t)
{
    pthread_join(t, NULL);
    NOT_LAST();
}

static void misc(void)
{
    pair(rw_hold, rw_wait);
    mtx_init(&c11, mtx_plain);
    pair(c11_hold, c11_wait);

    sem_init(&sem, 0, 0);
    pthread_t a, b;
    atomic_store(&phase, 0);
    pthread_create(&a, NULL, sem_poster, NULL);
    for (long i = 0; i < rounds; i++) sem_wait_here();
    pthread_join(a, NULL);

    pthread_barrier_init(&barrier, NULL, 2);
    pthread_create(&a, NULL, barrier_body, NULL);
    pthread_create(&b, NULL, barrier_body, (void *)1);
    pthread_join(a, NULL);
    pthread_join(b, NULL);

    pthread_create(&a, NULL, sleeper, NULL);
    join_here(a);
    printf("rounds %ld\nrw_found_held %ld\nc11_found_held %ld\n", rounds, rw_found_held, c11_found_held);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "mutex") && strcmp(argv[1], "cond") && strcmp(argv[1], "misc"))) {
        fprintf(stderr, "usage: lock_truth mutex|cond|misc N\n");
        return 2;
    }
    if (!strcmp(argv[1], "misc")) {
        rounds = atol(argv[2]);
        misc();
        return 0;
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
