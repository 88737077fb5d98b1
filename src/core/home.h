/*
 * home.h - scry's threads keep their descriptors in a table of their own.
 *
 * Descriptors are numbers in a table the whole process shares. A scry
 * thread that opens a file (an ELF for symbols, /proc/self/task, a profile,
 * a socket of its HTTP server) takes the lowest free number, the one a
 * program that has just closed every descriptor (daemons do) expects its
 * next open to get: the program's open then lands elsewhere, the program's
 * close loop closes scry's file under it, and scry's later close may close
 * the program's file that took the number meanwhile.
 *
 * So scry's threads do not use the program's table. The home thread, the
 * first scry thread, leaves it (unshare(CLONE_FILES)) and closes every
 * descriptor of the copy it got; every other scry thread is created from a
 * thread in that table and shares it (CLONE_FILES follows the creator).
 * The program's calls (close, closefrom, close_range, dup2, open) and
 * scry's cannot meet. POSIX record locks are owned per table, so closing
 * the copies never lets go of the program's locks.
 *
 * Crossing between the tables:
 *   - Threads: scry__home_create() instead of pthread_create for a scry
 *     thread started from the program's code.
 *   - Files: scry__home_call() runs a function on the home thread, for
 *     descriptors a scry thread will use (libmicrohttpd's daemon is started
 *     and stopped there; the trace's output is opened there).
 *   - stderr: the program's stderr is not in scry's table (holding it would
 *     keep the program's terminal or pipe open after the program closed it);
 *     scry__stderr_get() fetches it for one message (pidfd_getfd).
 * Code that runs on the program's threads (the exit writes, the API, signal
 * handlers) uses the program's table, briefly, as before.
 *
 * When the table cannot be left (a seccomp filter refusing unshare), scry's
 * threads share the program's table as before, said once; core/fds.h's
 * high numbers are then what keeps them apart.
 */
#ifndef SCRY_CORE_HOME_H
#define SCRY_CORE_HOME_H

#include <pthread.h>

/* Creates a scry thread (all signals blocked, descriptors in scry's table
 * when there is one). pthread_create's arguments and result. */
int scry__home_create(pthread_t *t, void *(*fn)(void *), void *arg);
/* Runs fn(arg) on a thread of scry's table and returns its result: the
 * calling thread's own when it is one, else the home thread's. */
long scry__home_call(long (*fn)(void *), void *arg);
/* open(2) in scry's table: the descriptor is for scry's threads only. */
int scry__home_open(const char *path, int flags, int mode);
/* close(2) of a descriptor of scry's table, from any thread. */
int scry__home_close(int fd);
/* Whether the calling thread's descriptors are scry's table's. */
int scry__home_here(void);
/* A thread that a scry thread created (interpose/pthread.c) shares its
 * creator's table: called first thing with the creator's scry__home_here. */
void scry__home_inherit(int creator_here);

/* The program's stderr, usable by the calling thread, and its release.
 * Async-signal-safe. -1 when it cannot be had, or when fd 2 is no longer
 * the program's stderr: neither the file it held when scry started nor one
 * the program put there with dup2/dup3 (a program that closed every
 * descriptor and opened a file that got number 2 has no stderr to write
 * scry's messages to). */
int scry__stderr_get(void);
void scry__stderr_put(int fd);
/* Takes fd 2's file as the program's stderr: at start, and after the
 * program's dup2/dup3 onto 2. */
void scry__stderr_note(void);

/* Fork, child side: the home thread did not cross. */
void scry__home_postfork_child(void);

#endif
