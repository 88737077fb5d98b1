/*
 * contention.h - the block and mutex profiles' side of the lock
 * interposers (interpose/lock.c).
 *
 * A wait that the interposer could not avoid (its try-lock failed, or the
 * primitive always blocks) is bracketed by wait_begin / wait_end around the
 * real blocking call. wait_begin reads the clock and registers the waiter
 * on the object (lock, condition variable, semaphore); wait_end reads the
 * clock again and records:
 *   block  the waiter's own stack and delay (Go's SetBlockProfileRate
 *          sampling: a wait of at least `rate` ns always, a shorter one
 *          with probability delay/rate, scaled so totals stay unbiased);
 *   mutex  the same delay, charged to the stack of the thread whose
 *          release ended the wait (one holder blocking five waiters for
 *          1 s reports 5 s), for 1 in `fraction` releases, scaled by it;
 *   wake-up latency: from that release to the waiter running again, into
 *          a histogram (Go's /sched/latencies:seconds).
 *
 * Releases must not pay for this when nobody waits: a waiter raises a
 * counter in the waiter filter (indexed by a hash of the object's address)
 * for as long as it waits, and a release looks at that one byte and goes
 * further only when it is not zero. Then it notes the time just before the
 * real release (one store), and only after it, outside the program's
 * critical section, records its stack for the waits it ended.
 */
#ifndef SCRY_PROFILE_CONTENTION_H
#define SCRY_PROFILE_CONTENTION_H

#include <stdatomic.h>
#include <stdint.h>

/* Nonzero while the block or the mutex profile runs, or a trace records. */
extern _Atomic int scry__contention_on;
/* The tracer's switch: waits are timed and releases looked at for it too. */
void scry__contention_set_tracing(int on);

#define SCRY__WAITER_FILTER_BITS 16
extern _Atomic uint8_t scry__waiter_filter[1u << SCRY__WAITER_FILTER_BITS];

/* Locks and condition variables are 8-byte aligned and at least that big,
 * so the address's low bits above the alignment tell neighbours apart
 * without a multiply on the unlock fast path; objects 512 KiB apart share
 * a slot, which costs them only a look at the waiter table. */
static inline uint32_t scry__waiter_index(const void *obj)
{
    return (uint32_t)((uintptr_t)obj >> 3) & ((1u << SCRY__WAITER_FILTER_BITS) - 1);
}

/* Nonzero when a thread may be waiting on obj (never a false "no"). */
static inline int scry__maybe_waiters(const void *obj)
{
    return atomic_load_explicit(&scry__waiter_filter[scry__waiter_index(obj)],
                                memory_order_relaxed) != 0;
}

/* What a wait is on: mutexes and rwlocks feed the mutex profile too. */
enum { SCRY__WAIT_LOCK = 0, SCRY__WAIT_OTHER = 1 };

typedef struct {
    int64_t t0;
    int registered;    /* contention.c's UNREGISTERED, IN_FILTER or IN_TABLE */
    uint64_t ticket;   /* the object's release ticket when this wait began */
    uint64_t trace_t0; /* the tracer's clock at the start; 0 when not tracing */
} scry__wait_t;

/* Both 0 when the calling thread is scry's own (busy): then nothing is
 * recorded and the caller just makes the real call. kind: SCRY__TW_*, for
 * the tracer (trace/trace.h), which sees every timed wait too. */
int scry__wait_begin(scry__wait_t *w, const void *obj, int what);
void scry__wait_end(scry__wait_t *w, const void *obj, int what, int kind, uintptr_t caller);
/* The wait begun did not happen after all (the interposer's attempt after
 * wait_begin took the lock): unregistered, nothing recorded. */
void scry__wait_cancel(scry__wait_t *w, const void *obj);

/* A release (unlock, signal, post) of obj while the filter said "maybe":
 * release_begin just before the real release (notes the time, for the
 * wake-up latency, and tells the tracer: wake_kind is a SCRY__TK_*) and
 * returns the release's ticket (0 when no profile runs); for locks,
 * release_end just after it (caller: the interposer's return address,
 * ticket: begin's), which charges the waits this release ended to the
 * releaser's stack. */
uint64_t scry__contention_release_begin(const void *obj, int wake_kind);
void scry__contention_release_end(const void *obj, uintptr_t caller, uint64_t ticket);

/* Wake-up latencies so far: counts per power of two of nanoseconds
 * (bucket i: [2^i, 2^(i+1)) ns; bucket 0 also holds 0). */
#define SCRY__LATENCY_BUCKETS 48
void scry__sched_latencies(uint64_t out[SCRY__LATENCY_BUCKETS]);
/* Nanoseconds spent in timed mutex and rwlock waits (while a profile runs). */
uint64_t scry__lock_wait_total_ns(void);

#endif
