/*
 * span_cost.c - nanoseconds per span: scry_span_start, two attributes (an
 * int and a short string), scry_span_end, in a tight loop on one thread.
 * The configuration comes from the environment (bench/span.sh sets the
 * sampler and the exporter); the loop is the same in every run.
 *
 *   span_cost SPANS ROUNDS
 * prints "ns_per_span BEST MEDIAN" over ROUNDS rounds of SPANS spans, and
 * the span counters (how many were recorded, exported, dropped).
 */
#define _GNU_SOURCE
#include <scry.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long spans = argc > 1 ? atol(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (spans < 1 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "usage: span_cost SPANS ROUNDS\n");
        return 2;
    }
    double ns[100];
    /* A parent, as a server's request span would be: children inherit its
     * sampling decision, as most spans of a service do. */
    scry_span_t *root = scry_span_start("bench", SCRY_SPAN_SERVER, NULL);
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (long i = 0; i < spans; i++) {
            scry_span_t *s = scry_span_start("GET /work", SCRY_SPAN_INTERNAL, NULL);
            scry_span_set_int(s, "http.response.status_code", 200);
            scry_span_set_str(s, "url.path", "/work");
            scry_span_end(s);
        }
        ns[r] = (now_s() - t0) * 1e9 / (double)spans;
    }
    scry_span_end(root);
    qsort(ns, (size_t)rounds, sizeof ns[0], cmp);
    scry_span_stats_t st;
    scry_span_stats(&st);
    printf("ns_per_span %.1f %.1f\n", ns[0], ns[rounds / 2]);
    printf("started %llu recorded %llu exported %llu dropped_queue %llu dropped_export %llu\n",
           st.started, st.recorded, st.exported, st.dropped_queue, st.dropped_export);
    return 0;
}
