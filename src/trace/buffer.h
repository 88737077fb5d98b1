/*
 * buffer.h - where traced threads write their events: a buffer per thread,
 * no lock, no allocation, safe in a signal handler.
 *
 * Memory is a fixed pool of chunks, mapped once when tracing first starts
 * (SCRY_TRACE_BUFFER bytes, 16 MiB unless told). A thread that records
 * takes a thread slot and a chunk, and appends records to its chunk; a full
 * chunk is sealed and linked to the next one the thread takes. The writer
 * thread reads each thread's chunks behind it, up to the committed position
 * the thread publishes after every record (release/acquire), and puts
 * chunks it has read back in the pool. When the pool is empty a record is
 * dropped and counted; the thread writes a DROPPED record as soon as it has
 * room again, so the trace says where and how much it lost.
 *
 * Signal handlers: a handler (a CPU sample) that interrupts its thread in
 * the middle of a record drops its own record rather than wait.
 *
 * Threads and sessions: a thread slot lives as long as its thread; when it
 * first records in a session (a trace start) it writes THREAD_START with its
 * name, so every session's trace names its threads. A slot whose thread
 * ended is returned to the pool by the writer once read.
 */
#ifndef SCRY_TRACE_BUFFER_H
#define SCRY_TRACE_BUFFER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "trace/record.h"

/* Maps the pool (once). 0 or -ENOMEM. */
int scry__tbuf_init(size_t pool_bytes);

/* Largest record that fits in a chunk. */
#define SCRY__TBUF_MAX_RECORD 4096u

/* Room for a record of size bytes (a multiple of 8, at most
 * SCRY__TBUF_MAX_RECORD) in the calling thread's buffer, or NULL: the
 * thread is scry's own, is ending, is already inside a record (a signal
 * handler on top of it), or no memory is left (counted). On success the
 * record must be filled and committed before anything else is recorded on
 * this thread. Async-signal-safe. */
void *scry__tbuf_reserve(uint32_t size);
void scry__tbuf_commit(void *rec);

/* Session number; a thread writes THREAD_START when it first records in a
 * new one. Bumped by the tracer when a session starts. */
void scry__tbuf_new_session(void);
/* The calling thread will record no more (it is ending). */
void scry__tbuf_thread_done(void);

/* Writer side: calls fn on every committed record not read yet, thread by
 * thread, in each thread's order, and frees what has been read. One
 * caller at a time (the writer). */
typedef void (*scry__tbuf_fn)(void *arg, pid_t tid, const scry__trec_t *rec);
void scry__tbuf_drain(scry__tbuf_fn fn, void *arg);

/* Records lost because no chunk or thread slot was free, since load. */
uint64_t scry__tbuf_dropped(void);
/* Chunks in use (held by threads or not yet read) and in all. */
void scry__tbuf_usage(uint32_t *used, uint32_t *total);

/* In a fork child: the other threads' slots are gone with them. */
void scry__tbuf_postfork_child(void);

#endif
