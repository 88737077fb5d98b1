/*
 * runtime.c - runtime metrics, named as Go's runtime/metrics: a path, a
 * colon, the unit ("/sched/latencies:seconds").
 *
 * Most are read when asked: counters scry keeps anyway (samples, handler
 * time), getrusage for CPU and page faults, the thread registry, and the
 * exact heap totals, which are kept only while wanted (profile/heap.h):
 * while they are not, their values are NaN, which the exposition leaves
 * out, and /gc/heap/totals/since:seconds is 0; the two in-use gauges are NaN
 * too when counting began after the program started. Two need a look at every thread or at /proc and are sampled
 * once a second by the aggregator thread (scry__metrics_tick) instead, so a
 * read stays a few microseconds with thousands of threads:
 *  - the scheduler latency histogram: for each thread, the run-queue delay
 *    it accumulated since the last tick over the times it was scheduled
 *    (/proc/self/task/TID/schedstat), counted once per time it ran; plus the
 *    lock wake-ups timed by the lock interposers while a profile runs;
 *  - the resident set size (/proc/self/statm).
 */
#define _GNU_SOURCE
#include "metrics/metrics.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/ring.h"
#include "core/stacktab.h"
#include "core/threads.h"
#include "profile/contention.h"
#include "profile/heap.h"

_Atomic int scry__metrics_wanted;

enum {
    M_THREADS,
    M_THREADS_CREATED,
    M_SCHED_LATENCIES,
    M_CPU_USER,
    M_CPU_SYSTEM,
    M_HEAP_ALLOCS_BYTES,
    M_HEAP_ALLOCS_OBJECTS,
    M_HEAP_FREES_BYTES,
    M_HEAP_FREES_OBJECTS,
    M_HEAP_LIVE_BYTES,
    M_HEAP_LIVE_OBJECTS,
    M_HEAP_TOTALS_SINCE,
    M_HEAP_SIZES,
    M_STACKS,
    M_RSS,
    M_FAULTS_MINOR,
    M_FAULTS_MAJOR,
    M_MUTEX_WAIT,
    M_PROFILING_BYTES,
    M_SAMPLES_TAKEN,
    M_SAMPLES_DROPPED,
    M_HANDLER_TIME,
    M_SPANS_STARTED,
    M_SPANS_EXPORTED,
    M_SPANS_DROPPED,
    M_COUNT
};

static const scry_metric_desc_t descs[M_COUNT] = {
    [M_THREADS] = {"/sched/threads:threads", "Threads of the program alive now (scry's own aside).",
                   SCRY_GAUGE},
    [M_THREADS_CREATED] = {"/sched/threads/created:threads",
                           "Threads the program started since scry loaded, the first included.",
                           SCRY_COUNTER},
    [M_SCHED_LATENCIES] = {"/sched/latencies:seconds",
                           "Time threads spent ready to run before they ran: run-queue delay per "
                           "time slice (schedstat, sampled every second) and wake-ups from locks "
                           "and condition variables (while the block or mutex profile runs).",
                           SCRY_HISTOGRAM},
    [M_CPU_USER] = {"/cpu/classes/user:cpu-seconds", "CPU time spent running the program's code.",
                    SCRY_COUNTER},
    [M_CPU_SYSTEM] = {"/cpu/classes/system:cpu-seconds",
                      "CPU time the kernel spent on the program's behalf.", SCRY_COUNTER},
    [M_HEAP_ALLOCS_BYTES] = {"/gc/heap/allocs:bytes",
                             "Bytes allocated since the heap totals began (exact, usable sizes; 0 "
                             "when another allocator shadows scry's malloc; absent while the "
                             "totals are not kept).",
                             SCRY_COUNTER},
    [M_HEAP_ALLOCS_OBJECTS] = {"/gc/heap/allocs:objects",
                               "Heap allocations since the heap totals began (exact).",
                               SCRY_COUNTER},
    [M_HEAP_FREES_BYTES] = {"/gc/heap/frees:bytes",
                            "Bytes freed since the heap totals began (exact).", SCRY_COUNTER},
    [M_HEAP_FREES_OBJECTS] = {"/gc/heap/frees:objects",
                              "Frees since the heap totals began (exact).", SCRY_COUNTER},
    [M_HEAP_LIVE_BYTES] = {"/memory/classes/heap/objects:bytes",
                           "Bytes in heap blocks allocated and not yet freed (exact; absent when "
                           "the heap totals began after the program started).",
                           SCRY_GAUGE},
    [M_HEAP_LIVE_OBJECTS] = {"/gc/heap/objects:objects",
                             "Heap blocks allocated and not yet freed (exact; absent when the heap "
                             "totals began after the program started).",
                             SCRY_GAUGE},
    [M_HEAP_TOTALS_SINCE] = {"/gc/heap/totals/since:seconds",
                             "Unix time at which scry began keeping the exact heap totals the "
                             "/gc/heap and /memory/classes/heap series count from; 0 while they "
                             "are not kept (those series are then absent). They are kept while "
                             "the heap or allocs profile runs, while /metrics is served, and "
                             "from load to exit with SCRY_HEAP_TOTALS=1; in-use only when "
                             "counting began at load.",
                             SCRY_GAUGE},
    [M_HEAP_SIZES] = {"/gc/heap/allocs-by-size:bytes",
                      "Sizes of heap allocations while the heap profile runs, estimated from its "
                      "samples (exact with SCRY_HEAP_RATE=1).",
                      SCRY_HISTOGRAM},
    [M_STACKS] = {"/memory/classes/os-stacks:bytes",
                  "Stack memory reserved by the program's threads.", SCRY_GAUGE},
    [M_RSS] = {"/process/rss:bytes", "Resident set size (sampled every second).", SCRY_GAUGE},
    [M_FAULTS_MINOR] = {"/process/page-faults/minor:faults", "Page faults served without I/O.",
                        SCRY_COUNTER},
    [M_FAULTS_MAJOR] = {"/process/page-faults/major:faults", "Page faults that needed I/O.",
                        SCRY_COUNTER},
    [M_MUTEX_WAIT] = {"/sync/mutex/wait/total:seconds",
                      "Time threads spent blocked on mutexes and rwlocks (while the block or "
                      "mutex profile runs).",
                      SCRY_COUNTER},
    [M_PROFILING_BYTES] = {"/memory/classes/profiling/buckets:bytes",
                           "Memory scry holds for stacks shared by every profile.", SCRY_GAUGE},
    [M_SAMPLES_TAKEN] = {"/profiling/samples/taken:samples",
                         "Samples scry's signal handlers and interposers recorded.", SCRY_COUNTER},
    [M_SAMPLES_DROPPED] = {"/profiling/samples/dropped:samples",
                           "Samples dropped because scry's sample queue was full.", SCRY_COUNTER},
    [M_HANDLER_TIME] = {"/profiling/signal-handlers/time:seconds",
                        "Time spent in scry's signal handlers (CPU samples, stack requests).",
                        SCRY_COUNTER},
    [M_SPANS_STARTED] = {"/spans/started:spans", "Spans the program started (scry_span_start).",
                         SCRY_COUNTER},
    [M_SPANS_EXPORTED] = {"/spans/exported:spans", "Spans the OTLP collector accepted.",
                          SCRY_COUNTER},
    [M_SPANS_DROPPED] = {"/spans/dropped:spans",
                         "Recorded spans not exported: the queue was full, or the export failed "
                         "after its retries.",
                         SCRY_COUNTER},
};

int scry_metrics_all(const scry_metric_desc_t **out)
{
    *out = descs;
    return M_COUNT;
}

/* ---- sampled every second ---- */

/* Histogram bounds: powers of two of nanoseconds, as the lock wake-ups. */
static pthread_mutex_t sampled_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t sched_hist[SCRY__LATENCY_BUCKETS];
static double sched_sum_s;
static int64_t rss_bytes;

static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    return 0;
}

static int bucket_of(uint64_t ns)
{
    int b = ns <= 1 ? 0 : 63 - __builtin_clzll(ns);
    return b < SCRY__LATENCY_BUCKETS ? b : SCRY__LATENCY_BUCKETS - 1;
}

void scry__metrics_tick(void)
{
    if (!atomic_load_explicit(&scry__metrics_wanted, memory_order_relaxed)) return;
    char buf[256];
    long page = sysconf(_SC_PAGESIZE);
    long long pages_total, pages_rss;
    int64_t rss = -1;
    if (read_small("/proc/self/statm", buf, sizeof buf) == 0 &&
        sscanf(buf, "%lld %lld", &pages_total, &pages_rss) == 2)
        rss = pages_rss * page;
    uint64_t add[SCRY__LATENCY_BUCKETS] = {0};
    double add_sum = 0;
    scry__threads_lock();
    int n;
    scry__thread_t *const *all = scry__threads_all(&n);
    for (int i = 0; i < n; i++) {
        scry__thread_t *t = all[i];
        char path[64];
        unsigned long long run, wait, slices;
        snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)t->tid);
        if (read_small(path, buf, sizeof buf) < 0 ||
            sscanf(buf, "%llu %llu %llu", &run, &wait, &slices) != 3)
            continue;
        if (t->sched_slices && slices > t->sched_slices && wait >= t->sched_wait_ns) {
            uint64_t ds = slices - t->sched_slices, dw = wait - t->sched_wait_ns;
            add[bucket_of(dw / ds)] += ds;
            add_sum += (double)dw / 1e9;
        }
        t->sched_wait_ns = wait;
        t->sched_slices = slices;
    }
    scry__threads_unlock();
    pthread_mutex_lock(&sampled_lock);
    for (int b = 0; b < SCRY__LATENCY_BUCKETS; b++)
        sched_hist[b] += add[b];
    sched_sum_s += add_sum;
    if (rss >= 0) rss_bytes = rss;
    pthread_mutex_unlock(&sampled_lock);
}

/* ---- reading ---- */

static void histogram(scry_metric_value_t *v)
{
    uint64_t lock[SCRY__LATENCY_BUCKETS];
    scry__sched_latencies(lock);
    pthread_mutex_lock(&sampled_lock);
    double sum = sched_sum_s;
    uint64_t total = 0;
    /* Buckets [2^i, 2^(i+1)) ns: upper bounds 2^(i+1) ns, the last open. */
    v->nbuckets = SCRY__LATENCY_BUCKETS - 1;
    for (int i = 0; i < SCRY__LATENCY_BUCKETS; i++) {
        uint64_t c = sched_hist[i] + lock[i];
        if (i < v->nbuckets) v->bounds[i] = (double)(2ull << i) / 1e9;
        v->counts[i] = c;
        total += c;
        /* lock wake-ups: their sum is not kept; count each at its bucket's middle */
        sum += (double)lock[i] * 1.5 * (double)(1ull << i) / 1e9;
    }
    pthread_mutex_unlock(&sampled_lock);
    v->sum = sum;
    v->count = total;
}

static double tv(struct timeval t)
{
    return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

int scry_metrics_read(scry_metric_value_t *v, int n)
{
    atomic_store_explicit(&scry__metrics_wanted, 1, memory_order_relaxed);
    struct rusage ru;
    int have_ru = -1;
    scry__heap_totals_t heap;
    int have_heap = 0;
    int known = 0;
    for (int i = 0; i < n; i++) {
        int m = 0;
        while (m < M_COUNT && (!v[i].name || strcmp(descs[m].name, v[i].name)))
            m++;
        v[i].known = m < M_COUNT;
        if (!v[i].known) continue;
        known++;
        v[i].kind = descs[m].kind;
        v[i].value = 0;
        if ((m == M_CPU_USER || m == M_CPU_SYSTEM || m == M_FAULTS_MINOR || m == M_FAULTS_MAJOR) &&
            have_ru < 0)
            have_ru = getrusage(RUSAGE_SELF, &ru);
        if (m >= M_HEAP_ALLOCS_BYTES && m <= M_HEAP_TOTALS_SINCE && !have_heap) {
            scry__heap_totals(&heap);
            have_heap = 1;
        }
        switch (m) {
        case M_THREADS: {
            int nt;
            scry__threads_lock();
            scry__threads_all(&nt);
            scry__threads_unlock();
            v[i].value = nt;
            break;
        }
        case M_THREADS_CREATED:
            v[i].value = (double)scry__threads_created();
            break;
        case M_SCHED_LATENCIES:
            histogram(&v[i]);
            break;
        case M_CPU_USER:
            v[i].value = have_ru == 0 ? tv(ru.ru_utime) : 0;
            break;
        case M_CPU_SYSTEM:
            v[i].value = have_ru == 0 ? tv(ru.ru_stime) : 0;
            break;
        case M_HEAP_ALLOCS_BYTES:
            v[i].value = heap.kept ? (double)heap.alloc_bytes : NAN;
            break;
        case M_HEAP_ALLOCS_OBJECTS:
            v[i].value = heap.kept ? (double)heap.alloc_objects : NAN;
            break;
        case M_HEAP_FREES_BYTES:
            v[i].value = heap.kept ? (double)heap.free_bytes : NAN;
            break;
        case M_HEAP_FREES_OBJECTS:
            v[i].value = heap.kept ? (double)heap.free_objects : NAN;
            break;
        /* In use: a free of a block allocated before scry's constructor
         * can make it a few blocks short, never below zero. */
        case M_HEAP_LIVE_BYTES:
            v[i].value = !heap.kept || !heap.whole ? NAN
                         : heap.alloc_bytes > heap.free_bytes
                             ? (double)(heap.alloc_bytes - heap.free_bytes)
                             : 0;
            break;
        case M_HEAP_LIVE_OBJECTS:
            v[i].value = !heap.kept || !heap.whole ? NAN
                         : heap.alloc_objects > heap.free_objects
                             ? (double)(heap.alloc_objects - heap.free_objects)
                             : 0;
            break;
        case M_HEAP_TOTALS_SINCE:
            v[i].value = heap.kept ? (double)heap.since_ns / 1e9 : 0;
            break;
        case M_HEAP_SIZES: {
            double c[SCRY__HEAP_SIZE_BUCKETS + 1], sum;
            scry__heap_size_histogram(c, &sum);
            v[i].nbuckets = SCRY__HEAP_SIZE_BUCKETS;
            v[i].count = 0;
            for (int b = 0; b <= SCRY__HEAP_SIZE_BUCKETS; b++) {
                if (b < SCRY__HEAP_SIZE_BUCKETS) v[i].bounds[b] = (double)(1ull << b);
                v[i].counts[b] = (unsigned long long)(c[b] + 0.5);
                v[i].count += v[i].counts[b];
            }
            v[i].sum = sum;
            break;
        }
        case M_STACKS:
            v[i].value = (double)scry__threads_stack_bytes();
            break;
        case M_RSS:
            pthread_mutex_lock(&sampled_lock);
            v[i].value = (double)rss_bytes;
            pthread_mutex_unlock(&sampled_lock);
            break;
        case M_FAULTS_MINOR:
            v[i].value = have_ru == 0 ? (double)ru.ru_minflt : 0;
            break;
        case M_FAULTS_MAJOR:
            v[i].value = have_ru == 0 ? (double)ru.ru_majflt : 0;
            break;
        case M_MUTEX_WAIT:
            v[i].value = (double)scry__lock_wait_total_ns() / 1e9;
            break;
        case M_PROFILING_BYTES:
            v[i].value = (double)scry__stacktab_bytes();
            break;
        case M_SAMPLES_TAKEN:
            v[i].value = (double)scry__ring_taken();
            break;
        case M_SAMPLES_DROPPED:
            v[i].value = (double)scry__ring_drops();
            break;
        case M_HANDLER_TIME:
            v[i].value =
                (double)atomic_load_explicit(&scry__handler_ns, memory_order_relaxed) / 1e9;
            break;
        case M_SPANS_STARTED:
        case M_SPANS_EXPORTED:
        case M_SPANS_DROPPED: {
            scry_span_stats_t st;
            scry_span_stats(&st);
            v[i].value = m == M_SPANS_STARTED    ? (double)st.started
                         : m == M_SPANS_EXPORTED ? (double)st.exported
                                                 : (double)(st.dropped_queue + st.dropped_export);
            break;
        }
        }
    }
    return known;
}
