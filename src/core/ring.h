/*
 * ring.h - the lock-free queue that carries samples out of signal handlers.
 *
 * Every producer (a signal handler on any thread) reserves a slot, fills it
 * in place and commits it; one consumer (the aggregator thread, or the thread
 * writing a profile, under the aggregator's lock) drains committed slots in
 * order. It is a bounded multi-producer queue with a sequence number per slot
 * (Vyukov's design): a producer claims a slot with one compare-and-swap on the
 * tail, so it needs no lock and no allocation and is async-signal-safe. When
 * the queue is full the sample is dropped and counted, never waited for.
 *
 * One queue for all threads rather than one per thread: CPU samples arrive at
 * most at ncpu * hz per second whatever the number of threads, so a single
 * 4096-slot ring (4 MiB) holds seconds of samples, threads that scry did not
 * create need no buffer of their own, and a thread's exit needs no hand-over.
 */
#ifndef SCRY_CORE_RING_H
#define SCRY_CORE_RING_H

#include <stdint.h>

/* Deepest stack recorded; deeper stacks keep their leaf-most frames. */
#define SCRY__MAX_FRAMES 128

/* Which profile a sample belongs to. */
enum { SCRY__KIND_CPU = 0, SCRY__KIND_BLOCK, SCRY__KIND_MUTEX, SCRY__KIND_COUNT };

typedef struct {
    uint32_t kind;
    uint32_t nframes;
    int64_t values[2];
    uintptr_t tag; /* per kind: the lock's address for block and mutex */
    uint64_t span_id; /* the current span then (span/labels.h), 0: none */
    uint32_t span_name; /* its names word (span/labels.h) */
    uint32_t pad;
    uintptr_t frames[SCRY__MAX_FRAMES];
} scry__sample_t;

/* Allocates the queue once; later calls do nothing. 0 or -ENOMEM. */
int scry__ring_init(void);

/* Async-signal-safe. Returns a slot to fill, or NULL when the queue is full
 * or not initialised (the drop is counted). Must be followed by commit. */
scry__sample_t *scry__ring_reserve_as_safe(void);
void scry__ring_commit_as_safe(scry__sample_t *s);

/* Single consumer: calls fn on every committed sample in order, frees the
 * slots, returns the number drained. The caller serialises consumers. */
typedef void (*scry__ring_fn)(const scry__sample_t *s, void *arg);
uint64_t scry__ring_drain(scry__ring_fn fn, void *arg);

/* Samples committed since the start. */
uint64_t scry__ring_taken(void);
/* Nanoseconds spent in scry's signal handlers (CPU samples, stack
 * requests), added by each handler. */
extern _Atomic uint64_t scry__handler_ns;

/* Samples dropped because the queue was full, since the start. */
uint64_t scry__ring_drops(void);

/* Empties the queue. Only when no producer can run: in a fork child. */
void scry__ring_reset(void);

#endif
