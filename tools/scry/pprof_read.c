/*
 * pprof_read.c - load, validate and summarise a pprof file; see pprof_read.h.
 *
 * Loading is: read the whole file (any kind: a pipe works too), inflate it
 * if it starts with the gzip magic, unpack the protobuf, index the ids, and
 * check everything a reader will follow, so that nothing after load needs
 * to handle a dangling id or string index. Both the file and the inflated
 * data are capped at 1 GiB: a profile is far smaller (scry's own hold at
 * most 65536 stacks), and a gzip bomb must not take the machine's memory
 * with it.
 *
 * Ids are indexed in sorted arrays: pprof writers (scry's and Go's) number
 * objects 1..n in order, so a lookup first tries position id-1 and falls
 * back to a binary search for writers that do not.
 *
 * The sums mirror pprof's graph builder (internal/graph, newGraph): samples
 * are walked root to leaf, one node per distinct frame name; cum counts a
 * node once per sample, flat goes to the last node of the walk, samples of
 * weight 0 are skipped, and a caller->callee pair is "inline" when every
 * time it occurs the callee was an inlined line of the caller's location.
 */
#define _GNU_SOURCE
#include "pprof_read.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_BYTES ((size_t)1 << 30) /* cap on the file and on inflated data */

typedef struct {
    uint64_t id;
    size_t pos; /* index in the profile's repeated field */
} id_ent_t;

typedef struct {
    id_ent_t *e;
    size_t n;
} id_index_t;

struct scry_pprof_index {
    Perftools__Profiles__Profile *msg; /* owned; scry_pprof_t.pb points here */
    id_index_t loc, fn, map;
    char **map_names; /* "[basename]" per mapping position, or NULL */
};

/* ---- Errors ------------------------------------------------------------ */

static int fail(char *err, size_t len, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t len, const char *path, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err, len, "%s: %s", path, what);
    return -1;
}

/* ---- Reading and inflating --------------------------------------------- */

/* Reads all of path into *data (malloc'ed). On failure: -1, message in err. */
static int read_all(const char *path, unsigned char **data, size_t *size, char *err, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, len, path, "%s", strerror(errno));
    /* Grows to at most MAX_BYTES + 1: one byte more than allowed tells a
     * file at the cap from one over it. */
    size_t cap = 64 * 1024, n = 0;
    unsigned char *b = malloc(cap);
    int rc = 0;
    errno = 0;
    while (b) {
        if (n == cap) {
            if (cap > MAX_BYTES) {
                rc = fail(err, len, path, "file is over 1 GiB, too large for a profile");
                break;
            }
            size_t ncap = cap * 2 > MAX_BYTES ? MAX_BYTES + 1 : cap * 2;
            unsigned char *nb = realloc(b, ncap);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap = ncap;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) rc = fail(err, len, path, "%s", strerror(errno ? errno : EIO));
            break;
        }
    }
    fclose(f);
    if (!b) return fail(err, len, path, "out of memory reading the file");
    if (rc < 0) {
        free(b);
        return -1;
    }
    *data = b;
    *size = n;
    return 0;
}

enum { GZ_OK, GZ_CORRUPT, GZ_TOO_BIG, GZ_NOMEM };

/* Inflates gzip data, including several concatenated members (as gzip and
 * Go's reader accept). Anything after the last member that is not another
 * member is corruption, as it is for Go. */
static int gunzip(const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK) return GZ_NOMEM;
    size_t cap = inlen < MAX_BYTES / 8 ? inlen * 4 + 4096 : MAX_BYTES, n = 0;
    unsigned char *b = malloc(cap);
    int rc = b ? GZ_CORRUPT : GZ_NOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)inlen; /* inlen <= 1 GiB */
    while (b) {
        if (n == cap) {
            if (cap >= MAX_BYTES) {
                rc = GZ_TOO_BIG;
                break;
            }
            size_t ncap = cap * 2 > MAX_BYTES ? MAX_BYTES : cap * 2;
            unsigned char *nb = realloc(b, ncap);
            if (!nb) {
                rc = GZ_NOMEM;
                break;
            }
            b = nb;
            cap = ncap;
        }
        z.next_out = b + n;
        z.avail_out = (uInt)(cap - n);
        int zr = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0) {
                rc = GZ_OK;
                break;
            }
            if (z.avail_in < 2 || z.next_in[0] != 0x1f || z.next_in[1] != 0x8b) break;
            if (inflateReset(&z) != Z_OK) break;
            continue;
        }
        if (zr == Z_MEM_ERROR) {
            rc = GZ_NOMEM;
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) break;
        if (z.avail_in == 0 && z.avail_out != 0) break; /* the input ended mid-stream */
    }
    inflateEnd(&z);
    if (rc != GZ_OK) {
        free(b);
        return rc;
    }
    *out = b;
    *outlen = n;
    return GZ_OK;
}

/* ---- Ids --------------------------------------------------------------- */

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const id_ent_t *)a)->id, y = ((const id_ent_t *)b)->id;
    return x < y ? -1 : x > y;
}

/* Builds a sorted index of n ids, read by id_of(i). Returns 0, or -1 when
 * out of memory; *dup is set to a duplicated id (0 when there is none). */
static int index_ids(id_index_t *ix, size_t n, uint64_t (*id_of)(const void *, size_t),
                     const void *arr, uint64_t *dup)
{
    ix->n = n;
    ix->e = malloc((n ? n : 1) * sizeof *ix->e);
    if (!ix->e) return -1;
    int sorted = 1;
    for (size_t i = 0; i < n; i++) {
        ix->e[i].id = id_of(arr, i);
        ix->e[i].pos = i;
        if (i && ix->e[i].id <= ix->e[i - 1].id) sorted = 0;
    }
    if (!sorted) qsort(ix->e, n, sizeof *ix->e, by_id);
    *dup = 0;
    for (size_t i = 1; i < n; i++)
        if (ix->e[i].id == ix->e[i - 1].id) {
            *dup = ix->e[i].id;
            break;
        }
    return 0;
}

static uint64_t loc_id(const void *a, size_t i)
{
    return ((scry_pb_location_t *const *)a)[i]->id;
}
static uint64_t fn_id(const void *a, size_t i)
{
    return ((scry_pb_function_t *const *)a)[i]->id;
}
static uint64_t map_id(const void *a, size_t i)
{
    return ((scry_pb_mapping_t *const *)a)[i]->id;
}

/* Position of id in the repeated field, or -1. */
static long find_id(const id_index_t *ix, uint64_t id)
{
    if (id == 0) return -1;
    if (id <= ix->n && ix->e[id - 1].id == id) return (long)ix->e[id - 1].pos;
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->e[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->n && ix->e[lo].id == id ? (long)ix->e[lo].pos : -1;
}

const scry_pb_location_t *scry_pprof_location(const scry_pprof_t *p, uint64_t id)
{
    long i = find_id(&p->index->loc, id);
    return i < 0 ? NULL : p->pb->location[i];
}

const scry_pb_function_t *scry_pprof_function(const scry_pprof_t *p, uint64_t id)
{
    long i = find_id(&p->index->fn, id);
    return i < 0 ? NULL : p->pb->function[i];
}

const scry_pb_mapping_t *scry_pprof_mapping(const scry_pprof_t *p, uint64_t id)
{
    long i = find_id(&p->index->map, id);
    return i < 0 ? NULL : p->pb->mapping[i];
}

const char *scry_pprof_str(const scry_pprof_t *p, int64_t i)
{
    if (i < 0 || (uint64_t)i >= p->pb->n_string_table) return "";
    return p->pb->string_table[i];
}

/* ---- Validation -------------------------------------------------------- */

/* Checks what pprof's CheckValid and its decoder check, plus every string
 * index. NULL when the profile is consistent, else why (in buf). */
static const char *validate(const scry_pprof_t *p, char *buf, size_t len)
{
    const Perftools__Profiles__Profile *m = p->pb;
    const struct scry_pprof_index *ix = p->index;
    size_t ns = m->n_string_table;
    if (ns == 0) return "the string table is empty";
    if (m->string_table[0][0]) return "the string table does not start with \"\"";

#define STR(i, ...)                                                                                \
    do {                                                                                           \
        if ((i) < 0 || (uint64_t)(i) >= ns) {                                                      \
            int o_ = snprintf(buf, len, __VA_ARGS__);                                              \
            if (o_ >= 0 && (size_t)o_ < len)                                                       \
                snprintf(buf + o_, len - (size_t)o_,                                               \
                         " names string %lld, past the end of the %zu-entry string table",         \
                         (long long)(i), ns);                                                      \
            return buf;                                                                            \
        }                                                                                          \
    } while (0)

    for (size_t i = 0; i < m->n_sample_type; i++) {
        STR(m->sample_type[i]->type, "sample type %zu", i);
        STR(m->sample_type[i]->unit, "the unit of sample type %zu", i);
    }
    if (m->period_type) {
        STR(m->period_type->type, "the period type");
        STR(m->period_type->unit, "the period unit");
    }
    STR(m->default_sample_type, "default_sample_type");
    STR(m->drop_frames, "drop_frames");
    STR(m->keep_frames, "keep_frames");
    STR(m->doc_url, "doc_url");
    for (size_t i = 0; i < m->n_comment; i++)
        STR(m->comment[i], "comment %zu", i);

    for (size_t i = 0; i < m->n_mapping; i++) {
        const scry_pb_mapping_t *mp = m->mapping[i];
        if (!mp->id) return "a mapping has the reserved id 0";
        STR(mp->filename, "mapping %llu's file name", (unsigned long long)mp->id);
        STR(mp->build_id, "mapping %llu's build id", (unsigned long long)mp->id);
    }
    for (size_t i = 0; i < m->n_function; i++) {
        const scry_pb_function_t *f = m->function[i];
        if (!f->id) return "a function has the reserved id 0";
        STR(f->name, "function %llu", (unsigned long long)f->id);
        STR(f->system_name, "function %llu's system name", (unsigned long long)f->id);
        STR(f->filename, "function %llu's file name", (unsigned long long)f->id);
    }
    for (size_t i = 0; i < m->n_location; i++) {
        const scry_pb_location_t *l = m->location[i];
        if (!l->id) return "a location has the reserved id 0";
        if (l->mapping_id && find_id(&ix->map, l->mapping_id) < 0) {
            snprintf(buf, len, "location %llu refers to mapping %llu, which does not exist",
                     (unsigned long long)l->id, (unsigned long long)l->mapping_id);
            return buf;
        }
        for (size_t k = 0; k < l->n_line; k++)
            if (find_id(&ix->fn, l->line[k]->function_id) < 0) {
                snprintf(buf, len,
                         "location %llu, line %zu refers to function %llu, which does not exist",
                         (unsigned long long)l->id, k, (unsigned long long)l->line[k]->function_id);
                return buf;
            }
    }
    for (size_t i = 0; i < m->n_sample; i++) {
        const Perftools__Profiles__Sample *s = m->sample[i];
        if (s->n_value != m->n_sample_type) {
            snprintf(buf, len, "sample %zu has %zu value%s for %zu sample type%s", i, s->n_value,
                     s->n_value == 1 ? "" : "s", m->n_sample_type,
                     m->n_sample_type == 1 ? "" : "s");
            return buf;
        }
        for (size_t k = 0; k < s->n_location_id; k++)
            if (find_id(&ix->loc, s->location_id[k]) < 0) {
                snprintf(buf, len, "sample %zu refers to location %llu, which does not exist", i,
                         (unsigned long long)s->location_id[k]);
                return buf;
            }
        for (size_t k = 0; k < s->n_label; k++) {
            STR(s->label[k]->key, "a label of sample %zu", i);
            STR(s->label[k]->str, "a label value of sample %zu", i);
            STR(s->label[k]->num_unit, "a label unit of sample %zu", i);
        }
    }
#undef STR
    return NULL;
}

/* Indexes ids and names the mappings. NULL, or why it cannot (in buf). */
static const char *build_index(scry_pprof_t *p, char *buf, size_t len)
{
    const Perftools__Profiles__Profile *m = p->pb;
    struct scry_pprof_index *ix = p->index;
    uint64_t dup;
    static const char *const kinds[] = {"locations", "functions", "mappings"};
    id_index_t *ixs[] = {&ix->loc, &ix->fn, &ix->map};
    size_t ns[] = {m->n_location, m->n_function, m->n_mapping};
    const void *arrs[] = {m->location, m->function, m->mapping};
    uint64_t (*ids[])(const void *, size_t) = {loc_id, fn_id, map_id};
    for (int k = 0; k < 3; k++) {
        if (index_ids(ixs[k], ns[k], ids[k], arrs[k], &dup) < 0) return "out of memory";
        if (dup) {
            snprintf(buf, len, "two %s have id %llu", kinds[k], (unsigned long long)dup);
            return buf;
        }
    }
    ix->map_names = calloc(m->n_mapping ? m->n_mapping : 1, sizeof *ix->map_names);
    if (!ix->map_names) return "out of memory";
    for (size_t i = 0; i < m->n_mapping; i++) {
        int64_t fi = m->mapping[i]->filename;
        if (fi <= 0 || (uint64_t)fi >= m->n_string_table || !*m->string_table[fi]) continue;
        const char *file = m->string_table[fi], *slash = strrchr(file, '/');
        if (asprintf(&ix->map_names[i], "[%s]", slash && slash[1] ? slash + 1 : file) < 0) {
            ix->map_names[i] = NULL;
            return "out of memory";
        }
    }
    return NULL;
}

/* ---- Loading ------------------------------------------------------------ */

void scry_pprof_free(scry_pprof_t *p)
{
    if (!p) return;
    struct scry_pprof_index *ix = p->index;
    if (ix) {
        if (ix->map_names)
            for (size_t i = 0; i < ix->msg->n_mapping; i++)
                free(ix->map_names[i]);
        free(ix->map_names);
        free(ix->loc.e);
        free(ix->fn.e);
        free(ix->map.e);
        if (ix->msg) perftools__profiles__profile__free_unpacked(ix->msg, NULL);
        free(ix);
    }
    free(p);
}

int scry_pprof_load(const char *path, scry_pprof_t **out, char *err, size_t errlen)
{
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    if (read_all(path, &raw, &rawlen, err, errlen) < 0) return -1;
    if (rawlen == 0) {
        free(raw);
        return fail(err, errlen, path, "empty file");
    }
    int gz = rawlen >= 2 && raw[0] == 0x1f && raw[1] == 0x8b;
    unsigned char *data = raw;
    size_t len = rawlen;
    if (gz) {
        int zr = gunzip(raw, rawlen, &data, &len);
        free(raw);
        if (zr == GZ_CORRUPT) return fail(err, errlen, path, "truncated or corrupt gzip data");
        if (zr == GZ_TOO_BIG)
            return fail(err, errlen, path,
                        "gzip data inflates to over 1 GiB, too large for a profile");
        if (zr != GZ_OK) return fail(err, errlen, path, "out of memory inflating the file");
        if (len == 0) {
            free(data);
            return fail(err, errlen, path, "not a valid pprof profile: the gzip data is empty");
        }
    }
    Perftools__Profiles__Profile *msg = perftools__profiles__profile__unpack(NULL, len, data);
    free(data);
    if (!msg) {
        if (gz)
            return fail(err, errlen, path,
                        "not a valid pprof profile: the gzip data is not a protobuf Profile");
        return fail(err, errlen, path, "not a pprof profile (neither gzip nor protobuf)");
    }
    /* Bare bytes that happen to parse as some protobuf are not a profile
     * unless they have the mark every profile has, a string table that
     * starts with "": say "not a profile" rather than list its faults. */
    if (!gz && (msg->n_string_table == 0 || msg->string_table[0][0])) {
        perftools__profiles__profile__free_unpacked(msg, NULL);
        return fail(err, errlen, path, "not a pprof profile (neither gzip nor protobuf)");
    }
    scry_pprof_t *p = calloc(1, sizeof *p);
    struct scry_pprof_index *ix = calloc(1, sizeof *ix);
    if (!p || !ix) {
        free(p);
        free(ix);
        perftools__profiles__profile__free_unpacked(msg, NULL);
        return fail(err, errlen, path, "out of memory");
    }
    ix->msg = msg;
    p->pb = msg;
    p->index = ix;
    char why[256];
    const char *bad = build_index(p, why, sizeof why);
    if (!bad) bad = validate(p, why, sizeof why);
    if (bad) {
        fail(err, errlen, path, "not a valid pprof profile: %s", bad);
        scry_pprof_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

/* ---- Queries ------------------------------------------------------------ */

int scry_pprof_sample_index(const scry_pprof_t *p, const char *name)
{
    const Perftools__Profiles__Profile *m = p->pb;
    if (m->n_sample_type == 0) return -1;
    if (!name || !*name) {
        const char *def = scry_pprof_str(p, m->default_sample_type);
        if (*def)
            for (size_t i = 0; i < m->n_sample_type; i++)
                if (!strcmp(scry_pprof_str(p, m->sample_type[i]->type), def)) return (int)i;
        return (int)m->n_sample_type - 1;
    }
    if (strspn(name, "0123456789") == strlen(name)) { /* pprof takes a number first */
        errno = 0;
        unsigned long v = strtoul(name, NULL, 10);
        return errno || v >= m->n_sample_type ? -1 : (int)v;
    }
    /* "inuse_space" also finds "space", as pprof accepts for old profiles. */
    const char *bare = strncmp(name, "inuse_", 6) ? name : name + 6;
    for (size_t i = 0; i < m->n_sample_type; i++) {
        const char *t = scry_pprof_str(p, m->sample_type[i]->type);
        if (!strcmp(t, name) || !strcmp(t, bare)) return (int)i;
    }
    return -1;
}

const char *scry_pprof_frame_name(const scry_pprof_t *p, const scry_pb_location_t *l, size_t k)
{
    if (k < l->n_line) {
        const scry_pb_function_t *f = scry_pprof_function(p, l->line[k]->function_id);
        const char *name = f ? scry_pprof_str(p, f->name) : "";
        if (*name) return name;
    }
    long mi = find_id(&p->index->map, l->mapping_id);
    if (mi >= 0 && p->index->map_names[mi]) return p->index->map_names[mi];
    return "<unknown>";
}

/* ---- Function sums ------------------------------------------------------ */

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sat_abs(int64_t v)
{
    return v == INT64_MIN ? INT64_MAX : v < 0 ? -v : v;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

typedef struct {
    scry_func_stat_t st;
    uint64_t seen; /* 1 + the last sample that counted cum */
} node_t;

typedef struct {
    uint64_t key;  /* parent << 32 | child, +1 so that 0 marks a free slot */
    uint64_t seen; /* 1 + the last sample that counted this pair */
    int inl;       /* inlined at every occurrence so far */
} edge_t;

typedef struct {
    edge_t *e;
    size_t cap, n; /* cap a power of two, n <= cap / 2 */
} edge_set_t;

/* The slot for key, inserted if new (seen 0); NULL when out of memory. */
static edge_t *edge_get(edge_set_t *s, uint64_t key)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        edge_t *ne = calloc(ncap, sizeof *ne);
        if (!ne) return NULL;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->e[i].key) continue;
            size_t j = hash_u64(s->e[i].key) & (ncap - 1);
            while (ne[j].key)
                j = (j + 1) & (ncap - 1);
            ne[j] = s->e[i];
        }
        free(s->e);
        s->e = ne;
        s->cap = ncap;
    }
    size_t j = hash_u64(key) & (s->cap - 1);
    while (s->e[j].key && s->e[j].key != key)
        j = (j + 1) & (s->cap - 1);
    if (!s->e[j].key) {
        s->e[j].key = key;
        s->n++;
    }
    return &s->e[j];
}

long scry_pprof_func_stats(const scry_pprof_t *p, int idx, scry_func_stat_t **out, int64_t *total)
{
    const Perftools__Profiles__Profile *m = p->pb;
    size_t nloc = m->n_location, maxnodes = m->n_function + m->n_mapping + 1;
    size_t nslots = 0;
    for (size_t i = 0; i < nloc; i++)
        nslots += m->location[i]->n_line ? m->location[i]->n_line : 1;
    size_t hcap = 16;
    while (hcap < 2 * maxnodes)
        hcap *= 2;

    node_t *nodes = calloc(maxnodes, sizeof *nodes);
    uint32_t *slot = calloc(hcap, sizeof *slot); /* name hash -> 1 + node */
    size_t *loc_off = calloc(nloc + 1, sizeof *loc_off);
    uint32_t *loc_nodes = calloc(nslots ? nslots : 1, sizeof *loc_nodes);
    edge_set_t edges = {0};
    long result = -1;
    if (!nodes || !slot || !loc_off || !loc_nodes || maxnodes >= UINT32_MAX) goto out;

    /* One node per distinct frame name; each location's lines as nodes,
     * innermost first, a location without lines as its binary's node. */
    size_t nn = 0, at = 0;
    for (size_t i = 0; i < nloc; i++) {
        const scry_pb_location_t *l = m->location[i];
        loc_off[i] = at;
        size_t lines = l->n_line ? l->n_line : 1;
        for (size_t k = 0; k < lines; k++) {
            const char *name = scry_pprof_frame_name(p, l, l->n_line ? k : 0);
            size_t h = hash_str(name) & (hcap - 1);
            while (slot[h] && strcmp(nodes[slot[h] - 1].st.name, name))
                h = (h + 1) & (hcap - 1);
            if (!slot[h]) {
                nodes[nn].st.name = name;
                slot[h] = (uint32_t)++nn;
            }
            loc_nodes[at++] = slot[h] - 1;
        }
    }
    loc_off[nloc] = at;

    *total = 0;
    for (size_t i = 0; i < m->n_sample; i++) {
        const Perftools__Profiles__Sample *s = m->sample[i];
        int64_t w = s->value[idx];
        *total = sat_add(*total, sat_abs(w));
        if (w == 0) continue;
        long parent = -1;
        for (size_t k = s->n_location_id; k-- > 0;) {
            size_t li = (size_t)find_id(&p->index->loc, s->location_id[k]); /* validated */
            for (size_t j = loc_off[li + 1]; j-- > loc_off[li];) {
                uint32_t n = loc_nodes[j];
                if (nodes[n].seen != i + 1) {
                    nodes[n].seen = i + 1;
                    nodes[n].st.cum = sat_add(nodes[n].st.cum, w);
                }
                if (parent >= 0 && (uint32_t)parent != n) {
                    edge_t *e = edge_get(&edges, ((uint64_t)parent << 32 | n) + 1);
                    if (!e) goto out;
                    int inl = j != loc_off[li + 1] - 1; /* not the location's outermost line */
                    if (!e->seen) e->inl = inl;
                    if (e->seen != i + 1) e->inl &= inl;
                    e->seen = i + 1;
                }
                parent = n;
            }
        }
        if (parent >= 0) nodes[parent].st.flat = sat_add(nodes[parent].st.flat, w);
    }
    for (size_t i = 0; i < edges.cap; i++) {
        if (!edges.e[i].key) continue;
        node_t *child = &nodes[(uint32_t)(edges.e[i].key - 1)];
        if (edges.e[i].inl)
            child->st.inlined = 1;
        else
            child->st.called = 1;
    }

    scry_func_stat_t *st = malloc((nn ? nn : 1) * sizeof *st);
    if (!st) goto out;
    size_t n = 0;
    for (size_t i = 0; i < nn; i++)
        if (nodes[i].st.flat || nodes[i].st.cum) st[n++] = nodes[i].st;
    *out = st;
    result = (long)n;
out:
    free(nodes);
    free(slot);
    free(loc_off);
    free(loc_nodes);
    free(edges.e);
    return result;
}
