/*
 * encode_cost.c - the OTLP encoder alone (src/span/otlp.c, compiled in):
 * ns per span to encode a batch of BATCH spans as protobuf and as JSON, and
 * to gzip the result as the exporter would, best of REPEATS. The spans are
 * those bench/otlp/spans.c ends (a name, five attributes), built in span.h's
 * layout. No network, no queue: the exporter's CPU floor per span.
 *
 * Usage: otlp_encode_cost [BATCH [REPEATS]] (512, 200)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "span/otlp.h"
#include "span/span.h"

uint32_t scry__span_attr_limit = 128, scry__span_event_limit = 128, scry__event_attr_limit = 128;
void scry__span_recycle(scry__span_t *s)
{
    free(s);
}

static scry__span_entry_t *append(scry__span_t *s, int what, int type, const char *key,
                                  const char *str)
{
    size_t kl = key ? strlen(key) : 0, sl = str ? strlen(str) : 0;
    uint32_t size = scry__span_entry_size((uint32_t)kl, (uint32_t)sl);
    if (s->len + size > s->cap) abort(); /* these spans fit the inline bytes */
    scry__span_entry_t *e = (scry__span_entry_t *)(s->arena + s->len);
    memset(e, 0, size);
    e->what = (uint8_t)what;
    e->type = (uint8_t)type;
    e->key_len = (uint16_t)kl;
    e->str_len = (uint32_t)sl;
    if (kl) memcpy(e->text, key, kl);
    if (sl) memcpy(e->text + kl + 1, str, sl);
    s->len += size;
    return e;
}

static scry__span_t *make(uint64_t i)
{
    scry__span_t *s = calloc(1, sizeof *s);
    s->arena = s->inline_arena;
    s->cap = SCRY__SPAN_INLINE;
    s->tracestate_off = s->status_off = UINT32_MAX;
    for (int k = 0; k < 16; k++)
        s->trace_id[k] = (uint8_t)(i * 131 + (uint64_t)k * 7 + 1);
    for (int k = 0; k < 8; k++)
        s->span_id[k] = (uint8_t)(i * 17 + (uint64_t)k * 3 + 1);
    s->flags = 1;
    s->kind = SCRY_SPAN_SERVER;
    s->start_ns = 1700000000000000000 + (int64_t)i * 1000;
    s->end_ns = s->start_ns + 25000;
    scry__span_entry_t *n = append(s, 0, 0, NULL, "GET /item/{id}");
    s->name_off = (uint32_t)((const uint8_t *)scry__span_entry_str(n) - s->arena);
    append(s, SCRY__SE_ATTR, SCRY_ATTR_STRING, "http.request.method", "GET");
    append(s, SCRY__SE_ATTR, SCRY_ATTR_STRING, "url.path", "/item/12345");
    append(s, SCRY__SE_ATTR, SCRY_ATTR_INT, "http.response.status_code", NULL)->num.i = 200;
    append(s, SCRY__SE_ATTR, SCRY_ATTR_DOUBLE, "work.units", NULL)->num.d = (double)i;
    append(s, SCRY__SE_ATTR, SCRY_ATTR_BOOL, "cache.hit", NULL)->num.i = (int64_t)(i & 1);
    s->nattrs = 5;
    s->ended = 1;
    return s;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t gzip_len(const scry__otlp_buf_t *in, scry__otlp_buf_t *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    size_t bound = deflateBound(&z, (uLong)in->len);
    out->len = 0;
    if (scry__otlp_buf_reserve(out, bound) < 0) return 0;
    z.next_in = in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = out->data;
    z.avail_out = (uInt)bound;
    deflate(&z, Z_FINISH);
    size_t n = bound - z.avail_out;
    deflateEnd(&z);
    return n;
}

int main(int argc, char **argv)
{
    int batch = argc > 1 ? atoi(argv[1]) : 512, repeats = argc > 2 ? atoi(argv[2]) : 200;
    if (batch < 1 || repeats < 1) return 2;
    scry__span_t **spans = malloc((size_t)batch * sizeof *spans);
    for (int i = 0; i < batch; i++)
        spans[i] = make((uint64_t)i);
    scry__otlp_buf_t buf = {0}, z = {0};
    printf("%-10s %10s %12s %14s %12s\n", "format", "ns/span", "bytes/span", "gzip ns/span",
           "gzip b/span");
    for (int json = 0; json < 2; json++) {
        int64_t best = INT64_MAX, zbest = INT64_MAX;
        size_t zlen = 0;
        for (int r = 0; r < repeats; r++) {
            int64_t t0 = now_ns();
            int rc = json ? scry__otlp_encode_json(spans, (size_t)batch, &buf)
                          : scry__otlp_encode_proto(spans, (size_t)batch, &buf);
            int64_t t1 = now_ns();
            if (rc) return 1;
            if (t1 - t0 < best) best = t1 - t0;
            if (r < repeats / 10 + 1) { /* gzip is slower: fewer repeats */
                zlen = gzip_len(&buf, &z);
                int64_t t2 = now_ns();
                if (t2 - t1 < zbest) zbest = t2 - t1;
            }
        }
        printf("%-10s %10.0f %12.1f %14.0f %12.1f\n", json ? "json" : "protobuf",
               (double)best / batch, (double)buf.len / batch, (double)zbest / batch,
               (double)zlen / batch);
    }
    for (int i = 0; i < batch; i++)
        free(spans[i]);
    free(spans);
    scry__otlp_buf_free(&buf);
    scry__otlp_buf_free(&z);
    scry__otlp_free();
    return 0;
}
