/*
 * contention.c - the block and mutex profiles (Go's), over
 * interpose/lock.c; see contention.h for the model.
 *
 * Waiters: a fixed table of objects that have waiters right now, in
 * stripes with a lock each. An entry holds how many threads wait, and what
 * the last release did: when it happened and, for a sampled lock release,
 * the releaser's stack. It goes when its last waiter leaves, so the table
 * only ever holds objects being waited on; when it is full a wait is still
 * recorded in the block profile but cannot be charged to a releaser.
 *
 * Events: a waiter that was sampled unwinds its own stack (and copies the
 * releaser's, taken by the releaser before it let go) into the sample ring
 * (core/ring.h), as a CPU sample would be; the aggregator thread interns the
 * stacks and adds them to buckets keyed by (kind, stack, object address),
 * with counts in thousandths (a sampled short wait counts rate/delay
 * contentions, as in Go) and delays in nanoseconds. So the threads that
 * wait, which hold the lock they waited for when they get here, never take
 * a lock shared by all threads: a stripe lock of the waiters table at most.
 *
 * Locks: every path here marks the thread busy first, so the locks it takes
 * (which are interposed like any other) go straight to glibc. A stripe lock
 * nests in nothing; buckets are the aggregator lock's.
 */
#define _GNU_SOURCE
#include "core/unwind.h"
#include "profile/contention.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/aggregator.h"
#include "core/callstack.h"
#include "core/config.h"
#include "core/ring.h"
#include "core/stacktab.h"
#include "core/threads.h"
#include "format/pprof.h"
#include "profile/profile.h"
#include "scry.h"
#include "span/labels.h"
#include "trace/trace.h"
#include "core/busy.h"

_Atomic int scry__contention_on;
_Atomic uint8_t scry__waiter_filter[1u << SCRY__WAITER_FILTER_BITS];

static pthread_mutex_t ctl = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int block_on, mutex_on, tracing;
static int block_ever, mutex_ever;
static _Atomic int64_t block_rate, mutex_fraction; /* 0: the config's */
static int64_t block_start_ns, mutex_start_ns;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t rate_of(_Atomic int64_t *v, int64_t config)
{
    int64_t r = atomic_load_explicit(v, memory_order_relaxed);
    return r > 0 ? r : config;
}

static __thread uint64_t rng_state __attribute__((tls_model("initial-exec")));

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    if (!x) x = (uint64_t)now_ns() ^ (uint64_t)(uintptr_t)&rng_state ^ 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* ---- Waiters ----------------------------------------------------------- */

#define STRIPES 64
#define PER_STRIPE 64

/* The releaser's stack kept for its waiters: its leaf-most frames. */
#define RELEASER_FRAMES 32

typedef struct {
    const void *obj; /* NULL: free */
    int waiters;
    uint64_t recorded;  /* ticket of the last lock release recorded here; 0: none */
    uint32_t nreleaser; /* frames of the last one; 0: it was not sampled */
    uintptr_t releaser[RELEASER_FRAMES];
    uint64_t releaser_span; /* its span (span/labels.h), 0: none */
    uint32_t releaser_span_name;
    /* Waits that ended before the release that ended them (ticket
     * pending_ticket) was recorded (the waiter ran first, or the releaser
     * was preempted between its release and its record): that release
     * charges them when it comes. */
    uint64_t pending_ticket;
    int64_t pending_count, pending_delay;
} waiting_t;

typedef struct {
    _Alignas(64) pthread_mutex_t lock;
    waiting_t slots[PER_STRIPE];
} wstripe_t;

static wstripe_t wstripes[STRIPES];
/* How a wait is registered (scry__wait_t.registered): a lock wait while the
 * mutex profile runs is in the table, to be charged to its releaser; any
 * other only raises the filter. */
enum { UNREGISTERED = 0, IN_FILTER, IN_TABLE };
static _Atomic uint64_t table_full;
static _Atomic uint64_t unseen; /* lock waits ended by a release that did not see them */
/* When each object (by filter slot) was last released, and a ticket
 * counting its releases: written without a lock just before the release,
 * read by the waiter it wakes. The ticket a waiter reads as it wakes names
 * the release that ended its wait, so that the wait is charged to that
 * release's stack and no other, however late its record comes. */
static _Atomic int64_t released_at[1u << SCRY__WAITER_FILTER_BITS];
static _Atomic uint64_t release_ticket[1u << SCRY__WAITER_FILTER_BITS];

static wstripe_t *wstripe_of(const void *obj)
{
    return &wstripes[scry__waiter_index(obj) % STRIPES];
}

/* Stripe lock held. */
static waiting_t *find(wstripe_t *s, const void *obj)
{
    for (int i = 0; i < PER_STRIPE; i++)
        if (s->slots[i].obj == obj) return &s->slots[i];
    return NULL;
}

static void filter_add(const void *obj, int delta)
{
    _Atomic uint8_t *c = &scry__waiter_filter[scry__waiter_index(obj)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        if (v == 255) return; /* saturated: "maybe" for good */
        if (delta < 0 && v == 0) return;
        if (atomic_compare_exchange_weak(c, &v, (uint8_t)(v + delta))) return;
    }
}

int scry__wait_begin(scry__wait_t *w, const void *obj, int what)
{
    w->t0 = 0;
    w->registered = UNREGISTERED;
    w->trace_t0 = 0;
    if (scry__tls.busy) return 0;
    scry__busy_enter();
    int saved = errno;
    /* The clock first: a stripe lock held by a preempted thread can keep
     * this one waiting here, and that is part of the program's wait. */
    int64_t t0 = now_ns();
    if (what != SCRY__WAIT_LOCK || !atomic_load_explicit(&mutex_on, memory_order_relaxed)) {
        /* Nothing to charge to a releaser: the filter alone, so that the
         * release notes its time (the wake-up latency) and the tracer sees
         * it. */
        filter_add(obj, +1);
        w->registered = IN_FILTER;
        goto out;
    }
    wstripe_t *s = wstripe_of(obj);
    pthread_mutex_lock(&s->lock);
    waiting_t *e = find(s, obj);
    if (!e && (e = find(s, NULL))) {
        e->obj = obj;
        e->waiters = 0;
        e->recorded = 0;
        e->pending_ticket = 0;
        e->nreleaser = 0;
        e->releaser_span = 0;
        e->releaser_span_name = 0;
        e->pending_count = e->pending_delay = 0;
    }
    if (e) {
        e->waiters++;
        w->ticket = atomic_load_explicit(&release_ticket[scry__waiter_index(obj)], memory_order_relaxed);
        w->registered = IN_TABLE;
    }
    pthread_mutex_unlock(&s->lock);
    if (w->registered)
        filter_add(obj, +1);
    else
        atomic_fetch_add(&table_full, 1);
out:
    w->t0 = t0;
    if (scry__tracing()) w->trace_t0 = scry__trace_clock();
    errno = saved;
    scry__busy_leave();
    return 1;
}

/* Stripe lock held: one waiter leaves the entry, which goes with its last
 * waiter unless a release has waits pending to charge. */
static void leave_entry(waiting_t *e)
{
    if (e && --e->waiters == 0 && e->pending_count == 0) e->obj = NULL;
}

void scry__wait_cancel(scry__wait_t *w, const void *obj)
{
    if (!w->t0 || w->registered == UNREGISTERED) return;
    scry__busy_enter();
    if (w->registered == IN_TABLE) {
        wstripe_t *s = wstripe_of(obj);
        pthread_mutex_lock(&s->lock);
        leave_entry(find(s, obj));
        pthread_mutex_unlock(&s->lock);
    }
    filter_add(obj, -1);
    scry__busy_leave();
}

uint64_t scry__contention_release_begin(const void *obj, int wake_kind)
{
    if (!atomic_load_explicit(&scry__contention_on, memory_order_relaxed)) return 0;
    if (scry__tracing() && !scry__tls.busy) scry__trace_wake(wake_kind, obj);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    atomic_store_explicit(&released_at[scry__waiter_index(obj)],
                          (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, memory_order_relaxed);
    return atomic_fetch_add(&release_ticket[scry__waiter_index(obj)], 1) + 1;
}

static void mutex_event(const void *obj, const uintptr_t *frames, uint32_t n, int64_t count,
                        int64_t delay, uint64_t span, uint32_t span_name);

void scry__contention_release_end(const void *obj, uintptr_t caller, uint64_t ticket)
{
    if (!ticket || scry__tls.busy || !atomic_load_explicit(&mutex_on, memory_order_relaxed)) return;
    scry__busy_enter();
    int saved = errno;
    /* 1 in `fraction` releases is sampled: its stack is taken (after the
     * program let go of its lock, so the unwind is not in its critical
     * section), and the waits it ended are charged to it. */
    uintptr_t frames[RELEASER_FRAMES];
    uint32_t n = 0;
    int64_t fraction = rate_of(&mutex_fraction, scry__config.mutex_fraction);
    if (fraction <= 1 || rnd() % (uint64_t)fraction == 0)
        n = scry__callstack(caller, frames, RELEASER_FRAMES);
    int64_t count = 0, delay = 0;
    wstripe_t *s = wstripe_of(obj);
    pthread_mutex_lock(&s->lock);
    waiting_t *e = find(s, obj);
    uint32_t span_name;
    uint64_t span = scry__span_label_get_as_safe(&span_name);
    if (e) {
        if (ticket > e->recorded) {
            e->recorded = ticket;
            e->nreleaser = n;
            memcpy(e->releaser, frames, n * sizeof *frames);
            e->releaser_span = span;
            e->releaser_span_name = span_name;
        }
        /* The waits this release ended; older ones whose release has not
         * recorded yet are left to it, unless nobody waits any more (the
         * entry goes: they are charged here rather than lost). */
        if (e->pending_count && (e->pending_ticket == ticket || e->waiters == 0)) {
            count = e->pending_count;
            delay = e->pending_delay;
            e->pending_count = e->pending_delay = 0;
        }
        if (e->waiters == 0 && e->pending_count == 0) e->obj = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (n && count) mutex_event(obj, frames, n, count * fraction, delay * fraction, span, span_name);
    errno = saved;
    scry__busy_leave();
}

/* ---- Buckets ----------------------------------------------------------- */

#define BUCKETS_MAX (1u << 18)
#define BUCKET_HASH (1u << 14)

typedef struct {
    uintptr_t obj;
    uint32_t stack;
    uint32_t kind;
    uint32_t next;            /* index + 1 */
    uint32_t span_name;       /* span/labels.h, 0: none */
    uint64_t span_id;         /* 0: none, or folded away */
    int64_t count_milli, delay;
} bucket_t;

/* Built by the consumer under the aggregator lock. */
static bucket_t *buckets;
static uint32_t *bucket_hash;
static uint32_t nbuckets;
static uint64_t dropped_table;    /* buckets or stacks full */
static uint64_t span_ids_folded;  /* samples that lost their span_id label */
static uint64_t ring_drops_at_start;

/* Latencies: atomics, no lock. */
static _Atomic uint64_t latencies[SCRY__LATENCY_BUCKETS];
static _Atomic uint64_t lock_wait_ns; /* every timed mutex and rwlock wait */

uint64_t scry__lock_wait_total_ns(void)
{
    return atomic_load_explicit(&lock_wait_ns, memory_order_relaxed);
}

void scry__sched_latencies(uint64_t out[SCRY__LATENCY_BUCKETS])
{
    for (int i = 0; i < SCRY__LATENCY_BUCKETS; i++) out[i] = atomic_load(&latencies[i]);
}

static void add_latency(int64_t ns)
{
    int b = ns <= 1 ? 0 : 63 - __builtin_clzll((unsigned long long)ns);
    if (b >= SCRY__LATENCY_BUCKETS) b = SCRY__LATENCY_BUCKETS - 1;
    atomic_fetch_add_explicit(&latencies[b], 1, memory_order_relaxed);
}

static void *map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Consumer, on the aggregator thread under its lock. */
static void consume(const scry__sample_t *smp)
{
    uint32_t stack = scry__stacktab_intern(smp->frames, smp->nframes);
    if (stack == SCRY__STACK_NONE) goto full;
    if (!buckets) {
        buckets = map(BUCKETS_MAX * sizeof *buckets);
        bucket_hash = map(BUCKET_HASH * sizeof *bucket_hash);
        if (!buckets || !bucket_hash) goto full;
    }
    uint64_t span = smp->span_id;
    for (;;) {
        uint64_t k = ((uint64_t)stack * 0x9e3779b97f4a7c15ull) ^
                     ((uint64_t)smp->tag * 0xff51afd7ed558ccdull) ^ (span * 0xc4ceb9fe1a85ec53ull) ^
                     smp->kind ^ ((uint64_t)smp->span_name << 8);
        uint32_t h = (uint32_t)(k >> 40) & (BUCKET_HASH - 1);
        bucket_t *b = NULL;
        for (uint32_t i = bucket_hash[h]; i && !b; i = buckets[i - 1].next) {
            bucket_t *c = &buckets[i - 1];
            if (c->stack == stack && c->obj == smp->tag && c->kind == smp->kind &&
                c->span_id == span && c->span_name == smp->span_name)
                b = c;
        }
        if (!b) {
            /* A new bucket: a span id only while the table has room. */
            uint64_t kept = scry__span_id_keep(span, nbuckets, BUCKETS_MAX, &span_ids_folded);
            if (kept != span) {
                span = kept;
                continue;
            }
            if (nbuckets >= BUCKETS_MAX) goto full;
            b = &buckets[nbuckets];
            *b = (bucket_t){smp->tag, stack, smp->kind, bucket_hash[h], smp->span_name, span, 0, 0};
            bucket_hash[h] = ++nbuckets;
        }
        b->count_milli += smp->values[0];
        b->delay += smp->values[1];
        return;
    }
full:
    dropped_table++;
}

/* A slot for one event, stack still to fill; NULL when the ring is full
 * (the drop is counted). Committed with scry__ring_commit_as_safe. */
static scry__sample_t *event(int kind, const void *obj, int64_t count_milli, int64_t delay)
{
    scry__sample_t *smp = scry__ring_reserve_as_safe();
    if (smp) {
        smp->kind = (uint32_t)kind;
        smp->tag = (uintptr_t)obj;
        smp->span_id = 0;
        smp->span_name = 0;
        smp->values[0] = count_milli;
        smp->values[1] = delay;
    }
    return smp;
}

/* count waits of delay ns in all, charged to the releaser's frames and
 * span. */
static void mutex_event(const void *obj, const uintptr_t *frames, uint32_t n, int64_t count,
                        int64_t delay, uint64_t span, uint32_t span_name)
{
    scry__sample_t *smp = event(SCRY__KIND_MUTEX, obj, 1000 * count, delay);
    if (!smp) return;
    smp->span_id = span;
    smp->span_name = span_name;
    memcpy(smp->frames, frames, n * sizeof *frames);
    smp->nframes = n;
    scry__ring_commit_as_safe(smp);
}

/* The waiter's own stack goes straight into the slot. */
static void block_event(const void *obj, uintptr_t caller, int64_t count_milli, int64_t delay)
{
    scry__sample_t *smp = event(SCRY__KIND_BLOCK, obj, count_milli, delay);
    if (!smp) return;
    smp->span_id = scry__span_label_get_as_safe(&smp->span_name);
    smp->nframes = scry__callstack(caller, smp->frames, SCRY__MAX_FRAMES);
    scry__ring_commit_as_safe(smp);
}

void scry__wait_end(scry__wait_t *w, const void *obj, int what, int kind, uintptr_t caller)
{
    if (!w->t0) return;
    /* The trace's record first, while the thread is still the program's
     * (busy threads are not traced). */
    if (w->trace_t0) scry__trace_wait(kind, obj, w->trace_t0, scry__trace_clock(), caller);
    scry__busy_enter();
    int saved = errno;
    int64_t t1 = now_ns(), delay = t1 - w->t0;
    /* The release that let us go, if it came while we waited. */
    int64_t r = atomic_load_explicit(&released_at[scry__waiter_index(obj)], memory_order_relaxed);
    if (r >= w->t0 && r <= t1) add_latency(t1 - r);
    if (what == SCRY__WAIT_LOCK)
        atomic_fetch_add_explicit(&lock_wait_ns, (uint64_t)delay, memory_order_relaxed);

    uintptr_t releaser[RELEASER_FRAMES];
    uint32_t nreleaser = 0, releaser_span_name = 0;
    uint64_t releaser_span = 0;
    int mutex = what == SCRY__WAIT_LOCK && atomic_load_explicit(&mutex_on, memory_order_relaxed);
    if (w->registered == IN_FILTER) filter_add(obj, -1);
    if (w->registered == IN_TABLE) {
        /* The release that ended the wait: the last one before we woke. */
        uint64_t ticket = atomic_load_explicit(&release_ticket[scry__waiter_index(obj)], memory_order_relaxed);
        wstripe_t *s = wstripe_of(obj);
        pthread_mutex_lock(&s->lock);
        waiting_t *e = find(s, obj);
        if (e && ticket == w->ticket) {
            /* No release seen since the wait began: one that looked at the
             * filter just before this wait registered, and let go just
             * after the wait's last attempt. Counted, not charged. */
            if (mutex) atomic_fetch_add_explicit(&unseen, 1, memory_order_relaxed);
        } else if (e) {
            if (mutex && e->recorded >= ticket) {
                /* The release that woke us is recorded: its stack, if it
                 * was sampled. */
                nreleaser = e->nreleaser;
                memcpy(releaser, e->releaser, nreleaser * sizeof *releaser);
                releaser_span = e->releaser_span;
                releaser_span_name = e->releaser_span_name;
            } else if (mutex) {
                /* It will be: leave the wait for it to charge (with any
                 * older wait still waiting for its own release). */
                if (!e->pending_count || e->pending_ticket < ticket) e->pending_ticket = ticket;
                e->pending_count++;
                e->pending_delay += delay;
            }
        }
        leave_entry(e);
        pthread_mutex_unlock(&s->lock);
        filter_add(obj, -1);
    }
    if (atomic_load_explicit(&block_on, memory_order_relaxed)) {
        int64_t rate = rate_of(&block_rate, scry__config.block_rate);
        /* Go's blocksampled and saveblockevent: a wait shorter than the
         * rate is kept with probability delay/rate and then stands for
         * rate/delay waits of `rate` ns in all. */
        if (rate <= 1 || delay >= rate)
            block_event(obj, caller, 1000, delay);
        else if ((int64_t)(rnd() % (uint64_t)rate) <= delay)
            block_event(obj, caller, 1000 * rate / (delay > 0 ? delay : 1), rate);
    }
    if (nreleaser) {
        int64_t n = rate_of(&mutex_fraction, scry__config.mutex_fraction);
        mutex_event(obj, releaser, nreleaser, n, n * delay, releaser_span, releaser_span_name);
    }
    errno = saved;
    scry__busy_leave();
}

/* ---- Start, stop, settings -------------------------------------------- */

static void update_on(void)
{
    atomic_store(&scry__contention_on,
                 atomic_load(&block_on) || atomic_load(&mutex_on) || atomic_load(&tracing));
}

void scry__contention_set_tracing(int on)
{
    pthread_mutex_lock(&ctl);
    atomic_store(&tracing, on);
    update_on();
    pthread_mutex_unlock(&ctl);
}

static int start(_Atomic int *on, int *ever, int64_t *start_ns)
{
    pthread_mutex_lock(&ctl);
    int rc = -EALREADY;
    static int once;
    if (!once) {
        scry__aggregator_set_consumer(SCRY__KIND_BLOCK, consume);
        scry__aggregator_set_consumer(SCRY__KIND_MUTEX, consume);
        once = 1;
    }
    if (!atomic_load(on) && ((rc = scry__ring_init()) < 0 || (rc = scry__aggregator_start()) < 0)) {
        pthread_mutex_unlock(&ctl);
        return rc;
    }
    rc = -EALREADY;
    if (!atomic_load(on)) {
        if (!block_ever && !mutex_ever) ring_drops_at_start = scry__ring_drops();
        scry__callstack_init(scry__config.unwind);
        if (!*ever) *start_ns = now_ns();
        *ever = 1;
        atomic_store(on, 1);
        update_on();
        rc = 0;
    }
    pthread_mutex_unlock(&ctl);
    return rc;
}

static int stop(_Atomic int *on)
{
    pthread_mutex_lock(&ctl);
    int rc = atomic_load(on) ? 0 : -EINVAL;
    atomic_store(on, 0);
    update_on();
    pthread_mutex_unlock(&ctl);
    return rc;
}

static int block_start(void) { return start(&block_on, &block_ever, &block_start_ns); }
static int block_stop(void) { return stop(&block_on); }
static int block_running(void) { return atomic_load(&block_on); }
static int mutex_start(void) { return start(&mutex_on, &mutex_ever, &mutex_start_ns); }
static int mutex_stop(void) { return stop(&mutex_on); }
static int mutex_running(void) { return atomic_load(&mutex_on); }

static int set_while_off(_Atomic int *on, _Atomic int64_t *v, long value)
{
    pthread_mutex_lock(&ctl);
    int rc = atomic_load(on) ? -EBUSY : 0;
    if (rc == 0) atomic_store(v, value);
    pthread_mutex_unlock(&ctl);
    return rc;
}

int scry__block_set_rate(long ns) { return set_while_off(&block_on, &block_rate, ns); }
int scry__mutex_set_fraction(long n) { return set_while_off(&mutex_on, &mutex_fraction, n); }

/* ---- Writing ----------------------------------------------------------- */

static int write_profile(int fd, int kind)
{
    if (!(kind == SCRY__KIND_BLOCK ? block_ever : mutex_ever)) return -EINVAL;
    static const scry__value_type_t types[] = {{"contentions", "count"}, {"delay", "nanoseconds"}};
    int64_t period = kind == SCRY__KIND_BLOCK ? rate_of(&block_rate, scry__config.block_rate)
                                              : rate_of(&mutex_fraction, scry__config.mutex_fraction);

    scry__aggregator_drain_and_lock();
    uint32_t n = nbuckets;
    bucket_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (copy && n) memcpy(copy, buckets, n * sizeof *copy);
    uint64_t full = dropped_table, folded = span_ids_folded;
    scry__aggregator_unlock();
    if (!copy) return -ENOMEM;

    scry__pprof_t *p = scry__pprof_new(types, 2, types[0], period);
    if (!p) {
        free(copy);
        return -ENOMEM;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t start_ns = kind == SCRY__KIND_BLOCK ? block_start_ns : mutex_start_ns;
    scry__pprof_set_time(p, (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec, now_ns() - start_ns);
    scry__pprof_set_default_type(p, "delay");
    char c[512];
    if (kind == SCRY__KIND_BLOCK)
        snprintf(c, sizeof c,
                 "scry %s: block profile: time threads spent waiting, on their own stacks; rate "
                 "%lld ns (a shorter wait is kept with probability delay/rate and scaled)",
                 SCRY_VERSION, (long long)period);
    else
        snprintf(c, sizeof c,
                 "scry %s: mutex profile: waiters' delay charged to the stack that released the "
                 "lock; 1 in %lld releases sampled and scaled",
                 SCRY_VERSION, (long long)period);
    scry__pprof_add_comment(p, c);
    scry__pprof_add_comment(p, scry__unwind_describe(scry__config.unwind, c, sizeof c));
    uint64_t lat[SCRY__LATENCY_BUCKETS], nlat = 0;
    scry__sched_latencies(lat);
    for (int i = 0; i < SCRY__LATENCY_BUCKETS; i++) nlat += lat[i];
    snprintf(c, sizeof c,
             "dropped events: %llu (ring full), %llu (tables full); waits not matched to a release: "
             "%llu (waiters table full), %llu (ended by a release that did not see them); wake-ups "
             "timed: %llu",
             (unsigned long long)(scry__ring_drops() - ring_drops_at_start), (unsigned long long)full,
             (unsigned long long)atomic_load(&table_full), (unsigned long long)atomic_load(&unseen),
             (unsigned long long)nlat);
    scry__pprof_add_comment(p, c);
    if (folded) {
        snprintf(c, sizeof c, "span_id labels left off %llu events (too many spans): they keep span_name",
                 (unsigned long long)folded);
        scry__pprof_add_comment(p, c);
    }

    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (copy[i].kind != (uint32_t)kind) continue;
        int64_t v[2] = {(copy[i].count_milli + 500) / 1000, copy[i].delay};
        if (!v[0] && !v[1]) continue;
        uint32_t nf;
        const uintptr_t *f = scry__stacktab_get(copy[i].stack, &nf);
        char addr[32];
        snprintf(addr, sizeof addr, "0x%lx", (unsigned long)copy[i].obj);
        char hex[17];
        scry__label_t l[4] = {{.key = "lock", .str = addr}};
        int nl = 1 + scry__span_pprof_labels(copy[i].span_id, copy[i].span_name, hex, l + 1);
        rc = scry__pprof_add_sample(p, f, nf, v, l, nl);
    }
    free(copy);
    if (rc == 0) rc = scry__pprof_write_fd(p, fd);
    scry__pprof_free(p);
    return rc;
}

static int block_write_fd(int fd) { return write_profile(fd, SCRY__KIND_BLOCK); }
static int mutex_write_fd(int fd) { return write_profile(fd, SCRY__KIND_MUTEX); }

/* ---- Fork -------------------------------------------------------------- */

/* The forking thread takes every lock (as busy, so its own locking in later
 * atfork handlers goes straight to glibc); the child forgets the waiters,
 * which were other threads' and did not cross. */
static void prefork(void)
{
    scry__busy_enter();
    pthread_mutex_lock(&ctl);
    for (int i = 0; i < STRIPES; i++) pthread_mutex_lock(&wstripes[i].lock);
}

static void postfork_parent(void)
{
    for (int i = STRIPES - 1; i >= 0; i--) pthread_mutex_unlock(&wstripes[i].lock);
    pthread_mutex_unlock(&ctl);
    scry__busy_leave();
}

static void postfork_child(void)
{
    for (int i = 0; i < STRIPES; i++) memset(wstripes[i].slots, 0, sizeof wstripes[i].slots);
    for (size_t i = 0; i < sizeof scry__waiter_filter; i++) atomic_store(&scry__waiter_filter[i], 0);
    postfork_parent();
}

static void nothing(void) {}

const scry__profile_t scry__block_profile = {
    .name = "block",
    .start = block_start,
    .stop = block_stop,
    .running = block_running,
    .write_fd = block_write_fd,
    .prefork = prefork,
    .postfork_parent = postfork_parent,
    .postfork_child = postfork_child,
};

/* Same tables: its fork hooks are the block profile's, run once. */
const scry__profile_t scry__mutex_profile = {
    .name = "mutex",
    .start = mutex_start,
    .stop = mutex_stop,
    .running = mutex_running,
    .write_fd = mutex_write_fd,
    .prefork = nothing,
    .postfork_parent = nothing,
    .postfork_child = nothing,
};
