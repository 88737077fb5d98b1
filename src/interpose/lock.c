/*
 * lock.c - the blocking primitives, interposed, for the block and mutex
 * profiles (profile/contention.h).
 *
 * Each function forwards to the next definition in lookup order (glibc's).
 * While neither profile runs, a lock costs one load and a branch more than
 * glibc's. While one runs, the uncontended path still reads no clock: a
 * mutex whose lock word says free is simply locked; otherwise, and for the
 * other locks, the lock is tried first, and only when that fails (the call
 * would block) is the real, blocking call timed. A release looks at one byte of
 * the waiter filter and does more only when a thread may wait on the
 * object. Condition-variable waits, barriers and joins block by nature and
 * are always timed while a profile runs.
 *
 * Whether a profile runs or not, a call that is about to block publishes
 * what the thread waits for and since when (core/waits.h), for the thread
 * profile's states and the wall sampler: a few stores and a coarse clock
 * read on the blocking path only.
 *
 * Covered: pthread mutexes (lock, timedlock, clocklock, unlock), rwlocks
 * (rd/wr lock, their timed and clock forms, unlock), condition variables
 * (wait, timedwait, clockwait, signal, broadcast), semaphores (wait,
 * timedwait, clockwait, post), pthread_join, barriers, and C11 mtx_* and
 * cnd_*, which glibc implements without calling the pthread functions
 * through the PLT. C++'s std::mutex, std::condition_variable and
 * std::shared_mutex reach the pthread functions. Try-locks never block and
 * are left alone.
 *
 * Symbol versions: glibc has two pthread_cond_* ABIs; programs built since
 * 2002 use GLIBC_2.3.2's, which is the one scry forwards to (dlvsym). A
 * program linked against the 2.2.5 ABI would be handed the new one.
 *
 * scry's own locking (tables, profiles) goes through these functions too:
 * every path of scry's marks the thread busy, and a busy thread's waits are
 * not recorded, so scry never profiles, or waits for, itself.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <threads.h>

#include "core/waits.h"
#include "profile/contention.h"
#include "trace/record.h"

#define SCRY_EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CALLER ((uintptr_t)__builtin_return_address(0))
#define OFF LIKELY(!atomic_load_explicit(&scry__contention_on, memory_order_relaxed))

typedef const struct timespec *ts_t;

static int boot_mutex_lock(pthread_mutex_t *m);
static int boot_mutex_unlock(pthread_mutex_t *m);

static struct {
    int (*mutex_lock)(pthread_mutex_t *);
    int (*mutex_trylock)(pthread_mutex_t *);
    int (*mutex_timedlock)(pthread_mutex_t *, ts_t);
    int (*mutex_clocklock)(pthread_mutex_t *, clockid_t, ts_t);
    int (*mutex_unlock)(pthread_mutex_t *);
    int (*rdlock)(pthread_rwlock_t *);
    int (*wrlock)(pthread_rwlock_t *);
    int (*tryrdlock)(pthread_rwlock_t *);
    int (*trywrlock)(pthread_rwlock_t *);
    int (*timedrdlock)(pthread_rwlock_t *, ts_t);
    int (*timedwrlock)(pthread_rwlock_t *, ts_t);
    int (*clockrdlock)(pthread_rwlock_t *, clockid_t, ts_t);
    int (*clockwrlock)(pthread_rwlock_t *, clockid_t, ts_t);
    int (*rwlock_unlock)(pthread_rwlock_t *);
    int (*cond_wait)(pthread_cond_t *, pthread_mutex_t *);
    int (*cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, ts_t);
    int (*cond_clockwait)(pthread_cond_t *, pthread_mutex_t *, clockid_t, ts_t);
    int (*cond_signal)(pthread_cond_t *);
    int (*cond_broadcast)(pthread_cond_t *);
    int (*sem_wait)(sem_t *);
    int (*sem_trywait)(sem_t *);
    int (*sem_timedwait)(sem_t *, ts_t);
    int (*sem_clockwait)(sem_t *, clockid_t, ts_t);
    int (*sem_post)(sem_t *);
    int (*join)(pthread_t, void **);
    int (*tryjoin)(pthread_t, void **);
    int (*barrier_wait)(pthread_barrier_t *);
    int (*mtx_lock)(mtx_t *);
    int (*mtx_trylock)(mtx_t *);
    int (*mtx_timedlock)(mtx_t *__restrict, const struct timespec *__restrict);
    int (*mtx_unlock)(mtx_t *);
    int (*cnd_wait)(cnd_t *, mtx_t *);
    int (*cnd_timedwait)(cnd_t *__restrict, mtx_t *__restrict, const struct timespec *__restrict);
    int (*cnd_signal)(cnd_t *);
    int (*cnd_broadcast)(cnd_t *);
    _Atomic int done;
} real = {
    /* The two hottest start as stubs that resolve on first use, so that
     * their calls need no "resolved yet?" test (see REAL for the rest). */
    .mutex_lock = boot_mutex_lock,
    .mutex_unlock = boot_mutex_unlock,
};

static void *next_fn(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* The condition variable ABI of 2002 on, wherever glibc versions it. */
static void *next_cond(const char *name)
{
    void *f = dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2");
    return f ? f : dlsym(RTLD_NEXT, name);
}

/* Idempotent, so two threads racing here store the same values. */
static void resolve(void)
{
#define GET(field, name) *(void **)&real.field = next_fn(name)
    GET(mutex_lock, "pthread_mutex_lock");
    GET(mutex_trylock, "pthread_mutex_trylock");
    GET(mutex_timedlock, "pthread_mutex_timedlock");
    GET(mutex_clocklock, "pthread_mutex_clocklock");
    GET(mutex_unlock, "pthread_mutex_unlock");
    GET(rdlock, "pthread_rwlock_rdlock");
    GET(wrlock, "pthread_rwlock_wrlock");
    GET(tryrdlock, "pthread_rwlock_tryrdlock");
    GET(trywrlock, "pthread_rwlock_trywrlock");
    GET(timedrdlock, "pthread_rwlock_timedrdlock");
    GET(timedwrlock, "pthread_rwlock_timedwrlock");
    GET(clockrdlock, "pthread_rwlock_clockrdlock");
    GET(clockwrlock, "pthread_rwlock_clockwrlock");
    GET(rwlock_unlock, "pthread_rwlock_unlock");
    GET(sem_wait, "sem_wait");
    GET(sem_trywait, "sem_trywait");
    GET(sem_timedwait, "sem_timedwait");
    GET(sem_clockwait, "sem_clockwait");
    GET(sem_post, "sem_post");
    GET(join, "pthread_join");
    GET(tryjoin, "pthread_tryjoin_np");
    GET(barrier_wait, "pthread_barrier_wait");
    GET(mtx_lock, "mtx_lock");
    GET(mtx_trylock, "mtx_trylock");
    GET(mtx_timedlock, "mtx_timedlock");
    GET(mtx_unlock, "mtx_unlock");
    GET(cnd_wait, "cnd_wait");
    GET(cnd_timedwait, "cnd_timedwait");
    GET(cnd_signal, "cnd_signal");
    GET(cnd_broadcast, "cnd_broadcast");
#undef GET
    *(void **)&real.cond_wait = next_cond("pthread_cond_wait");
    *(void **)&real.cond_timedwait = next_cond("pthread_cond_timedwait");
    *(void **)&real.cond_clockwait = next_fn("pthread_cond_clockwait");
    *(void **)&real.cond_signal = next_cond("pthread_cond_signal");
    *(void **)&real.cond_broadcast = next_cond("pthread_cond_broadcast");
    atomic_store_explicit(&real.done, 1, memory_order_release);
}

static int boot_mutex_lock(pthread_mutex_t *m)
{
    resolve();
    return real.mutex_lock(m);
}

static int boot_mutex_unlock(pthread_mutex_t *m)
{
    resolve();
    return real.mutex_unlock(m);
}

/* The real function; found on first use (this can run before scry's
 * constructor, from another library's). */
#define REAL(f) (LIKELY(atomic_load_explicit(&real.done, memory_order_acquire)) ? real.f : (resolve(), real.f))

/* A wait that blocks, with no profile on: published (core/waits.h), so the
 * thread profile can say what the thread waits for and since when. */
#define WAITING(kind, obj, call)                                                                  \
    do {                                                                                          \
        scry__thread_t *r_ = scry__wait_enter((kind), (obj));                                     \
        int rc_ = (call);                                                                         \
        scry__wait_leave(r_);                                                                     \
        return rc_;                                                                               \
    } while (0)

/* A wait that blocks while a profile runs: published and timed. */
#define TIMED(kind, obj, what, call)                                                              \
    do {                                                                                          \
        scry__wait_t w_;                                                                          \
        scry__thread_t *r_ = scry__wait_enter((kind), (obj));                                     \
        scry__wait_begin(&w_, (obj));                                                             \
        int rc_ = (call);                                                                         \
        scry__wait_end(&w_, (obj), (what), (kind), caller);                                               \
        scry__wait_leave(r_);                                                                     \
        return rc_;                                                                               \
    } while (0)

/* The hot ones (lock, unlock, signal, post) have no frame of their own
 * and reach their slow paths by tail calls, so a slow path's frame links
 * straight to the program's (the frame-pointer walk needs that). */
#define FRAMELESS __attribute__((optimize("omit-frame-pointer")))

/* A release with possible waiters: note the time, release, and for a
 * lock, charge the waits it ended (outside the program's critical section). */
#define RELEASE_SLOW(name, type, what, wake)                                                      \
    __attribute__((noinline)) static int name##_slow(type *o, uintptr_t caller)                   \
    {                                                                                             \
        scry__contention_release_begin(o, (wake));                                                \
        int rc = REAL(name)(o);                                                                   \
        if ((what) == SCRY__WAIT_LOCK) scry__contention_release_end(o, caller);                   \
        return rc;                                                                                \
    }
#define RELEASE(name, type, what, wake, exported)                                                 \
    RELEASE_SLOW(name, type, what, wake)                                                          \
    FRAMELESS SCRY_EXPORT int exported(type *o)                                                   \
    {                                                                                             \
        if (UNLIKELY(scry__maybe_waiters(o))) return name##_slow(o, CALLER);                      \
        return REAL(name)(o);                                                                     \
    }

/* ---- Mutexes ----------------------------------------------------------- */

/* The mutex looked held: try it (it may have just been let go, or be a
 * recursive mutex this thread owns), and time the wait only if it is real. */
__attribute__((noinline)) static int mutex_lock_slow(pthread_mutex_t *m, uintptr_t caller)
{
    if (OFF) WAITING(SCRY__TW_MUTEX, m, real.mutex_lock(m));
    int rc = REAL(mutex_trylock)(m);
    if (rc != EBUSY) return rc; /* taken (or an error the lock would give too) */
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, REAL(mutex_lock)(m));
}

/* A mutex whose lock word is 0 is free: glibc's lock takes it without
 * waiting (a thread that races us to it makes us wait unmeasured, rarely and
 * briefly). Reading the word and tail-calling the lock costs less than
 * glibc's try-lock (measured: its type dispatch is most of an uncontended
 * pair), and the line is the one the lock needs anyway. */
static inline int looks_free(pthread_mutex_t *m)
{
    return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0;
}

FRAMELESS SCRY_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
    if (looks_free(m)) return real.mutex_lock(m); /* profiles on or off */
    return mutex_lock_slow(m, CALLER);
}

SCRY_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, ts_t t)
{
    if (OFF || looks_free(m)) return REAL(mutex_timedlock)(m, t);
    int rc = REAL(mutex_trylock)(m);
    if (LIKELY(rc != EBUSY)) return rc;
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, REAL(mutex_timedlock)(m, t));
}

SCRY_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t c, ts_t t)
{
    if (OFF || looks_free(m)) return REAL(mutex_clocklock)(m, c, t);
    int rc = REAL(mutex_trylock)(m);
    if (LIKELY(rc != EBUSY)) return rc;
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, REAL(mutex_clocklock)(m, c, t));
}

RELEASE_SLOW(mutex_unlock, pthread_mutex_t, SCRY__WAIT_LOCK, SCRY__TK_UNLOCK)
FRAMELESS SCRY_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
    if (UNLIKELY(scry__maybe_waiters(m))) return mutex_unlock_slow(m, CALLER);
    return real.mutex_unlock(m);
}

/* ---- Read-write locks -------------------------------------------------- */

#define RW_LOCK(name, try, call, args, ...)                                                       \
    SCRY_EXPORT int name(pthread_rwlock_t *l, ##__VA_ARGS__)                                      \
    {                                                                                             \
        if (OFF) return REAL(call) args;                                                          \
        int rc = REAL(try)(l);                                                                    \
        if (LIKELY(rc != EBUSY)) return rc;                                                       \
        uintptr_t caller = CALLER;                                                                \
        TIMED(SCRY__TW_RWLOCK, l, SCRY__WAIT_LOCK, real.call args);                                                \
    }

RW_LOCK(pthread_rwlock_rdlock, tryrdlock, rdlock, (l))
RW_LOCK(pthread_rwlock_wrlock, trywrlock, wrlock, (l))
RW_LOCK(pthread_rwlock_timedrdlock, tryrdlock, timedrdlock, (l, t), ts_t t)
RW_LOCK(pthread_rwlock_timedwrlock, trywrlock, timedwrlock, (l, t), ts_t t)
RW_LOCK(pthread_rwlock_clockrdlock, tryrdlock, clockrdlock, (l, c, t), clockid_t c, ts_t t)
RW_LOCK(pthread_rwlock_clockwrlock, trywrlock, clockwrlock, (l, c, t), clockid_t c, ts_t t)

RELEASE(rwlock_unlock, pthread_rwlock_t, SCRY__WAIT_LOCK, SCRY__TK_UNLOCK, pthread_rwlock_unlock)

/* ---- Condition variables ----------------------------------------------- */

SCRY_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    if (OFF) WAITING(SCRY__TW_COND, c, REAL(cond_wait)(c, m));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, REAL(cond_wait)(c, m));
}

SCRY_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, ts_t t)
{
    if (OFF) WAITING(SCRY__TW_COND, c, REAL(cond_timedwait)(c, m, t));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, REAL(cond_timedwait)(c, m, t));
}

SCRY_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t k, ts_t t)
{
    if (OFF) WAITING(SCRY__TW_COND, c, REAL(cond_clockwait)(c, m, k, t));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, REAL(cond_clockwait)(c, m, k, t));
}

RELEASE(cond_signal, pthread_cond_t, SCRY__WAIT_OTHER, SCRY__TK_SIGNAL, pthread_cond_signal)
RELEASE(cond_broadcast, pthread_cond_t, SCRY__WAIT_OTHER, SCRY__TK_BROADCAST, pthread_cond_broadcast)

/* ---- Semaphores -------------------------------------------------------- */

/* sem_trywait reports "would block" through errno: put it back. */
#define SEM_TRY(s)                                                                                \
    do {                                                                                          \
        int saved_ = errno;                                                                       \
        if (REAL(sem_trywait)(s) == 0) return 0;                                                  \
        if (errno != EAGAIN) return -1;                                                           \
        errno = saved_;                                                                           \
    } while (0)

SCRY_EXPORT int sem_wait(sem_t *s)
{
    if (OFF) WAITING(SCRY__TW_SEM, s, REAL(sem_wait)(s));
    SEM_TRY(s);
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_SEM, s, SCRY__WAIT_OTHER, REAL(sem_wait)(s));
}

SCRY_EXPORT int sem_timedwait(sem_t *s, ts_t t)
{
    if (OFF) WAITING(SCRY__TW_SEM, s, REAL(sem_timedwait)(s, t));
    SEM_TRY(s);
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_SEM, s, SCRY__WAIT_OTHER, REAL(sem_timedwait)(s, t));
}

SCRY_EXPORT int sem_clockwait(sem_t *s, clockid_t c, ts_t t)
{
    if (OFF) WAITING(SCRY__TW_SEM, s, REAL(sem_clockwait)(s, c, t));
    SEM_TRY(s);
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_SEM, s, SCRY__WAIT_OTHER, REAL(sem_clockwait)(s, c, t));
}

RELEASE(sem_post, sem_t, SCRY__WAIT_OTHER, SCRY__TK_POST, sem_post)

/* ---- Joins and barriers ------------------------------------------------ */

SCRY_EXPORT int pthread_join(pthread_t t, void **ret)
{
    if (OFF) WAITING(SCRY__TW_JOIN, (void *)t, REAL(join)(t, ret));
    int rc = REAL(tryjoin)(t, ret);
    if (rc != EBUSY) return rc;
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_JOIN, (void *)t, SCRY__WAIT_OTHER, REAL(join)(t, ret));
}

SCRY_EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
    if (OFF) WAITING(SCRY__TW_BARRIER, b, REAL(barrier_wait)(b));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_BARRIER, b, SCRY__WAIT_OTHER, REAL(barrier_wait)(b));
}

/* ---- C11 threads ------------------------------------------------------- */

SCRY_EXPORT int mtx_lock(mtx_t *m)
{
    if (OFF) return REAL(mtx_lock)(m);
    int rc = REAL(mtx_trylock)(m);
    if (LIKELY(rc != thrd_busy)) return rc;
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, REAL(mtx_lock)(m));
}

SCRY_EXPORT int mtx_timedlock(mtx_t *__restrict m, const struct timespec *__restrict t)
{
    if (OFF) return REAL(mtx_timedlock)(m, t);
    int rc = REAL(mtx_trylock)(m);
    if (LIKELY(rc != thrd_busy)) return rc;
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, REAL(mtx_timedlock)(m, t));
}

RELEASE(mtx_unlock, mtx_t, SCRY__WAIT_LOCK, SCRY__TK_UNLOCK, mtx_unlock)

SCRY_EXPORT int cnd_wait(cnd_t *c, mtx_t *m)
{
    if (OFF) WAITING(SCRY__TW_COND, c, REAL(cnd_wait)(c, m));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, REAL(cnd_wait)(c, m));
}

SCRY_EXPORT int cnd_timedwait(cnd_t *__restrict c, mtx_t *__restrict m,
                              const struct timespec *__restrict t)
{
    if (OFF) WAITING(SCRY__TW_COND, c, REAL(cnd_timedwait)(c, m, t));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, REAL(cnd_timedwait)(c, m, t));
}

RELEASE(cnd_signal, cnd_t, SCRY__WAIT_OTHER, SCRY__TK_SIGNAL, cnd_signal)
RELEASE(cnd_broadcast, cnd_t, SCRY__WAIT_OTHER, SCRY__TK_BROADCAST, cnd_broadcast)
