/*
 * threads.h - a snapshot of every thread: its stack, name and state. The
 * thread profile (Go's goroutine profile) writes it as pprof, tracebacks
 * print it as text.
 *
 * Each thread unwinds itself (core/stacks.h), so it is paused only for its
 * own unwind (the thread taking the snapshot walks its own stack, and keeps
 * only the program's part: at exit, the stack as it called exit());
 * threads inside a wait a signal would cut short are not signalled and
 * give the stack they published on the way in (core/waits.h).
 * State comes from scry's interposers when they know it ("cond wait on
 * 0x..., 3.2 s"), else from /proc/self/task/TID/stat, read before the thread
 * is signalled (the signal wakes it).
 */
#ifndef SCRY_PROFILE_THREADS_H
#define SCRY_PROFILE_THREADS_H

#include <stdint.h>
#include <sys/types.h>

typedef struct {
    pid_t tid;
    char name[32];
    const char *state;  /* "running", "cond wait", ... (static) */
    int waiting;        /* state is an interposer's: obj and wait_ns hold */
    uintptr_t wait_obj; /* 0 for none */
    int64_t wait_ns;    /* how long the wait had lasted */
    uint32_t nframes;   /* leaf first */
    uintptr_t *frames;
    const char *no_stack; /* why there is no stack (static), or NULL */
    int64_t pause_ns;     /* the thread's own unwind; -1 when not signalled */
} scry__tdump_thread_t;

typedef struct {
    int n;
    scry__tdump_thread_t *t; /* sorted by tid */
    int64_t when_ns;         /* CLOCK_REALTIME at the start */
    int64_t total_ns;        /* the whole dump, /proc reads included */
    int64_t wait_ns;         /* of which waiting for signalled threads' answers */
    int signalled, published, missing;
    int own;     /* 1 when the taking thread is in the snapshot (a program thread) */
    int exiting; /* and it was inside exit(): its stack starts at exit's caller */
    int64_t pause_median_ns, pause_max_ns;
    uintptr_t *arena;
} scry__tdump_t;

/* Every thread but scry's own and `skip` (0: none). NULL when out of
 * memory or when the stack signal cannot be installed. Not from a signal
 * handler: the taking thread's own walk may use libunwind and dladdr. */
scry__tdump_t *scry__tdump_take(pid_t skip);
void scry__tdump_free(scry__tdump_t *d);

/* Go's debug=2 text: "thread TID "name" [state]:" then one frame per line,
 * "\tfunction\tfile:line", symbolized in this process. Written to fd. */
void scry__tdump_print(const scry__tdump_t *d, int fd);
/* Go's debug=1 text: "threads profile: total N", then threads grouped by
 * stack, the largest group first: "N @ 0xADDR...", "#\t0xADDR\tfunction\t
 * file:line" per frame, and "# states: cond wait 200". Written to fd. */
void scry__tdump_print_grouped(const scry__tdump_t *d, int fd);
/* The frames of one stack in the same form (for tracebacks). */
void scry__tdump_print_stack(const uintptr_t *frames, uint32_t n, int fd);

/* The bracket text of a thread: "cond wait on 0x5580, 3.2 s". */
void scry__tdump_describe(const scry__tdump_thread_t *t, char *buf, size_t len);

#endif
