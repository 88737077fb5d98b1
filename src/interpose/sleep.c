/*
 * sleep.c - sleeps and waits that a signal handler cuts short, interposed so
 * that scry never signals a thread inside one (core/waits.h).
 *
 * A sleep, poll, select, epoll wait, pause or sigwait returns early (EINTR,
 * or the time left) when any signal handler runs, SA_RESTART or not. The
 * thread profile and the wall sampler take other threads' stacks by signal,
 * so a thread entering one of these publishes that it is inside it (and,
 * while a thread or wall profile runs, its stack); scry then reads what it
 * published instead of signalling it. glibc's sleep() and usleep() reach
 * nanosleep inside libc, not through the PLT, so they are interposed too.
 * Waits that cannot block (a zero timeout) are passed straight through.
 *
 * While a trace records, each of these is also a SYSCALL record with its
 * duration.
 *
 * Everything else goes to the next definition (glibc's), found on first use.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "interpose/signal.h"
#include "core/waits.h"
#include "trace/trace.h"

#define SCRY_EXPORT __attribute__((visibility("default")))

/* next(f): glibc's f, looked up once. */
#define NEXT(type, name)                                                                           \
    static __typeof__(type) next_;                                                                 \
    if (!next_) next_ = (type)dlsym(RTLD_NEXT, name)

/* Published as a wait of kind (core/waits.h); while a trace records, timed
 * as a SYSCALL record too (trace/trace.h). */
#define WAIT(kind, call)                                                                           \
    do {                                                                                           \
        scry__thread_t *r_ = scry__wait_enter((kind), NULL);                                       \
        uint64_t t0_ = scry__tracing() ? scry__trace_clock() : 0;                                  \
        __typeof__(call) rc_ = (call);                                                             \
        if (t0_) scry__trace_syscall(trace_kind(kind), -1, t0_, scry__trace_clock(), (int64_t)rc_); \
        scry__wait_leave(r_);                                                                      \
        return rc_;                                                                                \
    } while (0)

static int trace_kind(int wait_kind)
{
    return wait_kind == SCRY__TW_SLEEP ? SCRY__TS_SLEEP
           : wait_kind == SCRY__TW_POLL ? SCRY__TS_POLL
                                        : SCRY__TS_SIGWAIT;
}

static int zero(const struct timespec *t)
{
    return t && t->tv_sec == 0 && t->tv_nsec == 0;
}

SCRY_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
    NEXT(int (*)(const struct timespec *, struct timespec *), "nanosleep");
    if (zero(req)) return next_(req, rem);
    WAIT(SCRY__TW_SLEEP, next_(req, rem));
}

SCRY_EXPORT int clock_nanosleep(clockid_t c, int flags, const struct timespec *req,
                                struct timespec *rem)
{
    NEXT(int (*)(clockid_t, int, const struct timespec *, struct timespec *), "clock_nanosleep");
    if (!flags && zero(req)) return next_(c, flags, req, rem);
    WAIT(SCRY__TW_SLEEP, next_(c, flags, req, rem));
}

SCRY_EXPORT unsigned int sleep(unsigned int s)
{
    NEXT(unsigned int (*)(unsigned int), "sleep");
    if (!s) return next_(s);
    WAIT(SCRY__TW_SLEEP, next_(s));
}

SCRY_EXPORT int usleep(useconds_t us)
{
    NEXT(int (*)(useconds_t), "usleep");
    if (!us) return next_(us);
    WAIT(SCRY__TW_SLEEP, next_(us));
}

SCRY_EXPORT int pause(void)
{
    NEXT(int (*)(void), "pause");
    WAIT(SCRY__TW_SIGNAL, next_());
}

SCRY_EXPORT int sigsuspend(const sigset_t *set)
{
    NEXT(int (*)(const sigset_t *), "sigsuspend");
    WAIT(SCRY__TW_SIGNAL, next_(set));
}

SCRY_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    NEXT(int (*)(const sigset_t *, siginfo_t *), "sigwaitinfo");
    sigset_t buf; /* a wait on everything never takes scry's signals (sigmask.c) */
    set = scry__sigmask_wait_set(set, &buf);
    WAIT(SCRY__TW_SIGNAL, next_(set, info));
}

SCRY_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t)
{
    NEXT(int (*)(const sigset_t *, siginfo_t *, const struct timespec *), "sigtimedwait");
    sigset_t buf;
    set = scry__sigmask_wait_set(set, &buf);
    if (zero(t)) return next_(set, info, t);
    WAIT(SCRY__TW_SIGNAL, next_(set, info, t));
}

SCRY_EXPORT int sigwait(const sigset_t *set, int *sig)
{
    NEXT(int (*)(const sigset_t *, int *), "sigwait");
    sigset_t buf;
    set = scry__sigmask_wait_set(set, &buf);
    WAIT(SCRY__TW_SIGNAL, next_(set, sig));
}

SCRY_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    NEXT(int (*)(struct pollfd *, nfds_t, int), "poll");
    if (!timeout) return next_(fds, n, timeout);
    WAIT(SCRY__TW_POLL, next_(fds, n, timeout));
}

SCRY_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m)
{
    NEXT(int (*)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *), "ppoll");
    if (zero(t)) return next_(fds, n, t, m);
    WAIT(SCRY__TW_POLL, next_(fds, n, t, m));
}

SCRY_EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    NEXT(int (*)(int, fd_set *, fd_set *, fd_set *, struct timeval *), "select");
    if (t && !t->tv_sec && !t->tv_usec) return next_(n, r, w, e, t);
    WAIT(SCRY__TW_POLL, next_(n, r, w, e, t));
}

SCRY_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
                        const sigset_t *m)
{
    NEXT(int (*)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *),
         "pselect");
    if (zero(t)) return next_(n, r, w, e, t, m);
    WAIT(SCRY__TW_POLL, next_(n, r, w, e, t, m));
}

SCRY_EXPORT int epoll_wait(int fd, struct epoll_event *ev, int max, int timeout)
{
    NEXT(int (*)(int, struct epoll_event *, int, int), "epoll_wait");
    if (!timeout) return next_(fd, ev, max, timeout);
    WAIT(SCRY__TW_POLL, next_(fd, ev, max, timeout));
}

SCRY_EXPORT int epoll_pwait(int fd, struct epoll_event *ev, int max, int timeout, const sigset_t *m)
{
    NEXT(int (*)(int, struct epoll_event *, int, int, const sigset_t *), "epoll_pwait");
    if (!timeout) return next_(fd, ev, max, timeout, m);
    WAIT(SCRY__TW_POLL, next_(fd, ev, max, timeout, m));
}
