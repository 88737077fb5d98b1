/*
 * pthread.c - interposed pthread_create, so scry sees every thread start.
 *
 * The new thread first runs a trampoline that registers it with the thread
 * registry (which starts its CPU timer when the CPU profile runs), then the
 * program's start routine. The trampoline's frame lies in libscry.so and is
 * dropped from profiles by the pprof writer. Nothing else is changed: the
 * attributes, the return value and the thread's result are the program's.
 */
#define _GNU_SOURCE
#include "interpose/pthread.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>

#include "core/threads.h"

#define SCRY_EXPORT __attribute__((visibility("default")))

typedef struct {
    void *(*fn)(void *);
    void *arg;
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
    free(p);
    scry__thread_register();
    return s.fn(s.arg);
}

SCRY_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                               void *(*fn)(void *), void *arg)
{
    scry__pthread_create_fn create = scry__real_pthread_create();
    if (!create) return EAGAIN;
    start_t *s = malloc(sizeof *s);
    if (!s) return create(thread, attr, fn, arg); /* unprofiled, but created */
    s->fn = fn;
    s->arg = arg;
    int rc = create(thread, attr, trampoline, s);
    if (rc != 0) free(s);
    return rc;
}
