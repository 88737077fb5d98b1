/*
 * export.c - the span exporter: a bounded lock-free queue, a thread of
 * scry's own, OTLP over HTTP through a libcurl loaded on first use; see
 * export.h for the contract.
 *
 * Application threads only ever touch the queue: scry_span_end puts the span
 * pointer in a slot with one compare-and-swap (Vyukov's bounded queue, as
 * core/ring.c; many producers, one consumer), or drops and counts it when
 * the queue is full. So that the exporter thread need not poll, the producer
 * whose span brings the queue to a full batch wakes it through an eventfd,
 * but only if the thread said it was asleep (a flag it sets before sleeping
 * and the producer clears with an exchange): one write per sleep at most,
 * and never a wait.
 *
 * The exporter thread (started by the first span to end; all signals
 * blocked; marked as scry's own, so that profiles and interposers ignore
 * it) takes a batch when one is full, when OTEL_BSP_SCHEDULE_DELAY has
 * passed since the last export, when scry_span_flush asks, or at exit. It
 * turns the spans' raw clock stamps into Unix time, encodes the batch
 * (span/otlp.c) into one buffer that lives from batch to batch, gives the
 * spans back to the pool at once (a retry needs only the bytes), optionally
 * gzips them, and POSTs them with one curl handle kept for keep-alive.
 * Retryable failures (429, 502, 503, 504, no connection, no answer) are
 * retried with exponential back-off and jitter, or after Retry-After, within
 * OTEL_BSP_EXPORT_TIMEOUT (30 s) per batch, each request within
 * OTEL_EXPORTER_OTLP_TIMEOUT (10 s, the OTLP exporter's default) and what is
 * left of the batch's time; meanwhile new spans queue up, and are
 * dropped when the queue is full: the application never waits on the
 * network. Other failures drop the batch. Each kind of failure is said once
 * on stderr; every span is counted in exactly one of exported,
 * dropped_queue, dropped_export.
 *
 * libcurl is opened with dlopen on the first export, so a program that ends
 * no span never loads it, and libscry.so does not depend on it.
 *
 * At exit, what is queued is exported within one OTEL_BSP_EXPORT_TIMEOUT
 * from the call (no retry starts past it, a transfer is cut at it); the rest
 * is dropped and counted.
 *
 * Lock: one mutex (`lock`) for starting, flush waits, stop and fork; the
 * thread takes it only to publish progress. No span is recycled with it
 * held: span.c takes its pool lock before this one at fork.
 */
#define _GNU_SOURCE
#include "span/export.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/home.h"
#include "core/log.h"
#include "core/threads.h"
#include "interpose/pthread.h"
#include "span/otlp.h"
#include "core/busy.h"

#define EXP_OTLP 1
#define EXP_CONSOLE 2
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000 /* also the cap on a Retry-After */
#define RESPONSE_MAX 65536   /* bytes of a response body kept */

/* ---- Settings ------------------------------------------------------------- */

static struct {
    uint32_t queue_size, batch_size;
    long delay_ms;   /* OTEL_BSP_SCHEDULE_DELAY */
    long budget_ms;  /* OTEL_BSP_EXPORT_TIMEOUT: a batch's time, retries included */
    long request_ms; /* OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT: one request's */
    int exporters;   /* EXP_*; 0: none */
    int json, gzip;
    char *url;
    char **headers; /* "Name: value" lines from OTEL_EXPORTER_OTLP_(TRACES_)HEADERS */
    int nheaders;
} cfg;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The signal-specific variable if set, else the general one; *name says
 * which, for messages. */
static const char *env2(const char *traces, const char *all, const char **name)
{
    const char *v = env(traces);
    *name = traces;
    if (!v) {
        v = env(all);
        *name = all;
    }
    return v;
}

static long num(const char *name, const char *v, long def, long lo, long hi, const char *what)
{
    if (!v) return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (errno || end == v || *end || x < lo || x > hi) {
        scry__log("%s=%s: not %s; using %ld", name, v, what, def);
        return def;
    }
    return x;
}

static int is_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void add_header(const char *key, const char *value, void *arg)
{
    const char *var = arg;
    for (const char *p = key; *p; p++) {
        if (!is_tchar((unsigned char)*p)) {
            scry__log("%s: \"%.64s\" is not an HTTP header name; skipped", var, key);
            return;
        }
    }
    if (strpbrk(value, "\r\n")) {
        scry__log("%s: the value of %s has a line break; skipped", var, key);
        return;
    }
    char **h = realloc(cfg.headers, (size_t)(cfg.nheaders + 1) * sizeof *h);
    if (!h) return;
    cfg.headers = h;
    size_t n = strlen(key) + strlen(value) + 3;
    if (!(h[cfg.nheaders] = malloc(n))) return;
    snprintf(h[cfg.nheaders++], n, "%s: %s", key, value);
}

static int http_url(const char *v)
{
    return strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0;
}

/* Reads the OTEL_* settings, once per process (a fork child keeps them).
 * Every bad value is said in one line and replaced by its default. */
static void load_config(void)
{
    const char *name, *v;

    cfg.queue_size = (uint32_t)num("OTEL_BSP_MAX_QUEUE_SIZE", env("OTEL_BSP_MAX_QUEUE_SIZE"), 2048,
                                   1, 1 << 20, "a queue size from 1 to 1048576 spans");
    cfg.batch_size =
        (uint32_t)num("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), 512,
                      1, 1 << 20, "a batch size from 1 to 1048576 spans");
    if (cfg.batch_size > cfg.queue_size) {
        scry__log("OTEL_BSP_MAX_EXPORT_BATCH_SIZE=%u: more than OTEL_BSP_MAX_QUEUE_SIZE=%u; "
                  "using %u",
                  cfg.batch_size, cfg.queue_size, cfg.queue_size);
        cfg.batch_size = cfg.queue_size;
    }
    cfg.delay_ms = num("OTEL_BSP_SCHEDULE_DELAY", env("OTEL_BSP_SCHEDULE_DELAY"), 5000, 0,
                       INT32_MAX, "a number of milliseconds");
    /* 0 would mean "no limit" to some SDKs; here it would let exit wait
     * forever on a collector that is down. */
    cfg.budget_ms = num("OTEL_BSP_EXPORT_TIMEOUT", env("OTEL_BSP_EXPORT_TIMEOUT"), 30000, 1,
                        INT32_MAX, "a number of milliseconds from 1");
    v = env2("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", &name);
    cfg.request_ms = num(name, v, 10000, 1, INT32_MAX, "a number of milliseconds from 1");

    cfg.exporters = EXP_OTLP;
    if ((v = env("OTEL_TRACES_EXPORTER"))) {
        int e = 0, bad = 0;
        char *copy = strdup(v), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ", ", &save) : NULL; t;
             t = strtok_r(NULL, ", ", &save)) {
            if (strcmp(t, "otlp") == 0)
                e |= EXP_OTLP;
            else if (strcmp(t, "console") == 0)
                e |= EXP_CONSOLE;
            else if (strcmp(t, "none") != 0)
                bad = 1;
        }
        free(copy);
        if (bad && !e) {
            scry__log("OTEL_TRACES_EXPORTER=%s: scry exports to otlp, console or none; using otlp",
                      v);
            e = EXP_OTLP;
        } else if (bad) {
            scry__log("OTEL_TRACES_EXPORTER=%s: scry exports to otlp, console or none; "
                      "the others are ignored",
                      v);
        }
        cfg.exporters = e;
    }

    v = env2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL", &name);
    if (v && strcmp(v, "http/json") == 0) {
        cfg.json = 1;
    } else if (v && strcmp(v, "grpc") == 0) {
        scry__log("%s=grpc: not supported by scry (OTLP over HTTP only); using http/protobuf "
                  "(the collector's HTTP port is 4318)",
                  name);
    } else if (v && strcmp(v, "http/protobuf") != 0) {
        scry__log("%s=%s: not http/protobuf, http/json or grpc; using http/protobuf", name, v);
    }

    v = env2("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION", &name);
    if (v && strcmp(v, "gzip") == 0)
        cfg.gzip = 1;
    else if (v && strcmp(v, "none") != 0)
        scry__log("%s=%s: not gzip or none; using none", name, v);

    /* The traces endpoint is used as is; the general one gets the signal's
     * path, without doubling a slash. */
    const char *url = NULL;
    if ((v = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))) {
        if (http_url(v))
            url = v;
        else
            scry__log("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s: not an http:// or https:// URL; "
                      "using http://localhost:4318/v1/traces",
                      v);
    } else if ((v = env("OTEL_EXPORTER_OTLP_ENDPOINT"))) {
        if (!http_url(v))
            scry__log("OTEL_EXPORTER_OTLP_ENDPOINT=%s: not an http:// or https:// URL; using "
                      "http://localhost:4318",
                      v);
    }
    if (url) {
        cfg.url = strdup(url);
    } else {
        const char *base = v && http_url(v) ? v : "http://localhost:4318";
        size_t n = strlen(base) + sizeof "/v1/traces";
        if ((cfg.url = malloc(n)))
            snprintf(cfg.url, n, "%s%s", base,
                     base[strlen(base) - 1] == '/' ? "v1/traces" : "/v1/traces");
    }

    /* The traces headers replace the general ones, as every OTLP option. */
    v = env2("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS", &name);
    if (v) scry__otlp_parse_pairs(name, v, 1, add_header, (void *)name);
}

/* ---- Clocks, sleeping, waking ---------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A futex, not a descriptor: scry's thread lives in its own descriptor
 * table (core/home.h), and the program's threads wake it. */
static _Atomic uint32_t wake_seq;

static void wake(void)
{
    atomic_fetch_add(&wake_seq, 1);
    syscall(SYS_futex, &wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleeps at most ms, or until woken (a wake since `seen` was read). */
static void nap_since(uint32_t seen, int64_t ms)
{
    if (ms < 0) ms = 0;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    syscall(SYS_futex, &wake_seq, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

static void nap(int64_t ms)
{
    nap_since(atomic_load(&wake_seq), ms);
}

/* ---- The queue --------------------------------------------------------------
 * Slot t % size is free for the producer of ticket t when its seq is t and
 * holds that producer's span when its seq is t + 1; the consumer frees it
 * by setting seq to t + size. */

typedef struct {
    _Atomic uint64_t seq;
    scry__span_t *span;
} slot_t;

static slot_t *slots;
static _Alignas(64) _Atomic uint64_t tail; /* next ticket for producers */
static _Alignas(64) _Atomic uint64_t head; /* next ticket to take (the thread's) */
static _Atomic int asleep;                 /* the thread sleeps: wake it on a full batch */

enum { ST_NEW, ST_RUNNING, ST_OFF, ST_STOPPED };
static _Atomic int state;

static _Atomic uint64_t n_exported, n_dropped_queue, n_dropped_export, n_retries, n_exports;
static _Atomic uint64_t n_failed_batches;
static _Atomic int last_failed;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t progress;     /* done moved, under lock (CLOCK_MONOTONIC) */
static uint64_t done;               /* tickets before this one were handled; under lock */
static _Atomic uint64_t flush_want; /* export at once until head reaches it */
static _Atomic int stopping;
static _Atomic int64_t stop_deadline; /* now_ms() scale */
static pthread_t thread;
static sem_t ready;
static int stale_after_fork; /* the queue holds the parent's spans */
static scry__span_t **batch; /* the thread's: the spans it is exporting */

static int start(void);

void scry__export_enqueue(scry__span_t *s)
{
    int st = atomic_load_explicit(&state, memory_order_acquire);
    if (st != ST_RUNNING) {
        if (st == ST_NEW) st = start();
        if (st != ST_RUNNING) {
            /* none: not exported, by request; stopped or no thread: the
             * queue is closed. */
            atomic_fetch_add_explicit(st == ST_OFF && !cfg.exporters ? &n_dropped_export
                                                                     : &n_dropped_queue,
                                      1, memory_order_relaxed);
            scry__span_recycle(s);
            return;
        }
    }
    uint32_t size = cfg.queue_size;
    uint64_t t = atomic_load_explicit(&tail, memory_order_relaxed);
    slot_t *sl;
    for (;;) {
        sl = &slots[t % size];
        uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire);
        if (seq == t) {
            /* seq_cst: ordered before the load of `asleep` below, against
             * the thread's store of `asleep` and load of `tail` */
            if (atomic_compare_exchange_weak_explicit(&tail, &t, t + 1, memory_order_seq_cst,
                                                      memory_order_relaxed))
                break;
        } else if (seq < t) {
            atomic_fetch_add_explicit(&n_dropped_queue, 1, memory_order_relaxed);
            scry__span_recycle(s);
            return;
        } else {
            t = atomic_load_explicit(&tail, memory_order_relaxed);
        }
    }
    sl->span = s;
    atomic_store_explicit(&sl->seq, t + 1, memory_order_release);
    if (t + 1 - atomic_load(&head) >= cfg.batch_size && atomic_load(&asleep) &&
        atomic_exchange(&asleep, 0))
        wake();
}

/* Takes up to max committed spans from the queue. The thread only. */
static uint32_t take(scry__span_t **out, uint32_t max)
{
    uint32_t n = 0, size = cfg.queue_size;
    uint64_t h = atomic_load_explicit(&head, memory_order_relaxed);
    while (n < max) {
        slot_t *sl = &slots[h % size];
        if (atomic_load_explicit(&sl->seq, memory_order_acquire) != h + 1) break;
        out[n++] = sl->span;
        atomic_store_explicit(&sl->seq, h + size, memory_order_release);
        h++;
    }
    atomic_store(&head, h);
    return n;
}

/* ---- libcurl, loaded on first use ------------------------------------------ */

static struct {
    int state; /* 0: not tried, 1: loaded, -1: failed */
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    CURL *h;
    struct curl_slist *hdrs;
} lc;

static scry__otlp_buf_t body, zbody, response;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    (void)arg;
    size_t len = size * n, room = RESPONSE_MAX - response.len;
    if (len < room) room = len;
    if (room && scry__otlp_buf_reserve(&response, room) == 0) {
        memcpy(response.data + response.len, p, room);
        response.len += room;
    }
    return len;
}

/* Ends a transfer at shutdown's deadline, whatever its own timeout. */
static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)arg, (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&stopping) && now_ms() > atomic_load(&stop_deadline);
}

/* The one handle, kept for its connection (keep-alive). */
static int new_handle(void)
{
    CURL *h = lc.h = lc.easy_init();
    if (!h) return 0;
    lc.easy_setopt(h, CURLOPT_URL, cfg.url);
    lc.easy_setopt(h, CURLOPT_POST, 1L);
    lc.easy_setopt(h, CURLOPT_HTTPHEADER, lc.hdrs);
    lc.easy_setopt(h, CURLOPT_USERAGENT, "scry/" SCRY_VERSION);
    lc.easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM for DNS timeouts in a thread */
    lc.easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    lc.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    lc.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    lc.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    return 1;
}

static int curl_ready(void)
{
    if (lc.state > 0 && !lc.h && !new_handle()) /* a fork child's first export */
        scry__warn_once("span export: libcurl gives no handle; spans are dropped");
    if (lc.state) return lc.state > 0 && lc.h;
    lc.state = -1;
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        scry__log("spans are not exported: cannot load libcurl.so.4 (%s); install libcurl "
                  "(Debian: libcurl4)",
                  dlerror());
        return 0;
    }
#define SYM(field, name)                                                                           \
    if (!(*(void **)&lc.field = dlsym(lib, name))) {                                               \
        scry__log("spans are not exported: libcurl.so.4 has no %s", name);                         \
        return 0;                                                                                  \
    }
    SYM(global_init, "curl_global_init")
    SYM(easy_init, "curl_easy_init")
    SYM(easy_setopt, "curl_easy_setopt")
    SYM(easy_perform, "curl_easy_perform")
    SYM(easy_getinfo, "curl_easy_getinfo")
    SYM(easy_strerror, "curl_easy_strerror")
    SYM(slist_append, "curl_slist_append")
#undef SYM
    CURLcode rc = lc.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        scry__log("spans are not exported: libcurl does not start (%s)", lc.easy_strerror(rc));
        return 0;
    }
    struct curl_slist *l = NULL;
    l = lc.slist_append(l, cfg.json ? "Content-Type: application/json"
                                    : "Content-Type: application/x-protobuf");
    if (cfg.gzip) l = lc.slist_append(l, "Content-Encoding: gzip");
    l = lc.slist_append(l, "Expect:"); /* no 100-continue round trip */
    for (int i = 0; i < cfg.nheaders; i++)
        l = lc.slist_append(l, cfg.headers[i]);
    lc.hdrs = l;
    if (!new_handle()) {
        scry__log("spans are not exported: libcurl gives no handle");
        return 0;
    }
    lc.state = 1;
    return 1;
}

/* ---- Saying things once per kind ---------------------------------------- */

static uint8_t said_curl[128], said_http[600];

static int first_time(uint8_t *said, size_t n, long i)
{
    if (i < 0 || (size_t)i >= n) i = (long)n - 1;
    if (said[i]) return 0;
    said[i] = 1;
    return 1;
}

static const char *http_hint(long status)
{
    switch (status) {
    case 401:
    case 403:
        return " (credentials: OTEL_EXPORTER_OTLP_HEADERS)";
    case 404:
        return " (the URL's path: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is)";
    case 413:
        return " (a smaller OTEL_BSP_MAX_EXPORT_BATCH_SIZE)";
    case 415:
        return " (OTEL_EXPORTER_OTLP_PROTOCOL)";
    default:
        return "";
    }
}

/* ---- Exporting one batch --------------------------------------------------- */

typedef struct {
    int ok, retryable;
    long status;   /* HTTP status, 0 when there was no answer */
    long retry_ms; /* Retry-After, -1 when absent */
} outcome_t;

/* One POST of what is in the send buffer, given at most timeout_ms. */
static outcome_t post(const scry__otlp_buf_t *b, int64_t timeout_ms)
{
    outcome_t o = {0, 0, 0, -1};
    CURL *h = lc.h;
    response.len = 0;
    lc.easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)b->data);
    lc.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
    lc.easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    lc.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    atomic_fetch_add(&n_exports, 1);
    CURLcode rc = lc.easy_perform(h);
    if (rc != CURLE_OK) {
        /* Unreachable, refused, reset, no answer, timed out: the OTLP
         * specification retries these; a URL or TLS setup that cannot work
         * is not worth repeating. */
        o.retryable = rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT &&
                      rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_SSL_CERTPROBLEM &&
                      rc != CURLE_SSL_CACERT_BADFILE && rc != CURLE_ABORTED_BY_CALLBACK;
        if (first_time(said_curl, sizeof said_curl, rc)) {
            if (o.retryable)
                scry__log("exporting spans to %s: %s; retrying with back-off for up to %ld ms "
                          "a batch, then dropping (said once; see scry_span_stats)",
                          cfg.url, lc.easy_strerror(rc), cfg.budget_ms);
            else if (rc != CURLE_ABORTED_BY_CALLBACK)
                scry__log("exporting spans to %s: %s; spans are dropped", cfg.url,
                          lc.easy_strerror(rc));
        }
        return o;
    }
    lc.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &o.status);
    if (o.status >= 200 && o.status < 300) {
        o.ok = 1;
        return o;
    }
    o.retryable = o.status == 429 || o.status == 502 || o.status == 503 || o.status == 504;
    if (o.retryable) {
        /* delta-seconds or an HTTP date, as libcurl reads it (0: none) */
        curl_off_t after = 0;
        if (lc.easy_getinfo(h, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
            o.retry_ms = after > BACKOFF_MAX_MS / 1000 ? BACKOFF_MAX_MS : (long)after * 1000;
    }
    if (first_time(said_http, sizeof said_http, o.status)) {
        if (o.retryable)
            scry__log("exporting spans to %s: HTTP %ld; retrying with back-off (or after "
                      "Retry-After) for up to %ld ms a batch, then dropping (said once)",
                      cfg.url, o.status, cfg.budget_ms);
        else
            scry__log("exporting spans to %s: HTTP %ld%s; the batch is dropped, not retried "
                      "(said once; see scry_span_stats)",
                      cfg.url, o.status, http_hint(o.status));
    }
    return o;
}

static uint64_t rng;

/* Exponential back-off with jitter: 1 s, 2 s, 4 s ... up to 30 s, each
 * drawn from its upper half so that many processes do not retry at once. */
static int64_t backoff_ms(int attempt)
{
    int64_t d = BACKOFF_FIRST_MS;
    for (int i = 0; i < attempt && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > BACKOFF_MAX_MS) d = BACKOFF_MAX_MS;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return d / 2 + (int64_t)(rng % (uint64_t)(d / 2 + 1));
}

static int64_t batch_deadline(int64_t start)
{
    int64_t d = start + cfg.budget_ms;
    if (atomic_load(&stopping) && atomic_load(&stop_deadline) < d) d = atomic_load(&stop_deadline);
    return d;
}

static void failed(uint32_t n)
{
    atomic_fetch_add(&n_dropped_export, n);
    atomic_fetch_add(&n_failed_batches, 1);
    atomic_store(&last_failed, 1);
}

/* Sends the encoded batch of n spans until it is accepted, refused, or its
 * time is up. */
static void send_batch(uint32_t n)
{
    const scry__otlp_buf_t *b = cfg.gzip && zbody.len ? &zbody : &body;
    int64_t start = now_ms();
    for (int attempt = 0;; attempt++) {
        int64_t left = batch_deadline(start) - now_ms();
        if (left <= 0 || !curl_ready()) {
            failed(n);
            return;
        }
        outcome_t o = post(b, left < cfg.request_ms ? left : cfg.request_ms);
        if (o.ok) {
            char msg[200];
            int64_t rejected =
                scry__otlp_rejected(response.data, response.len, cfg.json, msg, sizeof msg);
            if (rejected > n) rejected = n;
            if (rejected || msg[0])
                scry__warn_once("exporting spans to %s: the collector rejected %lld of %u spans: "
                                "%s (said once; see scry_span_stats)",
                                cfg.url, (long long)rejected, n, msg[0] ? msg : "no reason given");
            atomic_fetch_add(&n_exported, n - (uint64_t)rejected);
            atomic_fetch_add(&n_dropped_export, (uint64_t)rejected);
            atomic_store(&last_failed, rejected > 0);
            if (rejected) atomic_fetch_add(&n_failed_batches, 1);
            return;
        }
        if (!o.retryable) {
            failed(n);
            return;
        }
        int64_t wait = o.retry_ms >= 0 ? o.retry_ms : backoff_ms(attempt);
        int64_t wake_at = now_ms() + wait;
        /* No retry that could not start before the batch's time is up. */
        while (now_ms() < wake_at && wake_at < batch_deadline(start))
            nap(wake_at - now_ms());
        if (wake_at >= batch_deadline(start)) {
            failed(n);
            return;
        }
        atomic_fetch_add(&n_retries, 1);
    }
}

static z_stream zs;
static int zs_ready;

/* body -> zbody; zbody.len 0 when compression failed (sent plain). */
static void compress_body(void)
{
    zbody.len = 0;
    if (!zs_ready) {
        if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK)
            return;
        zs_ready = 1;
    } else if (deflateReset(&zs) != Z_OK) {
        return;
    }
    size_t bound = deflateBound(&zs, (uLong)body.len);
    if (scry__otlp_buf_reserve(&zbody, bound) < 0) return;
    zs.next_in = body.data;
    zs.avail_in = (uInt)body.len;
    zs.next_out = zbody.data;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        scry__warn_once("span export: gzip failed; sending uncompressed");
        return;
    }
    zbody.len = bound - zs.avail_out;
}

/* Exports spans[0..n): every span is recycled here, whatever happens. */
static void export_batch(scry__span_t **spans, uint32_t n)
{
    scry__span_clock_sync();
    for (uint32_t i = 0; i < n; i++)
        scry__span_times_to_unix(spans[i]);
    if (cfg.exporters & EXP_CONSOLE) {
        /* One line of OTLP/JSON per batch on stderr. */
        if (scry__otlp_encode_json(spans, n, &body) == 0 && scry__otlp_buf_reserve(&body, 1) == 0) {
            body.data[body.len++] = '\n';
            int err = scry__stderr_get(); /* the program's (core/home.h) */
            for (size_t off = 0; err >= 0 && off < body.len;) {
                ssize_t w = write(err, body.data + off, body.len - off);
                if (w <= 0) break;
                off += (size_t)w;
            }
            scry__stderr_put(err);
        }
        if (!(cfg.exporters & EXP_OTLP)) atomic_fetch_add(&n_exported, n);
    }
    int rc = 0;
    if (cfg.exporters & EXP_OTLP)
        rc = cfg.json ? scry__otlp_encode_json(spans, n, &body)
                      : scry__otlp_encode_proto(spans, n, &body);
    for (uint32_t i = 0; i < n; i++)
        scry__span_recycle(spans[i]);
    if (!(cfg.exporters & EXP_OTLP)) return;
    if (rc < 0) {
        scry__warn_once("span export: out of memory encoding a batch of %u spans; dropped", n);
        failed(n);
        return;
    }
    if (cfg.gzip) compress_body();
    send_batch(n);
}

/* ---- The thread ----------------------------------------------------------- */

static void publish(void)
{
    pthread_mutex_lock(&lock);
    done = atomic_load(&head);
    pthread_cond_broadcast(&progress);
    pthread_mutex_unlock(&lock);
}

static void *loop(void *arg)
{
    (void)arg;
    scry__threads_mark_internal(); /* scry__tls.busy from here on */
    /* SCHED_BATCH: woken by the producer that fills a batch, the thread
     * does not preempt it (no wakeup preemption), so on a busy CPU that
     * request does not pay for the encoding. Measured (export_load, 4000
     * requests, 2 shared cores, 6 runs): without it the slowest request
     * was a batch-filling one in 4 runs, 1.9-2.4 ms; with it 0.3-0.7 ms,
     * and the first request (the thread's start) in 4 runs. */
    struct sched_param prio = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &prio);
    sem_post(&ready);
    int64_t next = now_ms() + cfg.delay_ms;
    rng = (uint64_t)now_ms() * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
    if (!rng) rng = 1;
    for (;;) {
        uint64_t h = atomic_load(&head);
        int stop = atomic_load(&stopping);
        int flushing = atomic_load(&flush_want) > h;
        if (!stop && !flushing && atomic_load(&tail) - h < cfg.batch_size && now_ms() < next) {
            /* Asleep, then look again: a producer that filled a batch
             * before the flag was up is seen here, one after it wakes us
             * (its wake changes wake_seq after `seen` was read). */
            uint32_t seen = atomic_load(&wake_seq);
            atomic_store(&asleep, 1);
            if (atomic_load(&tail) - h < cfg.batch_size && atomic_load(&flush_want) <= h &&
                !atomic_load(&stopping))
                nap_since(seen, next - now_ms());
            atomic_store(&asleep, 0);
            continue;
        }
        if (stop && now_ms() >= atomic_load(&stop_deadline)) {
            /* Exit's time is up: what is left is not exported. */
            uint32_t n;
            while ((n = take(batch, cfg.batch_size)) > 0) {
                for (uint32_t i = 0; i < n; i++)
                    scry__span_recycle(batch[i]);
                failed(n);
            }
            publish();
            break;
        }
        uint32_t n = take(batch, cfg.batch_size);
        if (n) {
            export_batch(batch, n);
            next = now_ms() + cfg.delay_ms;
            publish();
            continue;
        }
        if (atomic_load(&tail) != atomic_load(&head)) {
            /* A producer took a ticket and has not yet filled its slot. */
            nap(1);
            continue;
        }
        publish();
        if (stop) break;
        next = now_ms() + (cfg.delay_ms ? cfg.delay_ms : 1);
    }
    return NULL;
}

static void cond_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&progress, &a);
    pthread_condattr_destroy(&a);
}

/* Takes the filled slots between head and tail out of the queue, as a
 * list through their spans' next links (recycled by the caller, outside
 * the lock: span.c's pool lock comes before ours at fork). */
static scry__span_t *sweep(void)
{
    scry__span_t *list = NULL;
    uint64_t t = atomic_load(&tail);
    for (uint64_t i = atomic_load(&head); i < t; i++) {
        slot_t *sl = &slots[i % cfg.queue_size];
        if (atomic_load(&sl->seq) != i + 1) continue;
        sl->span->next = list;
        list = sl->span;
        atomic_store(&sl->seq, i + cfg.queue_size);
    }
    return list;
}

static uint64_t recycle_list(scry__span_t *s)
{
    uint64_t n = 0;
    for (scry__span_t *next; s; s = next, n++) {
        next = s->next;
        scry__span_recycle(s);
    }
    return n;
}

/* A fork child's queue holds the parent's spans (the parent exports them)
 * and maybe slots its other threads had taken a ticket for and never
 * filled: start over empty. Returns the child's copies of the spans. */
static scry__span_t *reset_queue(void)
{
    scry__span_t *stale = sweep();
    for (uint32_t i = 0; i < cfg.queue_size; i++)
        atomic_store(&slots[i].seq, i);
    atomic_store(&tail, 0);
    atomic_store(&head, 0);
    done = 0;
    atomic_store(&flush_want, 0);
    return stale;
}

static int start(void)
{
    static int configured;
    scry__span_t *stale = NULL;
    scry__busy_enter(); /* scry's own lock and thread start: not the program's */
    pthread_mutex_lock(&lock);
    int st = atomic_load(&state);
    if (st != ST_NEW) goto out;
    if (!configured) {
        load_config();
        cond_init();
        configured = 1;
    }
    st = ST_OFF;
    if (!cfg.exporters) goto out;
    if (stale_after_fork) {
        stale = reset_queue();
        stale_after_fork = 0;
    }
    if (!slots) {
        slots = malloc(cfg.queue_size * sizeof *slots);
        batch = malloc(cfg.batch_size * sizeof *batch);
        if (!slots || !batch) {
            free(slots), free(batch);
            slots = NULL, batch = NULL;
            scry__log("span export: out of memory for a queue of %u spans; spans are dropped",
                      cfg.queue_size);
            goto out;
        }
        for (uint32_t i = 0; i < cfg.queue_size; i++)
            atomic_init(&slots[i].seq, i);
    }
    sem_init(&ready, 0, 0);
    atomic_store(&stopping, 0);
    int rc = scry__home_create(&thread, loop, NULL); /* all signals blocked */
    if (rc != 0) {
        scry__log("span export: cannot start its thread (%s); spans are dropped", strerror(rc));
        goto out;
    }
    /* Until it has marked itself scry's own, so that no scan of the
     * program's threads mistakes it for one of them (as the aggregator). */
    while (sem_wait(&ready) < 0 && errno == EINTR) {
    }
    pthread_setname_np(thread, "scry-spans");
    st = ST_RUNNING;
out:
    atomic_store_explicit(&state, st, memory_order_release);
    pthread_mutex_unlock(&lock);
    recycle_list(stale);
    scry__busy_leave();
    return st;
}

/* ---- The API of export.h ------------------------------------------------- */

int scry__export_flush(int timeout_ms)
{
    if (atomic_load_explicit(&state, memory_order_acquire) != ST_RUNNING) return 0;
    uint64_t target = atomic_load(&tail);
    uint64_t failures = atomic_load(&n_failed_batches);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_ms < 0) timeout_ms = 0;
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
    scry__busy_enter();
    pthread_mutex_lock(&lock);
    uint64_t want = atomic_load(&flush_want);
    while (want < target && !atomic_compare_exchange_weak(&flush_want, &want, target)) {
    }
    wake();
    while (done < target && atomic_load(&state) == ST_RUNNING)
        if (pthread_cond_timedwait(&progress, &lock, &until) == ETIMEDOUT) break;
    int handled = done >= target;
    pthread_mutex_unlock(&lock);
    scry__busy_leave();
    if (!handled) return -ETIMEDOUT;
    return atomic_load(&n_failed_batches) != failures || atomic_load(&last_failed) ? -ENOTCONN : 0;
}

void scry__export_stats(scry_span_stats_t *out)
{
    out->exported = atomic_load(&n_exported);
    out->dropped_queue = atomic_load(&n_dropped_queue);
    out->dropped_export = atomic_load(&n_dropped_export);
    out->retries = atomic_load(&n_retries);
    out->exports = atomic_load(&n_exports);
}

void scry__export_shutdown(void)
{
    scry__busy_enter(); /* scry's own waits */
    pthread_mutex_lock(&lock);
    int st = atomic_load(&state);
    if (st != ST_RUNNING) {
        atomic_store(&state, st == ST_OFF ? ST_OFF : ST_STOPPED);
        pthread_mutex_unlock(&lock);
        scry__busy_leave();
        return;
    }
    atomic_store(&stop_deadline, now_ms() + cfg.budget_ms);
    atomic_store(&stopping, 1);
    pthread_mutex_unlock(&lock);
    wake();
    pthread_join(thread, NULL);
    atomic_store(&state, ST_STOPPED);
    /* Spans queued while the thread was finishing: the queue is closed. */
    atomic_fetch_add(&n_dropped_queue, recycle_list(sweep()));
    pthread_mutex_lock(&lock);
    done = atomic_load(&tail);
    pthread_cond_broadcast(&progress);
    pthread_mutex_unlock(&lock);
    scry__busy_leave();
}

void scry__export_prefork(void)
{
    pthread_mutex_lock(&lock);
}

void scry__export_postfork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void scry__export_postfork_child(void)
{
    /* The forking thread alone came over: no exporter thread, and the
     * queue and the curl handle as the parent's threads left them. */
    pthread_mutex_init(&lock, NULL);
    cond_init();
    if (atomic_load(&state) == ST_RUNNING) {
        atomic_store(&state, ST_NEW);
        stale_after_fork = 1;
    }
    atomic_store(&stopping, 0);
    atomic_store(&asleep, 0);
    /* The child's counts start at zero, as span.c's started and recorded:
     * the parent's spans are the parent's to count. */
    atomic_store(&n_exported, 0);
    atomic_store(&n_dropped_queue, 0);
    atomic_store(&n_dropped_export, 0);
    atomic_store(&n_retries, 0);
    atomic_store(&n_exports, 0);
    atomic_store(&n_failed_batches, 0);
    atomic_store(&last_failed, 0);
    /* The parent's connection: never written to from here (a TLS close
     * would break the parent's session); the child opens its own. */
    lc.h = NULL;
}
