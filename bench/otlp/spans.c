/*
 * spans.c - the span load of bench/otlp/run.sh: THREADS threads end spans
 * (each a SERVER span with five attributes, no other work) as fast as they
 * can for SECONDS, far faster than any exporter sends them, so the queue
 * stays full and the exporter thread runs flat out: what it exported in that
 * time is its throughput. Linked with scry (the public span API).
 *
 * Prints, for the window of SECONDS:
 *   ended N           spans ended by the threads (ns per span end as they see it)
 *   exported N        spans the collector accepted (scry_span_stats)
 *   exporter_cpu_ns N the exporter thread's CPU time ("scry-spans", schedstat)
 *   dropped_queue N   spans that found the queue full
 *   exports N         requests sent
 * and, after scry_span_flush, the final stats line.
 *
 * Usage: otlp_spans SECONDS THREADS
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scry.h"

static atomic_int stop;
static atomic_ullong ended, ended_ns;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *producer(void *arg)
{
    (void)arg;
    unsigned long long n = 0;
    int64_t t0 = now_ns();
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int k = 0; k < 64; k++, n++) {
            scry_span_t *s = scry_span_start("GET /item/{id}", SCRY_SPAN_SERVER, NULL);
            scry_span_set_str(s, "http.request.method", "GET");
            scry_span_set_str(s, "url.path", "/item/12345");
            scry_span_set_int(s, "http.response.status_code", 200);
            scry_span_set_double(s, "work.units", (double)n);
            scry_span_set_bool(s, "cache.hit", (int)(n & 1));
            scry_span_end(s);
        }
    }
    atomic_fetch_add(&ended, n);
    atomic_fetch_add(&ended_ns, (unsigned long long)(now_ns() - t0));
    return NULL;
}

/* CPU time of scry's exporter thread, from /proc/self/task/<tid>/schedstat. */
static long long exporter_cpu_ns(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    long long ns = -1;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
        fclose(f);
        if (strncmp(comm, "scry-spans", 10) != 0) continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        if ((f = fopen(path, "r"))) {
            if (fscanf(f, "%lld", &ns) != 1) ns = -1;
            fclose(f);
        }
    }
    closedir(d);
    return ns;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: otlp_spans SECONDS THREADS\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    int threads = atoi(argv[2]);
    if (seconds <= 0 || threads < 1 || threads > 64) return 2;
    /* Start the exporter before the window: its start is not the subject. */
    scry_span_end(scry_span_start("warm-up", SCRY_SPAN_INTERNAL, NULL));
    scry_span_flush(5000);
    scry_span_stats_t a, b;
    scry_span_stats(&a);
    long long cpu0 = exporter_cpu_ns();
    pthread_t t[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, producer, NULL);
    usleep((useconds_t)(seconds * 1e6));
    scry_span_stats(&b);
    long long cpu1 = exporter_cpu_ns();
    atomic_store(&stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    unsigned long long n = atomic_load(&ended);
    printf("ended %llu ns_per_end %.0f\n", n, n ? (double)atomic_load(&ended_ns) / (double)n : 0.0);
    printf("exported %llu\n", b.exported - a.exported);
    printf("exporter_cpu_ns %lld\n", cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1);
    printf("dropped_queue %llu\n", b.dropped_queue - a.dropped_queue);
    printf("exports %llu\n", b.exports - a.exports);
    int rc = scry_span_flush(30000);
    scry_span_stats(&b);
    printf("final flush=%d started=%llu exported=%llu dropped_queue=%llu dropped_export=%llu "
           "exports=%llu\n",
           rc, b.started, b.exported, b.dropped_queue, b.dropped_export, b.exports);
    return 0;
}
