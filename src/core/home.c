/*
 * home.c - scry's threads keep their descriptors in a table of their own;
 * see home.h.
 */
#define _GNU_SOURCE
#include "core/fds.h"
#include "core/home.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/busy.h"
#include "core/log.h"
#include "core/threads.h"
#include "interpose/pthread.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* 1 on threads whose table is scry's own. */
static __thread int here __attribute__((tls_model("initial-exec")));

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* one request at a time */
static int started;      /* under lock */
static int own_table;    /* the home thread left the program's table */
static int self_pidfd = -1; /* in scry's table: where the program's stderr is fetched from */
static int unshare_errno;

static struct {
    long (*fn)(void *);
    void *arg;
    long result;
} req;
static _Atomic uint32_t asked, answered;

static void futex_wait(_Atomic uint32_t *w, uint32_t seen)
{
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Every descriptor of the copy is the program's: closed, so that scry never
 * holds the program's files, pipes or terminal open. 0, 1 and 2 then become
 * /dev/null, so that a library writing to stdout or stderr on scry's
 * threads writes nowhere rather than into one of scry's files. */
static void empty_table(void)
{
    if (syscall(SYS_close_range, 0u, ~0u, 0) != 0) {
        struct rlimit rl;
        unsigned top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1u << 20
                           ? (unsigned)rl.rlim_cur
                           : 1u << 20;
        for (unsigned fd = 0; fd < top; fd++) syscall(SYS_close, fd);
    }
    for (int i = 0; i < 3; i++)
        if (open("/dev/null", O_RDWR) < 0) break;
}

static void *home_main(void *arg)
{
    (void)arg;
    scry__threads_mark_internal();
    if (unshare(CLONE_FILES) == 0) {
        empty_table();
        own_table = 1;
        here = 1;
    } else {
        unshare_errno = errno;
    }
    self_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    atomic_store(&answered, atomic_load(&asked)); /* ready */
    futex_wake(&answered);
    for (;;) {
        uint32_t n = atomic_load(&asked);
        if (n == atomic_load(&answered)) {
            futex_wait(&asked, n);
            continue;
        }
        req.result = req.fn(req.arg);
        atomic_store(&answered, n);
        futex_wake(&answered);
    }
    return NULL;
}

/* Starts the home thread, lock held. */
static int start_locked(void)
{
    if (started) return 0;
    scry__pthread_create_fn create = scry__real_pthread_create();
    if (!create) return -ENOSYS;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* it and every scry thread it makes */
    uint32_t before = atomic_fetch_add(&asked, 1) + 1;
    pthread_t t;
    int rc = create(&t, NULL, home_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_fetch_sub(&asked, 1);
        return -rc;
    }
    pthread_detach(t);
    uint32_t a;
    while ((a = atomic_load(&answered)) != before) futex_wait(&answered, a);
    pthread_setname_np(t, "scry-home");
    started = 1;
    if (!own_table)
        scry__log("scry's threads share the program's descriptor table (unshare: %s); "
                  "its descriptors are kept at high numbers instead",
                  strerror(unshare_errno));
    return 0;
}

long scry__home_call(long (*fn)(void *), void *arg)
{
    if (here) return fn(arg);
    scry__busy_enter();
    pthread_mutex_lock(&lock);
    long result;
    if (start_locked() < 0) {
        result = fn(arg); /* no home thread: here, in the program's table */
    } else {
        req.fn = fn;
        req.arg = arg;
        uint32_t n = atomic_fetch_add(&asked, 1) + 1;
        futex_wake(&asked);
        uint32_t a;
        while ((a = atomic_load(&answered)) != n) futex_wait(&answered, a);
        result = req.result;
    }
    pthread_mutex_unlock(&lock);
    scry__busy_leave();
    return result;
}

int scry__home_here(void)
{
    return here;
}

/* ---- Threads ------------------------------------------------------------ */

typedef struct {
    void *(*fn)(void *);
    void *arg;
    int here;
} start_t;

static void *trampoline(void *p)
{
    start_t s = *(start_t *)p;
    scry__busy_enter(); /* for good (the thread is scry's): the free is scry's */
    free(p);
    here = s.here;
    return s.fn(s.arg);
}

typedef struct {
    pthread_t *t;
    void *(*fn)(void *);
    void *arg;
} create_t;

static long create_here(void *p)
{
    create_t *c = p;
    scry__pthread_create_fn create = scry__real_pthread_create();
    if (!create) return ENOSYS;
    start_t *s = malloc(sizeof *s);
    if (!s) return EAGAIN;
    *s = (start_t){c->fn, c->arg, here};
    /* All signals blocked: the new thread inherits the mask. Static, as
     * only the home thread runs this: the sanitizer build does not know
     * this thread (created with libc's pthread_create), and in a forked
     * child its stack may be a reused one whose shadow says otherwise. */
    static sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = create(c->t, NULL, trampoline, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) free(s);
    return rc;
}

int scry__home_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    create_t c = {t, fn, arg};
    return (int)scry__home_call(create_here, &c);
}

/* Threads that scry's threads create through pthread_create (the HTTP
 * server's, libcurl's resolver's) share their creator's table: they are
 * told so by interpose/pthread.c. */
void scry__home_inherit(int creator_here)
{
    here = creator_here;
}

/* ---- Files -------------------------------------------------------------- */

typedef struct {
    const char *path;
    int flags, mode;
    int err;
} open_t;

static long open_here(void *p)
{
    open_t *o = p;
    int fd = open(o->path, o->flags, o->mode);
    o->err = errno;
    /* No table of scry's own: out of the program's way as best it can. */
    return here ? fd : scry__fd_adopt(fd);
}

int scry__home_open(const char *path, int flags, int mode)
{
    open_t o = {path, flags, mode, 0};
    int fd = (int)scry__home_call(open_here, &o);
    if (fd < 0) errno = o.err;
    return fd;
}

static long close_here(void *p)
{
    int fd = (int)(intptr_t)p;
    return here ? close(fd) : scry__fd_close(fd);
}

int scry__home_close(int fd)
{
    return fd < 0 ? 0 : (int)scry__home_call(close_here, (void *)(intptr_t)fd);
}

/* ---- stderr ------------------------------------------------------------- */

/* The file that is the program's stderr: the one fd 2 held when scry
 * started, or the one the program put there since with dup2/dup3
 * (interpose/fd.c). A program that closed its stderr and opened a file that
 * got number 2 (daemons close everything, then open their own files) has
 * no stderr, as far as scry is concerned: its messages must not land in
 * that file. */
static _Atomic int stderr_known;
static _Atomic uint64_t stderr_dev, stderr_ino;

void scry__stderr_note(void)
{
    struct stat st;
    int saved = errno;
    if (fstat(STDERR_FILENO, &st) == 0) {
        atomic_store(&stderr_dev, (uint64_t)st.st_dev);
        atomic_store(&stderr_ino, (uint64_t)st.st_ino);
        atomic_store(&stderr_known, 1);
    } else {
        atomic_store(&stderr_known, 0);
    }
    errno = saved;
}

int scry__stderr_get(void)
{
    int saved = errno;
    int fd = STDERR_FILENO;
    if (here) {
        fd = self_pidfd >= 0 ? (int)syscall(SYS_pidfd_getfd, self_pidfd, STDERR_FILENO, 0) : -1;
        if (fd < 0) fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
    }
    struct stat st;
    if (fd >= 0 && (!atomic_load(&stderr_known) || fstat(fd, &st) != 0 ||
                    (uint64_t)st.st_dev != atomic_load(&stderr_dev) ||
                    (uint64_t)st.st_ino != atomic_load(&stderr_ino))) {
        scry__stderr_put(fd);
        fd = -1;
    }
    errno = saved;
    return fd;
}

void scry__stderr_put(int fd)
{
    if (fd >= 0 && fd != STDERR_FILENO) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
}

void scry__home_postfork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    started = 0;
    own_table = 0;
    self_pidfd = -1;
    atomic_store(&asked, 0);
    atomic_store(&answered, 0);
}
