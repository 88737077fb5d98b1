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
 * What must be inside: every path of scry's that may allocate or free on
 * a program's thread (the constructor and destructor, the exit writes, the
 * API's start, stop and write, fork handlers, thread registration), and a
 * scry thread from its first instruction (scry__threads_mark_internal, or
 * an enter that is never left). A block allocated inside and freed outside
 * (or the reverse) is counted on one side only, and shows in the totals
 * as a block too few (or too many): a thread that frees its start argument
 * before it enters, or a dl call whose error message glibc keeps for the
 * thread's next dl call, are such crossings.
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
