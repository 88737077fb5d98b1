/*
 * scry.h - the whole public C API of scry.
 *
 * scry profiles native Linux programs the way Go's runtime profiles Go
 * programs, and writes pprof files that `go tool pprof` reads.
 *
 * Two ways to use it:
 *   - Unmodified binaries: `scry run -p cpu -- ./app` preloads libscry.so,
 *     which reads the SCRY_* environment variables in a constructor, starts
 *     the profiles they name and writes them when the process ends.
 *   - Linked programs: link with -lscry and drive the profiles with the
 *     functions below. They may be combined with the environment variables.
 *
 * Profiles are named as in Go: "cpu", "heap", "allocs", "block" and "mutex"
 * (this release); "threads" and "wall" are reserved and return -ENOTSUP
 * until they are implemented. "block" is time threads spent waiting (on
 * locks, condition variables, semaphores, joins, barriers) on the waiter's
 * stack; "mutex" is the same waits charged to the stack that released the
 * lock. "heap" and "allocs" are one set of samples
 * of every malloc-family allocation (and C++ new), shown by default as
 * memory in use (heap) or allocated since the start (allocs).
 *
 * Every function returns 0 on success or a negative errno value; pass it to
 * scry_strerror() for a message. No function here may be called from a
 * signal handler.
 */
#ifndef SCRY_H
#define SCRY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SCRY_BUILDING_LIBRARY)
#define SCRY_API __attribute__((visibility("default")))
#else
#define SCRY_API
#endif

#define SCRY_VERSION_MAJOR 0
#define SCRY_VERSION_MINOR 1
#define SCRY_VERSION_PATCH 0
#define SCRY_VERSION "0.1.0"

/* Default CPU sampling rate, as Go's runtime/pprof. */
#define SCRY_CPU_HZ_DEFAULT 100
/* Highest CPU sampling rate accepted. */
#define SCRY_CPU_HZ_MAX 10000

/* Sets the CPU sampling rate in samples per second of CPU time per thread.
 * Takes effect at the next scry_profile_start("cpu"); -EBUSY while the CPU
 * profile runs, -EINVAL outside 1..SCRY_CPU_HZ_MAX. */
SCRY_API int scry_cpu_set_hz(int hz);

/* Default heap sampling rate: one sample per 512 KiB allocated on average,
 * as Go's runtime.MemProfileRate. */
#define SCRY_HEAP_RATE_DEFAULT 524288
#define SCRY_HEAP_RATE_MAX (1LL << 40)

/* Sets the mean number of bytes allocated between heap samples (1 samples
 * every allocation). -EBUSY while "heap" or "allocs" runs, -EINVAL below 1
 * or above SCRY_HEAP_RATE_MAX. */
SCRY_API int scry_heap_set_rate(long bytes);

/* Go's runtime.SetBlockProfileRate: a wait of at least `ns` nanoseconds is
 * always recorded, a shorter one with probability wait/ns (and scaled, so
 * totals stay unbiased). 1 records every wait (the default). */
#define SCRY_BLOCK_RATE_MAX 1000000000000LL
SCRY_API int scry_block_set_rate(long ns);

/* Go's runtime.SetMutexProfileFraction: 1 in n lock releases that ended a
 * wait is recorded, scaled by n. 1 records every one (the default). */
#define SCRY_MUTEX_FRACTION_MAX 1000000000LL
SCRY_API int scry_mutex_set_fraction(long n);

/* The wall-clock profile ("wall", fgprof's model) samples every thread, on
 * and off CPU, this many times a second. -EBUSY while it runs, -EINVAL
 * outside 1..SCRY_WALL_HZ_MAX. */
#define SCRY_WALL_HZ_DEFAULT 100
#define SCRY_WALL_HZ_MAX 1000
SCRY_API int scry_wall_set_hz(int hz);

/* Serves /debug/pprof/ (as Go's net/http/pprof) on addr ("PORT",
 * "HOST:PORT", "[V6]:PORT"; no host means loopback; port 0 picks one) from
 * threads of scry's own. A non-loopback address needs a token, which every
 * request must then send as "Authorization: Bearer TOKEN" (NULL or "":
 * none). 0, -EALREADY, or a negative errno after one line on stderr. */
SCRY_API int scry_http_start(const char *addr, const char *token);
/* The port being served, 0 when no server runs. */
SCRY_API int scry_http_port(void);
SCRY_API void scry_http_stop(void);

/* Exact counts of every allocation and free the process made since scry
 * loaded, all threads, in the allocator's usable sizes
 * (malloc_usable_size). Kept whether or not a heap profile runs. */
typedef struct {
    unsigned long long alloc_objects, alloc_bytes;
    unsigned long long free_objects, free_bytes;
} scry_heap_totals_t;
SCRY_API int scry_heap_totals(scry_heap_totals_t *out);

/* Starts the named profile. Samples accumulate until scry_profile_stop().
 * -EINVAL for an unknown name, -ENOTSUP for a profile not built yet,
 * -EALREADY if it runs already. */
SCRY_API int scry_profile_start(const char *name);

/* Stops the named profile. What it collected stays readable by
 * scry_profile_write() until the next start. -EINVAL if not running. */
SCRY_API int scry_profile_stop(const char *name);

/* Writes the named profile, gzipped pprof, to path: atomically, through a
 * temporary file in the same directory that is renamed over path. May be
 * called while the profile runs (a snapshot) or after it stopped. */
SCRY_API int scry_profile_write(const char *name, const char *path);

/* The same, to an open file descriptor, which is not closed. */
SCRY_API int scry_profile_write_fd(const char *name, int fd);

/* ---- Metrics ----------------------------------------------------------
 *
 * Runtime metrics are named as Go's runtime/metrics ("/sched/latencies:
 * seconds": a path, a colon, the unit) and read many at once, with no
 * stop-the-world. User metrics are counters, gauges and histograms a program
 * declares once (a handle per name and label set) and updates with no lock:
 * each thread adds into its own storage, summed when read. Both are served
 * at /metrics by the live endpoint, in Prometheus text format (OpenMetrics
 * when the scraper asks for it).
 */
typedef enum { SCRY_COUNTER = 0, SCRY_GAUGE = 1, SCRY_HISTOGRAM = 2 } scry_metric_kind_t;

typedef struct {
    const char *name;        /* "/sched/latencies:seconds" */
    const char *description; /* one sentence */
    scry_metric_kind_t kind;
} scry_metric_desc_t;

/* Every runtime metric scry knows; returns how many (*out stays valid). */
SCRY_API int scry_metrics_all(const scry_metric_desc_t **out);

#define SCRY_METRIC_MAX_BUCKETS 64
typedef struct {
    const char *name; /* set by the caller */
    /* filled by scry_metrics_read: */
    scry_metric_kind_t kind;
    int known;    /* 0: no metric of that name */
    double value; /* counter or gauge */
    /* histogram: counts[i] observations <= bounds[i] (and above bounds[i-1]);
     * counts[nbuckets] those above the last bound; sum and count of all. */
    int nbuckets;
    double bounds[SCRY_METRIC_MAX_BUCKETS];
    unsigned long long counts[SCRY_METRIC_MAX_BUCKETS + 1];
    double sum;
    unsigned long long count;
} scry_metric_value_t;

/* Reads the n metrics named in v[i].name, as Go's metrics.Read. Returns
 * the number of names it knew. */
SCRY_API int scry_metrics_read(scry_metric_value_t *v, int n);

typedef struct scry_metric scry_metric_t;

/* Declares a user metric, or finds the one already declared with that name
 * and labels. name: [a-zA-Z_:][a-zA-Z0-9_:]* (a counter is exported with
 * "_total" appended unless it ends so already); labels: NULL or
 * "key=value,key=value". NULL (after one line on stderr) for a bad name,
 * bad labels, a name already used with another kind, or past 4096 metrics.
 * Every update function accepts NULL and does nothing. */
SCRY_API scry_metric_t *scry_counter(const char *name, const char *help, const char *labels);
SCRY_API scry_metric_t *scry_gauge(const char *name, const char *help, const char *labels);
/* bounds: nbounds increasing upper bounds (at most SCRY_METRIC_MAX_BUCKETS). */
SCRY_API scry_metric_t *scry_histogram(const char *name, const char *help, const char *labels,
                                       const double *bounds, int nbounds);

SCRY_API void scry_counter_add(scry_metric_t *m, unsigned long long n);
SCRY_API void scry_gauge_set(scry_metric_t *m, double v);
SCRY_API void scry_gauge_add(scry_metric_t *m, double delta);
SCRY_API void scry_histogram_observe(scry_metric_t *m, double v);

/* ---- Tracing ------------------------------------------------------------
 * A runtime trace (Go's runtime/trace): time-stamped events of every
 * thread (lock waits and the wake-ups that end them, sleeps and blocking
 * I/O, CPU samples while the CPU profile runs, large allocations, thread
 * names) and the program's own tasks, regions and log messages, written in
 * Perfetto's format: open it at https://ui.perfetto.dev, or summarize it
 * with `scry trace FILE`. Recording costs a few nanoseconds per event; with
 * no trace running every function below returns at once. */

/* Streams a trace to path until scry_trace_stop (or exit). -EBUSY while
 * another trace is being written. */
SCRY_API int scry_trace_start(const char *path);
SCRY_API int scry_trace_stop(void);
/* 1 while events are recorded (a trace or the flight recorder runs). */
SCRY_API int scry_trace_enabled(void);

/* The flight recorder (Go's trace.FlightRecorder): keeps at least the last
 * `seconds` of events in memory, in at most max_bytes (0: 32 MiB), and
 * writes them on demand: scry_flight_write, SIGUSR2 (to
 * SCRY_OUT/flight.<pid>.<n>.pftrace), or a crash. */
SCRY_API int scry_flight_start(double seconds, size_t max_bytes);
SCRY_API int scry_flight_stop(void);
SCRY_API int scry_flight_write(const char *path);

/* Tasks (Go's trace.NewTask): a logical operation that may cross threads.
 * scry_task_begin starts one, a child of the calling thread's current task,
 * and makes it the thread's current task; regions and logs of a thread
 * belong to its current task. Carry the id to another thread and
 * scry_task_adopt it there. 0 is "no task" (what begin returns while
 * nothing is recorded). */
typedef unsigned long long scry_task_t;
SCRY_API scry_task_t scry_task_begin(const char *type);
SCRY_API void scry_task_end(scry_task_t task);
/* Makes task the calling thread's current task; returns the previous one. */
SCRY_API scry_task_t scry_task_adopt(scry_task_t task);
SCRY_API scry_task_t scry_task_current(void);

/* Regions (Go's trace.StartRegion): an interval of one thread; regions
 * nest, and end innermost first. */
SCRY_API void scry_region_begin(const char *type);
SCRY_API void scry_region_end(void);

/* Log messages (Go's trace.Log, trace.Logf), of the current task. */
SCRY_API void scry_log(const char *category, const char *message);
SCRY_API void scry_logf(const char *category, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#if defined(__GNUC__)
/* SCRY_REGION("parse"); makes the rest of the enclosing block a region. */
static inline void scry__region_cleanup(int *unused)
{
    (void)unused;
    scry_region_end();
}
#define SCRY__CAT2(a, b) a##b
#define SCRY__CAT(a, b) SCRY__CAT2(a, b)
#define SCRY_REGION(type)                                                                          \
    __attribute__((cleanup(scry__region_cleanup), unused)) int SCRY__CAT(scry__region_, __LINE__) = \
        (scry_region_begin(type), 0)
#endif

/* A message for a value returned by any function above. */
SCRY_API const char *scry_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* SCRY_H */
