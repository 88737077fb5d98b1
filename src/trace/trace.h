/*
 * trace.h - the runtime event tracer, as the rest of scry sees it: the
 * hooks the interposers and profiles call, and the sessions that write a
 * trace (a file, an HTTP request, the flight recorder).
 *
 * Every hook is guarded by scry__trace_on, one relaxed load: with tracing
 * off an interposer pays that load and a branch. With it on, an event is one
 * clock read (trace/clock.h) and a record written into the calling thread's
 * own buffer (trace/buffer.h), no lock and no allocation; the writer thread
 * turns buffers into Perfetto packets (format/perfetto.h) in the
 * background. Threads scry runs itself (busy) are never traced.
 */
#ifndef SCRY_TRACE_TRACE_H
#define SCRY_TRACE_TRACE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "trace/clock.h"
#include "trace/record.h"

/* Nonzero while any session records. */
extern _Atomic int scry__trace_on;

static inline int scry__tracing(void)
{
    return __builtin_expect(atomic_load_explicit(&scry__trace_on, memory_order_relaxed) != 0, 0);
}

/* ---- Hooks: each returns at once when tracing is off or the thread is
 * scry's own. All preserve errno. ---------------------------------------- */

/* A blocking call the I/O or sleep interposers timed: kind SCRY__TS_*, from
 * raw clock t0 to t1, with its fd (-1 for none) and return value. Calls
 * shorter than the syscall threshold (SCRY_TRACE_SYSCALL_NS) are not kept. */
void scry__trace_syscall(int kind, int fd, uint64_t t0, uint64_t t1, int64_t result);

/* A lock-like wait (kind SCRY__TW_*) on obj from t0 to t1; caller: the
 * interposer's return address, for the optional stack. The flow that ended
 * it is looked up from the last wake of obj. */
void scry__trace_wait(int kind, const void *obj, uint64_t t0, uint64_t t1, uintptr_t caller);
/* A release of obj (kind SCRY__TK_*) while waiters may be present. */
void scry__trace_wake(int kind, const void *obj);

/* Async-signal-safe: a CPU profile sample of the calling thread. */
void scry__trace_cpu_sample_as_safe(const uintptr_t *frames, uint32_t nframes);
/* An allocation of size bytes at p (called above the threshold only). */
void scry__trace_alloc(size_t size, const void *p, uintptr_t caller);
/* Allocations at least this big are traced (SCRY_TRACE_ALLOC_MIN). */
extern size_t scry__trace_alloc_min;
/* interpose/malloc.c folds scry__trace_alloc_min into its thresholds:
 * called after every change of it. */
void scry__malloc_trace_changed(void);
/* Thread tid was renamed (by itself or another thread) / the calling
 * thread is ending. */
void scry__trace_thread_name(pid_t tid, const char *name);
void scry__trace_thread_end(void);

/* A task for a span (span/span.c): named like it, carrying its trace and
 * span ids, and the calling thread's current task until scry_task_end.
 * 0 when nothing records. */
uint64_t scry__task_begin_span(const char *name, const uint8_t trace_id[16], uint64_t span_id);

/* ---- Sessions ---------------------------------------------------------- */

/* Starts streaming a trace to fd, a descriptor of scry's table
 * (core/home.h: scry__home_open, or one a scry thread opened), owned by the
 * session: closed at stop. At most one streaming session at a time:
 * -EBUSY. */
int scry__trace_stream_start(int fd);
/* Stops it: everything recorded so far is written, then fd is closed.
 * -EINVAL when none runs. */
int scry__trace_stream_stop(void);
/* 1 while a streaming session runs. */
int scry__trace_streaming(void);

/* The flight recorder: keeps the last `seconds` (at least) of events in
 * memory, at most max_bytes of encoded trace. -EBUSY when already on. */
int scry__trace_flight_start(double seconds, size_t max_bytes);
int scry__trace_flight_stop(void);
/* Writes what the recorder holds to fd (not closed). 0 or -errno. */
int scry__trace_flight_write_fd(int fd);
/* Async-signal-safe: asks the writer thread to write the recorder's window
 * to SCRY_OUT/flight.<pid>.<n>.pftrace. */
void scry__trace_flight_request_as_safe(void);

/* Load-time set-up from SCRY_TRACE / SCRY_FLIGHT; the exit-time stop. */
void scry__trace_init(void);
void scry__trace_atexit(void);
/* Fatal signal: writes the flight recorder's window, if it runs, from the
 * crashing thread (bounded wait for the writer). */
void scry__trace_on_fatal_as_safe(void);

void scry__trace_prefork(void);
void scry__trace_postfork_parent(void);
/* The child starts with no session (its parent's file is the parent's). */
void scry__trace_postfork_child(void);

#endif
