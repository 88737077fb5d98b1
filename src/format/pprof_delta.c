/*
 * pprof_delta.c - the difference of two profiles taken seconds apart, as
 * Go serves /debug/pprof/allocs?seconds=N: what the cumulative profile
 * (allocations, mutex and block delays) gained in that window.
 *
 * Both profiles come from scry's own writer, gzipped, but each write
 * interns its locations afresh, so samples are matched by what identifies
 * them across writes: the addresses of their stacks and their labels. The
 * result is the later profile with each sample's values reduced by its
 * match in the earlier one, empty samples dropped, and the duration set to
 * the window.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "format/pprof.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile profile_t;
typedef Perftools__Profiles__Sample sample_t;

/* The whole of fd, gunzipped. NULL on failure. */
static uint8_t *read_gunzip(int fd, size_t *len)
{
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || lseek(fd, 0, SEEK_SET) < 0) return NULL;
    uint8_t *in = malloc((size_t)size);
    if (!in) return NULL;
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t n = read(fd, in + got, (size_t)size - got);
        if (n <= 0) {
            free(in);
            return NULL;
        }
        got += (size_t)n;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    size_t cap = (size_t)size * 4 + 4096, used = 0;
    uint8_t *out = malloc(cap);
    if (!out || inflateInit2(&z, 15 + 32) != Z_OK) {
        free(in);
        free(out);
        return NULL;
    }
    z.next_in = in;
    z.avail_in = (uInt)got;
    int zr;
    do {
        if (used == cap) {
            uint8_t *o = realloc(out, cap * 2);
            if (!o) break;
            out = o;
            cap *= 2;
        }
        z.next_out = out + used;
        z.avail_out = (uInt)(cap - used);
        zr = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
    } while (zr == Z_OK);
    inflateEnd(&z);
    free(in);
    if (zr != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    *len = used;
    return out;
}

static uint64_t address_of(const profile_t *p, uint64_t id)
{
    /* scry's writer numbers locations 1..n in order */
    if (id >= 1 && id <= p->n_location && p->location[id - 1]->id == id)
        return p->location[id - 1]->address;
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id == id) return p->location[i]->address;
    return 0;
}

/* FNV-1a over what identifies a sample across writes. */
static uint64_t key_of(const profile_t *p, const sample_t *s)
{
    uint64_t h = 1469598103934665603ull;
#define MIX(v)                                                                                     \
    do {                                                                                           \
        uint64_t v_ = (uint64_t)(v);                                                               \
        for (int b_ = 0; b_ < 8; b_++)                                                             \
            h = (h ^ ((v_ >> (8 * b_)) & 0xff)) * 1099511628211ull;                                \
    } while (0)
    for (size_t i = 0; i < s->n_location_id; i++)
        MIX(address_of(p, s->location_id[i]));
    MIX(0xffff);
    for (size_t i = 0; i < s->n_label; i++) {
        const char *k = p->string_table[s->label[i]->key];
        for (; *k; k++)
            MIX(*k);
        if (s->label[i]->str) {
            for (const char *v = p->string_table[s->label[i]->str]; *v; v++)
                MIX(*v);
        } else {
            MIX(s->label[i]->num);
        }
    }
#undef MIX
    return h;
}

int scry__pprof_delta_fd(int before, int after, int64_t duration_ns, int out)
{
    size_t la = 0, lb = 0;
    uint8_t *ra = read_gunzip(before, &la), *rb = read_gunzip(after, &lb);
    profile_t *a = ra ? perftools__profiles__profile__unpack(NULL, la, ra) : NULL;
    profile_t *b = rb ? perftools__profiles__profile__unpack(NULL, lb, rb) : NULL;
    int rc = -EINVAL;
    if (!a || !b || a->n_sample_type != b->n_sample_type) goto done;
    /* The earlier samples by key, open addressing (capacity a power of 2). */
    size_t cap = 16;
    while (cap < a->n_sample * 2)
        cap *= 2;
    uint64_t *keys = calloc(cap, sizeof *keys);
    const sample_t **slot = calloc(cap, sizeof *slot);
    if (!keys || !slot) {
        free(keys);
        free(slot);
        rc = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < a->n_sample; i++) {
        uint64_t k = key_of(a, a->sample[i]);
        size_t j = k & (cap - 1);
        while (slot[j] && keys[j] != k)
            j = (j + 1) & (cap - 1);
        if (!slot[j]) { /* equal keys twice: the writer aggregates, so not expected */
            keys[j] = k;
            slot[j] = a->sample[i];
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < b->n_sample; i++) {
        sample_t *s = b->sample[i];
        uint64_t k = key_of(b, s);
        size_t j = k & (cap - 1);
        while (slot[j] && keys[j] != k)
            j = (j + 1) & (cap - 1);
        int any = 0;
        for (size_t v = 0; v < s->n_value; v++) {
            if (slot[j] && v < slot[j]->n_value) s->value[v] -= slot[j]->value[v];
            any |= s->value[v] != 0;
        }
        if (any)
            b->sample[kept++] = s;
        else
            perftools__profiles__sample__free_unpacked(s, NULL);
    }
    b->n_sample = kept;
    b->duration_nanos = duration_ns;
    free(keys);
    free(slot);
    size_t len = perftools__profiles__profile__get_packed_size(b);
    uint8_t *packed = malloc(len ? len : 1);
    if (!packed) {
        rc = -ENOMEM;
        goto done;
    }
    perftools__profiles__profile__pack(b, packed);
    rc = scry__pprof_gzip_to_fd(packed, len, out);
    free(packed);
done:
    if (a) perftools__profiles__profile__free_unpacked(a, NULL);
    if (b) perftools__profiles__profile__free_unpacked(b, NULL);
    free(ra);
    free(rb);
    return rc;
}
