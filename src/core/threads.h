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

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

typedef struct scry__thread {
    pid_t tid;
    int foreign;       /* found in /proc, not seen starting */
    int has_cpu_timer; /* owned by profile/cpu.c */
    timer_t cpu_timer;
    struct scry__thread *next;
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
/* Hooks run for every thread later joining or leaving; at most 4 sets. */
void scry__threads_add_hooks(const scry__thread_hooks_t *h);
/* Calls fn on every thread record with the lock held. */
void scry__threads_foreach(void (*fn)(scry__thread_t *t, void *arg), void *arg);
/* Adds records (and runs joined hooks) for threads in /proc/self/task that
 * have none; drops foreign records whose thread has gone. */
void scry__threads_scan(void);
/* Marks the calling thread as scry's own: never registered, never
 * profiled, skipped by scans. At most 4 such threads. */
void scry__threads_mark_internal(void);

void scry__threads_prefork(void);
void scry__threads_postfork_parent(void);
/* In the child only the forking thread survives: every other record goes,
 * without hooks (their timers did not cross the fork either). */
void scry__threads_postfork_child(void);

#endif
