/*
 * otlp.h - ended spans as OTLP's ExportTraceServiceRequest, in protobuf
 * (through protobuf-c and format/otlp_trace.proto) or in OTLP/JSON.
 *
 * The exporter (span/export.c) hands a batch of spans; the encoder reads
 * them (it never changes or recycles them) and writes one request: one
 * ResourceSpans with the process's resource (service.name and the
 * OTEL_RESOURCE_ATTRIBUTES, telemetry.sdk.*, process.pid), one ScopeSpans
 * with the scope "scry" and every span of the batch.
 *
 * The spans' times (start_ns, end_ns, events' num.i) must already be Unix
 * epoch nanoseconds: the exporter converts them (scry__span_times_to_unix)
 * before it encodes.
 *
 * Concurrency: one caller at a time (the exporter thread); the encoder
 * keeps its scratch memory between calls, so a batch costs no allocation
 * once the largest batch has been seen.
 */
#ifndef SCRY_SPAN_OTLP_H
#define SCRY_SPAN_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "span/span.h"

/* A growable byte buffer, reused from batch to batch. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} scry__otlp_buf_t;

/* Makes room for len + more bytes. 0 or -ENOMEM. */
int scry__otlp_buf_reserve(scry__otlp_buf_t *b, size_t more);
void scry__otlp_buf_free(scry__otlp_buf_t *b);

/* Encodes spans[0..n) into out (its old content replaced). 0 or -ENOMEM.
 * Attributes keep the last value of each key, in order of the key's first
 * appearance. Strings that are not valid UTF-8 are sent with U+FFFD in
 * place of the bad bytes (a collector refuses a whole request for one). */
int scry__otlp_encode_proto(scry__span_t *const *spans, size_t n, scry__otlp_buf_t *out);
int scry__otlp_encode_json(scry__span_t *const *spans, size_t n, scry__otlp_buf_t *out);

/* Reads an ExportTraceServiceResponse body (JSON when json != 0): the
 * partial_success's rejected_spans (0 when absent or unreadable), and its
 * error_message into msg (cap bytes, "" when none). */
int64_t scry__otlp_rejected(const void *body, size_t len, int json, char *msg, size_t cap);

/* Parses a "k1=v1,k2=v2" list (W3C baggage without properties: the form of
 * OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS): blanks around
 * keys and values trimmed, both percent-decoded, empty members skipped. fn
 * gets each good pair; each bad one (no '=', empty key, bad %XX) is
 * reported in one line naming var and skipped: quoted, or when secret (a
 * header may carry a credential) by its position only. */
typedef void (*scry__otlp_pair_fn)(const char *key, const char *value, void *arg);
void scry__otlp_parse_pairs(const char *var, const char *value, int secret, scry__otlp_pair_fn fn,
                            void *arg);

/* Frees the encoder's scratch memory (tests, leak checkers). */
void scry__otlp_free(void);

#endif
