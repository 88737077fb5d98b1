/*
 * perfetto.c - turns the tracer's records into Perfetto TracePackets; see
 * perfetto.h.
 *
 * The output is one packet sequence (SEQ_ID). Each generation of it opens
 * with a packet that clears incremental state and carries a ClockSnapshot
 * (CLOCK_MONOTONIC, the clock of every timestamp here, next to
 * CLOCK_BOOTTIME, Perfetto's trace clock), then the process's
 * TrackDescriptor. Everything after that is written lazily, the first time
 * the generation needs it: a thread's TrackDescriptor before its first
 * event, a task's before its first slice, and each event name, category and
 * debug annotation name as InternedData in the packet that first uses it.
 * An interned string keeps its iid for the converter's life (Perfetto
 * forbids giving an iid a second meaning, even across resets); what each
 * generation restarts is which strings it has written.
 *
 * Tracks and their uuids (the summary reader, tools/scry/trace.c, relies on
 * them):
 *   process  pid
 *   thread   1 << 32 | tid, child of the process, ThreadDescriptor{pid, tid,
 *            name}; written again when the thread is renamed
 *   task     2 << 56 | id, child of the process, named "task <type> <id>"
 *
 * Slices that outlive a record (regions on a thread, tasks) are remembered
 * while open, so a generation boundary can end them and begin them again,
 * and finish can end them. Waits and system calls arrive whole (record.h)
 * and become a begin and an end at once.
 *
 * A wait ended by a wake becomes a flow: the WAKE instant lists the flow id
 * in flow_ids and the wait's SLICE_END lists it in terminating_flow_ids.
 * Perfetto's trace processor binds the flows of an end event to the slice
 * that event closes (TrackEventEventImporter::ParseThreadEndEvent calls
 * MaybeParseFlowEvents with the ended slice), so the arrow goes from the
 * waker's instant to the waiter's wait slice, with no extra event.
 *
 * Bounded memory: at most MAX_INTERNED strings per interning table (more are
 * written inline), MAX_THREADS threads and MAX_TASKS open tasks (more are
 * counted as dropped), MAX_DEPTH open regions per thread (deeper ones are
 * counted and left out, their ends matched), SYM_CACHE symbolized
 * addresses.
 */
#define _GNU_SOURCE
#include "format/perfetto.h"

#include <inttypes.h>
#include <link.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/waits.h"
#include "format/symbolize.h"
#include "perfetto_trace.pb-c.h"

#define SEQ_ID 1
#define CLOCK_ID_MONOTONIC 3 /* BuiltinClock */
#define CLOCK_ID_BOOTTIME 6
#define BUF_SIZE 65536
#define MAX_INTERNED 4096
#define MAX_THREADS 65536
#define MAX_TASKS 65536
#define MAX_DEPTH 256
#define MAX_ANN 6
#define STACK_NAMES 32 /* names in a "stack" annotation */
#define MAX_INLINE 8
#define SYM_CACHE 4096

#define THREAD_UUID(tid) ((uint64_t)1 << 32 | (uint32_t)(tid))
#define TASK_UUID(id) ((uint64_t)2 << 56 | ((id) & (((uint64_t)1 << 56) - 1)))

typedef Perfetto__Protos__TracePacket Packet;
typedef Perfetto__Protos__TrackEvent Event;
typedef Perfetto__Protos__DebugAnnotation Annotation;
typedef Perfetto__Protos__InternedData Interned;

enum {
    SEQ_CLEARED = PERFETTO__PROTOS__TRACE_PACKET__SEQUENCE_FLAGS__SEQ_INCREMENTAL_STATE_CLEARED,
    SEQ_NEEDS = PERFETTO__PROTOS__TRACE_PACKET__SEQUENCE_FLAGS__SEQ_NEEDS_INCREMENTAL_STATE,
    T_BEGIN = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN,
    T_END = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END,
    T_INSTANT = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT,
};

/* ---- a u64 -> pointer hash map (open addressing; NULL: empty slot) ---- */

typedef struct {
    uint64_t *keys;
    void **vals;
    size_t n, cap;
} map_t;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static void *map_get(const map_t *m, uint64_t key)
{
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1;
    for (size_t j = mix(key) & mask; m->vals[j]; j = (j + 1) & mask)
        if (m->keys[j] == key) return m->vals[j];
    return NULL;
}

/* Adds key (absent) -> val (not NULL). 0, or -1 when out of memory. */
static int map_put(map_t *m, uint64_t key, void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        uint64_t *k = calloc(cap, sizeof *k);
        void **v = calloc(cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->vals[i]) continue;
            size_t j = mix(m->keys[i]) & (cap - 1);
            while (v[j])
                j = (j + 1) & (cap - 1);
            k[j] = m->keys[i];
            v[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = v;
        m->cap = cap;
    }
    size_t j = mix(key) & (m->cap - 1);
    while (m->vals[j])
        j = (j + 1) & (m->cap - 1);
    m->keys[j] = key;
    m->vals[j] = val;
    m->n++;
    return 0;
}

/* Removes key; returns its value, or NULL. Backward-shift deletion keeps
 * every probe chain unbroken without tombstones. */
static void *map_del(map_t *m, uint64_t key)
{
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1, i = mix(key) & mask;
    while (m->vals[i] && m->keys[i] != key)
        i = (i + 1) & mask;
    void *val = m->vals[i];
    if (!val) return NULL;
    for (;;) {
        m->vals[i] = NULL;
        size_t k = i;
        for (;;) {
            k = (k + 1) & mask;
            if (!m->vals[k]) {
                m->n--;
                return val;
            }
            size_t home = mix(m->keys[k]) & mask;
            /* The entry at k may stay if its home lies cyclically in (i, k]. */
            if (i <= k ? (i < home && home <= k) : (i < home || home <= k)) continue;
            break;
        }
        m->keys[i] = m->keys[k];
        m->vals[i] = m->vals[k];
        i = k;
    }
}

static void map_free(map_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- state ---- */

typedef struct {
    char *s;
    uint64_t iid;
    uint32_t gen; /* last generation it was written in */
} interned_t;

typedef struct {
    map_t index; /* string hash -> interned_t; a collision probes hash + 1 */
    uint64_t n;
} intern_t;

typedef struct {
    char *type;
    uint64_t task;
} region_t;

typedef struct {
    pid_t tid;
    char *name;         /* NULL until THREAD_START or THREAD_NAME */
    uint32_t described; /* generation its descriptor was written in, 0: none */
    region_t *regions;  /* open, outermost first */
    uint32_t nregions, capregions;
    uint32_t overflow; /* open regions beyond MAX_DEPTH, not written */
} thread_t;

typedef struct {
    uint64_t id, parent;
    char *type;
    uint32_t described;
    uint64_t span_id; /* the span (scry.h) it stands for or ran in, 0: none */
    uint8_t trace_id[16];
} task_t;

typedef struct block {
    struct block *next;
    size_t used, cap;
    char data[];
} block_t;

struct scry__perfetto {
    scry__perfetto_sink_fn sink;
    void *ctx;
    pid_t pid;
    char *process_name;

    uint8_t *buf;
    size_t len;
    int failed;
    uint64_t dropped;

    uint32_t gen;    /* current generation, from 1 */
    int gen_started; /* its first packet (state cleared, clocks) is out */
    int first;       /* no packet written yet */
    int suspended;   /* between end_generation and begin_generation */
    int64_t floor_ns; /* the current generation's start: earlier records are moved to it */

    intern_t names, cats, keys;
    map_t threads; /* tid -> thread_t */
    map_t tasks;   /* id -> task_t, open ones */
    map_t early;   /* id -> int64_t end time: tasks ended before their begin arrived */

    scry__symbolizer_t *sym; /* held from the first stack to the next flush */
    int sym_tried;
    map_t sym_cache; /* address -> its names, '\n'-joined, strdup'd */
    unsigned long long dl_adds, dl_subs; /* the libraries the cache is for */

    block_t *arena; /* strings of the packet being built */
    char *sb;       /* scratch for stack text */
    size_t sblen, sbcap;
};

/* ---- the per-record arena ---- */

static void *arena_alloc(scry__perfetto_t *p, size_t n)
{
    block_t *b = p->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        block_t *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        p->arena = b = nb;
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

/* Frees all but one block. */
static void arena_reset(scry__perfetto_t *p)
{
    block_t *b = p->arena;
    if (!b) return;
    while (b->next) {
        block_t *n = b->next;
        b->next = n->next;
        free(n);
    }
    b->used = 0;
}

static char *arena_strndup(scry__perfetto_t *p, const char *s, size_t n)
{
    char *c = arena_alloc(p, n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/* The string at s, which has avail bytes of record left, at most len bytes
 * long: s itself when NUL-terminated in time, else a bounded copy. */
static const char *rec_str(scry__perfetto_t *p, const char *s, size_t len, size_t avail)
{
    if (len > avail) len = avail;
    len = strnlen(s, len);
    if (len < avail && s[len] == '\0') return s;
    const char *c = arena_strndup(p, s, len);
    return c ? c : "";
}

/* ---- output ---- */

static void send_buf(scry__perfetto_t *p)
{
    if (p->len && !p->failed && p->sink(p->ctx, p->buf, p->len) != 0) p->failed = 1;
    p->len = 0;
}

/* Appends one Trace.packet field: tag 1 / length-delimited, length, bytes. */
static void put_packet(scry__perfetto_t *p, const Packet *pkt)
{
    if (p->failed) return;
    size_t n = perfetto__protos__trace_packet__get_packed_size(pkt);
    size_t need = 11 + n; /* tag + at most 10 bytes of varint */
    if (p->len + need > BUF_SIZE) send_buf(p);
    if (p->failed) return;
    uint8_t *tmp = NULL, *b = p->buf + p->len;
    if (need > BUF_SIZE) {
        if (!(b = tmp = malloc(need))) {
            p->dropped++;
            return;
        }
    }
    size_t h = 0;
    b[h++] = 0x0a;
    uint64_t v = n;
    for (; v >= 0x80; v >>= 7)
        b[h++] = (uint8_t)(v | 0x80);
    b[h++] = (uint8_t)v;
    perfetto__protos__trace_packet__pack(pkt, b + h);
    if (!tmp) {
        p->len += h + n;
        return;
    }
    if (p->sink(p->ctx, tmp, h + n) != 0) p->failed = 1;
    free(tmp);
}

static void packet_init(Packet *pkt, int64_t ts)
{
    perfetto__protos__trace_packet__init(pkt);
    pkt->optional_trusted_packet_sequence_id_case =
        PERFETTO__PROTOS__TRACE_PACKET__OPTIONAL_TRUSTED_PACKET_SEQUENCE_ID_TRUSTED_PACKET_SEQUENCE_ID;
    pkt->trusted_packet_sequence_id = SEQ_ID;
    if (ts >= 0) {
        pkt->has_timestamp = 1;
        pkt->timestamp = (uint64_t)ts;
        pkt->has_timestamp_clock_id = 1;
        pkt->timestamp_clock_id = CLOCK_ID_MONOTONIC;
    }
}

static uint64_t ns_of(struct timespec t)
{
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Both clocks, now: boot time read between two monotonic reads, paired
 * with their midpoint. flags: sequence flags for the packet (0: none). */
static void put_clocks(scry__perfetto_t *p, uint32_t flags)
{
    struct timespec m0, b, m1;
    clock_gettime(CLOCK_MONOTONIC, &m0);
    clock_gettime(CLOCK_BOOTTIME, &b);
    clock_gettime(CLOCK_MONOTONIC, &m1);
    Perfetto__Protos__ClockSnapshot__Clock c[2], *cp[2] = {&c[0], &c[1]};
    for (int i = 0; i < 2; i++) {
        perfetto__protos__clock_snapshot__clock__init(&c[i]);
        c[i].has_clock_id = c[i].has_timestamp = 1;
    }
    c[0].clock_id = CLOCK_ID_MONOTONIC;
    c[0].timestamp = ns_of(m0) + (ns_of(m1) - ns_of(m0)) / 2;
    c[1].clock_id = CLOCK_ID_BOOTTIME;
    c[1].timestamp = ns_of(b);
    Perfetto__Protos__ClockSnapshot cs;
    perfetto__protos__clock_snapshot__init(&cs);
    cs.n_clocks = 2;
    cs.clocks = cp;
    Packet pkt;
    packet_init(&pkt, -1);
    pkt.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_CLOCK_SNAPSHOT;
    pkt.clock_snapshot = &cs;
    if (flags) {
        pkt.has_sequence_flags = 1;
        pkt.sequence_flags = flags;
    }
    if (flags & SEQ_CLEARED) {
        pkt.has_incremental_state_cleared = 1; /* for readers older than the flag */
        pkt.incremental_state_cleared = 1;
    }
    if (p->first) {
        pkt.has_first_packet_on_sequence = 1;
        pkt.first_packet_on_sequence = 1;
        p->first = 0;
    }
    put_packet(p, &pkt);
}

static void put_track(scry__perfetto_t *p, Perfetto__Protos__TrackDescriptor *td, int64_t ts)
{
    Packet pkt;
    packet_init(&pkt, ts);
    pkt.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_DESCRIPTOR;
    pkt.track_descriptor = td;
    put_packet(p, &pkt);
}

/* Opens the generation if nothing was written in it yet: state cleared,
 * clocks, the process track. Every packet's writer calls this first. */
static void gen_start(scry__perfetto_t *p, int64_t ts)
{
    if (p->gen_started) return;
    p->gen_started = 1;
    put_clocks(p, SEQ_CLEARED);
    Perfetto__Protos__ProcessDescriptor pd;
    perfetto__protos__process_descriptor__init(&pd);
    pd.has_pid = 1;
    pd.pid = p->pid;
    pd.process_name = *p->process_name ? p->process_name : NULL;
    Perfetto__Protos__TrackDescriptor td;
    perfetto__protos__track_descriptor__init(&td);
    td.has_uuid = 1;
    td.uuid = (uint64_t)(uint32_t)p->pid;
    td.process = &pd;
    put_track(p, &td, ts);
}

static void describe_thread(scry__perfetto_t *p, thread_t *t, int64_t ts)
{
    gen_start(p, ts);
    Perfetto__Protos__ThreadDescriptor th;
    perfetto__protos__thread_descriptor__init(&th);
    th.has_pid = th.has_tid = 1;
    th.pid = p->pid;
    th.tid = t->tid;
    th.thread_name = t->name;
    Perfetto__Protos__TrackDescriptor td;
    perfetto__protos__track_descriptor__init(&td);
    td.has_uuid = td.has_parent_uuid = 1;
    td.uuid = THREAD_UUID(t->tid);
    td.parent_uuid = (uint64_t)(uint32_t)p->pid;
    td.thread = &th;
    put_track(p, &td, ts);
    t->described = p->gen;
}

static void describe_task(scry__perfetto_t *p, task_t *k, int64_t ts)
{
    if (k->described == p->gen) return;
    gen_start(p, ts);
    size_t n = strlen(k->type) + 32;
    char *name = arena_alloc(p, n);
    if (!name) return;
    snprintf(name, n, "task %s %" PRIu64, k->type, k->id);
    Perfetto__Protos__TrackDescriptor td;
    perfetto__protos__track_descriptor__init(&td);
    td.has_uuid = td.has_parent_uuid = 1;
    td.uuid = TASK_UUID(k->id);
    td.parent_uuid = (uint64_t)(uint32_t)p->pid;
    td.static_or_dynamic_name_case =
        PERFETTO__PROTOS__TRACK_DESCRIPTOR__STATIC_OR_DYNAMIC_NAME_NAME;
    td.name = name;
    put_track(p, &td, ts);
    k->described = p->gen;
}

/* ---- interning ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The iid of s, or 0 when the table is full or memory is short (the caller
 * then writes s inline). *fresh: s is not yet written in this generation;
 * the caller writes it in the packet it is building. */
static uint64_t intern(scry__perfetto_t *p, intern_t *t, const char *s, int *fresh)
{
    *fresh = 0;
    for (uint64_t h = hash_str(s);; h++) {
        interned_t *e = map_get(&t->index, h);
        if (e) {
            if (strcmp(e->s, s)) continue;
            if (e->gen != p->gen) {
                e->gen = p->gen;
                *fresh = 1;
            }
            return e->iid;
        }
        if (t->n >= MAX_INTERNED) return 0;
        size_t n = strlen(s);
        if (!(e = malloc(sizeof *e + n + 1))) return 0;
        e->s = (char *)(e + 1);
        memcpy(e->s, s, n + 1);
        e->iid = t->n + 1;
        e->gen = p->gen;
        if (map_put(&t->index, h, e)) {
            free(e);
            return 0;
        }
        t->n++;
        *fresh = 1;
        return e->iid;
    }
}

static void intern_free(intern_t *t)
{
    for (size_t i = 0; i < t->index.cap; i++)
        free(t->index.vals[i]);
    map_free(&t->index);
    t->n = 0;
}

/* ---- building one TrackEvent packet (on the caller's stack) ---- */

typedef struct {
    Packet pkt;
    Event ev;
    Interned in;
    Perfetto__Protos__EventName name, *name_p;
    Perfetto__Protos__EventCategory cat, *cat_p;
    Perfetto__Protos__DebugAnnotationName key[MAX_ANN], *key_p[MAX_ANN];
    Annotation ann[MAX_ANN], *ann_p[MAX_ANN];
    uint64_t cat_iid, flow;
    char *cat_str;
} ev_t;

static void ev_init(scry__perfetto_t *p, ev_t *e, int type, uint64_t track, int64_t ts)
{
    gen_start(p, ts);
    packet_init(&e->pkt, ts);
    e->pkt.has_sequence_flags = 1;
    e->pkt.sequence_flags = SEQ_NEEDS;
    e->pkt.data_case = PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_EVENT;
    e->pkt.track_event = &e->ev;
    perfetto__protos__track_event__init(&e->ev);
    e->ev.has_type = 1;
    e->ev.type = (Perfetto__Protos__TrackEvent__Type)type;
    e->ev.has_track_uuid = 1;
    e->ev.track_uuid = track;
    e->ev.debug_annotations = e->ann_p;
    perfetto__protos__interned_data__init(&e->in);
    e->in.event_names = &e->name_p;
    e->in.event_categories = &e->cat_p;
    e->in.debug_annotation_names = e->key_p;
}

static void ev_name(scry__perfetto_t *p, ev_t *e, const char *s)
{
    int fresh;
    uint64_t iid = intern(p, &p->names, s, &fresh);
    if (!iid) {
        e->ev.name_field_case = PERFETTO__PROTOS__TRACK_EVENT__NAME_FIELD_NAME;
        e->ev.name = (char *)s;
        return;
    }
    e->ev.name_field_case = PERFETTO__PROTOS__TRACK_EVENT__NAME_FIELD_NAME_IID;
    e->ev.name_iid = iid;
    if (!fresh) return;
    perfetto__protos__event_name__init(&e->name);
    e->name.has_iid = 1;
    e->name.iid = iid;
    e->name.name = (char *)s;
    e->name_p = &e->name;
    e->in.n_event_names = 1;
}

static void ev_cat(scry__perfetto_t *p, ev_t *e, const char *s)
{
    int fresh;
    uint64_t iid = intern(p, &p->cats, s, &fresh);
    if (!iid) {
        e->cat_str = (char *)s;
        e->ev.categories = &e->cat_str;
        e->ev.n_categories = 1;
        return;
    }
    e->cat_iid = iid;
    e->ev.category_iids = &e->cat_iid;
    e->ev.n_category_iids = 1;
    if (!fresh) return;
    perfetto__protos__event_category__init(&e->cat);
    e->cat.has_iid = 1;
    e->cat.iid = iid;
    e->cat.name = (char *)s;
    e->cat_p = &e->cat;
    e->in.n_event_categories = 1;
}

static Annotation *ev_ann(scry__perfetto_t *p, ev_t *e, const char *key)
{
    if (e->ev.n_debug_annotations >= MAX_ANN) return NULL;
    Annotation *a = &e->ann[e->ev.n_debug_annotations];
    e->ann_p[e->ev.n_debug_annotations++] = a;
    perfetto__protos__debug_annotation__init(a);
    int fresh;
    uint64_t iid = intern(p, &p->keys, key, &fresh);
    if (!iid) {
        a->name_field_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__NAME_FIELD_NAME;
        a->name = (char *)key;
        return a;
    }
    a->name_field_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__NAME_FIELD_NAME_IID;
    a->name_iid = iid;
    if (fresh) {
        Perfetto__Protos__DebugAnnotationName *k = &e->key[e->in.n_debug_annotation_names];
        perfetto__protos__debug_annotation_name__init(k);
        k->has_iid = 1;
        k->iid = iid;
        k->name = (char *)key;
        e->key_p[e->in.n_debug_annotation_names++] = k;
    }
    return a;
}

static void ann_uint(scry__perfetto_t *p, ev_t *e, const char *key, uint64_t v)
{
    Annotation *a = ev_ann(p, e, key);
    if (!a) return;
    a->value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_UINT_VALUE;
    a->uint_value = v;
}

static void ann_int(scry__perfetto_t *p, ev_t *e, const char *key, int64_t v)
{
    Annotation *a = ev_ann(p, e, key);
    if (!a) return;
    a->value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_INT_VALUE;
    a->int_value = v;
}

static void ann_ptr(scry__perfetto_t *p, ev_t *e, const char *key, uint64_t v)
{
    Annotation *a = ev_ann(p, e, key);
    if (!a) return;
    a->value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_POINTER_VALUE;
    a->pointer_value = v;
}

static void ann_str(scry__perfetto_t *p, ev_t *e, const char *key, const char *v)
{
    Annotation *a = ev_ann(p, e, key);
    if (!a) return;
    a->value_case = PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_STRING_VALUE;
    a->string_value = (char *)v;
}

/* flow_ids = [flow] (terminating: terminating_flow_ids). */
static void ev_flow(ev_t *e, uint64_t flow, int terminating)
{
    e->flow = flow;
    if (terminating) {
        e->ev.terminating_flow_ids = &e->flow;
        e->ev.n_terminating_flow_ids = 1;
    } else {
        e->ev.flow_ids = &e->flow;
        e->ev.n_flow_ids = 1;
    }
}

static void ev_emit(scry__perfetto_t *p, ev_t *e)
{
    if (e->in.n_event_names || e->in.n_event_categories || e->in.n_debug_annotation_names)
        e->pkt.interned_data = &e->in;
    put_packet(p, &e->pkt);
}

/* A SLICE_END on track at ts, nothing else. */
static void put_end(scry__perfetto_t *p, uint64_t track, int64_t ts)
{
    ev_t e;
    ev_init(p, &e, T_END, track, ts);
    ev_emit(p, &e);
}

/* ---- stacks ---- */

static void sym_cache_clear(scry__perfetto_t *p)
{
    for (size_t i = 0; i < p->sym_cache.cap; i++)
        free(p->sym_cache.vals[i]);
    map_free(&p->sym_cache);
}

static int dl_counts(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1; /* the same in every entry */
}

/* Lets go of the symbolizer (at every flush, so the writer does not keep
 * it between batches). The names found stay cached, strdup'd, since the
 * writer meets the same addresses batch after batch; they are forgotten
 * when a library was loaded or unloaded since (an address may now be
 * another function's). */
static void sym_release(scry__perfetto_t *p)
{
    if (p->sym) scry__symbolizer_release(p->sym);
    p->sym = NULL;
    p->sym_tried = 0;
    unsigned long long c[2] = {0, 0};
    dl_iterate_phdr(dl_counts, c);
    if (c[0] != p->dl_adds || c[1] != p->dl_subs) {
        sym_cache_clear(p);
        p->dl_adds = c[0];
        p->dl_subs = c[1];
    }
}

/* The names at addr, innermost inlined function first, '\n'-joined; "0x..."
 * when unknown. NULL when out of memory. */
static const char *sym_names(scry__perfetto_t *p, uint64_t addr)
{
    char *s = map_get(&p->sym_cache, addr);
    if (s) return s;
    if (!p->sym && !p->sym_tried) {
        p->sym_tried = 1;
        p->sym = scry__symbolizer_acquire();
    }
    scry__frame_t fr[MAX_INLINE];
    int n = p->sym ? scry__symbolize(p->sym, (uintptr_t)addr, fr, MAX_INLINE) : 0;
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += strlen(fr[i].name ? fr[i].name : "?") + 1;
    if (!n) len = 20;
    if (!(s = malloc(len))) return NULL;
    if (!n) {
        snprintf(s, len, "0x%" PRIx64, addr);
    } else {
        char *o = s;
        for (int i = 0; i < n; i++) {
            const char *nm = fr[i].name ? fr[i].name : "?";
            size_t l = strlen(nm);
            memcpy(o, nm, l);
            o[l] = i + 1 < n ? '\n' : '\0';
            o += l + 1;
        }
    }
    if (p->sym_cache.n >= SYM_CACHE) { /* full: start over */
        sym_cache_clear(p);
    }
    if (map_put(&p->sym_cache, addr, s)) {
        free(s);
        return NULL;
    }
    return s;
}

static int sb_add(scry__perfetto_t *p, const char *s, size_t n)
{
    if (p->sblen + n + 1 > p->sbcap) {
        size_t cap = p->sbcap ? p->sbcap : 1024;
        while (cap < p->sblen + n + 1)
            cap *= 2;
        char *b = realloc(p->sb, cap);
        if (!b) return -1;
        p->sb = b;
        p->sbcap = cap;
    }
    memcpy(p->sb + p->sblen, s, n);
    p->sblen += n;
    p->sb[p->sblen] = '\0';
    return 0;
}

/* frames[0..n), leaf first, as at most STACK_NAMES function names, one per
 * line, in the arena; *leaf (if not NULL): the first name. NULL when there
 * is nothing or memory is short. */
static const char *stack_text(scry__perfetto_t *p, const uint64_t *frames, uint32_t n,
                              const char **leaf)
{
    p->sblen = 0;
    int lines = 0;
    size_t leaf_len = 0;
    for (uint32_t i = 0; i < n && lines < STACK_NAMES; i++) {
        const char *s = sym_names(p, frames[i]);
        if (!s) break;
        while (*s && lines < STACK_NAMES) {
            size_t l = strcspn(s, "\n");
            if ((lines && sb_add(p, "\n", 1)) || sb_add(p, s, l)) return NULL;
            if (!lines) leaf_len = l;
            lines++;
            s += l + (s[l] == '\n');
        }
    }
    if (!lines) return NULL;
    if (leaf) *leaf = arena_strndup(p, p->sb, leaf_len);
    return arena_strndup(p, p->sb, p->sblen);
}

/* ---- threads, tasks, regions ---- */

static thread_t *thread_get(scry__perfetto_t *p, pid_t tid)
{
    thread_t *t = map_get(&p->threads, (uint32_t)tid);
    if (t) return t;
    if (p->threads.n >= MAX_THREADS || !(t = calloc(1, sizeof *t))) return NULL;
    t->tid = tid;
    if (map_put(&p->threads, (uint32_t)tid, t)) {
        free(t);
        return NULL;
    }
    return t;
}

/* The thread, described in this generation; NULL (counted as a drop) when
 * it cannot be kept. */
static thread_t *thread_track(scry__perfetto_t *p, pid_t tid, int64_t ts)
{
    thread_t *t = thread_get(p, tid);
    if (!t)
        p->dropped++;
    else if (t->described != p->gen)
        describe_thread(p, t, ts);
    return t;
}

static void thread_free(thread_t *t)
{
    for (uint32_t i = 0; i < t->nregions; i++)
        free(t->regions[i].type);
    free(t->regions);
    free(t->name);
    free(t);
}

static void task_free(task_t *k)
{
    free(k->type);
    free(k);
}

static void begin_region(scry__perfetto_t *p, thread_t *t, const region_t *r, int64_t ts)
{
    ev_t e;
    ev_init(p, &e, T_BEGIN, THREAD_UUID(t->tid), ts);
    ev_cat(p, &e, "region");
    ev_name(p, &e, r->type);
    if (r->task) ann_uint(p, &e, "task_id", r->task);
    ev_emit(p, &e);
}

static void begin_task(scry__perfetto_t *p, task_t *k, int64_t ts)
{
    describe_task(p, k, ts);
    ev_t e;
    ev_init(p, &e, T_BEGIN, TASK_UUID(k->id), ts);
    ev_cat(p, &e, "task");
    ev_name(p, &e, k->type);
    ann_uint(p, &e, "task_id", k->id);
    if (k->parent) ann_uint(p, &e, "parent_task_id", k->parent);
    /* The W3C forms, as a tracing backend shows them: a trace found there
     * is found here by the same text. */
    char trace_hex[33], span_hex[17];
    if (k->span_id) {
        static const char digits[] = "0123456789abcdef";
        for (int i = 0; i < 16; i++) {
            trace_hex[2 * i] = digits[k->trace_id[i] >> 4];
            trace_hex[2 * i + 1] = digits[k->trace_id[i] & 15];
        }
        trace_hex[32] = 0;
        for (int i = 15; i >= 0; i--) span_hex[15 - i] = digits[(k->span_id >> (4 * i)) & 15];
        span_hex[16] = 0;
        ann_str(p, &e, "trace_id", trace_hex);
        ann_str(p, &e, "span_id", span_hex);
    }
    ev_emit(p, &e);
}

/* Ends every open region (innermost first) and task at ts; they stay
 * remembered. */
static void end_all(scry__perfetto_t *p, int64_t ts)
{
    for (size_t i = 0; i < p->threads.cap; i++) {
        thread_t *t = p->threads.vals[i];
        if (!t || !t->nregions) continue;
        for (uint32_t j = t->nregions; j-- > 0;)
            put_end(p, THREAD_UUID(t->tid), ts);
    }
    for (size_t i = 0; i < p->tasks.cap; i++) {
        task_t *k = p->tasks.vals[i];
        if (k) put_end(p, TASK_UUID(k->id), ts);
    }
}

/* Forgets every open region and task. */
static void forget_all(scry__perfetto_t *p)
{
    for (size_t i = 0; i < p->threads.cap; i++) {
        thread_t *t = p->threads.vals[i];
        if (!t) continue;
        for (uint32_t j = 0; j < t->nregions; j++)
            free(t->regions[j].type);
        t->nregions = t->overflow = 0;
    }
    for (size_t i = 0; i < p->tasks.cap; i++)
        if (p->tasks.vals[i]) task_free(p->tasks.vals[i]);
    map_free(&p->tasks);
}

/* ---- records ---- */

/* Header and fixed part of each type: a record shorter is skipped. */
static const uint16_t min_size[SCRY__TR_COUNT] = {
    [SCRY__TR_PAD] = sizeof(scry__trec_t),
    [SCRY__TR_THREAD_START] = sizeof(scry__tr_thread_t),
    [SCRY__TR_THREAD_NAME] = sizeof(scry__tr_thread_t),
    [SCRY__TR_THREAD_END] = sizeof(scry__tr_thread_t),
    [SCRY__TR_TASK_BEGIN] = sizeof(scry__tr_task_t),
    [SCRY__TR_TASK_END] = sizeof(scry__tr_task_t),
    [SCRY__TR_REGION_BEGIN] = sizeof(scry__tr_region_t),
    [SCRY__TR_REGION_END] = sizeof(scry__tr_region_t),
    [SCRY__TR_LOG] = sizeof(scry__tr_log_t),
    [SCRY__TR_WAIT] = sizeof(scry__tr_wait_t),
    [SCRY__TR_WAKE] = sizeof(scry__tr_wake_t),
    [SCRY__TR_SYSCALL] = sizeof(scry__tr_syscall_t),
    [SCRY__TR_SAMPLE] = sizeof(scry__tr_frames_t),
    [SCRY__TR_ALLOC] = sizeof(scry__tr_alloc_t),
    [SCRY__TR_DROPPED] = sizeof(scry__tr_dropped_t),
};

const char *scry__trace_syscall_name(int kind)
{
    static const char *const names[SCRY__TS_COUNT] = {
        [SCRY__TS_READ] = "read",   [SCRY__TS_WRITE] = "write",   [SCRY__TS_RECV] = "recv",
        [SCRY__TS_SEND] = "send",   [SCRY__TS_ACCEPT] = "accept", [SCRY__TS_CONNECT] = "connect",
        [SCRY__TS_SLEEP] = "sleep", [SCRY__TS_POLL] = "poll",     [SCRY__TS_SIGWAIT] = "sigwait",
    };
    return kind >= 0 && kind < SCRY__TS_COUNT ? names[kind] : "syscall";
}

const char *scry__trace_wake_name(int kind)
{
    static const char *const names[SCRY__TK_COUNT] = {
        [SCRY__TK_UNLOCK] = "unlock",
        [SCRY__TK_SIGNAL] = "cond signal",
        [SCRY__TK_BROADCAST] = "cond broadcast",
        [SCRY__TK_POST] = "sem post",
    };
    return kind >= 0 && kind < SCRY__TK_COUNT ? names[kind] : "wake";
}

/* Frames a record with `fixed` bytes before its frames[] may hold: aux, if
 * the record is that long. */
static uint32_t nframes(const scry__trec_t *rec, size_t fixed)
{
    size_t room = (rec->size - fixed) / sizeof(uint64_t);
    return rec->aux < room ? rec->aux : (uint32_t)room;
}

static void on_thread(scry__perfetto_t *p, pid_t tid, const scry__tr_thread_t *r, int64_t ts)
{
    if (r->h.type == SCRY__TR_THREAD_END) {
        thread_t *t = thread_track(p, tid, ts);
        if (!t) return;
        ev_t e;
        ev_init(p, &e, T_INSTANT, THREAD_UUID(tid), ts);
        ev_cat(p, &e, "thread");
        ev_name(p, &e, "thread end");
        ev_emit(p, &e);
        /* A thread that ends inside regions ends them. */
        for (uint32_t j = t->nregions; j-- > 0;)
            put_end(p, THREAD_UUID(tid), ts);
        map_del(&p->threads, (uint32_t)tid);
        thread_free(t);
        return;
    }
    /* A thread may rename another: the record names its subject. */
    thread_t *t = thread_get(p, r->tid > 0 ? r->tid : tid);
    if (!t) {
        p->dropped++;
        return;
    }
    const char *name = rec_str(p, r->name, r->h.aux, r->h.size - offsetof(scry__tr_thread_t, name));
    char *copy = *name ? strdup(name) : NULL; /* "": no name */
    if (copy || !*name) {
        free(t->name);
        t->name = copy;
    }
    describe_thread(p, t, ts);
}

static void on_task(scry__perfetto_t *p, const scry__tr_task_t *r, int64_t ts)
{
    if (r->h.type == SCRY__TR_TASK_END) {
        task_t *k = map_del(&p->tasks, r->id);
        if (!k) {
            /* Its begin may still come: another thread's buffer, drained
             * after this one's. */
            int64_t *at = p->early.n < MAX_TASKS ? malloc(sizeof *at) : NULL;
            if (at) {
                *at = ts;
                if (map_get(&p->early, r->id) || map_put(&p->early, r->id, at)) free(at);
            }
            return;
        }
        describe_task(p, k, ts);
        put_end(p, TASK_UUID(k->id), ts);
        task_free(k);
        return;
    }
    if (!r->id || map_get(&p->tasks, r->id)) return; /* no id, or begun twice */
    const char *type = rec_str(p, r->type, r->h.aux, r->h.size - offsetof(scry__tr_task_t, type));
    task_t *k = calloc(1, sizeof *k);
    if (p->tasks.n >= MAX_TASKS || !k || !(k->type = strdup(type)) ||
        map_put(&p->tasks, r->id, k)) {
        if (k) free(k->type);
        free(k);
        p->dropped++;
        return;
    }
    k->id = r->id;
    k->parent = r->parent;
    k->span_id = r->span_id;
    memcpy(k->trace_id, r->trace_id, 16);
    begin_task(p, k, ts);
    int64_t *end = map_del(&p->early, r->id);
    if (end) {
        put_end(p, TASK_UUID(k->id), *end > ts ? *end : ts);
        map_del(&p->tasks, r->id);
        task_free(k);
        free(end);
    }
}

static void on_region(scry__perfetto_t *p, pid_t tid, const scry__tr_region_t *r, int64_t ts)
{
    thread_t *t = thread_track(p, tid, ts);
    if (!t) return;
    if (r->h.type == SCRY__TR_REGION_END) {
        if (t->overflow) {
            t->overflow--;
        } else if (t->nregions) {
            free(t->regions[--t->nregions].type);
            put_end(p, THREAD_UUID(tid), ts);
        }
        return;
    }
    if (t->nregions >= MAX_DEPTH) {
        t->overflow++;
        p->dropped++;
        return;
    }
    if (t->nregions == t->capregions) {
        uint32_t cap = t->capregions ? t->capregions * 2 : 8;
        region_t *v = realloc(t->regions, cap * sizeof *v);
        if (!v) {
            t->overflow++;
            p->dropped++;
            return;
        }
        t->regions = v;
        t->capregions = cap;
    }
    const char *type = rec_str(p, r->type, r->h.aux, r->h.size - offsetof(scry__tr_region_t, type));
    region_t *g = &t->regions[t->nregions];
    if (!(g->type = strdup(type))) {
        t->overflow++;
        p->dropped++;
        return;
    }
    g->task = r->task;
    t->nregions++;
    begin_region(p, t, g, ts);
}

static void on_log(scry__perfetto_t *p, pid_t tid, const scry__tr_log_t *r, int64_t ts)
{
    if (!thread_track(p, tid, ts)) return;
    size_t avail = r->h.size - offsetof(scry__tr_log_t, text);
    const char *cat = rec_str(p, r->text, r->h.aux, avail);
    const char *msg = "";
    if ((size_t)r->h.aux + 1 < avail)
        msg = rec_str(p, r->text + r->h.aux + 1, r->message_len, avail - r->h.aux - 1);
    ev_t e;
    ev_init(p, &e, T_INSTANT, THREAD_UUID(tid), ts);
    ev_cat(p, &e, "log");
    ev_name(p, &e, cat);
    ann_str(p, &e, "message", msg);
    if (r->task) ann_uint(p, &e, "task_id", r->task);
    ev_emit(p, &e);
}

static void on_wait(scry__perfetto_t *p, pid_t tid, const scry__tr_wait_t *r, int64_t ts,
                    int64_t end)
{
    if (!thread_track(p, tid, ts)) return;
    const char *name = scry__wait_name(r->kind);
    const char *stack = stack_text(p, r->frames, nframes(&r->h, sizeof *r), NULL);
    ev_t e;
    ev_init(p, &e, T_BEGIN, THREAD_UUID(tid), ts);
    ev_cat(p, &e, "lock");
    ev_name(p, &e, *name ? name : "wait");
    ann_ptr(p, &e, "lock", r->obj);
    if (stack) ann_str(p, &e, "stack", stack);
    ev_emit(p, &e);
    ev_init(p, &e, T_END, THREAD_UUID(tid), end > ts ? end : ts);
    if (r->flow) ev_flow(&e, r->flow, 1);
    ev_emit(p, &e);
}

static void on_wake(scry__perfetto_t *p, pid_t tid, const scry__tr_wake_t *r, int64_t ts)
{
    if (!thread_track(p, tid, ts)) return;
    ev_t e;
    ev_init(p, &e, T_INSTANT, THREAD_UUID(tid), ts);
    ev_cat(p, &e, "lock");
    ev_name(p, &e, scry__trace_wake_name(r->kind));
    ann_ptr(p, &e, "lock", r->obj);
    if (r->flow) ev_flow(&e, r->flow, 0);
    ev_emit(p, &e);
}

static void on_syscall(scry__perfetto_t *p, pid_t tid, const scry__tr_syscall_t *r, int64_t ts,
                       int64_t end)
{
    if (!thread_track(p, tid, ts)) return;
    ev_t e;
    ev_init(p, &e, T_BEGIN, THREAD_UUID(tid), ts);
    ev_cat(p, &e, r->kind >= SCRY__TS_SLEEP && r->kind < SCRY__TS_COUNT ? "sleep" : "syscall");
    ev_name(p, &e, scry__trace_syscall_name(r->kind));
    if (r->fd >= 0) ann_int(p, &e, "fd", r->fd);
    ann_int(p, &e, "result", r->result);
    ev_emit(p, &e);
    put_end(p, THREAD_UUID(tid), end > ts ? end : ts);
}

static void on_sample(scry__perfetto_t *p, pid_t tid, const scry__tr_frames_t *r, int64_t ts)
{
    if (!thread_track(p, tid, ts)) return;
    const char *leaf = NULL;
    const char *stack = stack_text(p, r->frames, nframes(&r->h, sizeof *r), &leaf);
    ev_t e;
    ev_init(p, &e, T_INSTANT, THREAD_UUID(tid), ts);
    ev_cat(p, &e, "cpu");
    ev_name(p, &e, "cpu sample");
    if (stack) {
        ann_str(p, &e, "function", leaf ? leaf : "");
        ann_str(p, &e, "stack", stack);
    }
    ev_emit(p, &e);
}

static void on_alloc(scry__perfetto_t *p, pid_t tid, const scry__tr_alloc_t *r, int64_t ts)
{
    if (!thread_track(p, tid, ts)) return;
    const char *stack = stack_text(p, r->frames, nframes(&r->h, sizeof *r), NULL);
    ev_t e;
    ev_init(p, &e, T_INSTANT, THREAD_UUID(tid), ts);
    ev_cat(p, &e, "alloc");
    ev_name(p, &e, "malloc");
    ann_uint(p, &e, "size", r->size);
    ann_ptr(p, &e, "address", r->addr);
    if (stack) ann_str(p, &e, "stack", stack);
    ev_emit(p, &e);
}

static void on_dropped(scry__perfetto_t *p, pid_t tid, const scry__tr_dropped_t *r, int64_t ts)
{
    p->dropped += r->count;
    if (!thread_track(p, tid, ts)) return;
    ev_t e;
    ev_init(p, &e, T_INSTANT, THREAD_UUID(tid), ts);
    ev_cat(p, &e, "scry");
    ev_name(p, &e, "dropped events");
    ann_uint(p, &e, "count", r->count);
    ev_emit(p, &e);
}

void scry__perfetto_record(scry__perfetto_t *p, pid_t tid, const scry__trec_t *rec, int64_t ts_ns,
                           int64_t end_ns)
{
    if (!p || !rec || rec->type >= SCRY__TR_COUNT || rec->type == SCRY__TR_PAD ||
        rec->size < min_size[rec->type] || rec->size % 8)
        return;
    if (ts_ns < 0) ts_ns = 0;
    if (p->suspended) scry__perfetto_begin_generation(p, ts_ns);
    /* A record stamped before the generation began (its thread read the
     * clock before the boundary and committed after the writer's drain)
     * is moved to the boundary: the slices still open there were ended and
     * begun again at it, and the new generation must nest after them. */
    if (ts_ns < p->floor_ns) ts_ns = p->floor_ns;
    if (end_ns && end_ns < ts_ns) end_ns = ts_ns;
    switch (rec->type) {
    case SCRY__TR_THREAD_START:
    case SCRY__TR_THREAD_NAME:
    case SCRY__TR_THREAD_END:
        on_thread(p, tid, (const scry__tr_thread_t *)rec, ts_ns);
        break;
    case SCRY__TR_TASK_BEGIN:
    case SCRY__TR_TASK_END:
        on_task(p, (const scry__tr_task_t *)rec, ts_ns);
        break;
    case SCRY__TR_REGION_BEGIN:
    case SCRY__TR_REGION_END:
        on_region(p, tid, (const scry__tr_region_t *)rec, ts_ns);
        break;
    case SCRY__TR_LOG:
        on_log(p, tid, (const scry__tr_log_t *)rec, ts_ns);
        break;
    case SCRY__TR_WAIT:
        on_wait(p, tid, (const scry__tr_wait_t *)rec, ts_ns, end_ns);
        break;
    case SCRY__TR_WAKE:
        on_wake(p, tid, (const scry__tr_wake_t *)rec, ts_ns);
        break;
    case SCRY__TR_SYSCALL:
        on_syscall(p, tid, (const scry__tr_syscall_t *)rec, ts_ns, end_ns);
        break;
    case SCRY__TR_SAMPLE:
        on_sample(p, tid, (const scry__tr_frames_t *)rec, ts_ns);
        break;
    case SCRY__TR_ALLOC:
        on_alloc(p, tid, (const scry__tr_alloc_t *)rec, ts_ns);
        break;
    case SCRY__TR_DROPPED:
        on_dropped(p, tid, (const scry__tr_dropped_t *)rec, ts_ns);
        break;
    }
    arena_reset(p);
}

/* ---- life cycle ---- */

scry__perfetto_t *scry__perfetto_new(scry__perfetto_sink_fn sink, void *ctx, pid_t pid,
                                     const char *process_name)
{
    scry__perfetto_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->sink = sink;
    p->ctx = ctx;
    p->pid = pid;
    p->buf = malloc(BUF_SIZE);
    p->process_name = strdup(process_name ? process_name : "");
    if (!p->buf || !p->process_name) {
        free(p->buf);
        free(p->process_name);
        free(p);
        return NULL;
    }
    p->gen = 1;
    p->first = 1;
    return p;
}

void scry__perfetto_free(scry__perfetto_t *p)
{
    if (!p) return;
    sym_release(p);
    sym_cache_clear(p);
    for (size_t i = 0; i < p->threads.cap; i++)
        if (p->threads.vals[i]) thread_free(p->threads.vals[i]);
    map_free(&p->threads);
    for (size_t i = 0; i < p->tasks.cap; i++)
        if (p->tasks.vals[i]) task_free(p->tasks.vals[i]);
    map_free(&p->tasks);
    for (size_t i = 0; i < p->early.cap; i++) free(p->early.vals[i]);
    map_free(&p->early);
    intern_free(&p->names);
    intern_free(&p->cats);
    intern_free(&p->keys);
    while (p->arena) {
        block_t *n = p->arena->next;
        free(p->arena);
        p->arena = n;
    }
    free(p->sb);
    free(p->buf);
    free(p->process_name);
    free(p);
}

void scry__perfetto_end_generation(scry__perfetto_t *p, int64_t ts_ns)
{
    if (!p) return;
    if (!p->suspended) {
        if (ts_ns < 0) ts_ns = 0;
        end_all(p, ts_ns);
        if (p->gen_started) put_clocks(p, 0);
        p->suspended = 1;
    }
    scry__perfetto_flush(p);
}

void scry__perfetto_begin_generation(scry__perfetto_t *p, int64_t ts_ns)
{
    if (!p) return;
    if (!p->suspended) scry__perfetto_end_generation(p, ts_ns);
    if (ts_ns < 0) ts_ns = 0;
    p->suspended = 0;
    p->gen++;
    p->gen_started = 0;
    p->floor_ns = ts_ns;
    for (size_t i = 0; i < p->tasks.cap; i++)
        if (p->tasks.vals[i]) begin_task(p, p->tasks.vals[i], ts_ns);
    for (size_t i = 0; i < p->threads.cap; i++) {
        thread_t *t = p->threads.vals[i];
        if (!t || !t->nregions) continue;
        describe_thread(p, t, ts_ns);
        for (uint32_t j = 0; j < t->nregions; j++)
            begin_region(p, t, &t->regions[j], ts_ns);
    }
    arena_reset(p);
}

void scry__perfetto_finish(scry__perfetto_t *p, int64_t ts_ns)
{
    if (!p) return;
    if (ts_ns < 0) ts_ns = 0;
    /* After end_generation everything open is ended already, and the sink
     * may expect a new generation that never comes: write nothing. */
    if (!p->suspended) {
        gen_start(p, ts_ns);
        end_all(p, ts_ns);
        put_clocks(p, 0);
    }
    forget_all(p);
    arena_reset(p);
    scry__perfetto_flush(p);
}

void scry__perfetto_flush(scry__perfetto_t *p)
{
    if (!p) return;
    send_buf(p);
    sym_release(p);
}

uint64_t scry__perfetto_dropped(const scry__perfetto_t *p)
{
    return p ? p->dropped : 0;
}

int scry__perfetto_failed(const scry__perfetto_t *p)
{
    return p ? p->failed : 0;
}
