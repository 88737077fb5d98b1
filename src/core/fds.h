/*
 * fds.h - scry's own descriptors, kept out of the program's way.
 *
 * A descriptor scry holds for a while (the HTTP server's sockets, its
 * wake-up eventfd and reply memfds, the trace's output, the exporter's
 * sockets) lives in the program's descriptor table. On the lowest free
 * numbers it collides with programs that close every descriptor above
 * stderr and open their own files, which then get scry's numbers: scry
 * would read the program's files as requests and write into them.
 *
 * So every such descriptor is adopted: moved to a high number (the lowest
 * free one from 3/4 of min(RLIMIT_NOFILE, 1024) up, so that select() users
 * keep their numbers below FD_SETSIZE), close-on-exec, and marked in the
 * owned bitmap. The program cannot take it back by accident:
 * interpose/fd.c makes close, closefrom and close_range skip owned numbers
 * (the program never opened them: EBADF, as for any number that is not
 * open), and dup2/dup3 onto an owned number gives the number to the
 * program, as asked, and marks it stolen: scry's code (threads that are
 * busy, core/busy.h) then gets EBADF from every interposed call on it
 * (interpose/io.c) and its close of it closes nothing. The program's own
 * descriptors are never read or written by scry.
 *
 * Descriptors are created adopted by scry's own code: interpose/fd.c adopts
 * what busy threads get from socket, socketpair, accept, eventfd, pipe,
 * memfd_create and dup (libmicrohttpd's and libcurl's included); scry's
 * code calls scry__fd_adopt itself otherwise. Short-lived descriptors
 * opened, used and closed in one function (profile files, /proc reads) are
 * left alone.
 *
 * What cannot be helped: a raw close or dup2 system call (not through
 * libc) on an owned number. The trace output checks its file's identity
 * before each write (scry__fd_same) and stops, said once, when it changed.
 */
#ifndef SCRY_CORE_FDS_H
#define SCRY_CORE_FDS_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define SCRY__FDS_TRACKED 65536 /* numbers above are never adopted */

extern _Atomic uint64_t scry__fds_owned[SCRY__FDS_TRACKED / 64];
extern _Atomic uint64_t scry__fds_stolen[SCRY__FDS_TRACKED / 64];
/* Nonzero once any owned number was taken by the program's dup2: from then
 * on interpose/io.c's fast path checks busy threads' descriptors. */
extern _Atomic int scry__fds_any_stolen;

static inline int scry__fd_bit(const _Atomic uint64_t *map, int fd)
{
    if ((unsigned)fd >= SCRY__FDS_TRACKED) return 0;
    return (int)(atomic_load_explicit(&map[fd / 64], memory_order_relaxed) >> (fd % 64) & 1);
}

/* Whether fd is scry's. Async-signal-safe. */
static inline int scry__fd_owned(int fd)
{
    return scry__fd_bit(scry__fds_owned, fd);
}

/* Whether fd was scry's until the program's dup2 took the number. */
static inline int scry__fd_stolen(int fd)
{
    return scry__fd_bit(scry__fds_stolen, fd);
}

/* Moves fd high, close-on-exec, and marks it scry's; returns the new
 * number, or fd itself (unmarked, said once) when no high number is free.
 * fd < 0 is returned as is, errno untouched. */
int scry__fd_adopt(int fd);
/* scry closes an owned fd: unmark it, then close. Also for a stolen fd,
 * which it only unmarks (the number is the program's now). */
int scry__fd_close(int fd);
/* The program's dup2/dup3 is about to take owned number fd. */
void scry__fd_steal(int fd);

/* A file's identity, to check that a descriptor still refers to it. */
typedef struct {
    dev_t dev;
    ino_t ino;
} scry__fd_id_t;
int scry__fd_identify(int fd, scry__fd_id_t *id);
/* 1 when fd still refers to the file id was taken from (in the calling
 * thread's table). */
int scry__fd_same(int fd, const scry__fd_id_t *id);

/* Fork, child side: scry's threads did not cross, so their descriptors are
 * closed (the child would hold the parent's sockets open otherwise). Runs
 * after every other module's child handler. */
void scry__fds_postfork_child(void);

#endif
