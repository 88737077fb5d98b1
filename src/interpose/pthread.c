/*
 * pthread.c - interposed pthread_create, so scry sees every thread start.
 *
 * The new thread first runs a trampoline that registers it with the thread
 * registry (which starts its CPU timer when the CPU profile runs), then the
 * program's start routine. The trampoline's frame lies in libscry.so and is
 * dropped from profiles by the pprof writer. Nothing else is changed: the
 * attributes, the return value and the thread's result are the program's.
 * Threads that scry's own threads start (the HTTP server's) are marked as
 * scry's instead.
 */
#define _GNU_SOURCE
#include "interpose/pthread.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "core/busy.h"
#include "core/home.h"
#include "core/threads.h"
#include "trace/trace.h"

#define SCRY_EXPORT __attribute__((visibility("default")))

typedef struct {
    void *(*fn)(void *);
    void *arg;
    int home; /* the creator's descriptors are scry's table's (core/home.h) */
} start_t;

static scry__pthread_create_fn real_create;

scry__pthread_create_fn scry__real_pthread_create(void)
{
    scry__pthread_create_fn f = real_create;
    if (!f) {
        f = (scry__pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
        real_create = f;
    }
    return f;
}

static void *trampoline(void *p)
{
    start_t s = *(start_t *)p;
    scry__busy_enter(); /* scry's block and the registration: not the program's */
    free(p);
    scry__thread_register();
    scry__busy_leave();
    return s.fn(s.arg);
}

static void unmark(void *unused)
{
    (void)unused;
    scry__threads_unmark_internal();
}

/* A thread started by one of scry's own (libmicrohttpd's server and
 * connection threads) is scry's own too: never profiled, never dumped. */
static void *internal_trampoline(void *p)
{
    start_t s = *(start_t *)p;
    scry__home_inherit(s.home); /* it shares its creator's table */
    scry__threads_mark_internal(); /* first: the free below is scry's */
    free(p);
    void *r;
    pthread_cleanup_push(unmark, NULL);
    r = s.fn(s.arg);
    pthread_cleanup_pop(1);
    return r;
}

/* Thread names, kept in the registry for thread dumps. */
SCRY_EXPORT int pthread_setname_np(pthread_t t, const char *name)
{
    static int (*next)(pthread_t, const char *);
    if (!next) next = (int (*)(pthread_t, const char *))dlsym(RTLD_NEXT, "pthread_setname_np");
    if (!next) return ENOSYS;
    int rc = next(t, name);
    if (rc == 0) {
        pid_t tid = scry__thread_renamed(t, name);
        if (tid) scry__trace_thread_name(tid, name);
    }
    return rc;
}

SCRY_EXPORT int prctl(int op, ...)
{
    static int (*next)(int, ...);
    if (!next) next = (int (*)(int, ...))dlsym(RTLD_NEXT, "prctl");
    va_list ap;
    va_start(ap, op);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                  a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    int rc = next(op, a2, a3, a4, a5);
    if (rc == 0 && op == PR_SET_NAME && a2) {
        int saved = errno;
        pid_t tid = scry__thread_renamed(pthread_self(), (const char *)a2);
        if (tid) scry__trace_thread_name(tid, (const char *)a2);
        errno = saved;
    }
    return rc;
}

SCRY_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                               void *(*fn)(void *), void *arg)
{
    scry__pthread_create_fn create = scry__real_pthread_create();
    if (!create) return EAGAIN;
    void *(*start)(void *) = scry__tls.busy ? internal_trampoline : trampoline;
    scry__busy_enter(); /* the start block is scry's, not the program's */
    start_t *s = malloc(sizeof *s);
    scry__busy_leave();
    if (!s) return create(thread, attr, fn, arg); /* unprofiled, but created */
    s->fn = fn;
    s->arg = arg;
    s->home = scry__home_here();
    int rc = create(thread, attr, start, s);
    if (rc != 0) {
        scry__busy_enter();
        free(s);
        scry__busy_leave();
    }
    return rc;
}
