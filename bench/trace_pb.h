/*
 * trace_pb.h - a minimal reader of scry's Perfetto traces for the tracer's
 * benchmark (bench/trace_cost.c, bench/trace_stat.c): it counts what a
 * trace holds, so the benchmark can say how many events were kept, how many
 * were lost, and what an event costs in bytes.
 *
 * It walks the protobuf wire format directly (no protobuf-c, no schema at
 * run time): Trace.packet (1) -> TracePacket {timestamp 8, track_event 11,
 * interned_data 12, sequence_flags 13} -> TrackEvent {category_iids 3,
 * debug_annotations 4, name_iid 10, type 9, categories 22, name 23}, with
 * the field numbers of src/format/perfetto_trace.proto. Interned names are
 * resolved per sequence generation (cleared by SEQ_INCREMENTAL_STATE_CLEARED),
 * as Perfetto's trace processor does. It trusts nothing: a malformed length
 * stops the walk and sets `bad`.
 *
 * Header-only (static functions): each benchmark program includes it once.
 */
#ifndef SCRY_BENCH_TRACE_PB_H
#define SCRY_BENCH_TRACE_PB_H

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every function is static; a program need not use them all. */
#define TPB_FN static __attribute__((unused))

#define TPB_MAX_CATS 32
#define TPB_MAX_IID (1u << 20)

typedef struct {
    uint64_t bytes;   /* the file's size */
    uint64_t packets; /* every TracePacket */
    uint64_t events;  /* packets with a TrackEvent */
    uint64_t begins, ends, instants;
    uint64_t dropped_instants;  /* "dropped events" instants scry writes */
    uint64_t dropped_count;     /* the sum of their "count" annotations */
    uint64_t first_ts, last_ts; /* of track events, ns; 0 when none */
    struct {
        char name[32];
        uint64_t n;
    } cats[TPB_MAX_CATS]; /* track events by category ("" if none) */
    int ncats;
    int bad; /* the walk stopped at something malformed */
} tpb_stats_t;

typedef struct {
    const uint8_t *p;
    uint32_t len;
} tpb_str_t;

/* Interned strings of the current generation, indexed by iid. */
typedef struct {
    tpb_str_t *v;
    uint32_t cap;
} tpb_table_t;

typedef struct {
    tpb_table_t cats, names, keys;
} tpb_interned_t;

TPB_FN int tpb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* One field: its number, wire type, and value (a varint or fixed value in
 * *v; a length-delimited one in *s). -1 when malformed. */
TPB_FN int tpb_field(const uint8_t **p, const uint8_t *end, uint32_t *num, int *wt, uint64_t *v,
                     tpb_str_t *s)
{
    uint64_t key;
    if (tpb_varint(p, end, &key) < 0) return -1;
    *num = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0:
        return tpb_varint(p, end, v);
    case 1:
        if (end - *p < 8) return -1;
        memcpy(v, *p, 8);
        *p += 8;
        return 0;
    case 5: {
        uint32_t x;
        if (end - *p < 4) return -1;
        memcpy(&x, *p, 4);
        *v = x;
        *p += 4;
        return 0;
    }
    case 2: {
        uint64_t n;
        if (tpb_varint(p, end, &n) < 0 || n > (uint64_t)(end - *p)) return -1;
        s->p = *p;
        s->len = (uint32_t)n;
        *p += n;
        return 0;
    }
    default:
        return -1;
    }
}

TPB_FN void tpb_table_put(tpb_table_t *t, uint64_t iid, tpb_str_t s)
{
    if (iid >= TPB_MAX_IID) return;
    if (iid >= t->cap) {
        uint32_t cap = t->cap ? t->cap : 256;
        while (cap <= iid)
            cap *= 2;
        tpb_str_t *v = realloc(t->v, cap * sizeof *v);
        if (!v) return;
        memset(v + t->cap, 0, (cap - t->cap) * sizeof *v);
        t->v = v;
        t->cap = cap;
    }
    t->v[iid] = s;
}

TPB_FN tpb_str_t tpb_table_get(const tpb_table_t *t, uint64_t iid)
{
    tpb_str_t none = {NULL, 0};
    return iid < t->cap ? t->v[iid] : none;
}

TPB_FN int tpb_streq(tpb_str_t s, const char *c)
{
    size_t n = strlen(c);
    return s.p && s.len == n && !memcmp(s.p, c, n);
}

/* EventCategory, EventName, DebugAnnotationName: {iid 1, name 2}. */
TPB_FN int tpb_intern_entry(tpb_table_t *t, tpb_str_t m)
{
    const uint8_t *p = m.p, *end = m.p + m.len;
    uint64_t iid = 0, v;
    tpb_str_t name = {NULL, 0}, s;
    uint32_t num;
    int wt;
    while (p < end) {
        if (tpb_field(&p, end, &num, &wt, &v, &s) < 0) return -1;
        if (num == 1 && wt == 0) iid = v;
        if (num == 2 && wt == 2) name = s;
    }
    if (iid && name.p) tpb_table_put(t, iid, name);
    return 0;
}

TPB_FN int tpb_interned(tpb_interned_t *in, tpb_str_t m)
{
    const uint8_t *p = m.p, *end = m.p + m.len;
    uint64_t v;
    tpb_str_t s;
    uint32_t num;
    int wt;
    while (p < end) {
        if (tpb_field(&p, end, &num, &wt, &v, &s) < 0) return -1;
        if (wt != 2) continue;
        tpb_table_t *t = num == 1 ? &in->cats : num == 2 ? &in->names : num == 3 ? &in->keys : NULL;
        if (t && tpb_intern_entry(t, s) < 0) return -1;
    }
    return 0;
}

TPB_FN void tpb_count_cat(tpb_stats_t *st, tpb_str_t cat)
{
    char name[32];
    uint32_t n = cat.p ? (cat.len < sizeof name - 1 ? cat.len : (uint32_t)sizeof name - 1) : 0;
    if (n) memcpy(name, cat.p, n);
    name[n] = 0;
    for (int i = 0; i < st->ncats; i++)
        if (!strcmp(st->cats[i].name, name)) {
            st->cats[i].n++;
            return;
        }
    if (st->ncats == TPB_MAX_CATS) return;
    memcpy(st->cats[st->ncats].name, name, n + 1);
    st->cats[st->ncats++].n = 1;
}

/* The "count" of a "dropped events" instant's annotations. */
TPB_FN uint64_t tpb_count_annotation(const tpb_interned_t *in, tpb_str_t m)
{
    const uint8_t *p = m.p, *end = m.p + m.len;
    uint64_t v, value = 0;
    tpb_str_t s, key = {NULL, 0};
    uint32_t num;
    int wt;
    while (p < end) {
        if (tpb_field(&p, end, &num, &wt, &v, &s) < 0) return 0;
        if (num == 1 && wt == 0) key = tpb_table_get(&in->keys, v);
        if (num == 10 && wt == 2) key = s;
        if ((num == 3 || num == 4) && wt == 0) value = v;
    }
    return tpb_streq(key, "count") ? value : 0;
}

TPB_FN int tpb_event(tpb_stats_t *st, const tpb_interned_t *in, tpb_str_t m, uint64_t ts)
{
    const uint8_t *p = m.p, *end = m.p + m.len;
    uint64_t v, type = 0, count = 0;
    tpb_str_t s, cat = {NULL, 0}, name = {NULL, 0};
    uint32_t num;
    int wt;
    while (p < end) {
        if (tpb_field(&p, end, &num, &wt, &v, &s) < 0) return -1;
        if (num == 9 && wt == 0)
            type = v;
        else if (num == 3 && wt == 0 && !cat.p)
            cat = tpb_table_get(&in->cats, v);
        else if (num == 3 && wt == 2 && !cat.p) { /* packed */
            const uint8_t *q = s.p;
            if (tpb_varint(&q, s.p + s.len, &v) == 0) cat = tpb_table_get(&in->cats, v);
        } else if (num == 22 && wt == 2 && !cat.p)
            cat = s;
        else if (num == 10 && wt == 0)
            name = tpb_table_get(&in->names, v);
        else if (num == 23 && wt == 2)
            name = s;
        else if (num == 4 && wt == 2)
            count += tpb_count_annotation(in, s);
    }
    st->events++;
    if (type == 1) st->begins++;
    if (type == 2) st->ends++;
    if (type == 3) st->instants++;
    if (type == 3 && tpb_streq(name, "dropped events")) {
        st->dropped_instants++;
        st->dropped_count += count;
    }
    tpb_count_cat(st, cat);
    if (ts) {
        if (!st->first_ts || ts < st->first_ts) st->first_ts = ts;
        if (ts > st->last_ts) st->last_ts = ts;
    }
    return 0;
}

TPB_FN int tpb_packet(tpb_stats_t *st, tpb_interned_t *in, tpb_str_t m)
{
    const uint8_t *p = m.p, *end = m.p + m.len;
    uint64_t v, ts = 0, flags = 0;
    tpb_str_t s, ev = {NULL, 0}, interned = {NULL, 0};
    uint32_t num;
    int wt;
    while (p < end) {
        if (tpb_field(&p, end, &num, &wt, &v, &s) < 0) return -1;
        if (num == 8 && wt == 0) ts = v;
        if (num == 13 && wt == 0) flags = v;
        if (num == 11 && wt == 2) ev = s;
        if (num == 12 && wt == 2) interned = s;
    }
    st->packets++;
    if (flags & 1) { /* SEQ_INCREMENTAL_STATE_CLEARED: a new generation */
        in->cats.cap = in->names.cap = in->keys.cap = 0;
        free(in->cats.v), free(in->names.v), free(in->keys.v);
        in->cats.v = in->names.v = in->keys.v = NULL;
    }
    if (interned.p && tpb_interned(in, interned) < 0) return -1;
    if (ev.p && tpb_event(st, in, ev, ts) < 0) return -1;
    return 0;
}

/* Counts the trace at path into *st. 0, or -1 when it cannot be read (st
 * is then zero); a malformed trace is counted up to the damage (st->bad). */
TPB_FN int tpb_read(const char *path, tpb_stats_t *st)
{
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        close(fd);
        return -1;
    }
    st->bytes = (uint64_t)sb.st_size;
    if (sb.st_size == 0) {
        close(fd);
        return 0;
    }
    const uint8_t *base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return -1;
    tpb_interned_t in = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    const uint8_t *p = base, *end = base + sb.st_size;
    uint64_t v;
    tpb_str_t s;
    uint32_t num;
    int wt;
    while (p < end) {
        if (tpb_field(&p, end, &num, &wt, &v, &s) < 0) {
            st->bad = 1;
            break;
        }
        if (num == 1 && wt == 2 && tpb_packet(st, &in, s) < 0) {
            st->bad = 1;
            break;
        }
    }
    free(in.cats.v), free(in.names.v), free(in.keys.v);
    munmap((void *)base, (size_t)sb.st_size);
    return 0;
}

/* Track events of category cat. */
TPB_FN uint64_t tpb_category(const tpb_stats_t *st, const char *cat)
{
    for (int i = 0; i < st->ncats; i++)
        if (!strcmp(st->cats[i].name, cat)) return st->cats[i].n;
    return 0;
}

#endif
