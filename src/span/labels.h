/*
 * labels.h - what the profiles learn about the calling thread's current
 * span: its id and name, as the pprof labels span_id and span_name, and
 * the name of its local root (the first span of its trace in this process,
 * usually the request's server span: the endpoint) as root_span_name, so
 * that one endpoint's profile includes the work of its child spans.
 *
 * The span API (span/span.c) keeps a per-thread copy of the current span's
 * id and interned name id; a profile reads it when it takes a sample,
 * whether in a signal handler (CPU) or on the thread itself (heap, block,
 * mutex). Names are interned once, into a fixed table of SCRY__SPAN_NAMES
 * (span names are few: endpoints, operations), so a sample carries a small
 * number and the writer turns it back into the string. Past the table's
 * end a name is not interned (id 0) and samples carry only span_id.
 *
 * A profile keys its buckets by (stack, span id, name id). Span ids are
 * unbounded (one per request), so a profile stops keeping them once its
 * table is three-quarters full (scry__span_id_keep): later samples keep
 * only span_name, and the profile says how many it folded.
 */
#ifndef SCRY_SPAN_LABELS_H
#define SCRY_SPAN_LABELS_H

#include <stdint.h>

#define SCRY__SPAN_NAMES 4096
#define SCRY__SPAN_NAME_MAX 127 /* bytes of a name kept for the label */

typedef struct {
    uint64_t span_id; /* 0: no current span */
    uint32_t name_id; /* 0: none */
    uint32_t root_name_id; /* the local root span's name: the endpoint */
    uint8_t trace_id[16];
} scry__span_label_t;

extern __thread scry__span_label_t scry__span_label __attribute__((tls_model("initial-exec")));

/* Sets the calling thread's label. A signal on this thread sees the old
 * label, no label, or the new one: never an id with another span's name. */
static inline void scry__span_label_set(uint64_t span_id, uint32_t name_id, uint32_t root_name_id,
                                        const uint8_t *trace_id)
{
    scry__span_label.span_id = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    scry__span_label.name_id = name_id;
    scry__span_label.root_name_id = root_name_id;
    if (trace_id) __builtin_memcpy(scry__span_label.trace_id, trace_id, 16);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    scry__span_label.span_id = span_id;
}

/* A sample's names in one word, as profiles key and keep them: the span's
 * name id, and its local root's name id in the high half (ids are below
 * SCRY__SPAN_NAMES, 2^16). */
static inline uint32_t scry__span_names_word(uint32_t name_id, uint32_t root_name_id)
{
    return name_id | root_name_id << 16;
}

/* Async-signal-safe: the calling thread's span id (0: none), and its names
 * word in *names. */
static inline uint64_t scry__span_label_get_as_safe(uint32_t *names)
{
    uint64_t id = scry__span_label.span_id;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    *names = id ? scry__span_names_word(scry__span_label.name_id, scry__span_label.root_name_id) : 0;
    return id;
}

/* The id of name (interned on first use), 0 when the table is full. Not
 * for signal handlers; cheap when the name is known (a hash and a compare). */
uint32_t scry__span_name_intern(const char *name);
/* The name of an id, NULL for 0 or unknown. Any thread. */
const char *scry__span_name(uint32_t id);

/* fork: the insert lock. */
void scry__span_names_prefork(void);
void scry__span_names_postfork_parent(void);
void scry__span_names_postfork_child(void);

/* The span id a profile keeps for a new bucket: span_id while the table
 * holds under three quarters of max entries, else 0 (counted in *folded). */
static inline uint64_t scry__span_id_keep(uint64_t span_id, uint32_t used, uint32_t max,
                                          uint64_t *folded)
{
    if (span_id && used >= max / 4 * 3) {
        (*folded)++;
        return 0;
    }
    return span_id;
}

/* "0123456789abcdef": the W3C form of a span id, for the label. */
void scry__span_id_hex(uint64_t span_id, char out[17]);

#endif
