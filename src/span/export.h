/*
 * export.h - the span exporter: OTLP over HTTP from a background thread.
 *
 * scry_span_end hands a recording span to scry__export_enqueue, which puts
 * it in a bounded queue (OTEL_BSP_MAX_QUEUE_SIZE, 2048) with no lock and
 * never waits: a full queue drops the span and counts it. A thread of
 * scry's own takes batches (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512) when a
 * batch is full or OTEL_BSP_SCHEDULE_DELAY (5000 ms) has passed, encodes
 * them as an ExportTraceServiceRequest (protobuf, or JSON when
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json) and POSTs it with libcurl
 * to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (or OTEL_EXPORTER_OTLP_ENDPOINT +
 * "/v1/traces"), within OTEL_EXPORTER_OTLP_TIMEOUT / OTEL_BSP_EXPORT_TIMEOUT
 * (30 s); 429, 502, 503 and 504 are retried with exponential back-off,
 * honouring Retry-After. Every span goes back to the pool once encoded.
 */
#ifndef SCRY_SPAN_EXPORT_H
#define SCRY_SPAN_EXPORT_H

#include "scry.h"
#include "span/span.h"

/* Takes ownership of s (ended, recording). Starts the exporter on first
 * use. Never blocks; a span it cannot queue is recycled and counted. */
void scry__export_enqueue(scry__span_t *s);

/* Waits until everything queued before the call was exported or dropped,
 * at most timeout_ms. 0, -ETIMEDOUT, or -ENOTCONN if an export failed. */
int scry__export_flush(int timeout_ms);

/* Fills exported, dropped_queue, dropped_export, retries, exports. */
void scry__export_stats(scry_span_stats_t *out);

/* At exit: exports what is queued within the export timeout, then stops
 * the thread. Later enqueues are dropped and counted. */
void scry__export_shutdown(void);

/* fork: the child has no exporter thread; it starts again on first use
 * with an empty queue (the parent exports what it had). */
void scry__export_prefork(void);
void scry__export_postfork_parent(void);
void scry__export_postfork_child(void);

#endif
