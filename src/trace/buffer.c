/*
 * buffer.c - per-thread trace buffers over a fixed pool of chunks; see
 * buffer.h.
 *
 * The pool's free chunks are a lock-free stack (Treiber's, with a tag
 * against ABA), so a thread, or a signal handler, takes a chunk with one
 * compare-and-swap and never waits. Thread slots are claimed the same way
 * (a compare-and-swap on the slot's state).
 *
 * Who writes what: a thread writes its own slot's owner fields and its
 * chunks' data; it publishes with release stores of a chunk's `committed`
 * (after each record), of a sealed chunk's `next`, of its slot's `head`
 * (its first chunk) and of the slot's state (DONE when it ends). The writer
 * reads those with acquire loads, and alone writes the reader fields and
 * pushes chunks it has read back on the stack.
 */
#define _GNU_SOURCE
#include "trace/buffer.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/threads.h"
#include "trace/clock.h"

#define CHUNK_BYTES (64u * 1024u)
#define MAX_SLOTS 4096u

typedef struct {
    _Atomic uint32_t committed; /* bytes of data[] holding whole records */
    _Atomic uint32_t next;      /* index + 1 of the thread's next chunk; 0: none yet */
    _Atomic uint32_t free_next; /* the free stack's link, index + 1 */
    uint32_t pad;
    char data[CHUNK_BYTES - 16];
} chunk_t;

#define DATA_BYTES ((uint32_t)sizeof(((chunk_t *)0)->data))

enum { SLOT_FREE = 0, SLOT_OWNED, SLOT_DONE };

typedef struct {
    /* The owner thread's. */
    uint32_t cur;     /* index + 1 of the chunk being written; 0: none */
    uint32_t pos;     /* bytes used in it */
    uint32_t session; /* the last session this thread recorded in */
    volatile sig_atomic_t writing;
    uint64_t lost; /* records lost since the last DROPPED written */
    /* Published by the owner. */
    _Atomic int state;
    _Atomic uint32_t head; /* index + 1 of its first chunk */
    pid_t tid;
    /* The writer's. */
    uint32_t rchunk, rpos;
} slot_t;

static chunk_t *chunks;
static uint32_t nchunks;
static slot_t *slots;
static _Atomic uint32_t slots_high; /* slots ever claimed: the writer looks below */
static _Atomic uint64_t free_top;   /* tag << 32 | index + 1 */
static _Atomic uint32_t chunks_used;
static _Atomic uint64_t lost_total;
static _Atomic uint32_t session = 1;

static __thread slot_t *my_slot __attribute__((tls_model("initial-exec")));
static __thread int my_done __attribute__((tls_model("initial-exec")));

static chunk_t *chunk(uint32_t idx1)
{
    return &chunks[idx1 - 1];
}

static void push(uint32_t idx1)
{
    uint64_t old = atomic_load_explicit(&free_top, memory_order_relaxed), nw;
    do {
        atomic_store_explicit(&chunk(idx1)->free_next, (uint32_t)old, memory_order_relaxed);
        nw = ((old >> 32) + 1) << 32 | idx1;
    } while (!atomic_compare_exchange_weak_explicit(&free_top, &old, nw, memory_order_release,
                                                    memory_order_relaxed));
    atomic_fetch_sub_explicit(&chunks_used, 1, memory_order_relaxed);
}

/* A free chunk, emptied, or 0. */
static uint32_t pop(void)
{
    uint64_t old = atomic_load_explicit(&free_top, memory_order_acquire), nw;
    uint32_t idx1;
    do {
        idx1 = (uint32_t)old;
        if (!idx1) return 0;
        nw = ((old >> 32) + 1) << 32 |
             atomic_load_explicit(&chunk(idx1)->free_next, memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&free_top, &old, nw, memory_order_acquire,
                                                    memory_order_acquire));
    chunk_t *c = chunk(idx1);
    atomic_store_explicit(&c->committed, 0, memory_order_relaxed);
    atomic_store_explicit(&c->next, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&chunks_used, 1, memory_order_relaxed);
    return idx1;
}

static void reset_pool(void)
{
    atomic_store(&free_top, 0);
    atomic_store(&chunks_used, nchunks);
    for (uint32_t i = nchunks; i > 0; i--) push(i);
}

int scry__tbuf_init(size_t pool_bytes)
{
    if (chunks) return 0;
    uint32_t n = (uint32_t)(pool_bytes / CHUNK_BYTES);
    if (n < 4) n = 4;
    void *c = mmap(NULL, (size_t)n * CHUNK_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (c == MAP_FAILED) return -ENOMEM;
    void *s = mmap(NULL, MAX_SLOTS * sizeof(slot_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s == MAP_FAILED) {
        munmap(c, (size_t)n * CHUNK_BYTES);
        return -ENOMEM;
    }
    nchunks = n;
    slots = s;
    chunks = c;
    reset_pool();
    return 0;
}

static pid_t my_tid(void)
{
    pid_t t = scry__tls.tid;
    return t ? t : (pid_t)syscall(SYS_gettid);
}

static slot_t *claim(void)
{
    for (uint32_t i = 0; i < MAX_SLOTS; i++) {
        slot_t *s = &slots[i];
        int expect = SLOT_FREE;
        if (atomic_load_explicit(&s->state, memory_order_relaxed) != SLOT_FREE ||
            !atomic_compare_exchange_strong_explicit(&s->state, &expect, SLOT_OWNED,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        s->cur = s->pos = 0;
        s->session = 0;
        s->writing = 0;
        s->lost = 0;
        s->tid = my_tid();
        uint32_t high = atomic_load_explicit(&slots_high, memory_order_relaxed);
        while (high < i + 1 &&
               !atomic_compare_exchange_weak_explicit(&slots_high, &high, i + 1, memory_order_release,
                                                      memory_order_relaxed)) {}
        return s;
    }
    return NULL;
}

/* Room for size bytes in s's chunk, a fresh chunk if needed; NULL when
 * the pool is empty. */
static void *room(slot_t *s, uint32_t size)
{
    if (s->cur && s->pos + size <= DATA_BYTES) return chunk(s->cur)->data + s->pos;
    uint32_t idx1 = pop();
    if (!idx1) return NULL;
    if (s->cur)
        atomic_store_explicit(&chunk(s->cur)->next, idx1, memory_order_release);
    else
        atomic_store_explicit(&s->head, idx1, memory_order_release);
    s->cur = idx1;
    s->pos = 0;
    return chunk(idx1)->data;
}

static void publish(slot_t *s, const scry__trec_t *r)
{
    s->pos += r->size;
    atomic_store_explicit(&chunk(s->cur)->committed, s->pos, memory_order_release);
}

/* The records a thread writes for itself before its first event of a
 * session, and after losing some. Inside reserve (writing is set). */
static void write_start(slot_t *s)
{
    char name[16] = {0};
    scry__thread_t *rec = scry__tls.rec;
    if (rec)
        memcpy(name, rec->name, sizeof name - 1);
    else
        prctl(PR_GET_NAME, name);
    name[sizeof name - 1] = 0;
    uint32_t len = (uint32_t)strlen(name);
    uint32_t size = scry__trec_size(sizeof(scry__tr_thread_t), len + 1);
    scry__tr_thread_t *t = room(s, size);
    if (!t) {
        s->lost++;
        return;
    }
    t->h = (scry__trec_t){SCRY__TR_THREAD_START, (uint16_t)size, len, 0};
    t->h.ts = scry__trace_clock();
    t->tid = s->tid;
    t->pad = 0;
    memcpy(t->name, name, len + 1);
    publish(s, &t->h);
}

static void write_lost(slot_t *s)
{
    uint32_t size = sizeof(scry__tr_dropped_t);
    scry__tr_dropped_t *d = room(s, size);
    if (!d) return;
    d->h = (scry__trec_t){SCRY__TR_DROPPED, (uint16_t)size, 0, scry__trace_clock()};
    d->count = s->lost;
    publish(s, &d->h);
    s->lost = 0;
}

void *scry__tbuf_reserve(uint32_t size)
{
    if (scry__tls.busy || !chunks || size > SCRY__TBUF_MAX_RECORD) return NULL;
    slot_t *s = my_slot;
    if (__builtin_expect(!s, 0)) {
        if (my_done) return NULL;
        if (!(s = claim())) {
            atomic_fetch_add_explicit(&lost_total, 1, memory_order_relaxed);
            return NULL;
        }
        my_slot = s;
    }
    if (s->writing) { /* a signal handler on top of a record */
        s->lost++;
        atomic_fetch_add_explicit(&lost_total, 1, memory_order_relaxed);
        return NULL;
    }
    s->writing = 1;
    atomic_signal_fence(memory_order_seq_cst);
    uint32_t sess = atomic_load_explicit(&session, memory_order_relaxed);
    if (__builtin_expect(s->session != sess, 0)) {
        s->session = sess;
        write_start(s);
    }
    if (__builtin_expect(s->lost != 0, 0)) write_lost(s);
    void *r = room(s, size);
    if (!r) {
        s->lost++;
        atomic_fetch_add_explicit(&lost_total, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
        s->writing = 0;
    }
    return r;
}

void scry__tbuf_commit(void *rec)
{
    slot_t *s = my_slot;
    publish(s, rec);
    atomic_signal_fence(memory_order_seq_cst);
    s->writing = 0;
}

void scry__tbuf_new_session(void)
{
    atomic_fetch_add_explicit(&session, 1, memory_order_relaxed);
}

void scry__tbuf_thread_done(void)
{
    slot_t *s = my_slot;
    my_done = 1;
    if (!s) return;
    my_slot = NULL;
    atomic_store_explicit(&s->state, SLOT_DONE, memory_order_release);
}

/* Hands fn the records of c between *pos and end. */
static void read_records(slot_t *s, chunk_t *c, uint32_t end, scry__tbuf_fn fn, void *arg)
{
    while (s->rpos + sizeof(scry__trec_t) <= end) {
        const scry__trec_t *r = (const scry__trec_t *)(c->data + s->rpos);
        if (r->size < sizeof *r || r->size % 8 || s->rpos + r->size > end) {
            s->rpos = end; /* cannot happen; never read past what was written */
            break;
        }
        fn(arg, s->tid, r);
        s->rpos += r->size;
    }
}

static void drain_slot(slot_t *s, int state, scry__tbuf_fn fn, void *arg)
{
    if (!s->rchunk) {
        s->rchunk = atomic_load_explicit(&s->head, memory_order_acquire);
        s->rpos = 0;
    }
    while (s->rchunk) {
        chunk_t *c = chunk(s->rchunk);
        read_records(s, c, atomic_load_explicit(&c->committed, memory_order_acquire), fn, arg);
        uint32_t next = atomic_load_explicit(&c->next, memory_order_acquire);
        if (!next && state != SLOT_DONE) break;
        /* Sealed (or its thread is gone): what is committed now is all. */
        read_records(s, c, atomic_load_explicit(&c->committed, memory_order_acquire), fn, arg);
        push(s->rchunk);
        s->rchunk = next;
        s->rpos = 0;
    }
    if (state == SLOT_DONE) {
        atomic_store_explicit(&s->head, 0, memory_order_relaxed);
        s->rchunk = s->rpos = 0;
        atomic_store_explicit(&s->state, SLOT_FREE, memory_order_release);
    }
}

void scry__tbuf_drain(scry__tbuf_fn fn, void *arg)
{
    if (!chunks) return;
    uint32_t high = atomic_load_explicit(&slots_high, memory_order_acquire);
    for (uint32_t i = 0; i < high; i++) {
        slot_t *s = &slots[i];
        int state = atomic_load_explicit(&s->state, memory_order_acquire);
        if (state != SLOT_FREE) drain_slot(s, state, fn, arg);
    }
}

uint64_t scry__tbuf_dropped(void)
{
    return atomic_load_explicit(&lost_total, memory_order_relaxed);
}

void scry__tbuf_usage(uint32_t *used, uint32_t *total)
{
    *used = atomic_load_explicit(&chunks_used, memory_order_relaxed);
    *total = nchunks;
}

void scry__tbuf_postfork_child(void)
{
    if (!chunks) return;
    uint32_t high = atomic_load(&slots_high);
    for (uint32_t i = 0; i < high; i++) {
        atomic_store(&slots[i].state, SLOT_FREE);
        atomic_store(&slots[i].head, 0);
        slots[i].rchunk = slots[i].rpos = 0;
    }
    atomic_store(&slots_high, 0);
    my_slot = NULL;
    my_done = 0;
    reset_pool();
}
