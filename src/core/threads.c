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
#include "core/busy.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread scry__tls_t scry__tls __attribute__((tls_model("initial-exec")));
/* The heap's counters are defined here, beside the busy state that diverts
 * them (core/busy.h), so that every piece of scry that enters its own code
 * links without the heap profile. */
__thread scry__heap_tls_t scry__heap_tls __attribute__((tls_model("initial-exec")));
static __thread scry__thread_t *self;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Every record, densely (a record knows its index): walks go through an
 * array, not a linked list, so they can have many cache misses in flight. */
static scry__thread_t **all;
static int count, cap;
static uint64_t created;
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static const scry__thread_hooks_t *hooks[4];
/* scry's own threads: the aggregator, the wall sampler, the HTTP server's
 * (a connection each), which scans must not adopt. */
#define MAX_INTERNAL 256
static pid_t internal[MAX_INTERNAL];
static int ninternal;
static int nhooks;

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* Records are 64-byte aligned: what a walk reads is one cache line. */
static scry__thread_t *new_record(pid_t tid, int foreign)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, sizeof(scry__thread_t)) != 0) return NULL;
    scry__thread_t *t = memset(p, 0, sizeof(scry__thread_t));
    t->tid = tid;
    t->foreign = foreign;
    return t;
}

static int add_locked(scry__thread_t *t)
{
    if (count == cap) {
        int c = cap ? 2 * cap : 64;
        void *a = realloc(all, (size_t)c * sizeof *all);
        if (!a) return -1;
        all = a;
        cap = c;
    }
    t->index = count;
    all[count++] = t;
    return 0;
}

static void unlink_locked(scry__thread_t *t)
{
    int i = t->index;
    if (i < 0 || i >= count || all[i] != t) return;
    all[i] = all[--count];
    all[i]->index = i;
    t->index = -1;
}

static void run_leaving_locked(scry__thread_t *t)
{
    for (int i = 0; i < nhooks; i++)
        if (hooks[i]->leaving) hooks[i]->leaving(t);
}

static void run_joined_locked(scry__thread_t *t)
{
    for (int i = 0; i < nhooks; i++)
        if (hooks[i]->joined) hooks[i]->joined(t);
}

static scry__thread_t *find_locked(pid_t tid)
{
    for (int i = 0; i < count; i++)
        if (all[i]->tid == tid) return all[i];
    return NULL;
}

/* TLS destructor: the thread is exiting. */
static void on_thread_exit(void *p)
{
    scry__thread_t *t = p;
    scry__busy_enter(); /* the record is scry's: its free is not the program's */
    pthread_mutex_lock(&lock);
    unlink_locked(t);
    run_leaving_locked(t);
    pthread_mutex_unlock(&lock);
    scry__tls.stack_hi = scry__tls.stack_lo = 0;
    scry__tls.rec = NULL;
    self = NULL;
    free(t);
    scry__busy_leave();
}

/* A foreign thread's name, from /proc (once, when it is adopted). */
static void read_comm(pid_t tid, char name[16])
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, name, 15);
    close(fd);
    if (n <= 0) return;
    name[n] = 0;
    if (name[n - 1] == '\n') name[n - 1] = 0;
}

pid_t scry__thread_renamed(pthread_t handle, const char *name)
{
    pid_t tid = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < count; i++) {
        if (all[i]->handle == handle && !all[i]->foreign) {
            snprintf(all[i]->name, sizeof all[i]->name, "%s", name);
            tid = all[i]->tid;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return tid;
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
    scry__thread_t *t = new_record(gettid_(), 0);
    if (!t) return; /* the thread is simply not profiled */
    scry__tls.tid = t->tid;
    t->handle = pthread_self();
    /* The system call itself: scry's own prctl (interpose/pthread.c)
     * would look up glibc's with dlsym, and this runs in the constructor. */
    syscall(SYS_prctl, PR_GET_NAME, t->name, 0, 0, 0);
    read_stack_bounds();
    pthread_mutex_lock(&lock);
    /* A scan of /proc/self/task may have seen this thread between its
     * creation and this call, and adopted it as foreign. Take that record
     * over rather than add a second one (whose timer would outlive us), and
     * restart its per-thread state: the tid may also be a dead foreign
     * thread's, reused. */
    scry__thread_t *old = find_locked(t->tid);
    if (old) {
        old->handle = t->handle;
        memcpy(old->name, t->name, sizeof old->name);
        free(t);
        t = old;
        run_leaving_locked(t);
        t->foreign = 0;
    } else if (add_locked(t) < 0) {
        pthread_mutex_unlock(&lock);
        free(t);
        return;
    }
    created++;
    t->stack_bytes = scry__tls.stack_hi - scry__tls.stack_lo;
    t->stack_lo = scry__tls.stack_lo;
    t->stack_hi = scry__tls.stack_hi;
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
    for (int i = 0; i < count; i++) fn(all[i], arg);
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

uint64_t scry__threads_created(void)
{
    pthread_mutex_lock(&lock);
    uint64_t c = created;
    pthread_mutex_unlock(&lock);
    return c;
}

size_t scry__threads_stack_bytes(void)
{
    size_t b = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < count; i++) b += all[i]->stack_bytes;
    pthread_mutex_unlock(&lock);
    return b;
}

scry__thread_t *const *scry__threads_all(int *n)
{
    *n = count;
    return all;
}

void scry__threads_mark_internal(void)
{
    if (!scry__tls.busy) scry__busy_enter(); /* for good: the thread is scry's */
    pid_t tid = gettid_();
    pthread_mutex_lock(&lock);
    if (ninternal < MAX_INTERNAL) internal[ninternal++] = tid;
    pthread_mutex_unlock(&lock);
}

void scry__threads_unmark_internal(void)
{
    pid_t tid = gettid_();
    pthread_mutex_lock(&lock);
    for (int i = 0; i < ninternal; i++) {
        if (internal[i] == tid) {
            internal[i] = internal[--ninternal];
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

static int is_internal_locked(pid_t tid)
{
    for (int i = 0; i < ninternal; i++)
        if (internal[i] == tid) return 1;
    return 0;
}


static int by_tid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

void scry__threads_scan(void)
{
    pid_t pid = getpid();
    pthread_mutex_lock(&lock);
    /* Forget foreign threads that have exited. */
    for (int i = 0; i < count;) {
        scry__thread_t *t = all[i];
        if (t->foreign && syscall(SYS_tgkill, pid, t->tid, 0) < 0 && errno == ESRCH) {
            unlink_locked(t); /* the last record moves to i */
            run_leaving_locked(t);
            free(t);
        } else {
            i++;
        }
    }
    /* The known tids, sorted: a scan of thousands of threads stays
     * n log n rather than n^2 (it runs every second). */
    int known_n = count;
    pid_t *known = malloc((known_n ? (size_t)known_n : 1) * sizeof *known);
    if (known) {
        for (int i = 0; i < known_n; i++) known[i] = all[i]->tid;
        qsort(known, (size_t)known_n, sizeof *known, by_tid);
    }
    DIR *d = opendir("/proc/self/task");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            pid_t tid = (pid_t)atoi(e->d_name);
            if (tid <= 0 || is_internal_locked(tid)) continue;
            if (known ? bsearch(&tid, known, (size_t)known_n, sizeof *known, by_tid) != NULL
                      : find_locked(tid) != NULL)
                continue;
            scry__thread_t *t = new_record(tid, 1);
            if (!t) break;
            read_comm(tid, t->name);
            if (add_locked(t) < 0) {
                free(t);
                break;
            }
            run_joined_locked(t);
        }
        closedir(d);
    }
    free(known);
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
    ninternal = 0; /* they did not cross the fork */
    int n = count;
    count = 0;
    for (int i = 0; i < n; i++) {
        scry__thread_t *t = all[i];
        if (t == self) {
            t->has_cpu_timer = 0;
            t->foreign = 0;
            t->index = 0;
            all[count++] = t;
        } else {
            free(t);
        }
    }
    if (self) self->tid = scry__tls.tid = gettid_();
    pthread_mutex_unlock(&lock);
}
