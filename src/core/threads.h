/*
 * threads.h - the registry of the program's threads.
 *
 * Every thread scry knows has a record: threads created through
 * pthread_create (interpose/pthread.c registers them from their first
 * instruction), the thread that loaded scry, and "foreign" threads found in
 * /proc/self/task that scry did not see start (threads created before a
 * linked scry was dlopen'ed). Profiles that need per-thread state (the CPU
 * profiler's timers) register hooks that run when a thread joins or leaves.
 *
 * Lock: threads owns one mutex. Hooks run with it held; they may take their
 * own profile's lock (threads lock -> profile lock), never the reverse.
 */
#ifndef SCRY_CORE_THREADS_H
#define SCRY_CORE_THREADS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/unwind.h"

/* What the thread is waiting in, as scry's interposers know it (waits.h).
 * Written only by the thread itself; read by other threads (the thread
 * profile, the wall sampler) as a sequence lock: gen is odd while the thread
 * is inside a wait, and the fields belong to the wait that made it odd. */
#define SCRY__WAIT_FRAMES 64
typedef struct {
    _Atomic uint64_t gen;
    int kind;          /* SCRY__TW_* */
    uintptr_t obj;     /* the lock, condition variable, ...; 0 for none */
    int64_t since_ns;  /* CLOCK_MONOTONIC_COARSE at the start */
    int has_regs;      /* 1: wait_regs were published with it */
} scry__wait_pub_t;

typedef struct scry__thread {
    /* What a walk of every thread reads comes first (records are 64-byte
     * aligned), so that the wall sampler's tick touches one cache line per
     * idle thread. */
    pid_t tid;
    int foreign; /* found in /proc, not seen starting */
    scry__wait_pub_t wait; /* published by the thread itself */
    /* The wall sampler's, under the threads lock (profile/wall.c). */
    struct {
        uint64_t gen;            /* wait.gen at the last tick */
        int64_t cpu_ns;          /* the thread's CPU clock after its last sample */
        uint32_t stack;          /* stack id of the last sample + 1; 0: none yet */
        int on_cpu;              /* state of the last sample */
        int64_t owed_n, owed_ns; /* credited to (stack, on_cpu), not yet added */
    } wall;
    /* 1 while a stack request (core/stacks.h) is on its way to this thread:
     * a thread about to enter a wait that a signal would cut short waits for
     * it to land first. Cleared by the thread's handler. */
    _Atomic int signal_coming;
    int has_cpu_timer; /* owned by profile/cpu.c */
    timer_t cpu_timer;
    int index; /* in the registry's array */
    pthread_t handle; /* 0 for a foreign thread */
    /* The thread's name (comm), kept here so a dump needs no /proc read:
     * read when the thread registers, updated by pthread_setname_np and
     * prctl(PR_SET_NAME) (interpose/pthread.c). Threads lock. */
    char name[16];
    size_t stack_bytes; /* 0 when unknown (a foreign thread) */
    /* The runtime metrics' schedstat reader's (metrics/runtime.c). */
    uint64_t sched_wait_ns, sched_slices;
    /* Where the thread entered its wait (core/waits.h), for a walk of its
     * stack from outside while it stays there; and the stack's bounds. */
    scry__regs_t wait_regs;
    uintptr_t stack_lo, stack_hi; /* 0: unknown (a foreign thread) */
} scry__thread_t;

/* What a signal handler may read about its own thread. Zero stack bounds
 * mean unknown (a foreign thread): the unwinder then records the leaf only. */
typedef struct {
    uintptr_t stack_lo, stack_hi;
    pid_t tid;
    /* > 0 while the thread runs scry's own code (and always on scry's own
     * threads): its allocations are not sampled, and nothing that could
     * wait for a lock scry holds on this thread is attempted. */
    int busy;
    /* The thread's own record, NULL for threads scry has not registered. */
    scry__thread_t *rec;
} scry__tls_t;

extern __thread scry__tls_t scry__tls __attribute__((tls_model("initial-exec")));

typedef struct {
    void (*joined)(scry__thread_t *t);
    void (*leaving)(scry__thread_t *t);
} scry__thread_hooks_t;

/* Registers the calling thread (idempotent) and the fork handlers. */
void scry__threads_init(void);
/* Called first thing on a new thread, and at exit through a TLS key. */
void scry__thread_register(void);
/* Hooks run for every thread later joining or leaving (either may be
 * NULL); at most 4 sets. */
void scry__threads_add_hooks(const scry__thread_hooks_t *h);
/* Calls fn on every thread record with the lock held. */
void scry__threads_foreach(void (*fn)(scry__thread_t *t, void *arg), void *arg);
/* For walks that must hold the lock across several steps (the stack
 * requests of the thread and wall profiles): lock, then go through the
 * array all() returns (*n records; an array, so that a walk can have many
 * cache misses in flight); valid until unlock. */
void scry__threads_lock(void);
void scry__threads_unlock(void);
scry__thread_t *const *scry__threads_all(int *n);
/* Adds records (and runs joined hooks) for threads in /proc/self/task that
 * have none; drops foreign records whose thread has gone. */
void scry__threads_scan(void);
/* Threads started since scry loaded (and the one that loaded it). */
uint64_t scry__threads_created(void);
/* Stack bytes of the registered threads. */
size_t scry__threads_stack_bytes(void);
/* A thread's name changed (to name, at most 15 bytes kept). Returns its
 * tid, 0 when scry does not know it. */
pid_t scry__thread_renamed(pthread_t handle, const char *name);
/* Marks the calling thread as scry's own: never registered, never
 * profiled, skipped by scans (at most 256 at a time), until unmark. */
void scry__threads_mark_internal(void);
void scry__threads_unmark_internal(void);

void scry__threads_prefork(void);
void scry__threads_postfork_parent(void);
/* In the child only the forking thread survives: every other record goes,
 * without hooks (their timers did not cross the fork either). */
void scry__threads_postfork_child(void);

#endif
