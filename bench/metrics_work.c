/*
 * metrics_work.c - the workloads of bench/metrics.sh: what updating a user
 * metric and reading the runtime metrics cost, linked with scry.
 *
 *   metrics_work add N THREADS
 *     N additions in all (split evenly over THREADS threads, which start
 *     together at a barrier), to one counter, four ways:
 *       scry     scry_counter_add(m, 1) on one counter shared by the threads
 *                (scry adds into each thread's own storage);
 *       plain    a non-atomic increment of one shared word (a relaxed load
 *                and a relaxed store: the instructions `x++` compiles to,
 *                without the data race's undefined behaviour; with 2
 *                threads updates are lost, it is only the floor);
 *       atomic   atomic_fetch_add (relaxed) on one shared word: what a
 *                naive thread-safe counter costs;
 *       observe  scry_histogram_observe on a 10-bucket histogram.
 *     Best of 5 repeats of each; a repeat's time is the wall time from the
 *     barrier to the last thread's end, so the figure is ns per addition
 *     as each thread sees it while the others run. Prints one line per
 *     way: `add WAY THREADS ns_per_add` (observe with 1 thread only).
 *
 *   metrics_work read N
 *     N times: scry_metrics_all, then scry_metrics_read of every runtime
 *     metric into an array allocated once. Prints `read METRICS best_us
 *     median_us`.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <scry.h>

#define REPEATS 5
#define MAX_THREADS 64

enum way { SCRY, PLAIN, ATOMIC, OBSERVE };
static const char *way_name[] = {"scry", "plain", "atomic", "observe"};

static scry_metric_t *counter, *hist;
static _Atomic unsigned long word;
static pthread_barrier_t start;

typedef struct {
    enum way way;
    long n;
} job_t;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void run(enum way w, long n)
{
    switch (w) {
    case SCRY:
        for (long i = 0; i < n; i++)
            scry_counter_add(counter, 1);
        break;
    case PLAIN:
        for (long i = 0; i < n; i++)
            atomic_store_explicit(&word, atomic_load_explicit(&word, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
        break;
    case ATOMIC:
        for (long i = 0; i < n; i++)
            atomic_fetch_add_explicit(&word, 1, memory_order_relaxed);
        break;
    case OBSERVE:
        for (long i = 0; i < n; i++)
            scry_histogram_observe(hist, (double)(i & 1023) / 1024);
        break;
    }
}

static void *thread(void *arg)
{
    job_t *j = arg;
    pthread_barrier_wait(&start);
    run(j->way, j->n);
    return NULL;
}

/* One repeat: THREADS threads (the caller is the first) do n / threads each. */
static double repeat(enum way w, long n, int threads)
{
    pthread_t t[MAX_THREADS];
    job_t j = {w, n / threads};
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int k = 1; k < threads; k++)
        pthread_create(&t[k], NULL, thread, &j);
    pthread_barrier_wait(&start);
    double t0 = now();
    run(w, j.n);
    for (int k = 1; k < threads; k++)
        pthread_join(t[k], NULL);
    double dt = now() - t0;
    pthread_barrier_destroy(&start);
    return dt * 1e9 / (double)j.n;
}

static int add(long n, int threads)
{
    if (threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "metrics_work: THREADS must be 1..%d\n", MAX_THREADS);
        return 2;
    }
    static const double bounds[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    counter = scry_counter("bench_adds", "Additions made by the benchmark.", NULL);
    hist = scry_histogram("bench_values", "Values observed by the benchmark.", NULL, bounds, 10);
    if (!counter || !hist) {
        fprintf(stderr, "metrics_work: scry refused the benchmark's metrics\n");
        return 1;
    }
    for (enum way w = SCRY; w <= OBSERVE; w++) {
        if (w == OBSERVE && threads != 1) continue;
        double best = 0;
        for (int r = 0; r < REPEATS; r++) {
            double ns = repeat(w, n, threads);
            if (r == 0 || ns < best) best = ns;
        }
        printf("add %s %d %.3f\n", way_name[w], threads, best);
        fflush(stdout);
    }
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int read_all(long n)
{
    const scry_metric_desc_t *all;
    int m = scry_metrics_all(&all);
    if (m <= 0) {
        fprintf(stderr, "metrics_work: scry_metrics_all lists no metric\n");
        return 1;
    }
    scry_metric_value_t *v = calloc((size_t)m, sizeof *v);
    double *us = calloc((size_t)n, sizeof *us);
    if (!v || !us) return 1;
    int known = 0;
    for (long i = 0; i < n; i++) {
        double t0 = now();
        m = scry_metrics_all(&all);
        for (int k = 0; k < m; k++)
            v[k].name = all[k].name;
        known = scry_metrics_read(v, m);
        us[i] = (now() - t0) * 1e6;
    }
    qsort(us, (size_t)n, sizeof *us, cmp);
    printf("read %d %.3f %.3f\n", m, us[0], us[n / 2]);
    if (known != m) fprintf(stderr, "metrics_work: scry_metrics_read knew %d of %d\n", known, m);
    free(v);
    free(us);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "add") == 0)
        return add(atol(argv[2]), argc > 3 ? atoi(argv[3]) : 1);
    if (argc >= 3 && strcmp(argv[1], "read") == 0) return read_all(atol(argv[2]));
    fprintf(stderr, "usage: metrics_work add N THREADS | metrics_work read N\n");
    return 2;
}
