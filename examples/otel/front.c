/*
 * front.c - the first of two example services traced with scry's spans.
 *
 * A request to front does some CPU work and calls a downstream service
 * (back.c, or any HTTP service) with libcurl; both sides record spans that
 * join into one trace, exported over OTLP to any OpenTelemetry collector:
 *
 *   client -> front  SERVER "GET /hash"   hash_work()
 *                    CLIENT "GET"         traceparent -> downstream
 *          -> back   SERVER "GET /hash"   back_hash_work()
 *
 * /hash and /sort do different work in differently named functions, so a
 * CPU profile taken while they run can be split by the span_name label
 * scry puts on the samples of a span's thread (docs in include/scry.h):
 *
 *   OTEL_SERVICE_NAME=back  build/examples/otel/back --port 8081 &
 *   OTEL_SERVICE_NAME=front SCRY_PROFILES=cpu SCRY_OUT=out \
 *       build/examples/otel/front --port 8080 --downstream http://127.0.0.1:8081 &
 *   curl localhost:8080/hash; curl localhost:8080/sort; kill %2
 *   go tool pprof -tagfocus='span_name=GET /hash' -top out/cpu.pb.gz
 *
 * Spans go to OTEL_EXPORTER_OTLP_ENDPOINT (http://localhost:4318), as
 * protobuf or, with OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json, JSON;
 * OTEL_SDK_DISABLED=true turns them off (every span call then does
 * nothing).
 *
 * Usage: front [--port N] [--downstream URL] [--work N]
 *   --port N          listen on 127.0.0.1:N; 0 (the default) picks a free
 *                     port; "listening on PORT" is printed either way
 *   --downstream URL  the service to call: a base URL
 *                     (http://127.0.0.1:8081) gets the request's path
 *                     appended, a URL with a path is called as it is;
 *                     none: no call
 *   --work N          units of CPU work per request (200, about 1 ms)
 * The same settings are read from FRONT_PORT, FRONT_DOWNSTREAM, FRONT_WORK.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scry.h"
#include "service.h"

static long work = 200;
static const char *downstream; /* NULL: no call */
static int downstream_has_path;
static char down_host[256];
static long down_port;

/* ---- The endpoints' work ----------------------------------------------- */

/* /hash: FNV-1a over a 4 KiB buffer, rounds times (about 5 us a round). */
__attribute__((noinline)) static uint64_t hash_work(long rounds)
{
    unsigned char buf[4096];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 31);
    uint64_t h = 14695981039346656037ULL;
    for (long r = 0; r < rounds; r++)
        for (size_t i = 0; i < sizeof buf; i++)
            h = (h ^ buf[i]) * 1099511628211ULL;
    return h;
}

/* /sort: Shell sort of n pseudo-random numbers; returns the median. */
__attribute__((noinline)) static uint64_t sort_work(long n)
{
    uint64_t *a = malloc((size_t)n * sizeof *a), x = 88172645463325252ULL, mid;
    if (!a) return 0;
    for (long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        a[i] = x;
    }
    for (long gap = n / 2; gap > 0; gap /= 2)
        for (long i = gap; i < n; i++) {
            uint64_t v = a[i];
            long j = i;
            for (; j >= gap && a[j - gap] > v; j -= gap)
                a[j] = a[j - gap];
            a[j] = v;
        }
    mid = a[n / 2];
    free(a);
    return mid;
}

/* ---- The downstream call: a CLIENT span around libcurl ----------------- */

/* One curl handle per server thread, so calls reuse their connection. */
static pthread_key_t curl_key;

static void curl_free_handle(void *c)
{
    curl_easy_cleanup(c);
}

typedef struct {
    char *buf;
    size_t len, cap;
} answer_t;

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    answer_t *a = userp;
    size_t bytes = size * n, room = a->cap - 1 - a->len;
    size_t take = bytes < room ? bytes : room;
    memcpy(a->buf + a->len, data, take);
    a->len += take;
    a->buf[a->len] = '\0';
    return bytes;
}

/* GETs the downstream URL for path into answer (a NUL-terminated prefix
 * of the body). Returns the HTTP status, or -1 when there was none. */
static long call_downstream(const char *path, char *answer, size_t cap)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", downstream, downstream_has_path ? "" : path);

    /* A child of the thread's current span (the SERVER span). HTTP client
     * spans are named by the method alone. */
    scry_span_t *span = scry_span_start("GET", SCRY_SPAN_CLIENT, NULL);
    scry_span_set_str(span, "http.request.method", "GET");
    scry_span_set_str(span, "url.full", url);
    scry_span_set_str(span, "server.address", down_host);
    scry_span_set_int(span, "server.port", down_port);

    /* traceparent (and tracestate) carry this CLIENT span's context: the
     * downstream's SERVER span becomes its child. */
    scry_span_context_t ctx = {0};
    scry_span_context(span, &ctx);
    char lines[2][SCRY_TRACESTATE_MAX + 16];
    struct curl_slist *headers = NULL;
    int n = scry_context_inject_lines(&ctx, lines); /* < 0 without a span */
    for (int i = 0; i < n; i++)
        headers = curl_slist_append(headers, lines[i]);

    CURL *c = pthread_getspecific(curl_key);
    if (!c && (c = curl_easy_init())) pthread_setspecific(curl_key, c);
    if (!c) {
        scry_span_set_status(span, SCRY_STATUS_ERROR, "curl_easy_init failed");
        scry_span_end(span);
        curl_slist_free_all(headers);
        snprintf(answer, cap, "out of memory");
        return -1;
    }
    answer_t a = {.buf = answer, .cap = cap};
    answer[0] = '\0';
    char err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = -1;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        scry_span_set_int(span, "http.response.status_code", status);
    }
    /* Client spans are errors for any 4xx or 5xx, and for no answer. */
    if (rc != CURLE_OK || status >= 400) {
        char code[24];
        snprintf(code, sizeof code, "%ld", status);
        scry_span_set_str(span, "error.type", rc != CURLE_OK ? curl_easy_strerror(rc) : code);
        scry_span_set_status(span, SCRY_STATUS_ERROR, rc != CURLE_OK ? err : NULL);
    }
    scry_span_end(span);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL); /* both are freed below */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) snprintf(answer, cap, "%s", err[0] ? err : curl_easy_strerror(rc));
    return status;
}

/* ---- The endpoints ------------------------------------------------------ */

/* The answer: what was computed, this request's traceparent, and what the
 * downstream said. A failed downstream call makes it a 502. */
static void answer(request_t *req, const char *what, uint64_t result)
{
    char down[256] = "";
    long status = downstream ? call_downstream(req->path, down, sizeof down) : 200;
    scry_span_context_t ctx = {0};
    char tp[SCRY_TRACEPARENT_LEN + 1] = "-";
    if (scry_span_context(req->span, &ctx) == 0) scry_traceparent_format(&ctx, tp);
    if (status < 200 || status > 299) req->status = 502;
    snprintf(req->body, sizeof req->body, "front %s=%016llx traceparent=%s\n%s%s%s", what,
             (unsigned long long)result, tp, downstream ? "downstream: " : "", down,
             downstream && (!down[0] || down[strlen(down) - 1] != '\n') ? "\n" : "");
}

static void on_hash(request_t *req)
{
    answer(req, "hash", hash_work(work));
}

static void on_sort(request_t *req)
{
    answer(req, "sort", sort_work(work * 50));
}

static const route_t routes[] = {{"/hash", on_hash}, {"/sort", on_sort}, {NULL, NULL}};

/* Splits the downstream URL once, for the CLIENT span's attributes. */
static int parse_downstream(void)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, downstream, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK;
    if (ok) {
        snprintf(down_host, sizeof down_host, "%s", host);
        down_port = strtol(port, NULL, 10);
        downstream_has_path = strcmp(path, "/") != 0;
        /* "http://host:port/" + "/hash" would have two slashes. */
        size_t n = strlen(downstream);
        if (!downstream_has_path && n && downstream[n - 1] == '/') {
            char *copy = strndup(downstream, n - 1);
            if (copy) downstream = copy;
        }
    }
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *port = getenv("FRONT_PORT"), *w = getenv("FRONT_WORK"), *v;
    downstream = getenv("FRONT_DOWNSTREAM");
    for (int i = 1; i < argc; i++) {
        if ((v = flag_value(argc, argv, &i, "--port")))
            port = v;
        else if ((v = flag_value(argc, argv, &i, "--downstream")))
            downstream = v;
        else if ((v = flag_value(argc, argv, &i, "--work")))
            w = v;
        else {
            fprintf(stderr, "usage: front [--port N] [--downstream URL] [--work N]\n");
            return 2;
        }
    }
    if (w) work = strtol(w, NULL, 10);
    if (work < 1) work = 1;
    if (downstream && !downstream[0]) downstream = NULL;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&curl_key, curl_free_handle);
    if (downstream && parse_downstream() < 0) {
        fprintf(stderr, "front: --downstream %s: not a URL (like http://127.0.0.1:8081)\n",
                downstream);
        return 2;
    }
    int rc = service_run("front", port ? atoi(port) : 0, routes);
    curl_global_cleanup();
    return rc;
}
