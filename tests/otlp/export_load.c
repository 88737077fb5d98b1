/*
 * export_load.c - a program that serves "requests", one span each, through
 * scry's public span API, for tests/otlp/export_faults.sh.
 *
 * Each request is a SERVER span with five attributes around a small fixed
 * amount of work; the program times each request itself (clock_gettime
 * around start .. end), so a request that waited on the exporter's network
 * would show. Every 20 requests it sleeps 1 ms (outside the timing), so that
 * requests arrive over time, as a server's do.
 *
 * Usage: export_load REQUESTS FLUSH_MS [fork]
 * Then, when FLUSH_MS > 0, scry_span_flush(FLUSH_MS). Prints:
 *   flush RC
 *   latency_us p50=.. p99=.. max=.. max_at=I (the slowest request's index)
 *   stats started=.. recorded=.. exported=.. dropped_queue=.. dropped_export=.. retries=..
 * exports=.. exit_at_ns NS      (CLOCK_REALTIME as main returns: exit's own time follows) With
 * "fork", the program forks after half of its requests, with spans still queued: the child serves
 * REQUESTS / 2 requests of its own, flushes and prints the same lines prefixed "child "; the parent
 * waits for it, then serves its second half.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scry.h"

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static volatile uint64_t sink;

/* About 10-20 us of arithmetic: the request's own work. */
static void work(int i)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)i;
    for (int k = 0; k < 20000; k++)
        h = (h ^ (uint64_t)k) * 1099511628211u;
    sink = h;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void serve(int from, int to, int64_t *lat)
{
    for (int i = from; i < to; i++) {
        int64_t t0 = now_ns(CLOCK_MONOTONIC);
        scry_span_t *s = scry_span_start("GET /item/{id}", SCRY_SPAN_SERVER, NULL);
        char id[32];
        snprintf(id, sizeof id, "item-%d", i);
        scry_span_set_str(s, "http.request.method", "GET");
        scry_span_set_str(s, "item.id", id);
        scry_span_set_int(s, "http.response.status_code", 200);
        scry_span_set_double(s, "work.units", i * 0.5);
        scry_span_set_bool(s, "cache.hit", i % 2);
        work(i);
        scry_span_end(s);
        lat[i] = now_ns(CLOCK_MONOTONIC) - t0;
        if (i % 20 == 19) usleep(1000);
    }
}

static void report(const char *who, int64_t *lat, int n, int flush_ms)
{
    if (flush_ms > 0) printf("%sflush %d\n", who, scry_span_flush(flush_ms));
    int max_at = 0; /* which request: the first starts the exporter's thread */
    for (int i = 1; i < n; i++)
        if (lat[i] > lat[max_at]) max_at = i;
    qsort(lat, (size_t)n, sizeof *lat, cmp);
    printf("%slatency_us p50=%lld p99=%lld max=%lld max_at=%d\n", who, (long long)lat[n / 2] / 1000,
           (long long)lat[(size_t)n * 99 / 100] / 1000, (long long)lat[n - 1] / 1000, max_at);
    scry_span_stats_t st;
    if (scry_span_stats(&st) == 0)
        printf("%sstats started=%llu recorded=%llu exported=%llu dropped_queue=%llu "
               "dropped_export=%llu retries=%llu exports=%llu\n",
               who, st.started, st.recorded, st.exported, st.dropped_queue, st.dropped_export,
               st.retries, st.exports);
    printf("%sexit_at_ns %lld\n", who, (long long)now_ns(CLOCK_REALTIME));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "fork") == 0)) {
        fprintf(stderr, "usage: export_load REQUESTS FLUSH_MS [fork]\n");
        return 2;
    }
    int n = atoi(argv[1]), flush_ms = atoi(argv[2]);
    int64_t *lat = malloc((size_t)n * sizeof *lat);
    if (!lat || n < 2) return 2;
    if (argc == 4) {
        serve(0, n / 2, lat);
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            serve(0, n / 2, lat);
            report("child ", lat, n / 2, flush_ms);
            exit(0);
        }
        int st;
        if (child < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st)) {
            fprintf(stderr, "export_load: the child failed\n");
            return 1;
        }
        serve(n / 2, n, lat);
    } else {
        serve(0, n, lat);
    }
    report("", lat, n, flush_ms);
    free(lat);
    return 0;
}
