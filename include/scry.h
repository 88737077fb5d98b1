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

/* Exact counts of every allocation and free the process made, all
 * threads, in the allocator's usable sizes (malloc_usable_size), since scry
 * began keeping them. They cost every malloc and free a few nanoseconds, so
 * they are kept only while the heap or allocs profile runs, while the HTTP
 * endpoint serves /metrics, or from load to exit with SCRY_HEAP_TOTALS=1;
 * otherwise this returns -ENODATA and zeros. Counting begins afresh each
 * time it starts: begun after the program started (a profile started with
 * scry_profile_start), the frees include blocks allocated before, so
 * alloc - free is not what the program holds; take differences of two
 * reads instead. */
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
    double value; /* counter or gauge; NaN: not available now (the heap
                   * totals while they are not kept, see scry_heap_totals) */
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

/* ---- Spans: distributed tracing (OpenTelemetry's model) ----------------
 * A span is one timed operation of a request; spans that share a trace id
 * form the request's trace across processes. Spans are exported in
 * OpenTelemetry's OTLP (HTTP, protobuf or JSON) by a background thread, to
 * OTEL_EXPORTER_OTLP_ENDPOINT (http://localhost:4318), configured by the
 * standard OTEL_* variables; W3C Trace Context carries them between
 * processes. While a span is the thread's current span, the CPU, heap,
 * mutex and block profiles label their samples with its span_id, span_name
 * and root_span_name (its local root's: the request's server span), and
 * runtime trace tasks carry its trace and span ids.
 *
 * Every function accepts a NULL span and does nothing. An application
 * thread never waits on the network: a span that finds the export queue
 * full is dropped and counted. */

typedef enum {
    SCRY_SPAN_INTERNAL = 1,
    SCRY_SPAN_SERVER = 2,
    SCRY_SPAN_CLIENT = 3,
    SCRY_SPAN_PRODUCER = 4,
    SCRY_SPAN_CONSUMER = 5
} scry_span_kind_t;

typedef enum { SCRY_STATUS_UNSET = 0, SCRY_STATUS_OK = 1, SCRY_STATUS_ERROR = 2 } scry_status_t;

/* W3C trace-flags bits. */
#define SCRY_TRACE_FLAG_SAMPLED 0x01
#define SCRY_TRACE_FLAG_RANDOM 0x02 /* the trace id's low 56 bits are random */
/* Longest tracestate kept (the W3C minimum a vendor must propagate). */
#define SCRY_TRACESTATE_MAX 512
/* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define SCRY_TRACEPARENT_LEN 55

/* What crosses threads and processes: a span's identity. A context whose
 * trace id is all zeros is invalid ("no parent"). */
typedef struct {
    unsigned char trace_id[16];
    unsigned char span_id[8];
    unsigned char flags;  /* SCRY_TRACE_FLAG_* */
    unsigned char remote; /* 1: extracted from another process */
    char tracestate[SCRY_TRACESTATE_MAX + 1];
} scry_span_context_t;

typedef struct scry_span scry_span_t;

/* Starts a span and makes it the calling thread's current span. parent:
 * NULL for the thread's current span (none: a new trace), or a context
 * (from scry_span_context or scry_context_extract); a zeroed context starts
 * a new trace. The sampler decides whether it is recorded and exported
 * (parent-based by default); an unrecorded span still propagates. NULL
 * only when spans are disabled (OTEL_SDK_DISABLED=true) or memory ran out. */
SCRY_API scry_span_t *scry_span_start(const char *name, scry_span_kind_t kind,
                                      const scry_span_context_t *parent);
/* Ends it (its time is taken now) and queues it for export; it leaves its
 * thread's stack of current spans. The handle is invalid afterwards. */
SCRY_API void scry_span_end(scry_span_t *span);

/* Attributes (a later value of the same key replaces the earlier one);
 * strings are copied. At most OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT (128) per
 * span, further ones are counted as dropped. */
SCRY_API void scry_span_set_str(scry_span_t *span, const char *key, const char *value);
SCRY_API void scry_span_set_int(scry_span_t *span, const char *key, long long value);
SCRY_API void scry_span_set_double(scry_span_t *span, const char *key, double value);
SCRY_API void scry_span_set_bool(scry_span_t *span, const char *key, int value);

/* An attribute of an event, written with the macros below:
 *   scry_span_add_event(s, "retry", (scry_attr_t[]){SCRY_ATTR_INT("attempt", 2)}, 1); */
typedef enum { SCRY_ATTR_STRING = 1, SCRY_ATTR_BOOL, SCRY_ATTR_INT, SCRY_ATTR_DOUBLE } scry_attr_type_t;
typedef struct {
    const char *key;
    scry_attr_type_t type;
    union {
        const char *s;
        long long i;
        double d;
        int b;
    } v;
} scry_attr_t;
#define SCRY_ATTR_STR(k, x) ((scry_attr_t){.key = (k), .type = SCRY_ATTR_STRING, .v.s = (x)})
#define SCRY_ATTR_INT(k, x) ((scry_attr_t){.key = (k), .type = SCRY_ATTR_INT, .v.i = (x)})
#define SCRY_ATTR_DOUBLE(k, x) ((scry_attr_t){.key = (k), .type = SCRY_ATTR_DOUBLE, .v.d = (x)})
#define SCRY_ATTR_BOOL(k, x) ((scry_attr_t){.key = (k), .type = SCRY_ATTR_BOOL, .v.b = (x)})
/* An event at the current time, with nattrs attributes (attrs may be NULL). */
SCRY_API void scry_span_add_event(scry_span_t *span, const char *name, const scry_attr_t *attrs,
                                  int nattrs);
/* OK or ERROR (with a description, copied; may be NULL). */
SCRY_API void scry_span_set_status(scry_span_t *span, scry_status_t code, const char *description);
SCRY_API void scry_span_update_name(scry_span_t *span, const char *name);
/* 1 when the span is recorded and will be exported. */
SCRY_API int scry_span_is_recording(const scry_span_t *span);

/* The span's context, to parent spans on other threads or to inject. */
SCRY_API int scry_span_context(const scry_span_t *span, scry_span_context_t *out);
/* The calling thread's current span (the innermost started or pushed and
 * not yet ended or popped here), or NULL. */
SCRY_API scry_span_t *scry_span_current(void);
/* Makes a span started elsewhere the calling thread's current span (a
 * worker continuing a request), until scry_span_pop(span) or its end. */
SCRY_API void scry_span_push(scry_span_t *span);
SCRY_API void scry_span_pop(scry_span_t *span);

/* Sampler for new traces: "always_on", "always_off", "traceidratio",
 * "parentbased_always_on" (the default), "parentbased_always_off",
 * "parentbased_traceidratio" (OTEL_TRACES_SAMPLER's names); ratio is the
 * probability for the ratio samplers. -EINVAL for an unknown name or a
 * ratio outside 0..1. */
SCRY_API int scry_span_set_sampler(const char *sampler, double ratio);

/* Exports every ended span now, waiting at most timeout_ms. 0, -ETIMEDOUT,
 * or -ENOTCONN when the last export failed. */
SCRY_API int scry_span_flush(int timeout_ms);

typedef struct {
    unsigned long long started;         /* spans started */
    unsigned long long recorded;        /* of them, sampled */
    unsigned long long exported;        /* accepted by the collector */
    unsigned long long dropped_queue;   /* queue was full at end */
    unsigned long long dropped_export;  /* export failed past retries */
    unsigned long long retries;         /* exports retried */
    unsigned long long exports;         /* requests sent */
} scry_span_stats_t;
SCRY_API int scry_span_stats(scry_span_stats_t *out);

/* ---- W3C Trace Context ------------------------------------------------- */

/* Parses a traceparent header value into out (flags, ids; tracestate and
 * remote untouched). -EINVAL when it is not valid by the specification
 * (then the caller starts a new trace). */
SCRY_API int scry_traceparent_parse(const char *value, scry_span_context_t *out);
/* Formats version 00: out has room for SCRY_TRACEPARENT_LEN + 1 bytes.
 * -EINVAL for an invalid context. */
SCRY_API int scry_traceparent_format(const scry_span_context_t *ctx, char *out);
/* Validates a tracestate header value (its list members, comma-joined if
 * it came in several header lines) and writes it normalized (no blanks or
 * empty members) to out, at most cap bytes with the NUL. -EINVAL when
 * invalid, -E2BIG when it does not fit even after dropping trailing
 * members. */
SCRY_API int scry_tracestate_parse(const char *value, char *out, size_t cap);
/* The value of key in a normalized tracestate: its length, or -ENOENT. */
SCRY_API int scry_tracestate_get(const char *tracestate, const char *key, char *value,
                                 size_t cap);
/* Puts key=value first (replacing the key's old member), dropping members
 * from the end past 32 or past cap. -EINVAL for a bad key or value. */
SCRY_API int scry_tracestate_set(char *tracestate, size_t cap, const char *key, const char *value);

/* Header carriers for any HTTP library. get returns a header's value (name
 * compared without case; several lines of one header joined with ",") or
 * NULL; set adds or replaces one. */
typedef const char *(*scry_header_get_fn)(void *carrier, const char *name);
typedef void (*scry_header_set_fn)(void *carrier, const char *name, const char *value);
/* Reads traceparent and tracestate into out (remote = 1). -EINVAL (out
 * zeroed) when there is no valid traceparent. */
SCRY_API int scry_context_extract(scry_header_get_fn get, void *carrier, scry_span_context_t *out);
/* Writes traceparent (and tracestate when not empty). */
SCRY_API int scry_context_inject(const scry_span_context_t *ctx, scry_header_set_fn set,
                                 void *carrier);
/* The same over a list of "Name: value" header lines (libcurl's slist,
 * raw HTTP): extract from n lines; inject formats up to two lines into
 * line[0] and line[1] (each SCRY_TRACESTATE_MAX + 16 bytes) and returns
 * how many. */
SCRY_API int scry_context_extract_lines(const char *const *lines, int n, scry_span_context_t *out);
SCRY_API int scry_context_inject_lines(const scry_span_context_t *ctx,
                                       char line[2][SCRY_TRACESTATE_MAX + 16]);

/* A message for a value returned by any function above. */
SCRY_API const char *scry_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* SCRY_H */
