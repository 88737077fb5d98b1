/*
 * stacktab.c - interned stacks; see stacktab.h.
 *
 * An open-addressing hash index (ids, linear probing, doubled at 50% load)
 * points into entries stored in fixed blocks of BLOCK entries, and frames are
 * copied into 64 KiB arena chunks. Blocks and chunks are never moved or freed,
 * which is what lets readers use an id without the lock.
 */
#include "core/stacktab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "core/busy.h"

#define BLOCK 4096u
#define NBLOCKS (SCRY__STACKTAB_MAX / BLOCK)
#define CHUNK (64u * 1024u)

typedef struct {
    const uintptr_t *frames;
    uint32_t n;
    uint32_t hash;
} entry_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t *blocks[NBLOCKS];
static _Atomic uint32_t count;
static _Atomic size_t bytes_held; /* frames and entries (the index aside) */
static uint32_t *index_; /* id + 1, 0 = empty */
static uint32_t index_cap;
static char *chunk;
static size_t chunk_used = CHUNK;

static uint32_t hash_frames(const uintptr_t *f, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h ^= f[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return (uint32_t)h;
}

static entry_t *entry(uint32_t id)
{
    return &blocks[id / BLOCK][id % BLOCK];
}

static int grow_index(void)
{
    uint32_t cap = index_cap ? index_cap * 2 : 4096;
    uint32_t *ix = calloc(cap, sizeof *ix);
    if (!ix) return -1;
    uint32_t n = atomic_load_explicit(&count, memory_order_relaxed);
    for (uint32_t id = 0; id < n; id++) {
        uint32_t i = entry(id)->hash & (cap - 1);
        while (ix[i]) i = (i + 1) & (cap - 1);
        ix[i] = id + 1;
    }
    free(index_);
    index_ = ix;
    index_cap = cap;
    return 0;
}

static const uintptr_t *copy_frames(const uintptr_t *f, uint32_t n)
{
    size_t bytes = (size_t)n * sizeof *f;
    if (chunk_used + bytes > CHUNK) {
        char *c = malloc(CHUNK); /* SCRY__MAX_FRAMES * 8 bytes always fits */
        if (c) atomic_fetch_add_explicit(&bytes_held, CHUNK, memory_order_relaxed);
        if (!c) return NULL;
        chunk = c;
        chunk_used = 0;
    }
    uintptr_t *dst = (uintptr_t *)(chunk + chunk_used);
    if (bytes) memcpy(dst, f, bytes);
    chunk_used += bytes;
    return dst;
}

size_t scry__stacktab_bytes(void)
{
    return atomic_load_explicit(&bytes_held, memory_order_relaxed) +
           (size_t)index_cap * sizeof *index_;
}

uint32_t scry__stacktab_intern(const uintptr_t *frames, uint32_t n)
{
    uint32_t h = hash_frames(frames, n);
    uint32_t id = SCRY__STACK_NONE;
    /* What the table allocates under its lock is scry's: never a heap
     * sample, which would intern a stack here again. */
    scry__busy_enter();
    pthread_mutex_lock(&lock);
    uint32_t cnt = atomic_load_explicit(&count, memory_order_relaxed);
    if (index_cap) {
        for (uint32_t i = h & (index_cap - 1); index_[i]; i = (i + 1) & (index_cap - 1)) {
            entry_t *e = entry(index_[i] - 1);
            if (e->hash == h && e->n == n && !memcmp(e->frames, frames, n * sizeof *frames)) {
                id = index_[i] - 1;
                goto out;
            }
        }
    }
    if (cnt >= SCRY__STACKTAB_MAX) goto out;
    if ((cnt + 1) * 2 > index_cap && grow_index() < 0) goto out;
    if (!blocks[cnt / BLOCK]) {
        if (!(blocks[cnt / BLOCK] = calloc(BLOCK, sizeof(entry_t)))) goto out;
        atomic_fetch_add_explicit(&bytes_held, BLOCK * sizeof(entry_t), memory_order_relaxed);
    }
    const uintptr_t *copy = copy_frames(frames, n);
    if (!copy) goto out;
    entry_t *e = entry(cnt);
    e->frames = copy;
    e->n = n;
    e->hash = h;
    uint32_t i = h & (index_cap - 1);
    while (index_[i]) i = (i + 1) & (index_cap - 1);
    index_[i] = cnt + 1;
    id = cnt;
    atomic_store_explicit(&count, cnt + 1, memory_order_release);
out:
    pthread_mutex_unlock(&lock);
    scry__busy_leave();
    return id;
}

const uintptr_t *scry__stacktab_get(uint32_t id, uint32_t *n)
{
    if (id >= atomic_load_explicit(&count, memory_order_acquire)) {
        *n = 0;
        return NULL;
    }
    entry_t *e = entry(id);
    *n = e->n;
    return e->frames;
}

void scry__stacktab_prefork(void)
{
    pthread_mutex_lock(&lock);
}

void scry__stacktab_postfork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void scry__stacktab_postfork_child(void)
{
    pthread_mutex_unlock(&lock);
}
