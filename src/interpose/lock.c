/*
 * lock.c - the blocking primitives, interposed, for the block and mutex
 * profiles (profile/contention.h).
 *
 * Each function forwards to the next definition in lookup order (glibc's).
 * Every wait is measured while a profile runs: a lock is first attempted
 * without blocking, atomically (the mutexes' own compare-and-swap, or the
 * try form), and only a failed attempt can wait, so it always takes the
 * timed path; there the wait registers itself before one more attempt, so
 * the release that ends it sees it (profile/contention.h). An attempt that
 * succeeds reads no clock. Releases look at one byte of the waiter filter
 * and do more only when a thread may wait on the object.
 * Condition-variable waits, barriers and joins block by nature and are
 * always timed while a profile runs.
 *
 * With no profile on, a wait publishes what the thread waits for and since
 * when (core/waits.h) only while something reads it (a thread or wall
 * profile, the endpoint, tracebacks): otherwise it costs a branch before
 * glibc's call. The uncontended mutex lock costs less than glibc's own
 * (see Mutexes).
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
#include <sys/syscall.h>
#include <threads.h>
#include <unistd.h>

#include "core/waits.h"
#include "interpose/lock.h"
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

/* A wait that blocks, with no profile on: published (core/waits.h) while
 * something reads what threads wait in (a thread or wall profile, the
 * endpoint, tracebacks), so the thread profile can say what the thread
 * waits for and since when; otherwise just the call. These waits are
 * restartable: a stack request that finds such a thread unpublished
 * interrupts nothing (SA_RESTART). */
#define WAITING(kind, obj, call)                                                                  \
    do {                                                                                          \
        if (LIKELY(!atomic_load_explicit(&scry__wait_stacks_wanted, memory_order_relaxed)))       \
            return (call);                                                                        \
        scry__thread_t *r_ = scry__wait_enter((kind), (obj));                                     \
        int rc_ = (call);                                                                         \
        scry__wait_leave(r_);                                                                     \
        return rc_;                                                                               \
    } while (0)

/* A wait that blocks while a profile runs: published and timed. The wait
 * is registered first (scry__wait_begin), so that the release ending it
 * is seen; then `retry`, one more attempt that does not block: the holder
 * may have let go between the caller's failed attempt and the
 * registration, and that release saw no waiter. Unless retry gives `busy`,
 * its result is returned and nothing is recorded (the caller never slept).
 * For waits with nothing to retry, retry is busy. */
#define TIMED_(kind, obj, what, retry, busy, call)                                                \
    do {                                                                                          \
        scry__wait_t w_;                                                                          \
        scry__thread_t *r_ = scry__wait_enter((kind), (obj));                                     \
        scry__wait_begin(&w_, (obj), (what));                                                     \
        int rt_ = (retry);                                                                        \
        if (rt_ != (busy)) {                                                                      \
            scry__wait_cancel(&w_, (obj));                                                        \
            scry__wait_leave(r_);                                                                 \
            return rt_;                                                                           \
        }                                                                                         \
        int rc_ = (call);                                                                         \
        scry__wait_end(&w_, (obj), (what), (kind), caller);                                       \
        scry__wait_leave(r_);                                                                     \
        return rc_;                                                                               \
    } while (0)
#define TIMED(...) TIMED_(__VA_ARGS__)
#define NO_RETRY 0, 0

/* The hot ones (lock, unlock, signal, post) have no frame of their own
 * and reach their slow paths by tail calls, so a slow path's frame links
 * straight to the program's (the frame-pointer walk needs that). */
#define FRAMELESS __attribute__((optimize("omit-frame-pointer")))

/* A release with possible waiters: note the time, release, and for a
 * lock, charge the waits it ended (outside the program's critical section). */
#define RELEASE_SLOW(name, type, what, wake)                                                      \
    __attribute__((noinline)) static int name##_slow(type *o, uintptr_t caller)                   \
    {                                                                                             \
        uint64_t ticket = scry__contention_release_begin(o, (wake));                              \
        int rc = REAL(name)(o);                                                                   \
        if ((what) == SCRY__WAIT_LOCK) scry__contention_release_end(o, caller, ticket);           \
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

/* Every wait is measured: a lock is taken by an atomic acquisition that
 * either succeeds (no wait: nothing to measure) or fails, and a failure
 * always takes the timed path. No "the word looks free, call glibc" check
 * that a racing thread can make stale: measured on a waiter looping on
 * lock/unlock against a holder taking the lock 1 ms at a time, that check
 * lost 79 of 83 waits (a freshly woken holder takes the lock between the
 * look and glibc's own attempt, and the waiter sleeps in glibc, untimed).
 *
 * The acquisition is glibc's own for the two kinds whose lock word alone
 * says free or taken and whose owner glibc never checks: the default kind
 * (PTHREAD_MUTEX_TIMED_NP, also std::mutex and C11's mtx_plain) and
 * PTHREAD_MUTEX_ADAPTIVE_NP, process-private or shared (__kind 0, 3, 128,
 * 131). For them pthread_mutex_lock is a compare-and-swap of __lock from 0
 * to 1, then __owner = the thread's id and ++__nusers (glibc's
 * nptl/pthread_mutex_lock.c; the same in pthread_mutex_trylock): done here,
 * it costs less than the call into glibc (measured: 4.5 ns a pair against
 * glibc's 6.1). Every other kind (recursive and error-checking, which
 * compare __owner with the caller; robust, priority-inheritance and
 * -protection, elision) goes through glibc's trylock, whose success is the
 * lock's success for every kind. Not kept on the fast path: glibc's
 * mutex_entry/mutex_acquired SDT probes, and lock elision where a tunable
 * forces it (the mutex stays unelided). */
#define PSHARED_KIND 128 /* glibc's PTHREAD_MUTEX_PSHARED_BIT */

static inline int plain_kind(const pthread_mutex_t *m)
{
    int k = __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & ~PSHARED_KIND;
    return k == PTHREAD_MUTEX_TIMED_NP || k == PTHREAD_MUTEX_ADAPTIVE_NP;
}

/* The calling thread's id, as glibc keeps it for __owner: cached, and
 * forgotten in a fork's child (scry__lock_postfork_child). For the plain
 * kinds __owner is informative only (debuggers show it), so a child made
 * with _Fork, which runs no fork handlers, shows its parent's id there. */
static __thread pid_t self_tid __attribute__((tls_model("initial-exec")));

void scry__lock_postfork_child(void)
{
    self_tid = 0;
}

__attribute__((noinline)) static pid_t find_tid(void)
{
    return self_tid = (pid_t)syscall(SYS_gettid);
}

/* Takes a plain-kind mutex if its word is 0; 1 when taken. */
static inline int plain_acquire(pthread_mutex_t *m)
{
    int expected = 0;
    if (!__atomic_compare_exchange_n(&m->__data.__lock, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return 0;
    pid_t id = self_tid;
    m->__data.__owner = LIKELY(id) ? id : find_tid();
    m->__data.__nusers++;
    return 1;
}

/* One attempt that never blocks: 0 when the mutex is now the caller's (or,
 * for other kinds, an error the lock would return too), EBUSY when taking it
 * means waiting. */
static inline int mutex_try(pthread_mutex_t *m)
{
    if (plain_kind(m)) return plain_acquire(m) ? 0 : EBUSY;
    return REAL(mutex_trylock)(m);
}

/* The attempt failed: the call will wait (or the holder let go meanwhile).
 * Published and, while a profile runs, timed, with one more attempt after
 * the wait is registered (TIMED). */
__attribute__((noinline)) static int mutex_lock_slow(pthread_mutex_t *m, uintptr_t caller)
{
    if (OFF && !atomic_load_explicit(&scry__wait_stacks_wanted, memory_order_relaxed))
        return real.mutex_lock(m); /* nothing to measure or publish */
    if (!plain_kind(m)) {
        int rc = REAL(mutex_trylock)(m);
        if (rc != EBUSY) return rc; /* taken, or an error the lock would give too */
    }
    if (OFF) WAITING(SCRY__TW_MUTEX, m, real.mutex_lock(m));
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, mutex_try(m), EBUSY, REAL(mutex_lock)(m));
}

FRAMELESS SCRY_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
    if (LIKELY(plain_kind(m)) && LIKELY(plain_acquire(m))) return 0; /* profiles on or off */
    return mutex_lock_slow(m, CALLER);
}

SCRY_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, ts_t t)
{
    int rc = mutex_try(m);
    if (LIKELY(rc != EBUSY)) return rc;
    if (OFF) WAITING(SCRY__TW_MUTEX, m, REAL(mutex_timedlock)(m, t));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, mutex_try(m), EBUSY, REAL(mutex_timedlock)(m, t));
}

SCRY_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t c, ts_t t)
{
    int rc = mutex_try(m);
    if (LIKELY(rc != EBUSY)) return rc;
    if (OFF) WAITING(SCRY__TW_MUTEX, m, REAL(mutex_clocklock)(m, c, t));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, mutex_try(m), EBUSY, REAL(mutex_clocklock)(m, c, t));
}

RELEASE_SLOW(mutex_unlock, pthread_mutex_t, SCRY__WAIT_LOCK, SCRY__TK_UNLOCK)
FRAMELESS SCRY_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
    if (UNLIKELY(scry__maybe_waiters(m))) return mutex_unlock_slow(m, CALLER);
    return real.mutex_unlock(m);
}

/* ---- Read-write locks -------------------------------------------------- */

/* The try forms are atomic attempts, as for mutexes: a failed one always
 * takes the path that publishes and times the wait. */
#define RW_LOCK(name, try, call, args, ...)                                                       \
    SCRY_EXPORT int name(pthread_rwlock_t *l, ##__VA_ARGS__)                                      \
    {                                                                                             \
        if (OFF && !atomic_load_explicit(&scry__wait_stacks_wanted, memory_order_relaxed))        \
            return REAL(call) args;                                                               \
        int rc = REAL(try)(l);                                                                    \
        if (LIKELY(rc != EBUSY)) return rc;                                                       \
        if (OFF) WAITING(SCRY__TW_RWLOCK, l, real.call args);                                     \
        uintptr_t caller = CALLER;                                                                \
        TIMED(SCRY__TW_RWLOCK, l, SCRY__WAIT_LOCK, real.try(l), EBUSY, real.call args);            \
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
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, NO_RETRY, REAL(cond_wait)(c, m));
}

SCRY_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, ts_t t)
{
    if (OFF) WAITING(SCRY__TW_COND, c, REAL(cond_timedwait)(c, m, t));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, NO_RETRY, REAL(cond_timedwait)(c, m, t));
}

SCRY_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t k, ts_t t)
{
    if (OFF) WAITING(SCRY__TW_COND, c, REAL(cond_clockwait)(c, m, k, t));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, NO_RETRY, REAL(cond_clockwait)(c, m, k, t));
}

RELEASE(cond_signal, pthread_cond_t, SCRY__WAIT_OTHER, SCRY__TK_SIGNAL, pthread_cond_signal)
RELEASE(cond_broadcast, pthread_cond_t, SCRY__WAIT_OTHER, SCRY__TK_BROADCAST, pthread_cond_broadcast)

/* ---- Semaphores -------------------------------------------------------- */

/* One attempt: 0 (taken), -1 (an error, in errno) or EAGAIN (the wait
 * would block; errno as the caller had it, since sem_trywait reports
 * "would block" through it). */
static int sem_try(sem_t *s)
{
    int saved = errno;
    if (REAL(sem_trywait)(s) == 0) return 0;
    if (errno != EAGAIN) return -1;
    errno = saved;
    return EAGAIN;
}

#define SEM_WAIT(name, call, args, ...)                                                           \
    SCRY_EXPORT int name(sem_t *s, ##__VA_ARGS__)                                                 \
    {                                                                                             \
        if (OFF) WAITING(SCRY__TW_SEM, s, REAL(call) args);                                       \
        int rc = sem_try(s);                                                                      \
        if (LIKELY(rc != EAGAIN)) return rc;                                                      \
        uintptr_t caller = CALLER;                                                                \
        TIMED(SCRY__TW_SEM, s, SCRY__WAIT_OTHER, sem_try(s), EAGAIN, real.call args);             \
    }

SEM_WAIT(sem_wait, sem_wait, (s))
SEM_WAIT(sem_timedwait, sem_timedwait, (s, t), ts_t t)
SEM_WAIT(sem_clockwait, sem_clockwait, (s, c, t), clockid_t c, ts_t t)

RELEASE(sem_post, sem_t, SCRY__WAIT_OTHER, SCRY__TK_POST, sem_post)

/* ---- Joins and barriers ------------------------------------------------ */

SCRY_EXPORT int pthread_join(pthread_t t, void **ret)
{
    if (OFF) WAITING(SCRY__TW_JOIN, (void *)t, REAL(join)(t, ret));
    int rc = REAL(tryjoin)(t, ret);
    if (rc != EBUSY) return rc;
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_JOIN, (void *)t, SCRY__WAIT_OTHER, NO_RETRY, REAL(join)(t, ret));
}

SCRY_EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
    if (OFF) WAITING(SCRY__TW_BARRIER, b, REAL(barrier_wait)(b));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_BARRIER, b, SCRY__WAIT_OTHER, NO_RETRY, REAL(barrier_wait)(b));
}

/* ---- C11 threads ------------------------------------------------------- */

/* glibc's mtx_t is a pthread_mutex_t (mtx_plain and mtx_timed make the
 * default kind, mtx_recursive the recursive one) and its mtx_lock is
 * pthread_mutex_lock with the result mapped to thrd_*: the same attempt
 * as pthread_mutex_lock's. */
static inline int mtx_try(mtx_t *m)
{
    pthread_mutex_t *p = (pthread_mutex_t *)m;
    if (plain_kind(p)) return plain_acquire(p) ? thrd_success : thrd_busy;
    return REAL(mtx_trylock)(m);
}

SCRY_EXPORT int mtx_lock(mtx_t *m)
{
    int rc = mtx_try(m);
    if (LIKELY(rc != thrd_busy)) return rc;
    if (OFF) WAITING(SCRY__TW_MUTEX, m, REAL(mtx_lock)(m));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, mtx_try(m), thrd_busy, REAL(mtx_lock)(m));
}

SCRY_EXPORT int mtx_timedlock(mtx_t *__restrict m, const struct timespec *__restrict t)
{
    int rc = mtx_try(m);
    if (LIKELY(rc != thrd_busy)) return rc;
    if (OFF) WAITING(SCRY__TW_MUTEX, m, REAL(mtx_timedlock)(m, t));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_MUTEX, m, SCRY__WAIT_LOCK, mtx_try(m), thrd_busy, REAL(mtx_timedlock)(m, t));
}

RELEASE(mtx_unlock, mtx_t, SCRY__WAIT_LOCK, SCRY__TK_UNLOCK, mtx_unlock)

SCRY_EXPORT int cnd_wait(cnd_t *c, mtx_t *m)
{
    if (OFF) WAITING(SCRY__TW_COND, c, REAL(cnd_wait)(c, m));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, NO_RETRY, REAL(cnd_wait)(c, m));
}

SCRY_EXPORT int cnd_timedwait(cnd_t *__restrict c, mtx_t *__restrict m,
                              const struct timespec *__restrict t)
{
    if (OFF) WAITING(SCRY__TW_COND, c, REAL(cnd_timedwait)(c, m, t));
    uintptr_t caller = CALLER;
    TIMED(SCRY__TW_COND, c, SCRY__WAIT_OTHER, NO_RETRY, REAL(cnd_timedwait)(c, m, t));
}

RELEASE(cnd_signal, cnd_t, SCRY__WAIT_OTHER, SCRY__TK_SIGNAL, cnd_signal)
RELEASE(cnd_broadcast, cnd_t, SCRY__WAIT_OTHER, SCRY__TK_BROADCAST, cnd_broadcast)
