/*
 * heap.h - the heap profiler's side of the malloc interposer.
 *
 * interpose/malloc.c owns the fast paths. What they do depends on a global
 * mode (below), so that nothing is kept that nobody asked for: with no heap
 * or allocs profile running and nobody wanting the exact totals, every
 * malloc-family call is one predictable branch on a global and a tail jump
 * to the next allocator (no TLS, no chunk-header read, no filter lookup).
 *
 * While the totals are kept (SCRY__HEAP_COUNT), every allocation subtracts
 * its size from the thread's byte countdown and adds to the thread's exact
 * totals; only when the countdown goes below zero does it call
 * scry__heap_sampled_alloc(), which records the block when the profile runs.
 * The countdown is a Poisson process over allocated bytes (Go's
 * MemProfileRate): the next sample comes after an exponentially distributed
 * number of bytes with mean `rate`, so a block of size s is sampled with
 * probability 1 - exp(-s/rate).
 *
 * A sampled block's address goes into the live table. free() must find it
 * without paying a lookup for the (almost all) blocks that were never
 * sampled: the filter is an array of small counters indexed by the 512-byte
 * granule of the address, raised for every sampled block that starts in a
 * granule and lowered when it is freed. A free whose counter is zero was not
 * sampled: one load from a table that stays in cache, because consecutive
 * blocks share granules. A non-zero counter means "maybe", and the live
 * table is asked. While the live table holds blocks (SCRY__HEAP_MATCH), even
 * after the profile stopped, free() consults the filter, so that in-use
 * stays right for a profile written later (Go's semantics: the data is
 * cumulative and in-use is as of the write).
 *
 * Everything past the fast path takes locks, allocates only with mmap, and
 * marks the thread busy (threads.h), so an allocation scry makes itself, or
 * one from a signal handler that interrupted scry, is never sampled and never
 * waits for a lock the thread already holds.
 */
#ifndef SCRY_PROFILE_HEAP_H
#define SCRY_PROFILE_HEAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Per thread, initial-exec TLS. The owner updates the totals with one
 * add to memory each (malloc.c's count(): a single instruction, so neither
 * a reader nor a signal handler on the owner's thread can split it) and
 * readers on other threads load them, so a read never needs the owner's
 * cooperation. Bytes are kept as usable size + 8 per block, which is
 * glibc's chunk size, read from the chunk header with one AND:
 * usable bytes = *_chunk - 8 * *_objects (scry__heap_bytes). */
typedef struct {
    int64_t countdown; /* bytes until the next sample; <= 0: sample */
    uint64_t alloc_objects, alloc_chunk, free_objects, free_chunk;
    uint64_t rng;
    int state; /* below */
    /* While diverted (core/busy.h): the countdown and state to put back. */
    int64_t saved_countdown;
    int saved_state;
    /* Times the thread entered scry's code (outermost entries): heap.c
     * tells scry's constructor from later calls by it. */
    uint32_t entries;
} scry__heap_tls_t;

/* A thread's state. free()'s fast path runs only in state 1, registered
 * and glibc as the allocator (whose block sizes it reads in place). */
enum {
    SCRY__HEAP_NEW = 0,
    SCRY__HEAP_REGISTERED_GLIBC = 1,
    SCRY__HEAP_REGISTERED = 2,
    SCRY__HEAP_EXITED = 3,
    SCRY__HEAP_DIVERTED = 4, /* running scry's code: nothing is counted */
};

extern __thread scry__heap_tls_t scry__heap_tls __attribute__((tls_model("initial-exec")));

/* Usable bytes from a block count and its sum of usable + 8. */
static inline uint64_t scry__heap_bytes(uint64_t chunk, uint64_t objects)
{
    return chunk - 8 * objects;
}

/* Counted for threads past their TLS destructor (state EXITED), in the
 * order of scry__heap_totals_t's fields. Defined in malloc.c. */
extern _Atomic uint64_t scry__heap_late[4];

/* The thread enters scry's code (core/busy.h): its allocations and frees
 * are not the program's. A countdown far below zero sends malloc to its slow
 * path, a state other than 1 sends free to its own, and the slow paths
 * count nothing in state DIVERTED (interpose/malloc.c). It would take 2^62
 * bytes allocated while diverted to bring the countdown back above zero.
 *
 * A program's signal handler that allocates may land between any two of
 * these stores. The state changes first, both ways: were the countdown
 * lowered first, such a handler's block would take the slow path while the
 * state still said "the program's", be counted there and draw a fresh
 * countdown above zero, and the rest of scry's code would then be counted
 * on the fast path. Blocks a handler allocates or frees while the state
 * says DIVERTED are not counted. */
static inline void scry__heap_divert(void)
{
    scry__heap_tls_t *t = &scry__heap_tls;
    t->entries++;
    t->saved_countdown = t->countdown;
    t->saved_state = t->state;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->state = SCRY__HEAP_DIVERTED;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->countdown = INT64_MIN / 2;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void scry__heap_undivert(void)
{
    scry__heap_tls_t *t = &scry__heap_tls;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->state = t->saved_state;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->countdown = t->saved_countdown;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* The interposers' mode (malloc.c), bits read with one relaxed load:
 *   SCRY__HEAP_COUNT  the exact totals are kept (scry__heap_totals_want);
 *   SCRY__HEAP_MATCH  the live table may hold sampled blocks: frees and
 *                     reallocs consult the filter;
 *   SCRY__HEAP_ARENA  the bootstrap arena served a block (malloc.c): frees
 *                     never pass through unchecked.
 * 0: the interposers only forward. Set by heap.c: COUNT under its control
 * lock through scry__malloc_counting(), MATCH with atomic or/and. */
enum { SCRY__HEAP_COUNT = 1, SCRY__HEAP_MATCH = 2, SCRY__HEAP_ARENA = 4 };
extern _Atomic int scry__heap_mode;

/* Turns the counting paths on or off (malloc.c): the caller holds heap.c's
 * control lock. */
void scry__malloc_counting(int on);

#define SCRY__HEAP_FILTER_BITS 20
#define SCRY__HEAP_GRANULE_SHIFT 9
extern _Atomic uint8_t scry__heap_filter[1u << SCRY__HEAP_FILTER_BITS];

static inline uint32_t scry__heap_filter_index(const void *p)
{
    return (uint32_t)((uintptr_t)p >> SCRY__HEAP_GRANULE_SHIFT) & ((1u << SCRY__HEAP_FILTER_BITS) - 1);
}

/* Nonzero when p may be a sampled block (never a false "no"). */
static inline int scry__heap_maybe_sampled(const void *p)
{
    return atomic_load_explicit(&scry__heap_filter[scry__heap_filter_index(p)],
                                memory_order_relaxed) != 0;
}

/* The countdown went below zero on this allocation of n requested bytes at
 * p (NULL when the allocation failed). caller is the interposer's return
 * address: the leaf when nothing better can be unwound; glibc: whether the
 * next allocator is glibc (for the thread's state). Draws the next
 * countdown; records the block when the profile runs. */
void scry__heap_sampled_alloc(void *p, size_t n, uintptr_t caller, int glibc);

/* p is being freed and the filter said maybe (or the thread is not yet
 * registered for the totals): removes p from the live table and counts
 * the free in its bucket. Called before the block is
 * returned to the allocator, so its address cannot be reused meanwhile. */
void scry__heap_sampled_free(void *p, int glibc);

/* realloc: p leaves the live table before the allocator sees it (returns a
 * token, 0 when p was not sampled); then either the realloc succeeded and
 * the free is counted (commit), or it failed and p is live again (undo). */
uint64_t scry__heap_detach(void *p);
void scry__heap_detach_commit(uint64_t token);
void scry__heap_detach_undo(void *p, uint64_t token);

/* The allocator the program's malloc calls resolve to is not scry's (a
 * sanitizer or another preloaded allocator comes first): the heap profile
 * cannot see allocations. Set by malloc.c; "" when scry's is first. */
const char *scry__malloc_shadowed_by(void);

/* Called by scry's constructor: from now on the slow paths may record. */
void scry__malloc_ready(void);
/* Called by scry__malloc_ready (heap.c): notes which call is the
 * constructor's, and starts the totals for SCRY_HEAP_TOTALS=1. */
void scry__heap_at_load(void);

/* Allocation sizes while the heap profile runs, estimated from its samples:
 * counts[i] allocations of at most 2^i bytes (and more than 2^(i-1)),
 * counts[SCRY__HEAP_SIZE_BUCKETS] larger ones; sum: their bytes. */
#define SCRY__HEAP_SIZE_BUCKETS 40
void scry__heap_size_histogram(double counts[SCRY__HEAP_SIZE_BUCKETS + 1], double *sum);

/* Exact totals, every thread, of what the program allocated and freed
 * while they were kept. They are kept only while someone wants them:
 * the heap or allocs profile running, the HTTP endpoint serving (/metrics),
 * or SCRY_HEAP_TOTALS=1 (from load to exit). The first want begins a
 * period: counts start from zero at `since_ns`. The last one ends it: the
 * counts are frozen (a profile written after it stopped carries them).
 *
 * `whole` says the period began in scry's constructor, before the program
 * ran: then alloc - free is what the program holds (the totals have always
 * meant that). A period begun later counts the frees of blocks allocated
 * before it, which no cheap test can tell apart (glibc's chunk header has
 * no spare bit, and a side table is what the pass-through exists to
 * avoid): its counters are right, its difference is not the program's
 * heap, and readers leave in-use out. */
typedef struct {
    uint64_t alloc_objects, alloc_bytes, free_objects, free_bytes;
    int kept;         /* counting now */
    int whole;        /* the period began at load */
    int64_t since_ns; /* CLOCK_REALTIME when the period began; 0: never kept */
} scry__heap_totals_t;
void scry__heap_totals(scry__heap_totals_t *out);

/* +1: the caller wants the totals kept from now on; -1: no longer. Takes
 * heap.c's control lock; not from a signal handler, nor from a malloc. */
void scry__heap_totals_want(int delta);

#endif
