/*
 * metrics_target.c - a program with user metrics of known values, to scrape.
 *
 * Linked with scry, it starts the live endpoint itself and declares:
 *   app_requests         counter, labels method=GET: 4 threads add 1 to it,
 *                        TOTAL times in all (the remainder of TOTAL / 4 goes
 *                        to the first thread), each from its own thread's
 *                        storage, summed when read;
 *   app_queue_depth      gauge: set to 100 before the threads start, each of
 *                        the 4 threads adds -14.5, so it reads 42 exactly;
 *   app_latency_seconds  histogram, bounds 0.1, 0.2, ..., 1.0: OBS
 *                        observations (i + 0.5) / OBS for i in [0, OBS),
 *                        spread over the threads, so each bucket of width 0.1
 *                        holds OBS / 10 of them, le="0.5" holds half, none
 *                        lies on a bound, and the sum is OBS / 2.
 * It prints, flushed, one line each:
 *   port N              the endpoint's port
 *   runtime N known K   scry_metrics_all's count, and how many of those
 *                       scry_metrics_read knew
 *   metric NAME KIND    for each runtime metric (KIND counter, gauge or
 *                       histogram), so the test knows what /metrics must list
 *   ready               metrics declared, the threads about to start
 *   done counter=TOTAL observations=OBS
 *                       every update made
 * and then stays up SECONDS seconds to be scraped, and exits 0.
 *
 *   metrics_target TOTAL SECONDS
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <scry.h>

#define THREADS 4
#define OBS 1000

static scry_metric_t *requests, *depth, *latency;
static unsigned long long total;

static void *work(void *arg)
{
    long k = (long)arg;
    unsigned long long n = total / THREADS + (k == 0 ? total % THREADS : 0);
    for (unsigned long long i = 0; i < n; i++)
        scry_counter_add(requests, 1);
    scry_gauge_add(depth, -14.5);
    for (int i = (int)k; i < OBS; i += THREADS)
        scry_histogram_observe(latency, (i + 0.5) / OBS);
    return NULL;
}

static const char *kind_name(scry_metric_kind_t k)
{
    switch (k) {
    case SCRY_COUNTER:
        return "counter";
    case SCRY_GAUGE:
        return "gauge";
    case SCRY_HISTOGRAM:
        return "histogram";
    }
    return "unknown";
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: metrics_target TOTAL SECONDS\n");
        return 2;
    }
    total = strtoull(argv[1], NULL, 10);
    double secs = atof(argv[2]);

    int rc = scry_http_start("127.0.0.1:0", NULL);
    if (rc < 0) {
        fprintf(stderr, "metrics_target: scry_http_start: %s\n", scry_strerror(rc));
        return 1;
    }
    printf("port %d\n", scry_http_port());

    const scry_metric_desc_t *all;
    int n = scry_metrics_all(&all);
    scry_metric_value_t *v = calloc(n > 0 ? (size_t)n : 1, sizeof *v);
    if (!v) return 1;
    for (int i = 0; i < n; i++)
        v[i].name = all[i].name;
    int known = n > 0 ? scry_metrics_read(v, n) : 0;
    printf("runtime %d known %d\n", n, known);
    for (int i = 0; i < n; i++)
        printf("metric %s %s\n", all[i].name, kind_name(all[i].kind));
    free(v);

    static const double bounds[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    requests = scry_counter("app_requests", "Requests handled.", "method=GET");
    depth = scry_gauge("app_queue_depth", "Requests waiting in the queue.", NULL);
    latency = scry_histogram("app_latency_seconds", "Time to handle a request.", NULL, bounds,
                             (int)(sizeof bounds / sizeof bounds[0]));
    if (!requests || !depth || !latency) {
        fprintf(stderr, "metrics_target: a metric was refused (%p %p %p)\n", (void *)requests,
                (void *)depth, (void *)latency);
        return 1;
    }
    scry_gauge_set(depth, 100);
    printf("ready\n");
    fflush(stdout);

    pthread_t t[THREADS];
    for (long k = 0; k < THREADS; k++)
        pthread_create(&t[k], NULL, work, (void *)k);
    for (int k = 0; k < THREADS; k++)
        pthread_join(t[k], NULL);
    printf("done counter=%llu observations=%d\n", total, OBS);
    fflush(stdout);

    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 0;
}
