/*
 * trace.c - `scry trace`: a runtime trace summarized as text, for a person
 * with no trace viewer at hand, or with numbers to check: where each
 * thread's time went, how long regions and tasks took, which locks made
 * threads wait, and what was logged.
 *
 * The input is what format/perfetto.c writes (any Perfetto TrackEvent
 * trace reads the same way): a Trace message, which is a run of packets,
 * each field 1 of the Trace. The file is walked packet by packet, each one
 * unpacked on its own by protobuf-c, so a truncated file is told from one
 * that is not a trace at all, and memory stays one packet deep whatever
 * the file's size (the file itself is read whole).
 *
 * How the packets are read, as Perfetto's trace processor reads them:
 *   - names, categories and debug annotation names may be interned: an iid
 *     in the event, its string in the InternedData of this or an earlier
 *     packet of the same sequence (trusted_packet_sequence_id). A packet
 *     flagged SEQ_INCREMENTAL_STATE_CLEARED forgets the sequence's strings;
 *     the flight recorder starts every generation that way.
 *   - a TrackDescriptor names a track: a thread (ThreadDescriptor, written
 *     again when the thread is renamed), the process, or a task (named
 *     "task <type> <id>", one track per task).
 *   - SLICE_BEGIN and SLICE_END pair on their track, innermost first (an
 *     END carries no name: it ends the track's latest open slice). An END
 *     with nothing open is ignored; a slice still open when the trace ends
 *     is ended at the trace's last timestamp and counted as open.
 *   - the flight recorder ends every open region and task at a generation
 *     boundary and begins them again, at the same timestamp, after the
 *     state is cleared (perfetto.h). Such an end and begin again are joined
 *     here into the one slice they were, so that a region is counted once.
 *
 * What the slices mean (format/perfetto.c): category "region" and "task"
 * are the program's own annotations; "lock" slices are waits (named
 * "mutex wait", "cond wait", ...; annotation "lock" is the object's
 * address); "syscall" and "sleep" slices are blocking calls and sleeps or
 * polls. A thread's time splits into those three and the rest, "running or
 * runnable"; slices of those categories cannot nest (a thread waits in
 * one thing at a time), but if a trace nests them only the outermost
 * counts. Waits are split in two tables: mutexes and rwlocks ("contended
 * locks"), and everything else a thread waits on (condition variables,
 * semaphores, joins, barriers), which is waiting for work or for another
 * thread rather than contention, and would otherwise fill the first table
 * with every pthread_join of the program.
 *
 * Bounded by the input: tables grow with the distinct tracks, names and
 * lock addresses in the file, and the durations kept for percentiles with
 * the number of regions and tasks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "perfetto_trace.pb-c.h"

#define DEFAULT_ROWS 10

static const char usage[] =
    "usage: scry trace [-n N] FILE\n"
    "\n"
    "Summarizes a runtime trace (written by scry run --trace, SCRY_TRACE,\n"
    "scry_trace_start or the flight recorder; open the same file at\n"
    "https://ui.perfetto.dev to see it on a timeline):\n"
    "  - the trace's duration, threads, events and dropped events;\n"
    "  - per thread, its time blocked on locks, in system calls, sleeping or\n"
    "    polling, and the rest (running or runnable);\n"
    "  - regions and tasks by type: count, total, p50, p90, p99, max;\n"
    "  - the most contended locks and other waits, by object address;\n"
    "  - log messages by category.\n"
    "\n"
    "  -n N        rows per table (default 10; 0 shows all)\n"
    "  -h, --help  this text\n"
    "\n"
    "Times are shown in ns, us, ms or s.\n";

#define bad(...) scry_cli_usage_error("trace", usage, __VA_ARGS__)

typedef Perfetto__Protos__TracePacket Packet;
typedef Perfetto__Protos__TrackEvent Event;

enum {
    F_CLEARED = PERFETTO__PROTOS__TRACE_PACKET__SEQUENCE_FLAGS__SEQ_INCREMENTAL_STATE_CLEARED,
    T_BEGIN = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN,
    T_END = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END,
    T_INSTANT = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT,
};

/* ---- Memory ------------------------------------------------------------ */

/* Out of memory ends the command: it is a reader, with nothing to save. */
static void *xrealloc(void *p, size_t n)
{
    void *r = realloc(p, n ? n : 1);
    if (!r) {
        fputs("scry: out of memory reading the trace\n", stderr);
        exit(1);
    }
    return r;
}

static void *xcalloc(size_t n, size_t size)
{
    void *r = calloc(n ? n : 1, size);
    if (!r) {
        fputs("scry: out of memory reading the trace\n", stderr);
        exit(1);
    }
    return r;
}

/* Grows *v (of *cap elements of size) to hold at least n. */
static void grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap) return;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < n)
        c *= 2;
    *v = xrealloc(*v, c * size);
    *cap = c;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* A u64 -> u64 map, open addressing; a value of 0 means "absent". */
typedef struct {
    uint64_t *keys, *vals;
    size_t n, cap;
} map_t;

static uint64_t map_get(const map_t *m, uint64_t key)
{
    if (!m->cap) return 0;
    for (size_t j = mix(key) & (m->cap - 1); m->vals[j]; j = (j + 1) & (m->cap - 1))
        if (m->keys[j] == key) return m->vals[j];
    return 0;
}

/* Sets key to val (not 0), replacing what it had. */
static void map_set(map_t *m, uint64_t key, uint64_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        uint64_t *k = xcalloc(cap, sizeof *k), *v = xcalloc(cap, sizeof *v);
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
    while (m->vals[j] && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    if (!m->vals[j]) m->n++;
    m->keys[j] = key;
    m->vals[j] = val;
}

static void map_clear(map_t *m)
{
    if (m->cap) memset(m->vals, 0, m->cap * sizeof *m->vals);
    m->n = 0;
}

static void map_free(map_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Every string the summary keeps, once: equal names are one pointer, so the
 * tables below key on the pointer. Lives as long as the command. */
typedef struct {
    char **v;
    size_t n, cap;
} pool_t;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static const char *pool_str(pool_t *p, const char *s)
{
    if (!s) s = "";
    if ((p->n + 1) * 2 > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        char **v = xcalloc(cap, sizeof *v);
        for (size_t i = 0; i < p->cap; i++) {
            if (!p->v[i]) continue;
            size_t j = hash_str(p->v[i]) & (cap - 1);
            while (v[j])
                j = (j + 1) & (cap - 1);
            v[j] = p->v[i];
        }
        free(p->v);
        p->v = v;
        p->cap = cap;
    }
    size_t j = hash_str(s) & (p->cap - 1);
    for (; p->v[j]; j = (j + 1) & (p->cap - 1))
        if (!strcmp(p->v[j], s)) return p->v[j];
    size_t n = strlen(s) + 1;
    p->v[j] = xrealloc(NULL, n);
    memcpy(p->v[j], s, n);
    p->n++;
    return p->v[j];
}

static void pool_free(pool_t *p)
{
    for (size_t i = 0; i < p->cap; i++)
        free(p->v[i]);
    free(p->v);
}

/* ---- The model --------------------------------------------------------- */

/* One packet sequence's interned strings: iid -> pooled string. */
typedef struct {
    uint32_t id;
    map_t names, cats, keys;
} seq_t;

/* Durations of one region or task type. */
typedef struct {
    const char *name;
    int64_t *d;
    size_t n, cap;
    int64_t total;
    size_t open;
} durs_t;

/* Waits on one object. */
#define MAX_KINDS 4
typedef struct {
    uint64_t addr;
    int lock; /* a mutex or rwlock: contention */
    uint64_t waits;
    int64_t total, max;
    const char *kinds[MAX_KINDS];
    int nkinds;
} obj_t;

typedef struct {
    const char *name;
    uint64_t count;
} counter_t;

/* One thread's life in the trace (a tid that ends and comes back, reused,
 * is a second one). */
typedef struct {
    int32_t tid;
    const char *name;
    int64_t first, last, end;
    int ended;
    int64_t lock, sys, sleep; /* ns */
} thread_t;

enum { B_NONE = 0, B_LOCK, B_SYS, B_SLEEP };

typedef struct {
    const char *name, *cat;
    int64_t ts, end;
    uint64_t gen_end; /* state clears seen when it ended (pending only) */
    uint64_t lock;    /* "lock" annotation */
    int has_lock;
    int blocking; /* B_* */
} slice_t;

typedef struct {
    uint64_t uuid;
    int is_thread;
    int32_t tid;
    const char *name; /* the thread's latest name, from its descriptor */
    long thread;      /* index in threads, -1: none yet */
    slice_t *open;    /* outermost first */
    size_t nopen, capopen;
    slice_t *pending; /* ended, not counted yet: may be begun again (above) */
    size_t npending, cappending;
} track_t;

typedef struct {
    pool_t pool;
    seq_t *seqs;
    size_t nseqs, capseqs;
    uint64_t clears; /* SEQ_INCREMENTAL_STATE_CLEARED packets so far */

    track_t **tracks;
    size_t ntracks, captracks;
    map_t track_index; /* uuid -> index + 1 */

    thread_t *threads;
    size_t nthreads, capthreads;

    durs_t *regions, *tasks;
    size_t nregions, capregions, ntasks, captasks;
    map_t region_index, task_index; /* pooled name -> index + 1 */

    obj_t *objs;
    size_t nobjs, capobjs;
    map_t obj_index; /* address -> index + 1 */

    counter_t *logs, *cats;
    size_t nlogs, caplogs, ncats, capcats;
    map_t log_index, cat_index;

    uint64_t events, dropped;
    int64_t first, last;
    int any;
} model_t;

static seq_t *seq_of(model_t *m, uint32_t id)
{
    for (size_t i = 0; i < m->nseqs; i++)
        if (m->seqs[i].id == id) return &m->seqs[i];
    grow((void **)&m->seqs, &m->capseqs, m->nseqs + 1, sizeof *m->seqs);
    seq_t *q = &m->seqs[m->nseqs++];
    memset(q, 0, sizeof *q);
    q->id = id;
    return q;
}

static track_t *track_of(model_t *m, uint64_t uuid)
{
    uint64_t i = map_get(&m->track_index, uuid);
    if (i) return m->tracks[i - 1];
    grow((void **)&m->tracks, &m->captracks, m->ntracks + 1, sizeof *m->tracks);
    track_t *t = xcalloc(1, sizeof *t);
    t->uuid = uuid;
    t->thread = -1;
    m->tracks[m->ntracks++] = t;
    map_set(&m->track_index, uuid, m->ntracks);
    return t;
}

static durs_t *durs_of(durs_t **v, size_t *n, size_t *cap, map_t *index, const char *name)
{
    uint64_t i = map_get(index, (uintptr_t)name);
    if (i) return &(*v)[i - 1];
    grow((void **)v, cap, *n + 1, sizeof **v);
    durs_t *d = &(*v)[(*n)++];
    memset(d, 0, sizeof *d);
    d->name = name;
    map_set(index, (uintptr_t)name, *n);
    return d;
}

static void count(counter_t **v, size_t *n, size_t *cap, map_t *index, const char *name)
{
    uint64_t i = map_get(index, (uintptr_t)name);
    if (!i) {
        grow((void **)v, cap, *n + 1, sizeof **v);
        (*v)[*n] = (counter_t){name, 0};
        i = ++*n;
        map_set(index, (uintptr_t)name, i);
    }
    (*v)[i - 1].count++;
}

/* The track's current thread, begun anew after a thread end (a reused
 * tid) by anything but a slice end (the encoder ends a thread's open
 * regions just after its "thread end" instant). */
static thread_t *thread_of(model_t *m, track_t *t, int type, int64_t ts)
{
    if (!t->is_thread) return NULL;
    if (t->thread >= 0 && !(m->threads[t->thread].ended && type != T_END))
        return &m->threads[t->thread];
    grow((void **)&m->threads, &m->capthreads, m->nthreads + 1, sizeof *m->threads);
    thread_t *th = &m->threads[m->nthreads];
    memset(th, 0, sizeof *th);
    th->tid = t->tid;
    th->name = t->name;
    th->first = th->last = ts;
    t->thread = (long)m->nthreads++;
    return th;
}

/* ---- Counting a slice -------------------------------------------------- */

static void add_dur(durs_t *d, int64_t dur, int open)
{
    grow((void **)&d->d, &d->cap, d->n + 1, sizeof *d->d);
    d->d[d->n++] = dur;
    d->total += dur;
    if (open) d->open++;
}

/* A wait on s->lock of dur ns. */
static void add_wait(model_t *m, const slice_t *s, int64_t dur)
{
    uint64_t addr = s->has_lock ? s->lock : 0;
    int lock = strstr(s->name, "mutex") || strstr(s->name, "rwlock");
    /* An address waited on both ways (rare) is two rows. */
    uint64_t key = mix(addr) ^ (uint64_t)lock;
    uint64_t i = map_get(&m->obj_index, key);
    while (i && (m->objs[i - 1].addr != addr || m->objs[i - 1].lock != lock))
        i = map_get(&m->obj_index, ++key);
    if (!i) {
        grow((void **)&m->objs, &m->capobjs, m->nobjs + 1, sizeof *m->objs);
        m->objs[m->nobjs] = (obj_t){.addr = addr, .lock = lock};
        i = ++m->nobjs;
        map_set(&m->obj_index, key, i);
    }
    obj_t *o = &m->objs[i - 1];
    o->waits++;
    o->total += dur;
    if (dur > o->max) o->max = dur;
    int k = 0;
    while (k < o->nkinds && o->kinds[k] != s->name)
        k++;
    if (k == o->nkinds && k < MAX_KINDS) o->kinds[o->nkinds++] = s->name;
}

/* s ended at end; open: it never did, the trace did. Blocking slices are
 * counted as they end, the rest once they cannot be begun again. */
static void finish_slice(model_t *m, const slice_t *s, int64_t end, int open)
{
    int64_t dur = end > s->ts ? end - s->ts : 0;
    if (!strcmp(s->cat, "region"))
        add_dur(durs_of(&m->regions, &m->nregions, &m->capregions, &m->region_index, s->name), dur,
                open);
    else if (!strcmp(s->cat, "task"))
        add_dur(durs_of(&m->tasks, &m->ntasks, &m->captasks, &m->task_index, s->name), dur, open);
}

static void flush_pending(model_t *m, track_t *t)
{
    for (size_t i = 0; i < t->npending; i++)
        finish_slice(m, &t->pending[i], t->pending[i].end, 0);
    t->npending = 0;
}

static int blocking_kind(const char *cat)
{
    if (!strcmp(cat, "lock")) return B_LOCK;
    if (!strcmp(cat, "syscall")) return B_SYS;
    if (!strcmp(cat, "sleep")) return B_SLEEP;
    return B_NONE;
}

static void end_slice(model_t *m, track_t *t, thread_t *th, int64_t ts)
{
    if (!t->nopen) return; /* an end with nothing open: ignored */
    slice_t s = t->open[--t->nopen];
    if (ts < s.ts) ts = s.ts;
    if (s.blocking) {
        int64_t dur = ts - s.ts;
        if (s.blocking == B_LOCK) add_wait(m, &s, dur);
        /* Only the outermost of nested blocking slices counts. */
        int nested = 0;
        for (size_t i = 0; i < t->nopen && !nested; i++)
            nested = t->open[i].blocking != B_NONE;
        if (th && !nested) {
            if (s.blocking == B_LOCK) th->lock += dur;
            if (s.blocking == B_SYS) th->sys += dur;
            if (s.blocking == B_SLEEP) th->sleep += dur;
        }
        return;
    }
    s.end = ts;
    s.gen_end = m->clears;
    grow((void **)&t->pending, &t->cappending, t->npending + 1, sizeof *t->pending);
    t->pending[t->npending++] = s;
}

static void begin_slice(model_t *m, track_t *t, const slice_t *s)
{
    /* The latest slice ended at this very time, before the state was
     * cleared, and begins again with the same name: a generation boundary
     * of the flight recorder, not a new slice. */
    if (t->npending) {
        slice_t *p = &t->pending[t->npending - 1];
        if (p->gen_end < m->clears && p->end == s->ts && p->name == s->name && p->cat == s->cat) {
            grow((void **)&t->open, &t->capopen, t->nopen + 1, sizeof *t->open);
            t->open[t->nopen++] = *p;
            t->npending--;
            return;
        }
        flush_pending(m, t);
    }
    grow((void **)&t->open, &t->capopen, t->nopen + 1, sizeof *t->open);
    t->open[t->nopen++] = *s;
}

/* ---- Packets ----------------------------------------------------------- */

/* The string an iid stands for in this sequence's current state; "?" for
 * one never defined (a damaged trace, or one cut from the middle of a
 * sequence). */
static const char *interned(const map_t *map, uint64_t iid)
{
    uint64_t v = map_get(map, iid);
    return v ? (const char *)(uintptr_t)v : "?";
}

static void on_interned(model_t *m, seq_t *q, const Perfetto__Protos__InternedData *in)
{
    for (size_t i = 0; i < in->n_event_names; i++)
        if (in->event_names[i]->has_iid)
            map_set(&q->names, in->event_names[i]->iid,
                    (uintptr_t)pool_str(&m->pool, in->event_names[i]->name));
    for (size_t i = 0; i < in->n_event_categories; i++)
        if (in->event_categories[i]->has_iid)
            map_set(&q->cats, in->event_categories[i]->iid,
                    (uintptr_t)pool_str(&m->pool, in->event_categories[i]->name));
    for (size_t i = 0; i < in->n_debug_annotation_names; i++)
        if (in->debug_annotation_names[i]->has_iid)
            map_set(&q->keys, in->debug_annotation_names[i]->iid,
                    (uintptr_t)pool_str(&m->pool, in->debug_annotation_names[i]->name));
}

static void on_descriptor(model_t *m, const Perfetto__Protos__TrackDescriptor *d)
{
    if (!d->has_uuid) return;
    track_t *t = track_of(m, d->uuid);
    if (!d->thread) return;
    t->is_thread = 1;
    if (d->thread->has_tid) t->tid = d->thread->tid;
    if (d->thread->thread_name) {
        t->name = pool_str(&m->pool, d->thread->thread_name);
        /* A rename names the thread as it is now. */
        if (t->thread >= 0 && !m->threads[t->thread].ended) m->threads[t->thread].name = t->name;
    }
}

static void on_event(model_t *m, seq_t *q, const Packet *pk)
{
    const Event *e = pk->track_event;
    int64_t ts = pk->has_timestamp ? (int64_t)pk->timestamp : m->last;
    int type = e->has_type ? (int)e->type : 0;
    m->events++;
    if (!m->any || ts < m->first) m->first = ts;
    if (!m->any || ts > m->last) m->last = ts;
    m->any = 1;

    track_t *t = track_of(m, e->has_track_uuid ? e->track_uuid : 0);
    thread_t *th = thread_of(m, t, type, ts);
    if (th) {
        if (ts < th->first) th->first = ts;
        if (ts > th->last) th->last = ts;
    }
    if (type == T_END) {
        end_slice(m, t, th, ts);
        return;
    }

    slice_t s = {.ts = ts};
    if (e->name_field_case == PERFETTO__PROTOS__TRACK_EVENT__NAME_FIELD_NAME_IID)
        s.name = interned(&q->names, e->name_iid);
    else if (e->name_field_case == PERFETTO__PROTOS__TRACK_EVENT__NAME_FIELD_NAME)
        s.name = pool_str(&m->pool, e->name);
    else
        s.name = pool_str(&m->pool, "");
    if (e->n_category_iids)
        s.cat = interned(&q->cats, e->category_iids[0]);
    else if (e->n_categories)
        s.cat = pool_str(&m->pool, e->categories[0]);
    else
        s.cat = pool_str(&m->pool, "");
    uint64_t dropped = 0;
    for (size_t i = 0; i < e->n_debug_annotations; i++) {
        const Perfetto__Protos__DebugAnnotation *a = e->debug_annotations[i];
        const char *key = "";
        if (a->name_field_case == PERFETTO__PROTOS__DEBUG_ANNOTATION__NAME_FIELD_NAME_IID)
            key = interned(&q->keys, a->name_iid);
        else if (a->name_field_case == PERFETTO__PROTOS__DEBUG_ANNOTATION__NAME_FIELD_NAME)
            key = a->name;
        uint64_t v = 0;
        int has = 1;
        switch (a->value_case) {
        case PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_POINTER_VALUE:
            v = a->pointer_value;
            break;
        case PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_UINT_VALUE:
            v = a->uint_value;
            break;
        case PERFETTO__PROTOS__DEBUG_ANNOTATION__VALUE_INT_VALUE:
            v = (uint64_t)a->int_value;
            break;
        default:
            has = 0;
        }
        if (!has) continue;
        if (!strcmp(key, "lock")) {
            s.lock = v;
            s.has_lock = 1;
        } else if (!strcmp(key, "count")) {
            dropped = v;
        }
    }
    if (type == T_BEGIN || type == T_INSTANT)
        count(&m->cats, &m->ncats, &m->capcats, &m->cat_index, *s.cat ? s.cat : "(none)");
    if (type == T_BEGIN) {
        s.blocking = blocking_kind(s.cat);
        begin_slice(m, t, &s);
        return;
    }
    if (type != T_INSTANT) return;
    if (!strcmp(s.cat, "log")) {
        count(&m->logs, &m->nlogs, &m->caplogs, &m->log_index, s.name);
    } else if (!strcmp(s.cat, "scry") && !strcmp(s.name, "dropped events")) {
        m->dropped += dropped;
    } else if (th && !strcmp(s.cat, "thread") && !strcmp(s.name, "thread end")) {
        th->ended = 1;
        th->end = ts;
    }
}

static void on_packet(model_t *m, const Packet *pk)
{
    uint32_t id =
        pk->optional_trusted_packet_sequence_id_case ==
                PERFETTO__PROTOS__TRACE_PACKET__OPTIONAL_TRUSTED_PACKET_SEQUENCE_ID_TRUSTED_PACKET_SEQUENCE_ID
            ? pk->trusted_packet_sequence_id
            : 0;
    seq_t *q = seq_of(m, id);
    if ((pk->has_sequence_flags && (pk->sequence_flags & F_CLEARED)) ||
        (pk->has_incremental_state_cleared && pk->incremental_state_cleared)) {
        map_clear(&q->names);
        map_clear(&q->cats);
        map_clear(&q->keys);
        m->clears++;
    }
    if (pk->interned_data) on_interned(m, q, pk->interned_data);
    if (pk->data_case == PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_DESCRIPTOR)
        on_descriptor(m, pk->track_descriptor);
    else if (pk->data_case == PERFETTO__PROTOS__TRACE_PACKET__DATA_TRACK_EVENT)
        on_event(m, q, pk);
}

/* Ends what the trace left open, at its last timestamp. */
static void close_all(model_t *m)
{
    for (size_t i = 0; i < m->ntracks; i++) {
        track_t *t = m->tracks[i];
        flush_pending(m, t);
        thread_t *th = t->thread >= 0 ? &m->threads[t->thread] : NULL;
        while (t->nopen) {
            slice_t s = t->open[t->nopen - 1];
            if (s.blocking) {
                end_slice(m, t, th, m->last);
            } else {
                t->nopen--;
                finish_slice(m, &s, m->last, 1);
            }
        }
    }
}

/* ---- Reading the file -------------------------------------------------- */

/* A varint at *pos; 0, or -1 when the buffer ends inside it or it is
 * longer than 10 bytes. */
static int varint(const uint8_t *b, size_t len, size_t *pos, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70 && *pos < len; shift += 7) {
        uint8_t c = b[(*pos)++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

static int read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        st.st_size = 0; /* read it anyway */
    } else if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not a trace file", path);
        fclose(f);
        return -1;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, n = 0;
    uint8_t *b = xrealloc(NULL, cap);
    for (;;) {
        if (n == cap) b = xrealloc(b, cap *= 2);
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad_read = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (bad_read) {
        snprintf(err, errlen, "%s: %s", path, strerror(bad_read));
        free(b);
        return -1;
    }
    *out = b;
    *len = n;
    return 0;
}

/* Walks the file's packets into m. 0, or -1 after writing why in err. */
static int load(model_t *m, const char *path, char *err, size_t errlen)
{
    uint8_t *b;
    size_t len;
    if (read_file(path, &b, &len, err, errlen) < 0) return -1;
    const char *hint = "(was it written by scry run --trace, SCRY_TRACE or the flight recorder?)";
    const char *cut = "(cut short: was the program killed before the trace was finished, or the "
                      "file copied while it was written?)";
    int rc = -1;
    size_t pos = 0, packets = 0, useful = 0;
    if (len == 0) {
        snprintf(err, errlen, "%s: empty file, not a trace %s", path, hint);
        goto out;
    }
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
        snprintf(err, errlen,
                 "%s: a gzip file, not a trace (gunzip it first, or is it a profile? "
                 "scry top reads those)",
                 path);
        goto out;
    }
    while (pos < len) {
        size_t at = pos;
        uint64_t tag, n;
        if (varint(b, len, &pos, &tag) < 0 || tag != 0x0a) {
            if (pos >= len && packets) /* cut inside the tag */
                snprintf(err, errlen, "%s: truncated at byte %zu, inside packet %zu %s", path, at,
                         packets + 1, cut);
            else
                snprintf(err, errlen, "%s: not a Perfetto trace (byte %zu holds no packet) %s",
                         path, at, hint);
            goto out;
        }
        if (varint(b, len, &pos, &n) < 0 || n > len - pos) {
            if (!packets && (pos >= len || n > len)) /* no packet read: likely not a trace */
                snprintf(err, errlen,
                         "%s: not a Perfetto trace (its first packet would run past "
                         "the end of the file) %s",
                         path, hint);
            else
                snprintf(err, errlen,
                         "%s: truncated: packet %zu at byte %zu needs %" PRIu64
                         " bytes, %zu are left %s",
                         path, packets + 1, at, n, len - pos, cut);
            goto out;
        }
        Packet *pk = perfetto__protos__trace_packet__unpack(NULL, (size_t)n, b + pos);
        if (!pk) {
            if (packets)
                snprintf(err, errlen, "%s: damaged: packet %zu at byte %zu is not a trace packet",
                         path, packets + 1, at);
            else
                snprintf(err, errlen,
                         "%s: not a Perfetto trace (its first packet does not decode) %s", path,
                         hint);
            goto out;
        }
        if (pk->data_case != PERFETTO__PROTOS__TRACE_PACKET__DATA__NOT_SET ||
            pk->optional_trusted_packet_sequence_id_case || pk->interned_data)
            useful++;
        on_packet(m, pk);
        perfetto__protos__trace_packet__free_unpacked(pk, NULL);
        pos += (size_t)n;
        packets++;
    }
    if (!useful) {
        snprintf(err, errlen, "%s: not a Perfetto trace (no packet holds trace data) %s", path,
                 hint);
        goto out;
    }
    rc = 0;
out:
    free(b);
    return rc;
}

/* ---- The report -------------------------------------------------------- */

/* ns with three significant digits in the unit that fits, the unit glued
 * on as pprof writes it: 812ns, 12.3us, 4.56ms, 1.23s, 125s. */
static const char *dur(char *buf, size_t len, int64_t ns)
{
    static const struct {
        const char *name;
        double f;
    } u[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
    if (ns < 1000) {
        snprintf(buf, len, "%" PRId64 "ns", ns);
        return buf;
    }
    int i = 1;
    /* 999.96us prints as 1.00ms, not 1000us */
    while (i < 3 && (double)ns >= u[i + 1].f * 0.9995)
        i++;
    double v = (double)ns / u[i].f;
    snprintf(buf, len, v < 9.995 ? "%.2f%s" : v < 99.95 ? "%.1f%s" : "%.0f%s", v, u[i].name);
    return buf;
}

static int by_total(const void *a, const void *b)
{
    const durs_t *x = a, *y = b;
    if (x->total != y->total) return x->total < y->total ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int by_wait(const void *a, const void *b)
{
    const obj_t *x = a, *y = b;
    if (x->total != y->total) return x->total < y->total ? 1 : -1;
    if (x->waits != y->waits) return x->waits < y->waits ? 1 : -1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int by_count(const void *a, const void *b)
{
    const counter_t *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int by_tid(const void *a, const void *b)
{
    const thread_t *x = a, *y = b;
    if (x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile p of sorted[0..n), n > 0. */
static int64_t percentile(const int64_t *sorted, size_t n, unsigned p)
{
    size_t rank = (p * n + 99) / 100;
    return sorted[rank ? rank - 1 : 0];
}

static size_t shown(size_t n, long rows)
{
    return rows == 0 || (size_t)rows > n ? n : (size_t)rows;
}

/* "top 10 by total, of 12" when rows hides some. */
static void title(const char *what, size_t n, long rows, const char *order)
{
    if (shown(n, rows) < n)
        printf("\n%s, top %zu by %s (of %zu):\n", what, shown(n, rows), order, n);
    else
        printf("\n%s, by %s:\n", what, order);
}

static void print_durs(const char *what, durs_t *v, size_t n, long rows)
{
    title(what, n, rows, "total");
    if (!n) {
        printf("  none\n");
        return;
    }
    qsort(v, n, sizeof *v, by_total);
    printf("%8s %9s %9s %9s %9s %9s %6s  %s\n", "count", "total", "p50", "p90", "p99", "max",
           "open", "type");
    char a[32], b[32], c[32], d[32], e[32];
    for (size_t i = 0; i < shown(n, rows); i++) {
        durs_t *r = &v[i];
        if (r->n) qsort(r->d, r->n, sizeof *r->d, by_value);
        printf("%8zu %9s %9s %9s %9s %9s %6zu  %s\n", r->n, dur(a, sizeof a, r->total),
               dur(b, sizeof b, percentile(r->d, r->n, 50)),
               dur(c, sizeof c, percentile(r->d, r->n, 90)),
               dur(d, sizeof d, percentile(r->d, r->n, 99)), dur(e, sizeof e, r->d[r->n - 1]),
               r->open, *r->name ? r->name : "(no name)");
    }
}

/* The waits on objects with lock == want (a mutex or rwlock, or not). */
static void print_waits(const char *what, model_t *m, int want, long rows)
{
    obj_t *v = xcalloc(m->nobjs, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < m->nobjs; i++)
        if (m->objs[i].lock == want) v[n++] = m->objs[i];
    title(what, n, rows, "total wait");
    if (!n)
        printf("  none\n");
    else
        printf("%8s %9s %9s %9s  %-18s  %s\n", "waits", "total", "mean", "max", "object", "kinds");
    if (n) qsort(v, n, sizeof *v, by_wait);
    char a[32], b[32], c[32];
    for (size_t i = 0; i < shown(n, rows); i++) {
        const obj_t *o = &v[i];
        char addr[24], kinds[160] = "";
        snprintf(addr, sizeof addr, "0x%" PRIx64, o->addr);
        size_t at = 0;
        for (int k = 0; k < o->nkinds && at < sizeof kinds; k++)
            at +=
                (size_t)snprintf(kinds + at, sizeof kinds - at, "%s%s", k ? ", " : "", o->kinds[k]);
        printf("%8" PRIu64 " %9s %9s %9s  %-18s  %s\n", o->waits, dur(a, sizeof a, o->total),
               dur(b, sizeof b, o->total / (int64_t)o->waits), dur(c, sizeof c, o->max), addr,
               kinds);
    }
    free(v);
}

static void print_threads(model_t *m)
{
    printf("\nThreads, by tid (time from the thread's first event to its end, or to the end of the "
           "trace):\n");
    if (!m->nthreads) {
        printf("  none\n");
        return;
    }
    if (m->nthreads) qsort(m->threads, m->nthreads, sizeof *m->threads, by_tid);
    printf("%8s %9s %17s %17s %17s %17s  %s\n", "tid", "lifetime", "blocked on locks",
           "in system calls", "sleeping/polling", "running/runnable", "name");
    char buf[5][32];
    for (size_t i = 0; i < m->nthreads; i++) {
        const thread_t *t = &m->threads[i];
        int64_t end = t->ended ? t->end : m->last;
        if (end < t->last) end = t->last;
        int64_t life = end - t->first;
        int64_t part[4] = {t->lock, t->sys, t->sleep, 0};
        int64_t busy = 0;
        for (int k = 0; k < 3; k++) {
            if (part[k] > life - busy) part[k] = life - busy; /* clamp: never over the lifetime */
            busy += part[k];
        }
        part[3] = life - busy;
        printf("%8d %9s ", t->tid, dur(buf[4], sizeof buf[4], life));
        for (int k = 0; k < 4; k++)
            printf(" %9s %5.1f%%", dur(buf[k], sizeof buf[k], part[k]),
                   life > 0 ? 100.0 * (double)part[k] / (double)life : 0.0);
        printf("  %s\n", t->name && *t->name ? t->name : "?");
    }
}

static void print_header(model_t *m, const char *path)
{
    char a[32];
    printf("File: %s\n", path);
    printf("Duration: %s (first to last event)\n",
           dur(a, sizeof a, m->any ? m->last - m->first : 0));
    printf("Threads: %zu\n", m->nthreads);
    if (m->ncats) qsort(m->cats, m->ncats, sizeof *m->cats, by_count);
    printf("Events: %" PRIu64 " (slice begins, slice ends and instants)\n", m->events);
    if (m->ncats) {
        printf("By category:");
        for (size_t i = 0; i < m->ncats; i++)
            printf("%s %s %" PRIu64, i ? "," : "", m->cats[i].name, m->cats[i].count);
        printf(" (slices and instants)\n");
    }
    if (m->dropped)
        printf("Dropped events: %" PRIu64 " (buffers were full: the trace misses them)\n",
               m->dropped);
    else
        printf("Dropped events: none\n");
}

static void model_free(model_t *m)
{
    for (size_t i = 0; i < m->nseqs; i++) {
        map_free(&m->seqs[i].names);
        map_free(&m->seqs[i].cats);
        map_free(&m->seqs[i].keys);
    }
    free(m->seqs);
    for (size_t i = 0; i < m->ntracks; i++) {
        free(m->tracks[i]->open);
        free(m->tracks[i]->pending);
        free(m->tracks[i]);
    }
    free(m->tracks);
    map_free(&m->track_index);
    free(m->threads);
    for (size_t i = 0; i < m->nregions; i++)
        free(m->regions[i].d);
    for (size_t i = 0; i < m->ntasks; i++)
        free(m->tasks[i].d);
    free(m->regions);
    free(m->tasks);
    map_free(&m->region_index);
    map_free(&m->task_index);
    free(m->objs);
    map_free(&m->obj_index);
    free(m->logs);
    free(m->cats);
    map_free(&m->log_index);
    map_free(&m->cat_index);
    pool_free(&m->pool);
}

int scry_cmd_trace(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long rows = DEFAULT_ROWS;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (scry_cli_rows("trace", usage, optarg, &rows)) return 2;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return scry_cli_option_error("trace", usage, c, argv);
        }
    }
    if (optind >= argc) return bad("no trace file given");
    if (optind + 1 < argc) return bad("one trace file at a time ('%s' is extra)", argv[optind + 1]);
    const char *path = argv[optind];

    model_t m;
    memset(&m, 0, sizeof m);
    char err[1024];
    if (load(&m, path, err, sizeof err) < 0) {
        fprintf(stderr, "scry: %s\n", err);
        model_free(&m);
        return 1;
    }
    close_all(&m);

    print_header(&m, path);
    print_threads(&m);
    print_durs("Regions by type", m.regions, m.nregions, rows);
    print_durs("Tasks by type (begin to end, across threads)", m.tasks, m.ntasks, rows);
    print_waits("Most contended locks (mutexes and rwlocks)", &m, 1, rows);
    print_waits("Other waits (condition variables, semaphores, joins, barriers)", &m, 0, rows);
    title("Logs by category", m.nlogs, rows, "count");
    if (!m.nlogs) printf("  none\n");
    if (m.nlogs) qsort(m.logs, m.nlogs, sizeof *m.logs, by_count);
    if (m.nlogs) printf("%8s  %s\n", "count", "category");
    for (size_t i = 0; i < shown(m.nlogs, rows); i++)
        printf("%8" PRIu64 "  %s\n", m.logs[i].count, *m.logs[i].name ? m.logs[i].name : "(none)");
    model_free(&m);
    return 0;
}
