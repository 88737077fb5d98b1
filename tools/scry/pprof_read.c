/*
 * pprof_read.c - load, validate and summarise a pprof file; see pprof_read.h.
 *
 * Ids are looked up by position first (pprof writers, scry's included,
 * number them 1..n in order) and by a linear search otherwise.
 */
#define _GNU_SOURCE
#include "pprof_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define MAX_INFLATED (1024L * 1024 * 1024) /* refuse gzip bombs */

static int fail(char *err, size_t len, const char *path, const char *what)
{
    snprintf(err, len, "%s: %s", path, what);
    return -1;
}

static int read_file(const char *path, unsigned char **data, size_t *size, char *err, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, len, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fail(err, len, path, "not a regular file");
    }
    if (st.st_size > MAX_INFLATED) {
        fclose(f);
        return fail(err, len, path, "file too large for a profile (over 1 GiB)");
    }
    unsigned char *b = malloc((size_t)st.st_size + 1);
    if (!b) {
        fclose(f);
        return fail(err, len, path, "out of memory");
    }
    size_t n = fread(b, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return fail(err, len, path, "read error");
    }
    *data = b;
    *size = n;
    return 0;
}

static int gunzip(const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return -1;
    size_t cap = inlen * 4 + 4096, n = 0;
    unsigned char *b = malloc(cap);
    int rc = -1;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)inlen;
    while (b) {
        if (n == cap) {
            if (cap >= (size_t)MAX_INFLATED) break;
            cap *= 2;
            unsigned char *nb = realloc(b, cap);
            if (!nb) break;
            b = nb;
        }
        z.next_out = b + n;
        z.avail_out = (uInt)(cap - n);
        int zr = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
        if (zr == Z_STREAM_END) {
            rc = 0;
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) break;
        if (zr == Z_BUF_ERROR && z.avail_in == 0) break; /* input ended early */
    }
    inflateEnd(&z);
    if (rc) {
        free(b);
        return -1;
    }
    *out = b;
    *outlen = n;
    return 0;
}

const char *scry_pprof_str(const scry_profile_t *p, int64_t i)
{
    if (i < 0 || (size_t)i >= p->n_string_table) return "";
    return p->string_table[i];
}

const Perftools__Profiles__Location *scry_pprof_location(const scry_profile_t *p, uint64_t id)
{
    if (id >= 1 && id <= p->n_location && p->location[id - 1]->id == id)
        return p->location[id - 1];
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id == id) return p->location[i];
    return NULL;
}

const Perftools__Profiles__Function *scry_pprof_function(const scry_profile_t *p, uint64_t id)
{
    if (id >= 1 && id <= p->n_function && p->function[id - 1]->id == id)
        return p->function[id - 1];
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id == id) return p->function[i];
    return NULL;
}

const Perftools__Profiles__Mapping *scry_pprof_mapping(const scry_profile_t *p, uint64_t id)
{
    if (id >= 1 && id <= p->n_mapping && p->mapping[id - 1]->id == id) return p->mapping[id - 1];
    for (size_t i = 0; i < p->n_mapping; i++)
        if (p->mapping[i]->id == id) return p->mapping[i];
    return NULL;
}

/* NULL when the profile is consistent, else what is wrong. */
static const char *validate(const scry_profile_t *p)
{
    int64_t ns = (int64_t)p->n_string_table;
#define STR_OK(i) ((i) >= 0 && (i) < ns)
    if (ns == 0 || p->string_table[0][0] != 0) return "string table must start with \"\"";
    for (size_t i = 0; i < p->n_sample_type; i++)
        if (!STR_OK(p->sample_type[i]->type) || !STR_OK(p->sample_type[i]->unit))
            return "sample type names a string out of range";
    if (p->period_type && (!STR_OK(p->period_type->type) || !STR_OK(p->period_type->unit)))
        return "period type names a string out of range";
    if (!STR_OK(p->default_sample_type)) return "default sample type out of range";
    for (size_t i = 0; i < p->n_comment; i++)
        if (!STR_OK(p->comment[i])) return "comment out of range";
    for (size_t i = 0; i < p->n_function; i++) {
        const Perftools__Profiles__Function *f = p->function[i];
        if (!f->id) return "function with id 0";
        if (!STR_OK(f->name) || !STR_OK(f->system_name) || !STR_OK(f->filename))
            return "function names a string out of range";
    }
    for (size_t i = 0; i < p->n_mapping; i++) {
        const Perftools__Profiles__Mapping *m = p->mapping[i];
        if (!m->id) return "mapping with id 0";
        if (!STR_OK(m->filename) || !STR_OK(m->build_id))
            return "mapping names a string out of range";
    }
    for (size_t i = 0; i < p->n_location; i++) {
        const Perftools__Profiles__Location *l = p->location[i];
        if (!l->id) return "location with id 0";
        if (l->mapping_id && !scry_pprof_mapping(p, l->mapping_id))
            return "location refers to a missing mapping";
        for (size_t k = 0; k < l->n_line; k++)
            if (!scry_pprof_function(p, l->line[k]->function_id))
                return "line refers to a missing function";
    }
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];
        if (s->n_value != p->n_sample_type) return "sample has the wrong number of values";
        for (size_t k = 0; k < s->n_location_id; k++)
            if (!scry_pprof_location(p, s->location_id[k]))
                return "sample refers to a missing location";
        for (size_t k = 0; k < s->n_label; k++)
            if (!STR_OK(s->label[k]->key) || !STR_OK(s->label[k]->str) ||
                !STR_OK(s->label[k]->num_unit))
                return "label names a string out of range";
    }
#undef STR_OK
    return NULL;
}

int scry_pprof_load(const char *path, scry_profile_t **out, char *err, size_t errlen)
{
    unsigned char *raw;
    size_t rawlen;
    if (read_file(path, &raw, &rawlen, err, errlen) < 0) return -1;
    if (rawlen == 0) {
        free(raw);
        return fail(err, errlen, path, "empty file");
    }
    int gz = rawlen >= 2 && raw[0] == 0x1f && raw[1] == 0x8b;
    unsigned char *data = raw;
    size_t len = rawlen;
    if (gz) {
        if (gunzip(raw, rawlen, &data, &len) < 0) {
            free(raw);
            return fail(err, errlen, path, "truncated or corrupt gzip data");
        }
        free(raw);
    }
    scry_profile_t *p = perftools__profiles__profile__unpack(NULL, len, data);
    free(data);
    if (!p)
        return fail(err, errlen, path,
                    gz ? "not a valid pprof profile: the protobuf message does not parse"
                       : "not a pprof profile (neither gzip nor protobuf; was it written by scry "
                         "or go tool pprof?)");
    const char *why = validate(p);
    if (!why && !gz && p->n_sample_type == 0) why = "no sample types";
    if (why) {
        char msg[200];
        if (gz)
            snprintf(msg, sizeof msg, "not a valid pprof profile: %s", why);
        else
            snprintf(msg, sizeof msg, "not a pprof profile (neither gzip nor a valid protobuf)");
        perftools__profiles__profile__free_unpacked(p, NULL);
        return fail(err, errlen, path, msg);
    }
    *out = p;
    return 0;
}

void scry_pprof_free(scry_profile_t *p)
{
    if (p) perftools__profiles__profile__free_unpacked(p, NULL);
}

int scry_pprof_sample_index(const scry_profile_t *p, const char *name)
{
    if (p->n_sample_type == 0) return -1;
    if (!name || !*name) {
        const char *def = scry_pprof_str(p, p->default_sample_type);
        if (*def)
            for (size_t i = 0; i < p->n_sample_type; i++)
                if (!strcmp(scry_pprof_str(p, p->sample_type[i]->type), def)) return (int)i;
        return (int)p->n_sample_type - 1;
    }
    for (size_t i = 0; i < p->n_sample_type; i++)
        if (!strcmp(scry_pprof_str(p, p->sample_type[i]->type), name)) return (int)i;
    char *end;
    long v = strtol(name, &end, 10);
    if (*name && !*end && v >= 0 && (size_t)v < p->n_sample_type) return (int)v;
    return -1;
}

static long function_index(const scry_profile_t *p, uint64_t id)
{
    if (id >= 1 && id <= p->n_function && p->function[id - 1]->id == id) return (long)id - 1;
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id == id) return (long)i;
    return -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const scry_func_stat_t *)a)->name, ((const scry_func_stat_t *)b)->name);
}

long scry_pprof_func_stats(const scry_profile_t *p, int idx, scry_func_stat_t **out,
                           int64_t *total)
{
    /* One slot per function id, then merged by name (two Function entries
     * may share a name, e.g. the same static name in two files). */
    size_t nf = p->n_function;
    scry_func_stat_t *st = calloc(nf ? nf : 1, sizeof *st);
    uint64_t *seen = calloc(nf ? nf : 1, sizeof *seen); /* last sample that counted cum */
    if (!st || !seen) {
        free(st);
        free(seen);
        return -1;
    }
    for (size_t i = 0; i < nf; i++) st[i].name = scry_pprof_str(p, p->function[i]->name);
    *total = 0;
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];
        int64_t v = s->value[idx];
        *total += v;
        for (size_t k = 0; k < s->n_location_id; k++) {
            const Perftools__Profiles__Location *l = scry_pprof_location(p, s->location_id[k]);
            for (size_t j = 0; l && j < l->n_line; j++) {
                long fi = function_index(p, l->line[j]->function_id);
                if (fi < 0) continue;
                if (k == 0 && j == 0) st[fi].flat += v;
                if (seen[fi] != i + 1) {
                    seen[fi] = i + 1;
                    st[fi].cum += v;
                }
            }
        }
    }
    free(seen);
    qsort(st, nf, sizeof *st, by_name);
    size_t n = 0;
    for (size_t i = 0; i < nf; i++) {
        if (n && !strcmp(st[n - 1].name, st[i].name)) {
            st[n - 1].flat += st[i].flat;
            st[n - 1].cum += st[i].cum; /* rare: same name twice in one stack counts twice */
        } else {
            st[n++] = st[i];
        }
    }
    *out = st;
    return (long)n;
}
