/*
 * demo.c - a small, realistic multi-threaded program to look at with scry.
 *
 * A producer generates CSV log records; four workers parse each record,
 * hash its payload, and look the hash up in a shared cache guarded by one
 * mutex; every few hundred records a worker "flushes" a batch to disk
 * (an fsync-like sleep). Each later profile has something to show here:
 *   cpu      parse_record and hash_payload dominate, cache_lookup is visible
 *   heap     the records (allocated by the producer, freed by the
 *            workers), and the reports kept_reports leaks on purpose
 *   mutex    the cache lock, held while the cache is scanned
 *   block    workers waiting for the cache lock and for the queue
 *   wall     flush_batch, which sleeps rather than computes
 *
 * Usage: demo [seconds]   (default 2)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define WORKERS 4
#define QUEUE 256
#define CACHE_SLOTS 4096

typedef struct {
    char *line;
} record_t;

static record_t queue[QUEUE];
static int q_head, q_tail, q_count, done;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_nonempty = PTHREAD_COND_INITIALIZER, q_nonfull = PTHREAD_COND_INITIALIZER;

static uint64_t cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static long hits, misses;

typedef struct {
    long id;
    char user[32];
    char action[16];
    double amount;
    char payload[512];
} parsed_t;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static char *make_record(long id, unsigned *seed)
{
    static const char *actions[] = {"login", "view", "buy", "logout"};
    char payload[400];
    /* 3000 distinct payloads, so the cache gets hits. */
    unsigned ps = (unsigned)rand_r(seed) % 3000;
    int n = 100 + (int)(ps % 290);
    for (int i = 0; i < n; i++) payload[i] = (char)('a' + rand_r(&ps) % 26);
    payload[n] = 0;
    char *line = NULL;
    if (asprintf(&line, "%ld,user%04u,%s,%u.%02u,%s", id, rand_r(seed) % 5000,
                 actions[rand_r(seed) % 4], rand_r(seed) % 1000, rand_r(seed) % 100, payload) < 0)
        return NULL;
    return line;
}

__attribute__((noinline)) static int parse_record(const char *line, parsed_t *out)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", line);
    char *save = NULL, *f[5];
    int n = 0;
    for (char *t = strtok_r(buf, ",", &save); t && n < 5; t = strtok_r(NULL, ",", &save)) f[n++] = t;
    if (n != 5) return -1;
    out->id = strtol(f[0], NULL, 10);
    snprintf(out->user, sizeof out->user, "%s", f[1]);
    snprintf(out->action, sizeof out->action, "%s", f[2]);
    out->amount = strtod(f[3], NULL);
    snprintf(out->payload, sizeof out->payload, "%s", f[4]);
    return 0;
}

/* Deliberately heavy: many rounds of FNV-1a mixing over the payload. */
__attribute__((noinline)) static uint64_t hash_payload(const parsed_t *r)
{
    uint64_t h = 1469598103934665603ull;
    for (int round = 0; round < 24; round++)
        for (const char *p = r->payload; *p; p++) {
            h ^= (unsigned char)*p + (uint64_t)round;
            h *= 1099511628211ull;
        }
    return h;
}

__attribute__((noinline)) static int cache_lookup(uint64_t h)
{
    pthread_mutex_lock(&cache_lock);
    /* A linear probe over a window: long enough to make the lock matter. */
    int found = 0;
    size_t base = h % CACHE_SLOTS;
    for (size_t i = 0; i < 64; i++)
        if (cache[(base + i) % CACHE_SLOTS] == h) found = 1;
    if (found)
        hits++;
    else {
        cache[base] = h;
        misses++;
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

/* Every 5000 records a 64 KiB report is built and kept forever: the
 * program's leak, which `scry run -p heap` lists at exit. */
static void *_Atomic kept_reports;

__attribute__((noinline)) static void keep_report(long handled)
{
    void **report = malloc(64 * 1024);
    if (!report) return;
    snprintf((char *)(report + 1), 64, "report after %ld records", handled);
    report[0] = atomic_load(&kept_reports);
    while (!atomic_compare_exchange_weak(&kept_reports, &report[0], report)) {
    }
}

__attribute__((noinline)) static void flush_batch(void)
{
    struct timespec ts = {0, 2000000}; /* 2 ms, like an fsync */
    nanosleep(&ts, NULL);
}

static void *worker(void *arg)
{
    (void)arg;
    long handled = 0;
    for (;;) {
        pthread_mutex_lock(&q_lock);
        while (!q_count && !done) pthread_cond_wait(&q_nonempty, &q_lock);
        if (!q_count && done) {
            pthread_mutex_unlock(&q_lock);
            break;
        }
        record_t r = queue[q_head];
        q_head = (q_head + 1) % QUEUE;
        q_count--;
        pthread_cond_signal(&q_nonfull);
        pthread_mutex_unlock(&q_lock);

        parsed_t p;
        if (parse_record(r.line, &p) == 0) cache_lookup(hash_payload(&p));
        free(r.line);
        if (++handled % 300 == 0) flush_batch();
        if (handled % 5000 == 0) keep_report(handled);
    }
    return (void *)handled;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    if (seconds <= 0) {
        fprintf(stderr, "usage: demo [seconds]\n");
        return 2;
    }
    pthread_t w[WORKERS];
    for (int i = 0; i < WORKERS; i++) pthread_create(&w[i], NULL, worker, NULL);
    pthread_setname_np(pthread_self(), "producer");

    unsigned seed = 42;
    long id = 0;
    double end = now() + seconds;
    while (now() < end) {
        for (int k = 0; k < 64; k++) {
            char *line = make_record(id++, &seed);
            if (!line) continue;
            pthread_mutex_lock(&q_lock);
            while (q_count == QUEUE) pthread_cond_wait(&q_nonfull, &q_lock);
            queue[q_tail] = (record_t){line};
            q_tail = (q_tail + 1) % QUEUE;
            q_count++;
            pthread_cond_signal(&q_nonempty);
            pthread_mutex_unlock(&q_lock);
        }
    }
    pthread_mutex_lock(&q_lock);
    done = 1;
    pthread_cond_broadcast(&q_nonempty);
    pthread_mutex_unlock(&q_lock);
    long total = 0;
    for (int i = 0; i < WORKERS; i++) {
        void *n;
        pthread_join(w[i], &n);
        total += (long)n;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("demo: %ld records in %.1f s (%.2f s of CPU), cache hits %ld, misses %ld\n", total,
           seconds, cpu, hits, misses);
    return 0;
}
