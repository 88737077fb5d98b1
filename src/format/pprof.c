/*
 * pprof.c - builds and writes a pprof profile; see pprof.h.
 *
 * Samples are kept as given until write time. Writing then: snapshots the
 * mappings and symbolizes (symbolize.h; "libfoo.so+0x1120" where nothing
 * names the code), drops frames that lie in
 * libscry.so, interns one Location per distinct address, one Function per
 * (name, system name, file), and every string once, fills protobuf-c's
 * generated structs, packs them and deflates them with a gzip header.
 */
#define _GNU_SOURCE
#include "format/pprof.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "format/symbolize.h"
#include "profile.pb-c.h"

#define MAX_TYPES 8
#define MAX_INLINE 32

typedef struct {
    uint32_t frames_at, nframes; /* into frames[] */
    uint32_t values_at;          /* into values[] */
    uint32_t labels_at, nlabels; /* into labels[] */
} sample_t;

struct scry__pprof {
    scry__value_type_t types[MAX_TYPES];
    int ntypes;
    scry__value_type_t period_type;
    int64_t period, time_nanos, duration_nanos;
    char *default_type;
    char **comments;
    size_t ncomments;
    sample_t *samples;
    size_t nsamples, capsamples;
    uintptr_t *frames;
    size_t nframes, capframes;
    int64_t *values;
    size_t nvalues, capvalues;
    scry__label_t *labels; /* strings owned (strdup) */
    size_t nlabels, caplabels;
    int failed;
};

/* Grows *v (n used, *cap allocated) to hold `more` more items of size sz. */
static int grow(void **v, size_t n, size_t *cap, size_t more, size_t sz)
{
    if (n + more <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < n + more) c *= 2;
    void *p = realloc(*v, c * sz);
    if (!p) return -1;
    *v = p;
    *cap = c;
    return 0;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

scry__pprof_t *scry__pprof_new(const scry__value_type_t *types, int ntypes,
                               scry__value_type_t period_type, int64_t period)
{
    if (ntypes < 1 || ntypes > MAX_TYPES) return NULL;
    scry__pprof_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    for (int i = 0; i < ntypes; i++) {
        p->types[i].type = dup_or_empty(types[i].type);
        p->types[i].unit = dup_or_empty(types[i].unit);
    }
    p->ntypes = ntypes;
    p->period_type.type = dup_or_empty(period_type.type);
    p->period_type.unit = dup_or_empty(period_type.unit);
    p->period = period;
    return p;
}

void scry__pprof_set_time(scry__pprof_t *p, int64_t time_nanos, int64_t duration_nanos)
{
    p->time_nanos = time_nanos;
    p->duration_nanos = duration_nanos;
}

void scry__pprof_set_default_type(scry__pprof_t *p, const char *type)
{
    free(p->default_type);
    p->default_type = dup_or_empty(type);
}

void scry__pprof_add_comment(scry__pprof_t *p, const char *text)
{
    char **v = realloc(p->comments, (p->ncomments + 1) * sizeof *v);
    if (!v || !(v[p->ncomments] = strdup(text))) {
        if (v) p->comments = v;
        p->failed = 1;
        return;
    }
    p->comments = v;
    p->ncomments++;
}

int scry__pprof_add_sample(scry__pprof_t *p, const uintptr_t *frames, uint32_t nframes,
                           const int64_t *values, const scry__label_t *labels, int nlabels)
{
    if (grow((void **)&p->samples, p->nsamples, &p->capsamples, 1, sizeof *p->samples) ||
        grow((void **)&p->frames, p->nframes, &p->capframes, nframes, sizeof *p->frames) ||
        grow((void **)&p->values, p->nvalues, &p->capvalues, (size_t)p->ntypes,
             sizeof *p->values) ||
        grow((void **)&p->labels, p->nlabels, &p->caplabels, (size_t)nlabels, sizeof *p->labels))
        return -ENOMEM;
    sample_t *s = &p->samples[p->nsamples++];
    s->frames_at = (uint32_t)p->nframes;
    s->nframes = nframes;
    s->values_at = (uint32_t)p->nvalues;
    s->labels_at = (uint32_t)p->nlabels;
    s->nlabels = (uint32_t)nlabels;
    if (nframes) memcpy(p->frames + p->nframes, frames, nframes * sizeof *frames);
    p->nframes += nframes;
    memcpy(p->values + p->nvalues, values, (size_t)p->ntypes * sizeof *values);
    p->nvalues += (size_t)p->ntypes;
    for (int i = 0; i < nlabels; i++) {
        scry__label_t *l = &p->labels[p->nlabels++];
        l->key = dup_or_empty(labels[i].key);
        l->str = labels[i].str ? strdup(labels[i].str) : NULL;
        l->num = labels[i].num;
        l->num_unit = labels[i].num_unit ? strdup(labels[i].num_unit) : NULL;
    }
    return 0;
}

void scry__pprof_free(scry__pprof_t *p)
{
    if (!p) return;
    for (int i = 0; i < p->ntypes; i++) {
        free((char *)p->types[i].type);
        free((char *)p->types[i].unit);
    }
    free((char *)p->period_type.type);
    free((char *)p->period_type.unit);
    free(p->default_type);
    for (size_t i = 0; i < p->ncomments; i++) free(p->comments[i]);
    free(p->comments);
    for (size_t i = 0; i < p->nlabels; i++) {
        free((char *)p->labels[i].key);
        free((char *)p->labels[i].str);
        free((char *)p->labels[i].num_unit);
    }
    free(p->labels);
    free(p->samples);
    free(p->frames);
    free(p->values);
    free(p);
}

/* ---- interning tables used while writing ---- */

/* Open-addressing map from a 64-bit key to a 1-based index. */
typedef struct {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n;
} u64map_t;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static uint32_t *u64map_slot(u64map_t *m, uint64_t key)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        uint64_t *k = calloc(cap, sizeof *k);
        uint32_t *v = calloc(cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return NULL;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->vals[i]) continue;
            size_t j = mix(m->keys[i]) & (cap - 1);
            while (v[j]) j = (j + 1) & (cap - 1);
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
    while (m->vals[j] && m->keys[j] != key) j = (j + 1) & (m->cap - 1);
    if (!m->vals[j]) m->keys[j] = key;
    return &m->vals[j];
}

static void u64map_free(u64map_t *m)
{
    free(m->keys);
    free(m->vals);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

typedef struct {
    char **table; /* string_table */
    size_t n, cap;
    u64map_t index; /* hash -> 1-based first index; collisions probe linearly */
    int failed;
} strtab_t;

/* Index of s in the string table, adding it once. */
static int64_t str_id(strtab_t *t, const char *s)
{
    if (!s) s = "";
    if (!*s && t->n) return 0;
    for (uint64_t h = hash_str(s);; h++) {
        uint32_t *slot = u64map_slot(&t->index, h);
        if (!slot) {
            t->failed = 1;
            return 0;
        }
        if (*slot) {
            if (!strcmp(t->table[*slot - 1], s)) return *slot - 1;
            continue; /* a different string with this hash: next key */
        }
        if (grow((void **)&t->table, t->n, &t->cap, 1, sizeof *t->table) ||
            !(t->table[t->n] = strdup(s))) {
            t->failed = 1;
            return 0;
        }
        t->index.n++;
        *slot = (uint32_t)++t->n;
        return (int64_t)t->n - 1;
    }
}

static void strtab_free(strtab_t *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->table[i]);
    free(t->table);
    u64map_free(&t->index);
}

/* ---- gzip output ---- */

static int write_all(int fd, const unsigned char *b, size_t n)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int scry__pprof_gzip_to_fd(const uint8_t *data, size_t len, int fd)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -ENOMEM;
    unsigned char out[65536];
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    int rc = 0, zr;
    do {
        z.next_out = out;
        z.avail_out = sizeof out;
        zr = deflate(&z, Z_FINISH);
        if (zr == Z_STREAM_ERROR) {
            rc = -EIO;
            break;
        }
        rc = write_all(fd, out, sizeof out - z.avail_out);
    } while (rc == 0 && zr != Z_STREAM_END);
    deflateEnd(&z);
    return rc;
}

/* ---- write ---- */

/* The mapping of libscry.so itself: the one holding this function. Frames
 * in it (the thread-start trampoline) are scry's, never the program's. */
static int own_mapping(scry__symbolizer_t *sym)
{
    return scry__symbolizer_find_mapping(sym, (uintptr_t)&own_mapping);
}

static int in_scry(scry__symbolizer_t *sym, int self, uintptr_t addr)
{
    if (self < 0) return 0;
    const scry__mapping_t *maps;
    scry__symbolizer_mappings(sym, &maps);
    int m = scry__symbolizer_find_mapping(sym, addr);
    return m >= 0 && (m == self || !strcmp(maps[self].path, maps[m].path));
}

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;
typedef Perftools__Profiles__Mapping Mapping;
typedef Perftools__Profiles__ValueType ValueType;
typedef Perftools__Profiles__Label Label;

typedef struct {
    Profile prof;
    strtab_t strs;
    u64map_t loc_of_addr; /* address -> 1-based location index */
    u64map_t fn_index;    /* hash of name/system/file -> 1-based function index, probed */
    Location *locs;
    size_t *first_line; /* per location: index of its first entry in lines */
    size_t nlocs, caplocs, capfirst;
    Line *lines;
    size_t nlines, caplines;
    Function *fns;
    size_t nfns, capfns;
    Mapping *maps;
    size_t nmaps;
    int *map_used_flags; /* per mapping: 1 functions, 2 files, 4 lines, 8 inline */
} build_t;

static uint64_t function_id(build_t *b, const scry__frame_t *f)
{
    int64_t name = str_id(&b->strs, f->name), sys = str_id(&b->strs, f->system_name),
            file = str_id(&b->strs, f->file);
    uint64_t key = mix((uint64_t)name * 31 + (uint64_t)sys) ^ mix((uint64_t)file + 7);
    for (;; key++) {
        uint32_t *slot = u64map_slot(&b->fn_index, key);
        if (!slot) return 0;
        if (*slot) {
            Function *fn = &b->fns[*slot - 1];
            if (fn->name == name && fn->system_name == sys && fn->filename == file) return fn->id;
            continue;
        }
        if (grow((void **)&b->fns, b->nfns, &b->capfns, 1, sizeof *b->fns)) return 0;
        Function *fn = &b->fns[b->nfns];
        perftools__profiles__function__init(fn);
        fn->id = b->nfns + 1;
        fn->name = name;
        fn->system_name = sys;
        fn->filename = file;
        b->fn_index.n++;
        *slot = (uint32_t)++b->nfns;
        return fn->id;
    }
}

/* Location id (1-based) of addr, creating and symbolizing it once. */
static uint64_t location_id(build_t *b, scry__symbolizer_t *sym, uintptr_t addr)
{
    uint32_t *slot = u64map_slot(&b->loc_of_addr, addr);
    if (!slot) return 0;
    if (*slot) return *slot;
    if (grow((void **)&b->locs, b->nlocs, &b->caplocs, 1, sizeof *b->locs) ||
        grow((void **)&b->first_line, b->nlocs, &b->capfirst, 1, sizeof *b->first_line))
        return 0;
    b->loc_of_addr.n++;
    Location *l = &b->locs[b->nlocs];
    perftools__profiles__location__init(l);
    l->id = b->nlocs + 1;
    l->address = scry__symbolizer_address(sym, addr);
    int m = scry__symbolizer_find_mapping(sym, addr);
    if (m >= 0) l->mapping_id = (uint64_t)m + 1;
    scry__frame_t fr[MAX_INLINE];
    int n = scry__symbolize(sym, addr, fr, MAX_INLINE);
    if (n == 0 && m >= 0) {
        /* Every location in a mapping has a function, so every mapping can
         * say so (has_functions, below). */
        fr[0] = (scry__frame_t){scry__symbolize_unnamed(sym, addr), NULL, NULL, 0};
        fr[0].system_name = fr[0].name;
        n = fr[0].name ? 1 : 0;
    }
    /* Lines go in one array that may still move; l->line is pointed into it
     * once every location is known. */
    l->n_line = 0;
    b->first_line[b->nlocs] = b->nlines;
    for (int i = 0; i < n; i++) {
        if (grow((void **)&b->lines, b->nlines, &b->caplines, 1, sizeof *b->lines)) break;
        Line *ln = &b->lines[b->nlines++];
        perftools__profiles__line__init(ln);
        ln->function_id = function_id(b, &fr[i]);
        ln->line = fr[i].line;
        l->n_line++;
        if (m >= 0) {
            b->map_used_flags[m] |= 1;
            if (fr[i].file) b->map_used_flags[m] |= 2;
            if (fr[i].line) b->map_used_flags[m] |= 4;
            if (n > 1) b->map_used_flags[m] |= 8;
        }
    }
    *slot = (uint32_t)++b->nlocs;
    return l->id;
}

int scry__pprof_write_fd(scry__pprof_t *p, int fd)
{
    if (p->failed) return -ENOMEM;
    scry__symbolizer_t *sym = scry__symbolizer_acquire();
    if (!sym) return -ENOMEM;
    build_t b;
    memset(&b, 0, sizeof b);
    Profile *prof = &b.prof;
    perftools__profiles__profile__init(prof);
    str_id(&b.strs, ""); /* string_table[0] must be "" */

    const scry__mapping_t *smaps;
    b.nmaps = (size_t)scry__symbolizer_mappings(sym, &smaps);
    b.maps = calloc(b.nmaps ? b.nmaps : 1, sizeof *b.maps);
    b.map_used_flags = calloc(b.nmaps ? b.nmaps : 1, sizeof *b.map_used_flags);

    ValueType types[MAX_TYPES], period_type;
    ValueType *type_ptrs[MAX_TYPES];
    Sample *samples = calloc(p->nsamples ? p->nsamples : 1, sizeof *samples);
    Sample **sample_ptrs = calloc(p->nsamples ? p->nsamples : 1, sizeof *sample_ptrs);
    uint64_t *loc_ids = calloc(p->nframes ? p->nframes : 1, sizeof *loc_ids);
    Label *labels = calloc(p->nlabels ? p->nlabels : 1, sizeof *labels);
    Label **label_ptrs = calloc(p->nlabels ? p->nlabels : 1, sizeof *label_ptrs);
    int64_t *comments = calloc(p->ncomments ? p->ncomments : 1, sizeof *comments);
    Location **loc_ptrs = NULL;
    Function **fn_ptrs = NULL;
    Mapping **map_ptrs = calloc(b.nmaps ? b.nmaps : 1, sizeof *map_ptrs);
    uint8_t *packed = NULL;
    int rc = -ENOMEM;
    if (!b.maps || !b.map_used_flags || !samples || !sample_ptrs || !loc_ids || !labels ||
        !label_ptrs || !comments || !map_ptrs)
        goto out;

    for (int i = 0; i < p->ntypes; i++) {
        perftools__profiles__value_type__init(&types[i]);
        types[i].type = str_id(&b.strs, p->types[i].type);
        types[i].unit = str_id(&b.strs, p->types[i].unit);
        type_ptrs[i] = &types[i];
    }
    perftools__profiles__value_type__init(&period_type);
    period_type.type = str_id(&b.strs, p->period_type.type);
    period_type.unit = str_id(&b.strs, p->period_type.unit);

    int self = own_mapping(sym);
    size_t ns = 0, nlabel = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        sample_t *s = &p->samples[i];
        int64_t *v = p->values + s->values_at;
        int nonzero = 0;
        for (int k = 0; k < p->ntypes; k++) nonzero |= v[k] != 0;
        if (!nonzero) continue;
        Sample *out = &samples[ns];
        perftools__profiles__sample__init(out);
        out->location_id = loc_ids + s->frames_at;
        size_t kept = 0;
        for (uint32_t k = 0; k < s->nframes; k++) {
            uintptr_t a = p->frames[s->frames_at + k];
            if (in_scry(sym, self, a)) continue;
            uint64_t id = location_id(&b, sym, a);
            if (id) out->location_id[kept++] = id;
        }
        if (kept == 0 && s->nframes > 0) continue; /* only scry's own frames */
        out->n_location_id = kept;
        out->value = v;
        out->n_value = (size_t)p->ntypes;
        out->label = label_ptrs + nlabel;
        for (uint32_t k = 0; k < s->nlabels; k++) {
            const scry__label_t *in = &p->labels[s->labels_at + k];
            Label *l = &labels[nlabel];
            perftools__profiles__label__init(l);
            l->key = str_id(&b.strs, in->key);
            if (in->str)
                l->str = str_id(&b.strs, in->str);
            else {
                l->num = in->num;
                if (in->num_unit) l->num_unit = str_id(&b.strs, in->num_unit);
            }
            label_ptrs[nlabel++] = l;
        }
        out->n_label = s->nlabels;
        sample_ptrs[ns++] = out;
    }

    /* Locations' lines now point into the final lines array. */
    loc_ptrs = calloc(b.nlocs ? b.nlocs : 1, sizeof *loc_ptrs);
    Line **line_ptrs = calloc(b.nlines ? b.nlines : 1, sizeof *line_ptrs);
    fn_ptrs = calloc(b.nfns ? b.nfns : 1, sizeof *fn_ptrs);
    if (!loc_ptrs || !line_ptrs || !fn_ptrs) {
        free(line_ptrs);
        goto out;
    }
    for (size_t i = 0; i < b.nlines; i++) line_ptrs[i] = &b.lines[i];
    for (size_t i = 0; i < b.nlocs; i++) {
        b.locs[i].line = line_ptrs + b.first_line[i];
        loc_ptrs[i] = &b.locs[i];
    }
    for (size_t i = 0; i < b.nfns; i++) fn_ptrs[i] = &b.fns[i];

    size_t nm = 0;
    for (size_t i = 0; i < b.nmaps; i++) {
        Mapping *m = &b.maps[i];
        perftools__profiles__mapping__init(m);
        m->id = i + 1;
        m->memory_start = smaps[i].start;
        m->memory_limit = smaps[i].limit;
        m->file_offset = smaps[i].offset;
        m->filename = str_id(&b.strs, smaps[i].path);
        m->build_id = str_id(&b.strs, smaps[i].build_id);
        /* has_functions is what tells pprof that a mapping is symbolized:
         * without it, `go tool pprof` tries the binary's file on its own
         * machine and then asks the program's /debug/pprof/symbol for every
         * location in it that has no line (internal/symbolizer,
         * internal/symbolz). scry symbolized every location in the process,
         * with the same files, and named what nothing names by its place in
         * its file: nothing is left to ask. (-symbolize=force still makes
         * pprof try its own local files.) */
        int f = b.map_used_flags[i];
        m->has_functions = (f & 1) != 0;
        m->has_filenames = (f & 2) != 0;
        m->has_line_numbers = (f & 4) != 0;
        m->has_inline_frames = (f & 8) != 0;
        map_ptrs[nm++] = m;
    }

    for (size_t i = 0; i < p->ncomments; i++) comments[i] = str_id(&b.strs, p->comments[i]);
    prof->sample_type = type_ptrs;
    prof->n_sample_type = (size_t)p->ntypes;
    prof->sample = sample_ptrs;
    prof->n_sample = ns;
    prof->mapping = map_ptrs;
    prof->n_mapping = nm;
    prof->location = loc_ptrs;
    prof->n_location = b.nlocs;
    prof->function = fn_ptrs;
    prof->n_function = b.nfns;
    prof->time_nanos = p->time_nanos;
    prof->duration_nanos = p->duration_nanos;
    prof->period_type = &period_type;
    prof->period = p->period;
    prof->comment = comments;
    prof->n_comment = p->ncomments;
    if (p->default_type) prof->default_sample_type = str_id(&b.strs, p->default_type);
    if (b.strs.failed) {
        free(line_ptrs);
        goto out;
    }
    prof->string_table = b.strs.table;
    prof->n_string_table = b.strs.n;

    size_t len = perftools__profiles__profile__get_packed_size(prof);
    packed = malloc(len ? len : 1);
    if (packed) {
        perftools__profiles__profile__pack(prof, packed);
        rc = scry__pprof_gzip_to_fd(packed, len, fd);
    }
    free(line_ptrs);
out:
    free(packed);
    free(samples);
    free(sample_ptrs);
    free(loc_ids);
    free(labels);
    free(label_ptrs);
    free(comments);
    free(loc_ptrs);
    free(fn_ptrs);
    free(map_ptrs);
    free(b.maps);
    free(b.map_used_flags);
    free(b.locs);
    free(b.first_line);
    free(b.lines);
    free(b.fns);
    u64map_free(&b.loc_of_addr);
    u64map_free(&b.fn_index);
    strtab_free(&b.strs);
    scry__symbolizer_release(sym);
    return rc;
}
