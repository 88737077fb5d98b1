/*
 * waits.h - what a thread is waiting in, published by scry's interposers
 * for the other threads of scry to read.
 *
 * The thread profile labels a thread "mutex wait on 0x... for 3.2 s" and
 * the wall sampler skips threads that have not moved since its last tick;
 * both read the record a thread publishes about itself (threads.h,
 * scry__wait_pub_t) around every blocking call scry interposes.
 *
 * Two kinds of waits:
 *  - Restartable ones (futex based: mutexes, rwlocks, condition variables,
 *    semaphores, joins, barriers) continue by themselves after a signal
 *    handler runs (SA_RESTART), so a thread in them may be signalled for its
 *    stack.
 *  - Waits that a signal handler cuts short whatever SA_RESTART says (sleeps,
 *    poll/select/epoll, pause and the sigwait family: they return EINTR or
 *    the time left). A thread in one is never signalled by scry, and a
 *    request already on its way is let land before the wait starts, so scry
 *    never shortens a sleep.
 * While stacks are wanted (a thread or wall profile runs), every wait
 * publishes where it was entered (pc, sp and fp: three stores, no walk), so
 * a waiting thread is never signalled at all: whoever wants its stack walks
 * it from those registers, from outside, while the thread stays in the
 * wait (scry__wait_read checks the generation after the walk).
 *
 * Cost: a coarse clock read (vDSO) and a few stores on the way in, one store
 * on the way out. Restartable waits publish only while something reads
 * the records (scry__wait_stacks_wanted: a thread or wall profile, the
 * endpoint, tracebacks); otherwise their interposers (interpose/lock.c)
 * cost a branch. A thread already in one when reading starts is found
 * unpublished and signalled, which its wait survives. Waits a signal cuts
 * short always publish: a sleep entered before a profile starts must not
 * be signalled by its first stack request.
 */
#ifndef SCRY_CORE_WAITS_H
#define SCRY_CORE_WAITS_H

#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "core/threads.h"
#include "core/unwind.h"

enum {
    SCRY__TW_NONE = 0,
    /* restartable */
    SCRY__TW_MUTEX,
    SCRY__TW_RWLOCK,
    SCRY__TW_COND,
    SCRY__TW_SEM,
    SCRY__TW_JOIN,
    SCRY__TW_BARRIER,
    /* cut short by a signal */
    SCRY__TW_SLEEP,
    SCRY__TW_POLL,
    SCRY__TW_SIGNAL,
    SCRY__TW_IO,   /* read, write, recv, send, accept, connect (interpose/io.c) */
    SCRY__TW_EXEC, /* not a wait: a pending signal must not cross an exec */
    SCRY__TW_COUNT
};

static inline int scry__wait_restartable(int kind)
{
    return kind < SCRY__TW_SLEEP;
}

/* The state label of a thread in that wait ("cond wait"). */
const char *scry__wait_name(int kind);

/* Nonzero while a thread or wall profile runs or tracebacks are on: waits
 * publish their stacks. */
extern _Atomic int scry__wait_stacks_wanted;
/* SCRY_UNWIND's mode: published registers are walked the same way. */
extern int scry__wait_unwind_mode;

static inline int64_t scry__coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The thread's half of the handshake, when a stack request is on its way
 * as it enters a wait that the request's signal would cut short: returns
 * once the signal has landed, or it cannot land (the thread blocks it) or
 * has not come for WAIT_GIVE_UP_MS (waits.c), taking the request off the
 * record then. The request lands in this function, in libscry.so: its stack
 * is the interposer's caller's, the stack the wait publishes, and never a
 * frame of the handshake itself (waits.c says why that matters). */
void scry__wait_let_land(scry__thread_t *r);

/* Called by the thread about to wait. Returns its record for leave(), or
 * NULL (a thread scry has not registered, or scry's own work). Always
 * inlined, at -O0 too: the registers it publishes must be those of the
 * interposer's frame, which lives until the wait ends, not of a frame of
 * its own that the wait's calls would overwrite (and so must every inline
 * function between it and the interposer). */
__attribute__((always_inline)) static inline scry__thread_t *scry__wait_enter(int kind, const void *obj)
{
    scry__thread_t *r = scry__tls.rec;
    if (!r || scry__tls.busy) return NULL;
    uint64_t g = atomic_load_explicit(&r->wait.gen, memory_order_relaxed);
    if (g & 1) return NULL; /* nested (a wait inside a wait's callee): keep the outer */
    r->wait.kind = kind;
    r->wait.obj = (uintptr_t)obj;
    r->wait.since_ns = scry__coarse_ns();
    r->wait.has_regs = 0;
    /* With the registers published, nobody needs to signal a waiting
     * thread. Captured here, inlined into the interposer: the walk starts
     * in its frame, whose unwind row matches these registers. */
    if (atomic_load_explicit(&scry__wait_stacks_wanted, memory_order_relaxed)) {
#if defined(SCRY__REGS_HERE)
        SCRY__REGS_HERE(&r->wait_regs);
        r->wait.has_regs = 1;
#endif
    }
    if (scry__wait_restartable(kind)) {
        atomic_store_explicit(&r->wait.gen, g + 1, memory_order_release);
        return r;
    }
    /* Against a stack request racing us (Dekker): we publish "in a wait",
     * then look for a signal on its way; the requester sets signal_coming,
     * then looks at gen. One of the two sees the other. If one is coming,
     * let it land before the wait it would cut short. */
    atomic_store_explicit(&r->wait.gen, g + 1, memory_order_seq_cst);
    if (__builtin_expect(atomic_load_explicit(&r->signal_coming, memory_order_seq_cst), 0))
        scry__wait_let_land(r);
    return r;
}

static inline void scry__wait_leave(scry__thread_t *r)
{
    if (r)
        atomic_store_explicit(&r->wait.gen,
                              atomic_load_explicit(&r->wait.gen, memory_order_relaxed) + 1,
                              memory_order_release);
}

/* A consistent copy of t's published wait (kind SCRY__TW_NONE when it is
 * not in one), and its stack into `frames` unless that is NULL (room for
 * SCRY__WAIT_FRAMES), walked from the registers it published; nframes is 0
 * when it published none or left the wait during the walk. Any thread
 * but t; not in a signal handler. */
typedef struct {
    uint64_t gen;
    int kind;
    uintptr_t obj;
    int64_t since_ns;
    uint32_t nframes;
} scry__wait_view_t;
int scry__wait_read(scry__thread_t *t, scry__wait_view_t *v, uintptr_t *frames);

#endif
