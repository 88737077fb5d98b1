/*
 * span.h - a span as scry keeps it, between the API (span/span.c) and the
 * exporter (span/export.c).
 *
 * A span is one fixed header and an append-only byte arena that holds its
 * name, tracestate, status description, attributes and events as entries
 * (scry__span_entry_t, 8-byte aligned). The API appends; the exporter walks
 * the entries when it encodes. A later attribute with a key already set
 * replaces the earlier one: the exporter keeps the last one of each key.
 *
 * Spans live in type-stable memory (pools never given back to malloc), so a
 * stale handle can still be read: a thread's stack of current spans keeps
 * the span's id beside the pointer and trusts the pointer only while the
 * ids match.
 *
 * Ownership: the thread that started a span owns it until scry_span_end,
 * which hands it to the export queue (span/export.h); the exporter encodes
 * it and gives it back with scry__span_recycle.
 */
#ifndef SCRY_SPAN_SPAN_H
#define SCRY_SPAN_SPAN_H

#include <stddef.h>
#include <stdint.h>

#include "scry.h"

/* Entry kinds. */
enum {
    SCRY__SE_ATTR = 1,   /* a span attribute */
    SCRY__SE_EVENT,      /* an event: text = its name, num = unix ns */
    SCRY__SE_EVENT_ATTR, /* an attribute of the event just before */
};

typedef struct {
    uint8_t what;     /* SCRY__SE_* */
    uint8_t type;     /* SCRY_ATTR_*; for an event: how many of its attributes
                       * were dropped (past the limit), at most 255 */
    uint16_t key_len; /* bytes of the key, without its NUL (0 for an event) */
    uint32_t str_len; /* a string value's bytes, or an event name's */
    union {
        int64_t i; /* SCRY_ATTR_INT, SCRY_ATTR_BOOL (0/1); event time */
        double d;  /* SCRY_ATTR_DOUBLE */
    } num;
    /* key, NUL, then for a string (or an event's name) str_len bytes, NUL */
    char text[];
} scry__span_entry_t;

static inline uint32_t scry__span_entry_size(uint32_t key_len, uint32_t str_len)
{
    return ((uint32_t)sizeof(scry__span_entry_t) + key_len + 1 + str_len + 1 + 7u) & ~7u;
}
static inline const char *scry__span_entry_key(const scry__span_entry_t *e)
{
    return e->text;
}
/* The string value of a SCRY_ATTR_STRING attribute, or an event's name. */
static inline const char *scry__span_entry_str(const scry__span_entry_t *e)
{
    return e->text + e->key_len + 1;
}

#define SCRY__SPAN_INLINE 448 /* arena bytes inside the span itself */

struct scry_span {
    /* Identity. */
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8]; /* all zero: a root span */
    uint64_t id;               /* span_id as a number (labels, stacks) */
    uint8_t flags;             /* SCRY_TRACE_FLAG_* */
    uint8_t kind;              /* scry_span_kind_t */
    uint8_t status;            /* scry_status_t */
    uint8_t parent_remote;     /* the parent came from another process */
    uint8_t recording;         /* sampled: will be exported */
    uint8_t ended;
    uint16_t name_id; /* span name in the label table (span/labels.h), 0: none */
    uint16_t root_name_id; /* its local root's (the first span of its trace in
                            * this process: a request's server span) */
    uint8_t local_root;    /* its parent is remote, or it has none */
    /* Times in the span clock's raw units until the exporter converts them
     * (scry__span_unix_ns); Unix epoch nanoseconds once encoded. Events'
     * times (their entries' num.i) likewise. */
    int64_t start_ns, end_ns;
    /* Arena offsets of NUL-terminated strings; UINT32_MAX: none. */
    uint32_t name_off, tracestate_off, status_off;
    uint32_t nattrs, nevents;                 /* entries kept */
    uint32_t dropped_attrs, dropped_events;   /* past the limits */
    uint64_t task;                            /* runtime trace task, 0: none */
    unsigned generation;                      /* forks before its start */
    /* The arena: inline bytes first, a malloc'd block once they are full. */
    uint8_t *arena;
    uint32_t len, cap;
    struct scry_span *next; /* pool and queue link */
    uint8_t inline_arena[SCRY__SPAN_INLINE] __attribute__((aligned(8)));
};

typedef struct scry_span scry__span_t;

static inline const char *scry__span_str(const scry__span_t *s, uint32_t off)
{
    return off == UINT32_MAX ? NULL : (const char *)s->arena + off;
}

/* Walks the entries: pass NULL first; returns NULL after the last. */
static inline const scry__span_entry_t *scry__span_next_entry(const scry__span_t *s,
                                                             const scry__span_entry_t *e)
{
    const uint8_t *p;
    if (!e) {
        p = s->arena;
    } else {
        p = (const uint8_t *)e + scry__span_entry_size(e->key_len, e->str_len);
    }
    /* Strings (name, tracestate) are interleaved with entries: they are
     * stored as entries of kind 0 and skipped here. */
    while (p < s->arena + s->len) {
        const scry__span_entry_t *n = (const scry__span_entry_t *)p;
        if (n->what) return n;
        p += scry__span_entry_size(n->key_len, n->str_len);
    }
    return NULL;
}

/* The span clock, for the exporter's thread: sync once per batch, then
 * convert each raw stamp (start_ns, end_ns, events' num.i) to Unix ns. The
 * first sync may sleep up to 10 ms (the TSC's rate is measured). */
void scry__span_clock_sync(void);
int64_t scry__span_unix_ns(int64_t raw);
/* Converts a span's stamps in place: after scry__span_clock_sync. */
void scry__span_times_to_unix(scry__span_t *s);

/* Gives an exported (or dropped) span back to the pool. Any thread. */
void scry__span_recycle(scry__span_t *s);

/* At exit: later spans are not exported; what is queued is (export.h). */
void scry__span_atexit(void);
/* fork: the pool, the counters and the name table; the exporter. */
void scry__span_prefork(void);
void scry__span_postfork_parent(void);
void scry__span_postfork_child(void);

/* Limits from OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, OTEL_SPAN_EVENT_COUNT_LIMIT,
 * OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT (128 each). */
extern uint32_t scry__span_attr_limit, scry__span_event_limit, scry__event_attr_limit;

#endif
