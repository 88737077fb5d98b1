/*
 * stacks.h - asking other threads for their stacks.
 *
 * The thread profile, the wall-clock profile and tracebacks need the stack of
 * threads that are not running scry's code. A thread can only unwind itself
 * (from a signal handler, with its registers), so a requester signals each
 * thread it wants with SIGVTALRM (as async-profiler's wall mode does; queued
 * with a value that names the request and the slot, so any other SIGVTALRM
 * goes to the program's handler), and each thread's handler unwinds into a
 * slot of pre-allocated memory, notes how long that took (its pause), and
 * counts down the requester's outstanding answers. So a thread is paused
 * only for its own unwind, never for the whole dump, and nothing in the
 * handler allocates, locks or prints.
 *
 * A thread that does not answer in time (it blocks the signal, or is stopped)
 * is given up: its slot is taken back with a compare-and-swap, so a late
 * handler finds it is no longer wanted and writes nothing. Slots live in
 * chunks that are never freed, so a late handler can never write into freed
 * memory; they are reused by later requests.
 *
 * One request at a time (callers hold scry__stacks_lock()). A thread inside
 * a wait that a signal would cut short (core/waits.h) is not signalled:
 * scry__stacks_ask says so and the caller uses what the thread published.
 */
#ifndef SCRY_CORE_STACKS_H
#define SCRY_CORE_STACKS_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/ring.h"
#include "core/threads.h"

#define SCRY__STACKS_SIGNAL SIGVTALRM

typedef struct {
    _Atomic uint32_t state; /* request generation << 2 | WAITING, WRITING or DONE */
    uint32_t nframes;
    int in_syscall;    /* the thread was blocked in a system call (restarted) */
    int64_t pause_ns;  /* the handler's own time: the thread's pause */
    int64_t cpu_ns;    /* the thread's CPU clock when the handler ended */
    uint64_t wait_gen; /* its published wait's generation then (waits.h) */
    uintptr_t frames[SCRY__MAX_FRAMES];
} scry__stack_slot_t;

/* Installs the handler (once). 0 or a negative errno. */
int scry__stacks_init(int unwind_mode);

void scry__stacks_lock(void);
void scry__stacks_unlock(void);

/* Starts a request for up to n threads (slots 0..n-1); with cpu, answers
 * carry the thread's CPU clock (one more system call in each handler).
 * 0 or -ENOMEM. */
int scry__stacks_begin(int n, int cpu);
/* Asks thread tid (with its record, or NULL for a thread scry did not see
 * start) for its stack into slot i. 0 when the signal is on its way;
 * -EAGAIN when the thread is inside a wait a signal would cut short; -ESRCH
 * when it has gone. */
int scry__stacks_ask(int i, pid_t tid, scry__thread_t *rec);
/* Waits for every asked thread to answer, at most timeout_ns; gives up on
 * the others. Returns the number that did not answer. */
int scry__stacks_wait(int64_t timeout_ns);
/* Slot i's answer, or NULL when the thread did not answer. */
const scry__stack_slot_t *scry__stacks_answer(int i);

/* Handler-side, for tracebacks: 1 if this signal is a stack request. */
int scry__stacks_is_request(const siginfo_t *si);

#endif
