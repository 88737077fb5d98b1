/*
 * callstack.h - the program's stack as seen from inside an interposer.
 *
 * The heap, mutex and block profiles sample inside scry's own versions of
 * malloc, pthread_mutex_lock and friends, not in a signal handler. The
 * stack they want starts at the program's call into the interposer: its
 * return address, which the interposer passes in (known even when the walk
 * fails), then whatever the configured unwinder (SCRY_UNWIND) finds beyond
 * scry's own frames and the unwinder's.
 *
 * Not for signal handlers (libunwind mode uses libunwind's cache).
 */
#ifndef SCRY_CORE_CALLSTACK_H
#define SCRY_CORE_CALLSTACK_H

#include <stdint.h>

/* Once, before the first call (finds libscry.so's code range). */
void scry__callstack_init(int unwind_mode);
/* Leaf first, at most max frames (>= 1); returns how many. */
uint32_t scry__callstack(uintptr_t caller, uintptr_t *out, uint32_t max);

#endif
