/*
 * traceback.h - stack dumps on SIGQUIT and on fatal signals (SCRY_TRACEBACK);
 * see traceback.c.
 */
#ifndef SCRY_CORE_TRACEBACK_H
#define SCRY_CORE_TRACEBACK_H

enum { SCRY__TRACEBACK_OFF = 0, SCRY__TRACEBACK_CONTINUE = 1, SCRY__TRACEBACK_EXIT = 2 };

/* Claims SIGQUIT and the fatal signals when scry__config.traceback says so. */
void scry__traceback_init(void);
/* Aggregator thread: a request posted by one of the handlers (its signal). */
void scry__traceback_on_request(int sig);
/* Claims the fatal signals (once), also without SCRY_TRACEBACK: the flight
 * recorder (trace/trace.h) writes its window on a crash. */
void scry__fatal_claim(void);
/* 1 for the signals a request of traceback's carries besides SIGQUIT. */
int scry__traceback_is_fatal(int sig);

/* lifecycle.c: writes the profiles due at exit (once per process). */
void scry__lifecycle_write_profiles(void);

#endif
