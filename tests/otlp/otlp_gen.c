/*
 * otlp_gen.c - the OTLP encoder (src/span/otlp.c) on spans built by hand in
 * span.h's layout, for tests/otlp/encode.sh.
 *
 * Three spans (their ground truth is written out in encode_check.py):
 *   A  a SERVER span with a remote parent, a tracestate, attributes of every
 *      type with keys set again later (the last value must win, at the
 *      key's first place), two events (one with a repeated attribute key
 *      and 4 attributes dropped),
 *      ERROR status with a message that needs escaping, dropped counts;
 *   B  a root INTERNAL span, flags 0x03, status OK, nothing else;
 *   C  a CLIENT child of B with long strings (a 100000-byte value, a
 *      300-byte key, a 2000-byte name: the arena outgrows the inline
 *      bytes), UTF-8, bytes that are not UTF-8, control characters, an
 *      infinite double, an empty string, and 20 events;
 *   D  a PRODUCER span with 30 attributes, 3 of them set again and one
 *      more after (more keys than the encoder searches linearly), and 20
 *      attributes on its one event.
 *
 * Usage: otlp_gen DIR -> DIR/req.pb, DIR/req.json (A, B, C, D in one request),
 * DIR/pid, and in a fork child DIR/child.json and DIR/child.pid; prints the
 * response parser's results ("rejected N msg"). Exits non-zero when an
 * encoding fails or two encodings of one batch differ.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "otlp_trace.pb-c.h"
#include "span/otlp.h"
#include "span/span.h"

/* What span.c provides to the encoder, stubbed. */
uint32_t scry__span_attr_limit = 128, scry__span_event_limit = 128, scry__event_attr_limit = 128;
void scry__span_recycle(scry__span_t *s)
{
    if (s->arena != s->inline_arena) free(s->arena);
    free(s);
}

/* ---- Building spans as span.c lays them out ---------------------------- */

static scry__span_t *new_span(void)
{
    scry__span_t *s = calloc(1, sizeof *s);
    s->arena = s->inline_arena;
    s->cap = SCRY__SPAN_INLINE;
    s->name_off = s->tracestate_off = s->status_off = UINT32_MAX;
    s->recording = 1;
    return s;
}

static scry__span_entry_t *append(scry__span_t *s, int what, int type, const char *key,
                                  const char *str, size_t slen)
{
    size_t kl = key ? strlen(key) : 0;
    uint32_t size = scry__span_entry_size((uint32_t)kl, (uint32_t)slen);
    if (s->len + size > s->cap) {
        uint32_t cap = s->cap * 2 > s->len + size ? s->cap * 2 : s->len + size;
        uint8_t *a = malloc(cap);
        memcpy(a, s->arena, s->len);
        if (s->arena != s->inline_arena) free(s->arena);
        s->arena = a;
        s->cap = cap;
    }
    scry__span_entry_t *e = (scry__span_entry_t *)(s->arena + s->len);
    memset(e, 0, size);
    e->what = (uint8_t)what;
    e->type = (uint8_t)type;
    e->key_len = (uint16_t)kl;
    e->str_len = (uint32_t)slen;
    if (kl) memcpy(e->text, key, kl);
    if (slen) memcpy(e->text + kl + 1, str, slen);
    s->len += size;
    return e;
}

/* A string kept as an entry of kind 0; its offset, as span.h's *_off. */
static uint32_t add_string(scry__span_t *s, const char *str)
{
    scry__span_entry_t *e = append(s, 0, 0, NULL, str, strlen(str));
    return (uint32_t)((const uint8_t *)scry__span_entry_str(e) - s->arena);
}

static void attr_str(scry__span_t *s, int what, const char *k, const char *v)
{
    append(s, what, SCRY_ATTR_STRING, k, v, strlen(v));
}
static void attr_int(scry__span_t *s, int what, const char *k, long long v)
{
    append(s, what, SCRY_ATTR_INT, k, NULL, 0)->num.i = v;
}
static void attr_bool(scry__span_t *s, int what, const char *k, int v)
{
    append(s, what, SCRY_ATTR_BOOL, k, NULL, 0)->num.i = v;
}
static void attr_double(scry__span_t *s, int what, const char *k, double v)
{
    append(s, what, SCRY_ATTR_DOUBLE, k, NULL, 0)->num.d = v;
}
/* An event; dropped: how many of its attributes went past the limit (kept
 * in the event entry's type, as span.h says). */
static void event(scry__span_t *s, const char *name, int64_t t, int dropped)
{
    scry__span_entry_t *e = append(s, SCRY__SE_EVENT, 0, NULL, name, strlen(name));
    e->num.i = t;
    e->type = (uint8_t)dropped;
}

static void hex_id(uint8_t *out, const char *hex)
{
    for (size_t i = 0; hex[2 * i]; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

#define A SCRY__SE_ATTR
#define EA SCRY__SE_EVENT_ATTR

static scry__span_t *span_a(void)
{
    scry__span_t *s = new_span();
    hex_id(s->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    hex_id(s->span_id, "00f067aa0ba902b7");
    hex_id(s->parent_span_id, "53995c3f42cd8ad8");
    s->parent_remote = 1;
    s->flags = SCRY_TRACE_FLAG_SAMPLED;
    s->kind = SCRY_SPAN_SERVER;
    s->start_ns = 1700000000123456789;
    s->end_ns = 1700000000223456789;
    s->name_off = add_string(s, "GET /users/{id}");
    s->tracestate_off = add_string(s, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    attr_str(s, A, "http.method", "GET");
    attr_int(s, A, "http.status_code", 200);
    attr_double(s, A, "ratio", 0.25);
    event(s, "retry", 1700000000150000000, 4);
    attr_int(s, EA, "attempt", 1);
    attr_str(s, EA, "reason", "timeout");
    attr_int(s, EA, "attempt", 2);
    attr_bool(s, A, "cache.hit", 1);
    attr_int(s, A, "http.status_code", 404);
    event(s, "done", 1700000000220000000, 0);
    attr_int(s, A, "big", INT64_MAX);
    attr_int(s, A, "neg", -42);
    attr_str(s, A, "http.method", "POST");
    attr_bool(s, A, "cache.hit", 0);
    attr_int(s, A, "neg", INT64_MIN);
    s->status = SCRY_STATUS_ERROR;
    s->status_off = add_string(s, "boom \"quoted\" \\ back\nline2");
    s->nattrs = 6;
    s->nevents = 2;
    s->dropped_attrs = 3;
    s->dropped_events = 2;
    s->ended = 1;
    return s;
}

static scry__span_t *span_b(void)
{
    scry__span_t *s = new_span();
    hex_id(s->trace_id, "0af7651916cd43dd8448eb211c80319c");
    hex_id(s->span_id, "b7ad6b7169203331");
    s->flags = SCRY_TRACE_FLAG_SAMPLED | SCRY_TRACE_FLAG_RANDOM;
    s->kind = SCRY_SPAN_INTERNAL;
    s->start_ns = 1700000001000000000;
    s->end_ns = 1700000002000000000;
    s->name_off = add_string(s, "background job");
    s->status = SCRY_STATUS_OK;
    s->ended = 1;
    return s;
}

static scry__span_t *span_c(void)
{
    scry__span_t *s = new_span();
    hex_id(s->trace_id, "0af7651916cd43dd8448eb211c80319c");
    hex_id(s->span_id, "b9c7c989f97918e1");
    hex_id(s->parent_span_id, "b7ad6b7169203331");
    s->flags = SCRY_TRACE_FLAG_SAMPLED;
    s->kind = SCRY_SPAN_CLIENT;
    s->start_ns = 1700000001100000000;
    s->end_ns = 1700000001900000000;
    char *name = malloc(2006), *key = malloc(305), *val = malloc(100001);
    strcpy(name, "long-");
    memset(name + 5, 'n', 2000);
    name[2005] = 0;
    strcpy(key, "key.");
    memset(key + 4, 'k', 300);
    key[304] = 0;
    memset(val, 'v', 100000);
    val[100000] = 0;
    s->name_off = add_string(s, name);
    attr_str(s, A, key, val);
    attr_str(s, A, "unicode", "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x9a\x80");
    attr_str(s, A, "invalid",
             "ab\xff\xfe"
             "cd\xc3");
    attr_str(s, A, "ctrl", "tab\tnl\n\x01 end");
    attr_double(s, A, "inf", INFINITY);
    attr_double(s, A, "pi", 3.141592653589793);
    attr_str(s, A, "empty", "");
    for (int i = 0; i < 20; i++) {
        char ev[24];
        snprintf(ev, sizeof ev, "tick-%d", i);
        event(s, ev, 1700000001100000000 + (int64_t)i * 1000, 0);
        attr_int(s, EA, "n", i);
    }
    s->nattrs = 7;
    s->nevents = 20;
    s->ended = 1;
    free(name), free(key), free(val);
    return s;
}

static scry__span_t *span_d(void)
{
    scry__span_t *s = new_span();
    hex_id(s->trace_id, "11111111111111111111111111111111");
    hex_id(s->span_id, "2222222222222222");
    s->flags = SCRY_TRACE_FLAG_SAMPLED;
    s->kind = SCRY_SPAN_PRODUCER;
    s->start_ns = 1700000003000000000;
    s->end_ns = 1700000003000001000;
    s->name_off = add_string(s, "publish");
    char k[24];
    for (int i = 0; i < 30; i++) {
        snprintf(k, sizeof k, "k%d", i);
        attr_int(s, A, k, i);
    }
    attr_str(s, A, "k5", "five");
    attr_int(s, A, "k17", -17);
    attr_bool(s, A, "k29", 1);
    attr_double(s, A, "extra", 1.5);
    event(s, "sent", 1700000003000000500, 0);
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "e%d", i % 10);
        attr_int(s, EA, k, i); /* e0..e9, each set twice: the second wins */
    }
    s->nattrs = 31;
    s->nevents = 1;
    s->ended = 1;
    return s;
}

/* ---- Output -------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "otlp_gen: cannot write %s\n", path);
        exit(1);
    }
}

static void write_pid(const char *dir, const char *name)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%d\n", (int)getpid());
    write_file(dir, name, b, (size_t)n);
}

static void encode_twice(scry__span_t **spans, size_t n, int json, scry__otlp_buf_t *out)
{
    scry__otlp_buf_t again = {0};
    int rc = json ? scry__otlp_encode_json(spans, n, out) : scry__otlp_encode_proto(spans, n, out);
    int rc2 =
        json ? scry__otlp_encode_json(spans, n, &again) : scry__otlp_encode_proto(spans, n, &again);
    if (rc || rc2) {
        fprintf(stderr, "otlp_gen: encoding failed: %s\n", strerror(-(rc ? rc : rc2)));
        exit(1);
    }
    if (again.len != out->len || memcmp(again.data, out->data, out->len) != 0) {
        fprintf(stderr, "otlp_gen: two encodings of one batch differ (%s)\n",
                json ? "json" : "proto");
        exit(1);
    }
    scry__otlp_buf_free(&again);
}

/* The response parser, on what a collector answers. */
static void responses(void)
{
    char msg[128];
    Otlp__ExportTracePartialSuccess ps = OTLP__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    ps.rejected_spans = 7;
    ps.error_message = "7 spans had no name";
    Otlp__ExportTraceServiceResponse r = OTLP__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    r.partial_success = &ps;
    uint8_t buf[256];
    size_t n = otlp__export_trace_service_response__pack(&r, buf);
    long long k = (long long)scry__otlp_rejected(buf, n, 0, msg, sizeof msg);
    printf("rejected %lld %s\n", k, msg);
    k = (long long)scry__otlp_rejected("", 0, 0, msg, sizeof msg); /* full success */
    printf("rejected %lld %s\n", k, msg);
    const char *j =
        "{\"partialSuccess\": {\"rejectedSpans\": \"12\", \"errorMessage\": \"too old\"}}";
    k = (long long)scry__otlp_rejected(j, strlen(j), 1, msg, sizeof msg);
    printf("rejected %lld %s\n", k, msg);
    j = "{}";
    k = (long long)scry__otlp_rejected(j, strlen(j), 1, msg, sizeof msg);
    printf("rejected %lld %s\n", k, msg);
    k = (long long)scry__otlp_rejected("\xff\xff\xff", 3, 0, msg, sizeof msg); /* garbage */
    printf("rejected %lld %s\n", k, msg);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: otlp_gen DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    scry__span_t *spans[4] = {span_a(), span_b(), span_c(), span_d()};
    scry__otlp_buf_t pb = {0}, js = {0};
    encode_twice(spans, 4, 0, &pb);
    encode_twice(spans, 4, 1, &js);
    write_file(dir, "req.pb", pb.data, pb.len);
    write_file(dir, "req.json", js.data, js.len);
    write_pid(dir, "pid");
    printf("proto %zu bytes, json %zu bytes\n", pb.len, js.len);

    /* A fork child's resource has its own process.pid. */
    pid_t child = fork();
    if (child == 0) {
        if (scry__otlp_encode_json(spans, 1, &js) < 0) _exit(1);
        write_file(dir, "child.json", js.data, js.len);
        write_pid(dir, "child.pid");
        _exit(0);
    }
    int st;
    if (child < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "otlp_gen: the fork child failed\n");
        return 1;
    }
    responses();
    for (int i = 0; i < 4; i++)
        scry__span_recycle(spans[i]);
    scry__otlp_buf_free(&pb);
    scry__otlp_buf_free(&js);
    scry__otlp_free();
    return 0;
}
