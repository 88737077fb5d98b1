/*
 * w3c.h - W3C Trace Context (traceparent, tracestate) and OpenTelemetry's
 * probability sampling, as span/span.c uses them. The public functions
 * (scry_traceparent_*, scry_tracestate_*, scry_context_*) are in scry.h
 * and implemented in span/w3c.c too.
 *
 * Sampling follows the OpenTelemetry specification's "TraceState:
 * Probability Sampling": a sampler with probability p rejects when the
 * trace's 56-bit randomness R (the `rv` sub-key of the `ot` tracestate
 * member, else the trace id's low 56 bits) is below the rejection threshold
 * T = (1 - p) * 2^56, and a sampled span records T as `th` in the `ot`
 * member.
 */
#ifndef SCRY_SPAN_W3C_H
#define SCRY_SPAN_W3C_H

#include <stdint.h>

#include "scry.h"

enum { SCRY__SAMPLE_ALWAYS_ON = 0, SCRY__SAMPLE_ALWAYS_OFF, SCRY__SAMPLE_RATIO };

typedef struct {
    int root;         /* SCRY__SAMPLE_*: the decision for a new trace */
    int parent_based; /* children follow their parent's sampled flag */
    uint64_t threshold; /* SCRY__SAMPLE_RATIO: rejection threshold, 0..2^56 */
} scry__sampler_t;

/* From OTEL_TRACES_SAMPLER's names and OTEL_TRACES_SAMPLER_ARG's text
 * (arg may be NULL: 1.0). -EINVAL for an unknown name or a bad ratio. */
int scry__sampler_parse(const char *name, const char *arg, scry__sampler_t *out);
/* The same with a numeric ratio (scry_span_set_sampler). */
int scry__sampler_make(const char *name, double ratio, scry__sampler_t *out);

/* Decides a new span: parent NULL or invalid for a new trace. trace_id is
 * the new span's (the parent's, or freshly drawn with *flags holding
 * SCRY_TRACE_FLAG_RANDOM). Sets or clears SCRY_TRACE_FLAG_SAMPLED in
 * *flags, and writes the span's tracestate (the parent's, with `ot` `th`
 * set or erased as the specification says) to tracestate
 * (SCRY_TRACESTATE_MAX + 1 bytes). Returns 1 when sampled. */
int scry__sampler_decide(const scry__sampler_t *s, const scry_span_context_t *parent,
                         const uint8_t trace_id[16], uint8_t *flags, char *tracestate);

#endif
