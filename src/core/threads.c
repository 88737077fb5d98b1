/*
 * threads.c - the thread registry; see threads.h.
 *
 * Records are heap-allocated when a thread registers (never in a signal
 * handler) and freed by a TLS-key destructor when the thread exits, which
 * covers both returning from the start routine and pthread_exit(). The
 * thread's stack bounds go in initial-exec TLS, where the signal handler
 * can read them without a lock or a call.
 */
#define _GNU_SOURCE
#include "core/threads.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread scry__tls_t scry__tls __attribute__((tls_model("initial-exec")));
static __thread scry__thread_t *self;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static scry__thread_t *list;
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static const scry__thread_hooks_t *hooks[4];
static pid_t internal[4]; /* scry's own threads */
static int nhooks;

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void unlink_locked(scry__thread_t *t)
{
    for (scry__thread_t **p = &list; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            return;
        }
    }
}

static void run_leaving_locked(scry__thread_t *t)
{
    for (int i = 0; i < nhooks; i++) hooks[i]->leaving(t);
}

static void run_joined_locked(scry__thread_t *t)
{
    for (int i = 0; i < nhooks; i++) hooks[i]->joined(t);
}

static scry__thread_t *find_locked(pid_t tid)
{
    for (scry__thread_t *t = list; t; t = t->next)
        if (t->tid == tid) return t;
    return NULL;
}

/* TLS destructor: the thread is exiting. */
static void on_thread_exit(void *p)
{
    scry__thread_t *t = p;
    pthread_mutex_lock(&lock);
    unlink_locked(t);
    run_leaving_locked(t);
    pthread_mutex_unlock(&lock);
    scry__tls.stack_hi = scry__tls.stack_lo = 0;
    scry__tls.rec = NULL;
    self = NULL;
    free(t);
}

static void make_key(void)
{
    pthread_key_create(&key, on_thread_exit);
}

static void read_stack_bounds(void)
{
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) != 0) return;
    void *addr;
    size_t size;
    if (pthread_attr_getstack(&a, &addr, &size) == 0) {
        scry__tls.stack_lo = (uintptr_t)addr;
        scry__tls.stack_hi = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&a);
}

void scry__thread_register(void)
{
    if (self) return;
    pthread_once(&key_once, make_key);
    scry__thread_t *t = calloc(1, sizeof *t);
    if (!t) return; /* the thread is simply not profiled */
    t->tid = gettid_();
    scry__tls.tid = t->tid;
    read_stack_bounds();
    pthread_mutex_lock(&lock);
    /* A scan of /proc/self/task may have seen this thread between its
     * creation and this call, and adopted it as foreign. Take that record
     * over rather than add a second one (whose timer would outlive us), and
     * restart its per-thread state: the tid may also be a dead foreign
     * thread's, reused. */
    scry__thread_t *old = find_locked(t->tid);
    if (old) {
        free(t);
        t = old;
        run_leaving_locked(t);
        t->foreign = 0;
    } else {
        t->next = list;
        list = t;
    }
    self = t;
    scry__tls.rec = t;
    pthread_setspecific(key, t);
    run_joined_locked(t);
    pthread_mutex_unlock(&lock);
}

void scry__threads_init(void)
{
    scry__thread_register();
}

void scry__threads_add_hooks(const scry__thread_hooks_t *h)
{
    pthread_mutex_lock(&lock);
    if (nhooks < (int)(sizeof hooks / sizeof hooks[0])) hooks[nhooks++] = h;
    pthread_mutex_unlock(&lock);
}

void scry__threads_foreach(void (*fn)(scry__thread_t *t, void *arg), void *arg)
{
    pthread_mutex_lock(&lock);
    for (scry__thread_t *t = list; t; t = t->next) fn(t, arg);
    pthread_mutex_unlock(&lock);
}

void scry__threads_lock(void)
{
    pthread_mutex_lock(&lock);
}

void scry__threads_unlock(void)
{
    pthread_mutex_unlock(&lock);
}

scry__thread_t *scry__threads_first(void)
{
    return list;
}

void scry__threads_mark_internal(void)
{
    scry__tls.busy = 1;
    pid_t tid = gettid_();
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 4; i++) {
        if (!internal[i]) {
            internal[i] = tid;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

static int is_internal_locked(pid_t tid)
{
    for (int i = 0; i < 4; i++)
        if (internal[i] == tid) return 1;
    return 0;
}

int scry__thread_is_internal(pid_t tid)
{
    pthread_mutex_lock(&lock);
    int r = is_internal_locked(tid);
    pthread_mutex_unlock(&lock);
    return r;
}


void scry__threads_scan(void)
{
    pid_t pid = getpid();
    pthread_mutex_lock(&lock);
    /* Forget foreign threads that have exited. */
    for (scry__thread_t **p = &list; *p;) {
        scry__thread_t *t = *p;
        if (t->foreign && syscall(SYS_tgkill, pid, t->tid, 0) < 0 && errno == ESRCH) {
            *p = t->next;
            run_leaving_locked(t);
            free(t);
        } else {
            p = &t->next;
        }
    }
    DIR *d = opendir("/proc/self/task");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            pid_t tid = (pid_t)atoi(e->d_name);
            if (tid <= 0 || is_internal_locked(tid) || find_locked(tid)) continue;
            scry__thread_t *t = calloc(1, sizeof *t);
            if (!t) break;
            t->tid = tid;
            t->foreign = 1;
            t->next = list;
            list = t;
            run_joined_locked(t);
        }
        closedir(d);
    }
    pthread_mutex_unlock(&lock);
}

void scry__threads_prefork(void)
{
    pthread_mutex_lock(&lock);
}

void scry__threads_postfork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void scry__threads_postfork_child(void)
{
    memset(internal, 0, sizeof internal); /* they did not cross the fork */
    scry__thread_t *t = list;
    list = NULL;
    while (t) {
        scry__thread_t *next = t->next;
        if (t == self) {
            t->next = NULL;
            t->has_cpu_timer = 0;
            t->foreign = 0;
            list = t;
        } else {
            free(t);
        }
        t = next;
    }
    if (self) self->tid = scry__tls.tid = gettid_();
    pthread_mutex_unlock(&lock);
}
