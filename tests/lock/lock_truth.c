/*
 * lock_truth - waits whose truth the program measures itself.
 *
 *   lock_truth mutex N   N rounds: a holder thread takes the mutex in
 *                        hold_lock and sleeps 300 us before releasing it
 *                        there; meanwhile a waiter asks for it in
 *                        wait_for_lock and measures its own time inside
 *                        pthread_mutex_lock. Every round contends.
 *   lock_truth cond N    ping and pong hand a turn back and forth N times
 *                        through one condition variable; each counts the
 *                        pthread_cond_wait calls it makes (in ping_wait and
 *                        pong_wait) and the time it spends in them.
 *
 *   lock_truth misc N    N rounds each of: a semaphore (sem_wait_here
 *                        waits for sem_post_later), a barrier
 *                        (barrier_here, one side late), and one
 *                        pthread_join of a 5 ms thread (join_here); the
 *                        waiting side times its own calls.
 *
 *   lock_truth loop N    a holder takes the mutex N times for 1 ms, asleep
 *                        (hold_section), 200 us apart; a waiter locks and
 *                        unlocks in a tight loop meanwhile (spin_waiter).
 *   lock_truth eight N   8 threads take one mutex N times each (in
 *                        eight_wait), 20 us inside, 20 us outside.
 *   lock_truth rwloop N  a writer takes an rwlock (writer-preferring) N
 *                        times for 1 ms, asleep (rw_write_section); two readers
 *                        take it in a tight loop (rw_read_loop).
 *   lock_truth c11loop N as loop, on a C11 mtx_t (c11_hold_section,
 *                        c11_spin_waiter).
 * The loop modes' ground truth is each waiting thread's own: it times
 * every lock call and adds up those in which it slept (its voluntary
 * context switches rose during the call), printed as own_wait_ns and
 * own_waits. A call that was only preempted (the machine is busy) is not a
 * wait, and the program does not count it.
 *
 * Prints "waiter_wait_ns X", "ping_waits X pong_waits Y", "rounds N" or
 * "own_wait_ns X own_waits Y".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <sys/resource.h>
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

/* Voluntary context switches of the calling thread: they rise when it
 * sleeps in the kernel (a futex wait that blocks), not when it is
 * preempted. */
static long vcsw(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

/* A lock call timed by its caller: the call's duration when the thread
 * slept inside it, else 0. */
typedef struct {
    long long t0;
    long v0;
} own_t;

static void own_begin(own_t *o)
{
    o->v0 = vcsw();
    o->t0 = now_ns();
}

static long long own_end(own_t *o)
{
    long long d = now_ns() - o->t0;
    return vcsw() != o->v0 ? d : 0;
}

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
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
    sleep_us(300); /* asleep: never preempted while it holds the lock on a busy machine */
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

static mtx_t c11;

static sem_t sem;
static pthread_barrier_t barrier;

__attribute__((noinline)) static void sem_post_later(void)
{
    spin_us(200); /* the waiter is in sem_wait by now */
    sem_post(&sem);
    NOT_LAST();
}

/* What the waiting side measured of its own sem_wait, barrier and join
 * calls: the calls in which it slept, and the time all its calls took. */
static long sem_slept, barrier_slept[2], join_slept;
static long long sem_ns, barrier_ns[2], join_ns;

__attribute__((noinline)) static void sem_wait_here(void)
{
    atomic_store(&phase, 1);
    own_t o;
    own_begin(&o);
    sem_wait(&sem);
    long long d = own_end(&o);
    sem_slept += d > 0;
    sem_ns += d;
    NOT_LAST();
}

__attribute__((noinline)) static void barrier_here(int late)
{
    long long t0 = now_ns();
    long v0 = vcsw();
    pthread_barrier_wait(&barrier);
    barrier_slept[late] += vcsw() != v0;
    barrier_ns[late] += now_ns() - t0;
    NOT_LAST();
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
        barrier_here(arg != NULL);
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
    own_t o;
    own_begin(&o);
    pthread_join(t, NULL);
    join_ns = own_end(&o);
    join_slept = join_ns > 0;
    NOT_LAST();
}

static void misc(void)
{
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
    printf("rounds %ld\n", rounds);
    printf("sem_slept %ld\nsem_ns %lld\nbarrier_ns %lld\nbarrier_slept %ld\njoin_slept %ld\njoin_ns %lld\n",
           sem_slept, sem_ns, barrier_ns[0] + barrier_ns[1], barrier_slept[0] + barrier_slept[1], join_slept,
           join_ns);
}

/* ---- loops timed by the program itself ---- */

static _Atomic long long own_ns, own_n;
static _Atomic int done;

static void own_add(long long ns)
{
    if (!ns) return;
    atomic_fetch_add(&own_ns, ns);
    atomic_fetch_add(&own_n, 1);
}


__attribute__((noinline)) static void hold_section(void)
{
    pthread_mutex_lock(&m);
    sleep_us(1000); /* asleep: the waiter gets a CPU even on a busy machine, and waits */
    pthread_mutex_unlock(&m);
    NOT_LAST();
}

static void *loop_holder(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        hold_section();
        sleep_us(200);
    }
    atomic_store(&done, 1);
    return NULL;
}

__attribute__((noinline)) static void spin_waiter(void)
{
    while (!atomic_load_explicit(&done, memory_order_relaxed)) {
        own_t o;
        own_begin(&o);
        pthread_mutex_lock(&m);
        own_add(own_end(&o));
        pthread_mutex_unlock(&m);
    }
    NOT_LAST();
}

static void *loop_waiter(void *arg)
{
    (void)arg;
    spin_waiter();
    return NULL;
}

/* 8 threads, one mutex. */
__attribute__((noinline)) static void eight_wait(void)
{
    own_t o;
    own_begin(&o);
    pthread_mutex_lock(&m);
    own_add(own_end(&o));
    spin_us(20);
    pthread_mutex_unlock(&m);
    NOT_LAST();
}

static void *eight_body(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        eight_wait();
        spin_us(20);
    }
    return NULL;
}

static pthread_rwlock_t wrpref;

__attribute__((noinline)) static void rw_write_section(void)
{
    pthread_rwlock_wrlock(&wrpref);
    sleep_us(1000); /* asleep: the waiter gets a CPU even on a busy machine, and waits */
    pthread_rwlock_unlock(&wrpref);
    NOT_LAST();
}

static void *rw_writer(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        rw_write_section();
        sleep_us(200);
    }
    atomic_store(&done, 1);
    return NULL;
}

__attribute__((noinline)) static void rw_read_loop(void)
{
    while (!atomic_load_explicit(&done, memory_order_relaxed)) {
        own_t o;
        own_begin(&o);
        pthread_rwlock_rdlock(&wrpref);
        own_add(own_end(&o));
        pthread_rwlock_unlock(&wrpref);
    }
    NOT_LAST();
}

static void *rw_reader(void *arg)
{
    (void)arg;
    rw_read_loop();
    return NULL;
}

__attribute__((noinline)) static void c11_hold_section(void)
{
    mtx_lock(&c11);
    sleep_us(1000); /* asleep: the waiter gets a CPU even on a busy machine, and waits */
    mtx_unlock(&c11);
    NOT_LAST();
}

static void *c11_holder(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        c11_hold_section();
        sleep_us(200);
    }
    atomic_store(&done, 1);
    return NULL;
}

__attribute__((noinline)) static void c11_spin_waiter(void)
{
    while (!atomic_load_explicit(&done, memory_order_relaxed)) {
        own_t o;
        own_begin(&o);
        mtx_lock(&c11);
        own_add(own_end(&o));
        mtx_unlock(&c11);
    }
    NOT_LAST();
}

static void *c11_waiter(void *arg)
{
    (void)arg;
    c11_spin_waiter();
    return NULL;
}

static int loops(const char *mode)
{
    pthread_t t[8];
    int n = 0;
    if (!strcmp(mode, "loop")) {
        pthread_create(&t[n++], NULL, loop_waiter, NULL);
        pthread_create(&t[n++], NULL, loop_holder, NULL);
    } else if (!strcmp(mode, "eight")) {
        for (; n < 8; n++) pthread_create(&t[n], NULL, eight_body, NULL);
    } else if (!strcmp(mode, "rwloop")) {
        pthread_rwlockattr_t a;
        pthread_rwlockattr_init(&a);
        pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&wrpref, &a);
        pthread_create(&t[n++], NULL, rw_reader, NULL);
        pthread_create(&t[n++], NULL, rw_reader, NULL);
        pthread_create(&t[n++], NULL, rw_writer, NULL);
    } else if (!strcmp(mode, "c11loop")) {
        mtx_init(&c11, mtx_plain);
        pthread_create(&t[n++], NULL, c11_waiter, NULL);
        pthread_create(&t[n++], NULL, c11_holder, NULL);
    } else {
        return 0;
    }
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    printf("own_wait_ns %lld\nown_waits %lld\n", (long long)own_ns, (long long)own_n);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 3) {
        rounds = atol(argv[2]);
        if (loops(argv[1])) return 0;
    }
    if (argc != 3 || (strcmp(argv[1], "mutex") && strcmp(argv[1], "cond") && strcmp(argv[1], "misc"))) {
        fprintf(stderr, "usage: lock_truth mutex|cond|misc|loop|eight|rwloop|c11loop N\n");
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
