/*
 * aggregator.h - the background thread that empties the sample ring.
 *
 * Signal handlers only append raw samples to the ring (ring.h). Every
 * AGGREGATE_MS this thread drains it and hands each sample to the consumer
 * its profile registered, which interns the stack and adds the values. It
 * also runs periodic chores (forgetting foreign threads that exited) and
 * requests that signal handlers cannot carry out themselves (writing the
 * profiles when the program is killed by SIGTERM): a handler posts a
 * request with an atomic or and a futex wake, both async-signal-safe and
 * neither holding a descriptor the program could close or reuse.
 *
 * The thread is scry's own: created with the real pthread_create, all
 * signals blocked, never profiled.
 *
 * Lock: the aggregator lock serialises consumers and guards what they
 * build. Order: profile control lock -> aggregator lock -> stacktab lock.
 */
#ifndef SCRY_CORE_AGGREGATOR_H
#define SCRY_CORE_AGGREGATOR_H

#include "core/ring.h"

typedef void (*scry__consumer_fn)(const scry__sample_t *s);

void scry__aggregator_set_consumer(int kind, scry__consumer_fn fn);
/* Starts the thread if it does not run. 0 or a negative errno. */
int scry__aggregator_start(void);
/* Stops and joins the thread (at exit). Never from the thread itself. */
void scry__aggregator_stop(void);
/* 1 while the thread runs. Async-signal-safe. */
int scry__aggregator_alive(void);
/* Drains the ring now, on the calling thread. */
void scry__aggregator_drain(void);
/* Drains, and returns holding the aggregator lock, so that a profile can
 * read or reset what its consumer built with no consumer running. */
void scry__aggregator_drain_and_lock(void);
void scry__aggregator_unlock(void);

/* A request that runs on the aggregator thread: fn(arg byte). */
typedef void (*scry__request_fn)(int arg);
void scry__aggregator_on_request(scry__request_fn fn);
/* Async-signal-safe: queue request arg (1..63, a signal number; the same
 * request posted twice before it runs runs once); 0 only wakes the thread. */
void scry__aggregator_request_as_safe(int arg);

void scry__aggregator_prefork(void);
void scry__aggregator_postfork_parent(void);
/* The thread did not cross the fork: forget it; the caller restarts it. */
void scry__aggregator_postfork_child(void);

#endif
