/*
 * lock.h - what the rest of scry calls in interpose/lock.c.
 */
#ifndef SCRY_INTERPOSE_LOCK_H
#define SCRY_INTERPOSE_LOCK_H

/* In a fork's child: the thread's id, which lock.c caches for the
 * mutexes it takes itself, changed. */
void scry__lock_postfork_child(void);

#endif
