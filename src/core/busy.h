/*
 * busy.h - entering and leaving scry's own code on a thread.
 *
 * scry__tls.busy > 0 while a thread runs scry's code (and always on scry's
 * own threads): nothing it does is the program's. For the heap's exact
 * totals that means its allocations and frees are not counted; rather than
 * test busy in malloc's fast path, entering diverts the thread's heap state
 * (profile/heap.h) so that malloc and free take their slow paths, which
 * forward without counting, and leaving puts the state back.
 *
 * Signal handlers enter and leave too, and may interrupt either function:
 * busy is raised before the state is saved and lowered after it is put
 * back, so a handler that lands in between sees busy > 0 and leaves the
 * saved state alone.
 */
#ifndef SCRY_CORE_BUSY_H
#define SCRY_CORE_BUSY_H

#include "core/threads.h"
#include "profile/heap.h"

static inline void scry__busy_enter(void)
{
    if (scry__tls.busy++ == 0) scry__heap_divert();
}

static inline void scry__busy_leave(void)
{
    if (scry__tls.busy == 1) scry__heap_undivert();
    scry__tls.busy--;
}

#endif
