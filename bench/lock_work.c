/*
 * lock_work.c - the workloads of bench/lock.sh, for the mutex and block
 * profiles' overhead.
 *
 *   lock_work uncontended [N]
 *     One thread, N (default 100000000) pthread_mutex_lock/unlock pairs on
 *     one global mutex, a volatile counter bumped inside: the interposers'
 *     cost on the path where nothing ever waits. Best of 5 in-process
 *     repeats, each timed with CLOCK_THREAD_CPUTIME_ID. Prints ns_per_pair
 *     and pairs.
 *
 *   lock_work contended [SECONDS_OF_WORK]
 *     A fixed amount of work, not a fixed time: 4 threads each do
 *     K = SECONDS_OF_WORK * 1500000 iterations (default 1: about 1 s of
 *     wall time, 2 s of CPU, with glibc on 2 CPUs here) of
 *       - private work outside the lock: FNV-1a over 200 bytes of the
 *         thread's own buffer;
 *       - a short critical section under one shared mutex: bump a slot of
 *         a shared 4096-slot hash table and the count of updates;
 *     and, every 64 iterations, a hand-off through a bounded queue of 2
 *     tokens (its own mutex, two condition variables): threads 0 and 2
 *     put a token in, threads 1 and 3 take one out, waiting on the
 *     condition variable while the queue is full or empty. So the shared
 *     mutex is contended (4 threads, 2 CPUs), and cond waits and signals
 *     happen too. Prints cpu_seconds (getrusage RUSAGE_SELF, user + system,
 *     all threads, before exit: the one-time cost of writing a profile at
 *     exit is not in it), wall_seconds, iterations (over all threads),
 *     handoffs, and a checksum that proves the table was updated.
 *
 * pthread_mutex_lock and friends are plain calls through the PLT, so an
 * LD_PRELOAD interposer sees every one; the compiler cannot drop them (they
 * are external calls on a global object).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---- uncontended ---- */

pthread_mutex_t lone_mutex = PTHREAD_MUTEX_INITIALIZER;
volatile unsigned long lone_counter;

static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void pairs_loop(long n)
{
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&lone_mutex);
        lone_counter++;
        pthread_mutex_unlock(&lone_mutex);
    }
}

static int uncontended(long n)
{
    double best = 0;
    pairs_loop(n / 20 + 1); /* warm: the PLT, the caches, the interposer */
    for (int rep = 0; rep < 5; rep++) {
        double t0 = thread_cpu_now();
        pairs_loop(n);
        double t = thread_cpu_now() - t0;
        if (rep == 0 || t < best) best = t;
    }
    printf("ns_per_pair %.3f\npairs %ld\n", best * 1e9 / n, n);
    return 0;
}

/* ---- contended ---- */

#define THREADS 4
#define K_PER_SECOND 1500000L /* iterations per thread for SECONDS_OF_WORK 1 */
#define HANDOFF_EVERY 64
#define TABLE_SLOTS 4096 /* a power of two */
#define QUEUE_CAP 2

static pthread_mutex_t table_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t table[TABLE_SLOTS];
static uint64_t table_updates;

static pthread_mutex_t queue_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t queue_not_full = PTHREAD_COND_INITIALIZER;
static uint64_t queue[QUEUE_CAP];
static int queue_len;
static uint64_t handoffs;

static long per_thread; /* K */

static inline uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put(uint64_t token)
{
    pthread_mutex_lock(&queue_mutex);
    while (queue_len == QUEUE_CAP) pthread_cond_wait(&queue_not_full, &queue_mutex);
    queue[queue_len++] = token;
    handoffs++;
    pthread_cond_signal(&queue_not_empty);
    pthread_mutex_unlock(&queue_mutex);
}

static uint64_t take(void)
{
    pthread_mutex_lock(&queue_mutex);
    while (queue_len == 0) pthread_cond_wait(&queue_not_empty, &queue_mutex);
    uint64_t token = queue[--queue_len];
    pthread_cond_signal(&queue_not_full);
    pthread_mutex_unlock(&queue_mutex);
    return token;
}

__attribute__((noinline)) static void *worker(void *arg)
{
    long id = (long)arg;
    unsigned char buf[200];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 31 + id);
    uint64_t acc = 0;
    for (long i = 0; i < per_thread; i++) {
        /* private work: vary the buffer a little so nothing is hoisted */
        buf[i % sizeof buf] ^= (unsigned char)i;
        uint64_t h = fnv1a(buf, sizeof buf);

        pthread_mutex_lock(&table_mutex);
        table[h & (TABLE_SLOTS - 1)] += h >> 32;
        table[(h >> 12) & (TABLE_SLOTS - 1)]++;
        table_updates++;
        pthread_mutex_unlock(&table_mutex);

        if (i % HANDOFF_EVERY == HANDOFF_EVERY - 1) {
            if (id % 2 == 0) put(h);
            else acc += take();
        }
    }
    return (void *)(uintptr_t)acc;
}

static int contended(double seconds_of_work)
{
    per_thread = (long)(seconds_of_work * K_PER_SECOND);
    if (per_thread < HANDOFF_EVERY) per_thread = HANDOFF_EVERY;
    struct timespec w0, w1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) {
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) {
            fprintf(stderr, "lock_work: pthread_create failed\n");
            return 1;
        }
    }
    uint64_t sum = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (uint64_t)(uintptr_t)r;
    }
    clock_gettime(CLOCK_MONOTONIC, &w1);
    for (int i = 0; i < TABLE_SLOTS; i++) sum += table[i];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    double wall = (w1.tv_sec - w0.tv_sec) + (w1.tv_nsec - w0.tv_nsec) / 1e9;
    if (table_updates != (uint64_t)per_thread * THREADS) {
        fprintf(stderr, "lock_work: lost updates: %llu of %llu\n", (unsigned long long)table_updates,
                (unsigned long long)per_thread * THREADS);
        return 1;
    }
    printf("cpu_seconds %.6f\nwall_seconds %.6f\niterations %llu\nhandoffs %llu\nchecksum %llu\n", cpu,
           wall, (unsigned long long)table_updates, (unsigned long long)handoffs,
           (unsigned long long)sum);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: lock_work uncontended [N] | lock_work contended [SECONDS_OF_WORK]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    if (strcmp(argv[1], "uncontended") == 0) {
        long n = argc > 2 ? atol(argv[2]) : 100000000;
        if (n <= 0) return usage();
        return uncontended(n);
    }
    if (strcmp(argv[1], "contended") == 0) {
        double s = argc > 2 ? atof(argv[2]) : 1.0;
        if (!(s > 0)) return usage();
        return contended(s);
    }
    return usage();
}
