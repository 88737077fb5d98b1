/*
 * span.c - the span API of scry.h: start, attributes, events, status, end,
 * the per-thread stack of current spans, and what a span tells the rest of
 * scry (the profiles' span labels, the runtime trace's tasks).
 *
 * Flow: scry_span_start takes a span from the pool, draws its ids, asks the
 * sampler (span/w3c.h) unless a local parent decides, and pushes it on the
 * thread's stack; attributes and events are appended to its arena
 * (span/span.h); scry_span_end stamps it and hands a recorded span to the
 * export queue (span/export.h), whose thread gives it back to the pool.
 *
 * Cost: a span start and end with two attributes is two clock reads, a few
 * random draws and copies, and no lock or atomic read-modify-write on the
 * fast path: spans come from a per-thread cache, refilled from a global
 * list in batches; counters are per thread. bench/span/ measures it.
 *
 * Memory: spans are never given back to malloc (type-stable), so a handle
 * that outlived its span (ended on another thread, still on this thread's
 * stack) can be read and found stale by its id. Live spans are bounded by
 * SPANS_MAX; past it scry_span_start returns NULL (counted), and the arena
 * of a span grows past its inline bytes with malloc, freed on recycle.
 *
 * Fork: a span started before the fork is the parent's: the child may use
 * it as a parent, but its end in the child exports nothing (otherwise both
 * processes would export the same span). The child draws new ids.
 */
#define _GNU_SOURCE
#include "span/span.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "core/log.h"
#include "core/threads.h"
#include "span/export.h"
#include "span/labels.h"
#include "span/w3c.h"
#include "trace/clock.h"
#include "trace/trace.h"
#include "core/busy.h"

#define SPANS_MAX (1u << 16)  /* live spans, all threads */
#define SLAB_SPANS 64         /* spans mapped at once */
#define CACHE_MAX 64          /* spans a thread keeps for itself */
#define STACK_MAX 32          /* current spans a thread remembers */
#define STRING_MAX 4096       /* bytes of one attribute value or name kept */

uint32_t scry__span_attr_limit = 128, scry__span_event_limit = 128, scry__event_attr_limit = 128;

static int disabled;               /* OTEL_SDK_DISABLED=true */
static scry__sampler_t sampler = {SCRY__SAMPLE_ALWAYS_ON, 1, 0};
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic unsigned fork_generation;
static _Atomic int shut_down;

/* ---- Per-thread state ---------------------------------------------------- */

typedef struct {
    scry__span_t *span;
    uint64_t id; /* the span's id when pushed: a recycled span has another */
} stack_entry_t;

typedef struct {
    /* Random ids: xoshiro256**, seeded from getrandom per thread and again
     * after a fork. */
    uint64_t rng[4];
    unsigned rng_generation; /* fork_generation + 1 when seeded */
    /* Spans ready for reuse. */
    scry__span_t *cache;
    int ncache;
    stack_entry_t stack[STACK_MAX];
    int depth;
    /* Counted here, summed by scry_span_stats. */
    uint64_t started, recorded;
    int registered;
} span_tls_t;

static __thread span_tls_t tls __attribute__((tls_model("initial-exec")));

/* Counters of threads that have ended, and a registry of live ones. */
#define REG_MAX 1024
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static span_tls_t *reg[REG_MAX];
static uint64_t gone_started, gone_recorded;
static _Atomic uint64_t dropped_pool, dropped_after_fork;
static pthread_key_t exit_key;

/* ---- The pool ------------------------------------------------------------ */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static scry__span_t *pool_free;
static uint32_t pool_mapped;

/* Up to n spans from the global list or new slabs, onto this thread's
 * cache. Pool lock; scry's own code (busy), so the lock goes to glibc. */
static void refill(int n)
{
    scry__busy_enter();
    pthread_mutex_lock(&pool_lock);
    while (n > 0) {
        if (!pool_free) {
            if (pool_mapped + SLAB_SPANS > SPANS_MAX) break;
            scry__span_t *slab = mmap(NULL, SLAB_SPANS * sizeof *slab, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (slab == MAP_FAILED) break;
            for (int i = 0; i < SLAB_SPANS; i++) {
                slab[i].next = pool_free;
                pool_free = &slab[i];
            }
            pool_mapped += SLAB_SPANS;
        }
        scry__span_t *s = pool_free;
        pool_free = s->next;
        s->next = tls.cache;
        tls.cache = s;
        tls.ncache++;
        n--;
    }
    pthread_mutex_unlock(&pool_lock);
    scry__busy_leave();
}

/* A chain of spans back to the global list. */
static void give_back(scry__span_t *first, scry__span_t *last)
{
    scry__busy_enter();
    pthread_mutex_lock(&pool_lock);
    last->next = pool_free;
    pool_free = first;
    pthread_mutex_unlock(&pool_lock);
    scry__busy_leave();
}

static void release_arena(scry__span_t *s)
{
    if (s->arena != s->inline_arena) {
        scry__busy_enter();
        free(s->arena);
        scry__busy_leave();
    }
    s->arena = s->inline_arena;
    s->cap = SCRY__SPAN_INLINE;
}

void scry__span_recycle(scry__span_t *s)
{
    release_arena(s);
    __atomic_store_n(&s->id, 0, __ATOMIC_RELAXED); /* stale handles see a different span */
    if (tls.ncache < CACHE_MAX) {
        s->next = tls.cache;
        tls.cache = s;
        tls.ncache++;
    } else {
        give_back(s, s);
    }
}

/* ---- Threads ------------------------------------------------------------- */

static void on_thread_exit(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < REG_MAX; i++)
        if (reg[i] == &tls) reg[i] = NULL;
    gone_started += tls.started;
    gone_recorded += tls.recorded;
    tls.started = tls.recorded = 0;
    pthread_mutex_unlock(&reg_lock);
    if (tls.cache) {
        scry__span_t *last = tls.cache;
        while (last->next) last = last->next;
        give_back(tls.cache, last);
        tls.cache = NULL;
        tls.ncache = 0;
    }
}

/* A thread's first span: its counters join the registry, and its cache
 * goes back to the pool when it ends. */
static void register_thread(void)
{
    tls.registered = 1;
    scry__busy_enter();
    pthread_setspecific(exit_key, &tls);
    pthread_mutex_lock(&reg_lock);
    int i = 0;
    while (i < REG_MAX && reg[i]) i++;
    if (i < REG_MAX) reg[i] = &tls;
    else tls.registered = 2; /* counted at exit only */
    pthread_mutex_unlock(&reg_lock);
    scry__busy_leave();
}

/* ---- Random ids ---------------------------------------------------------- */

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void seed(void)
{
    uint64_t s[4] = {0, 0, 0, 0};
    if (getrandom(s, sizeof s, 0) != (ssize_t)sizeof s) {
        /* No entropy source: unique, if not unpredictable. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
        s[1] = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&tls;
        s[2] = 0x9e3779b97f4a7c15ull;
        s[3] = (uint64_t)scry__tls.tid;
        scry__warn_once("getrandom failed (%s); span ids are unique but not random", strerror(errno));
    }
    if (!(s[0] | s[1] | s[2] | s[3])) s[0] = 1;
    memcpy(tls.rng, s, sizeof s);
    tls.rng_generation = atomic_load_explicit(&fork_generation, memory_order_relaxed) + 1;
}

static uint64_t next_random(void)
{
    uint64_t *s = tls.rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static int all_zero(const uint8_t *p, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* ---- The clock ------------------------------------------------------------
 * Spans are stamped with a raw clock: the TSC when the kernel itself keeps
 * time with it (as the tracer, trace/clock.h), else CLOCK_MONOTONIC ns. An
 * rdtsc is about half of a vDSO clock_gettime here, and a span reads the
 * clock twice. The exporter turns raw stamps into Unix nanoseconds just
 * before encoding (scry__span_clock_sync, scry__span_unix_ns): the TSC rate
 * comes from two (tsc, CLOCK_MONOTONIC) pairs, the first taken when spans
 * start and the other at each export, so the baseline grows with uptime
 * and the rate's error shrinks; CLOCK_REALTIME's offset is read at each
 * export, so a step of the wall clock shows in later spans, as an SDK
 * that reads the wall clock at the span's end would. */

static int clock_tsc;
static uint64_t anchor_tsc;
static int64_t anchor_mono;
/* The exporter's (scry__span_clock_sync): its own thread only. */
static uint64_t sync_tsc;
static int64_t sync_mono, sync_real_offset;
static double ns_per_tick = 1.0;

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t now_raw(void)
{
#if defined(__x86_64__)
    if (clock_tsc) return (int64_t)__rdtsc();
#endif
    return clock_ns(CLOCK_MONOTONIC);
}

/* The tightest of a few bracketing reads: a (tsc, monotonic ns) pair. */
static void tsc_pair(uint64_t *tsc, int64_t *ns)
{
#if defined(__x86_64__)
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = __rdtsc();
        int64_t t = clock_ns(CLOCK_MONOTONIC);
        uint64_t b = __rdtsc();
        if (b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = t;
        }
    }
#else
    *tsc = 0;
    *ns = clock_ns(CLOCK_MONOTONIC);
#endif
}

static void clock_init(void)
{
    /* The tracer's choice (trace/clock.h), without its calibration. */
    clock_tsc = scry__trace_clock_tsc_capable();
    if (clock_tsc) tsc_pair(&anchor_tsc, &anchor_mono);
}

static void init(void);

void scry__span_clock_sync(void)
{
    pthread_once(&init_once, init);
    if (clock_tsc) {
        tsc_pair(&sync_tsc, &sync_mono);
        /* A rate over at least 10 ms (the first export may come sooner). */
        if (sync_mono - anchor_mono < 10000000) {
            struct timespec d = {0, (long)(10000000 - (sync_mono - anchor_mono))};
            while (nanosleep(&d, &d) != 0) {}
            tsc_pair(&sync_tsc, &sync_mono);
        }
        if (sync_tsc > anchor_tsc) ns_per_tick = (double)(sync_mono - anchor_mono) / (double)(sync_tsc - anchor_tsc);
    } else {
        sync_mono = clock_ns(CLOCK_MONOTONIC);
    }
    int64_t mono = clock_ns(CLOCK_MONOTONIC);
    sync_real_offset = clock_ns(CLOCK_REALTIME) - mono;
}

int64_t scry__span_unix_ns(int64_t raw)
{
    if (!clock_tsc) return raw + sync_real_offset;
    return sync_mono + (int64_t)((double)(int64_t)((uint64_t)raw - sync_tsc) * ns_per_tick) + sync_real_offset;
}

void scry__span_times_to_unix(scry__span_t *s)
{
    s->start_ns = scry__span_unix_ns(s->start_ns);
    s->end_ns = scry__span_unix_ns(s->end_ns);
    for (const scry__span_entry_t *e = NULL; (e = scry__span_next_entry(s, e));)
        if (e->what == SCRY__SE_EVENT) ((scry__span_entry_t *)e)->num.i = scry__span_unix_ns(e->num.i);
}

/* ---- Settings ------------------------------------------------------------ */

static uint32_t limit_from_env(const char *name, uint32_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 0 || n > 1000000) {
        scry__log("%s=%s: not a count from 0 to 1000000; using %u", name, v, dflt);
        return dflt;
    }
    return (uint32_t)n;
}

static void init(void)
{
    const char *d = getenv("OTEL_SDK_DISABLED");
    if (d && strcasecmp(d, "true") == 0) disabled = 1;
    else if (d && *d && strcasecmp(d, "false") != 0)
        scry__log("OTEL_SDK_DISABLED=%s: neither true nor false; spans stay on", d);
    const char *name = getenv("OTEL_TRACES_SAMPLER");
    if (name && *name) {
        /* On a bad value, the parser gives the specification's fallback:
         * the named sampler at 1.0, or the default for an unknown name. */
        scry__sampler_t s;
        const char *arg = getenv("OTEL_TRACES_SAMPLER_ARG");
        if (scry__sampler_parse(name, arg, &s) != 0)
            scry__log("OTEL_TRACES_SAMPLER=%s, OTEL_TRACES_SAMPLER_ARG=%s: an unknown sampler or a "
                      "ratio outside 0..1; using ratio 1.0 for a bad ratio, parentbased_always_on "
                      "for an unknown name",
                      name, arg ? arg : "");
        sampler = s;
    }
    uint32_t attrs = limit_from_env("OTEL_ATTRIBUTE_COUNT_LIMIT", 128);
    scry__span_attr_limit = limit_from_env("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", attrs);
    scry__span_event_limit = limit_from_env("OTEL_SPAN_EVENT_COUNT_LIMIT", 128);
    scry__event_attr_limit = limit_from_env("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", 128);
    pthread_key_create(&exit_key, on_thread_exit);
    clock_init();
}

/* ---- The arena ----------------------------------------------------------- */

/* Room for size more bytes; NULL when memory ran out. */
static uint8_t *arena_grow(scry__span_t *s, uint32_t size)
{
    if (s->len + size <= s->cap) return s->arena + s->len;
    uint32_t cap = s->cap * 2;
    while (cap < s->len + size) cap *= 2;
    scry__busy_enter();
    uint8_t *a = malloc(cap);
    scry__busy_leave();
    if (!a) return NULL;
    memcpy(a, s->arena, s->len);
    if (s->arena != s->inline_arena) {
        scry__busy_enter();
        free(s->arena);
        scry__busy_leave();
    }
    s->arena = a;
    s->cap = cap;
    return a + s->len;
}

/* Appends an entry; returns it, or NULL (out of memory). */
static scry__span_entry_t *append(scry__span_t *s, int what, int type, const char *key,
                                  const char *str, size_t str_len)
{
    size_t key_len = key ? strnlen(key, 255) : 0;
    if (str_len > STRING_MAX) str_len = STRING_MAX;
    uint32_t size = scry__span_entry_size((uint32_t)key_len, (uint32_t)str_len);
    scry__span_entry_t *e = (scry__span_entry_t *)arena_grow(s, size);
    if (!e) return NULL;
    e->what = (uint8_t)what;
    e->type = (uint8_t)type;
    e->key_len = (uint16_t)key_len;
    e->str_len = (uint32_t)str_len;
    e->num.i = 0;
    /* Hidden from the optimiser: knowing key_len <= 255, gcc inlines the
     * copy as rep movsq, which costs more than libc's memcpy at these sizes. */
    __asm__("" : "+r"(key_len), "+r"(str_len));
    memcpy(e->text, key ? key : "", key_len);
    e->text[key_len] = 0;
    memcpy(e->text + key_len + 1, str ? str : "", str_len);
    e->text[key_len + 1 + str_len] = 0;
    s->len += size;
    return e;
}

/* A string of the span's own (name, tracestate, status): its offset. */
static uint32_t add_string(scry__span_t *s, const char *str)
{
    scry__span_entry_t *e = append(s, 0, 0, NULL, str, strnlen(str, STRING_MAX));
    return e ? (uint32_t)((uint8_t *)scry__span_entry_str(e) - s->arena) : UINT32_MAX;
}

/* ---- The thread's stack -------------------------------------------------- */

static int entry_live(const stack_entry_t *e)
{
    return __atomic_load_n(&e->span->id, __ATOMIC_RELAXED) == e->id &&
           !__atomic_load_n(&e->span->ended, __ATOMIC_RELAXED);
}

/* Drops ended or recycled spans from the top; the label follows the top. */
static void settle(void)
{
    while (tls.depth > 0 && !entry_live(&tls.stack[tls.depth - 1])) tls.depth--;
    if (tls.depth > 0) {
        scry__span_t *top = tls.stack[tls.depth - 1].span;
        scry__span_label_set(tls.stack[tls.depth - 1].id, top->name_id, top->root_name_id, top->trace_id);
    } else {
        scry__span_label_set(0, 0, 0, NULL);
    }
}

static void push(scry__span_t *s)
{
    if (tls.depth == STACK_MAX) {
        /* The oldest is forgotten: deep nesting keeps its innermost spans. */
        memmove(&tls.stack[0], &tls.stack[1], (STACK_MAX - 1) * sizeof tls.stack[0]);
        tls.depth--;
    }
    tls.stack[tls.depth++] = (stack_entry_t){s, s->id};
    scry__span_label_set(s->id, s->name_id, s->root_name_id, s->trace_id);
}

static void remove_from_stack(scry__span_t *s)
{
    for (int i = tls.depth - 1; i >= 0; i--) {
        if (tls.stack[i].span != s || tls.stack[i].id != s->id) continue;
        memmove(&tls.stack[i], &tls.stack[i + 1], (size_t)(tls.depth - i - 1) * sizeof tls.stack[0]);
        tls.depth--;
        break;
    }
    settle();
}

static scry__span_t *current(void)
{
    settle();
    return tls.depth ? tls.stack[tls.depth - 1].span : NULL;
}

/* ---- Start and end ------------------------------------------------------- */

static scry__span_t *take(void)
{
    if (!tls.cache) refill(CACHE_MAX / 2);
    scry__span_t *s = tls.cache;
    if (!s) return NULL;
    tls.cache = s->next;
    tls.ncache--;
    return s;
}

/* The runtime trace's view of a span: a task named like it, carrying its
 * ids (trace/annotate.c). */
static void begin_task(scry__span_t *s, const char *name)
{
    s->task = scry__task_begin_span(name, s->trace_id, s->id);
}

SCRY_API scry_span_t *scry_span_start(const char *name, scry_span_kind_t kind,
                                      const scry_span_context_t *parent)
{
    pthread_once(&init_once, init);
    if (disabled) return NULL;
    int saved = errno;
    if (!tls.registered) register_thread();
    unsigned gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (tls.rng_generation != gen + 1) seed();
    scry__span_t *s = take();
    if (!s) {
        atomic_fetch_add_explicit(&dropped_pool, 1, memory_order_relaxed);
        scry__warn_once("more than %u spans are live at once; new spans are not recorded",
                        SPANS_MAX);
        errno = saved;
        return NULL;
    }
    if (!name) name = "";
    s->start_ns = now_raw();
    s->end_ns = 0;
    s->kind = (uint8_t)(kind >= SCRY_SPAN_INTERNAL && kind <= SCRY_SPAN_CONSUMER ? kind
                                                                                   : SCRY_SPAN_INTERNAL);
    s->status = SCRY_STATUS_UNSET;
    s->ended = 0;
    s->arena = s->inline_arena;
    s->cap = SCRY__SPAN_INLINE;
    s->len = 0;
    s->nattrs = s->nevents = s->dropped_attrs = s->dropped_events = 0;
    s->tracestate_off = s->status_off = UINT32_MAX;
    s->task = 0;
    s->generation = gen;

    /* The span id: random, never zero. */
    uint64_t id;
    do id = next_random();
    while (!id);
    put_be64(s->span_id, id);

    /* The parent: the given context, else this thread's current span. */
    const scry__span_t *local = parent ? NULL : current();
    int valid_parent = parent && !all_zero(parent->trace_id, 16) && !all_zero(parent->span_id, 8);
    if (local) {
        memcpy(s->trace_id, local->trace_id, 16);
        memcpy(s->parent_span_id, local->span_id, 8);
        s->parent_remote = 0;
        s->flags = local->flags;
    } else if (valid_parent) {
        memcpy(s->trace_id, parent->trace_id, 16);
        memcpy(s->parent_span_id, parent->span_id, 8);
        s->parent_remote = parent->remote;
        s->flags = parent->flags & (SCRY_TRACE_FLAG_SAMPLED | SCRY_TRACE_FLAG_RANDOM);
    } else {
        put_be64(s->trace_id, next_random());
        put_be64(s->trace_id + 8, next_random());
        memset(s->parent_span_id, 0, 8);
        s->parent_remote = 0;
        s->flags = SCRY_TRACE_FLAG_RANDOM;
    }

    /* Sampling. A local parent under a parent-based sampler decides alone,
     * and its tracestate is copied as it is. */
    s->name_off = add_string(s, name);
    if (local && sampler.parent_based) {
        const char *ts = scry__span_str(local, local->tracestate_off);
        if (ts && *ts) s->tracestate_off = add_string(s, ts);
    } else {
        char ts[SCRY_TRACESTATE_MAX + 1];
        scry_span_context_t pc;
        const scry_span_context_t *pp = NULL;
        if (local) {
            memcpy(pc.trace_id, local->trace_id, 16);
            memcpy(pc.span_id, local->span_id, 8);
            pc.flags = local->flags;
            pc.remote = 0;
            const char *lts = scry__span_str(local, local->tracestate_off);
            snprintf(pc.tracestate, sizeof pc.tracestate, "%s", lts ? lts : "");
            pp = &pc;
        } else if (valid_parent) {
            pp = parent;
        }
        ts[0] = 0;
        scry__sampler_decide(&sampler, pp, s->trace_id, &s->flags, ts);
        if (ts[0]) s->tracestate_off = add_string(s, ts);
    }
    s->recording = (s->flags & SCRY_TRACE_FLAG_SAMPLED) != 0;
    s->name_id = (uint16_t)scry__span_name_intern(name);
    s->local_root = !local;
    s->root_name_id = local ? local->root_name_id : s->name_id;
    __atomic_store_n(&s->id, id, __ATOMIC_RELAXED);
    push(s);
    tls.started++;
    tls.recorded += s->recording;
    if (scry__tracing()) begin_task(s, name);
    errno = saved;
    return s;
}

SCRY_API void scry_span_end(scry_span_t *s)
{
    if (!s || s->ended) return;
    int saved = errno;
    s->end_ns = now_raw();
    __atomic_store_n(&s->ended, 1, __ATOMIC_RELAXED);
    remove_from_stack(s);
    if (s->task) scry_task_end(s->task);
    if (s->generation != atomic_load_explicit(&fork_generation, memory_order_relaxed)) {
        /* Started before a fork: the other process exports it. */
        atomic_fetch_add_explicit(&dropped_after_fork, 1, memory_order_relaxed);
        scry__span_recycle(s);
    } else if (s->recording && !atomic_load_explicit(&shut_down, memory_order_relaxed)) {
        scry__export_enqueue(s);
    } else {
        scry__span_recycle(s);
    }
    errno = saved;
}

/* ---- Attributes, events, status ------------------------------------------ */

static void set_attr(scry__span_t *s, const char *key, int type, const char *str, int64_t i, double d)
{
    if (!s || !s->recording || s->ended || !key) return;
    if (s->nattrs >= scry__span_attr_limit) {
        /* A key already set may still change: the limit counts keys. */
        int known = 0;
        for (const scry__span_entry_t *e = NULL; (e = scry__span_next_entry(s, e));)
            if (e->what == SCRY__SE_ATTR && strcmp(scry__span_entry_key(e), key) == 0) known = 1;
        if (!known) {
            s->dropped_attrs++;
            return;
        }
    }
    scry__span_entry_t *e = append(s, SCRY__SE_ATTR, type, key, str, str ? strlen(str) : 0);
    if (!e) {
        s->dropped_attrs++;
        return;
    }
    if (type == SCRY_ATTR_DOUBLE) e->num.d = d;
    else e->num.i = i;
    s->nattrs++;
}

SCRY_API void scry_span_set_str(scry_span_t *s, const char *key, const char *value)
{
    set_attr(s, key, SCRY_ATTR_STRING, value ? value : "", 0, 0);
}

SCRY_API void scry_span_set_int(scry_span_t *s, const char *key, long long value)
{
    set_attr(s, key, SCRY_ATTR_INT, NULL, value, 0);
}

SCRY_API void scry_span_set_double(scry_span_t *s, const char *key, double value)
{
    set_attr(s, key, SCRY_ATTR_DOUBLE, NULL, 0, value);
}

SCRY_API void scry_span_set_bool(scry_span_t *s, const char *key, int value)
{
    set_attr(s, key, SCRY_ATTR_BOOL, NULL, value != 0, 0);
}

SCRY_API void scry_span_add_event(scry_span_t *s, const char *name, const scry_attr_t *attrs,
                                  int nattrs)
{
    if (!s || !s->recording || s->ended) return;
    if (s->nevents >= scry__span_event_limit) {
        s->dropped_events++;
        return;
    }
    int64_t t = now_raw();
    if (!name) name = "";
    scry__span_entry_t *e = append(s, SCRY__SE_EVENT, 0, NULL, name, strlen(name));
    if (!e) {
        s->dropped_events++;
        return;
    }
    e->num.i = t;
    s->nevents++;
    /* The arena may move while the attributes go in: keep an offset. */
    size_t event_off = (size_t)((uint8_t *)e - s->arena);
    uint32_t kept = 0;
    for (int i = 0; attrs && i < nattrs; i++) {
        const scry_attr_t *a = &attrs[i];
        if (!a->key || a->type < SCRY_ATTR_STRING || a->type > SCRY_ATTR_DOUBLE) continue;
        if (kept >= scry__event_attr_limit) break; /* the exporter counts them from nattrs */
        const char *str = a->type == SCRY_ATTR_STRING ? (a->v.s ? a->v.s : "") : NULL;
        scry__span_entry_t *ae = append(s, SCRY__SE_EVENT_ATTR, a->type, a->key, str, str ? strlen(str) : 0);
        if (!ae) break;
        if (a->type == SCRY_ATTR_DOUBLE) ae->num.d = a->v.d;
        else if (a->type == SCRY_ATTR_BOOL) ae->num.i = a->v.b != 0;
        else if (a->type == SCRY_ATTR_INT) ae->num.i = a->v.i;
        kept++;
    }
    /* How many the event lost, for its dropped_attributes_count: kept in
     * the event entry's type, which an event does not otherwise use. */
    e = (scry__span_entry_t *)(s->arena + event_off);
    e->key_len = 0;
    e->type = (uint8_t)(nattrs > (int)kept ? (nattrs - (int)kept > 255 ? 255 : nattrs - (int)kept) : 0);
}

SCRY_API void scry_span_set_status(scry_span_t *s, scry_status_t code, const char *description)
{
    if (!s || s->ended) return;
    /* As OpenTelemetry: OK is final; a description goes with ERROR only. */
    if (s->status == SCRY_STATUS_OK || code < SCRY_STATUS_UNSET || code > SCRY_STATUS_ERROR) return;
    s->status = (uint8_t)code;
    if (s->recording && code == SCRY_STATUS_ERROR && description)
        s->status_off = add_string(s, description);
}

SCRY_API void scry_span_update_name(scry_span_t *s, const char *name)
{
    if (!s || s->ended || !name) return;
    if (s->recording) s->name_off = add_string(s, name);
    s->name_id = (uint16_t)scry__span_name_intern(name);
    if (s->local_root) s->root_name_id = s->name_id; /* its children from now on, too */
    if (tls.depth && tls.stack[tls.depth - 1].span == s)
        scry__span_label_set(s->id, s->name_id, s->root_name_id, s->trace_id);
}

SCRY_API int scry_span_is_recording(const scry_span_t *s)
{
    return s && s->recording && !s->ended;
}

/* ---- Context and the current span ---------------------------------------- */

SCRY_API int scry_span_context(const scry_span_t *s, scry_span_context_t *out)
{
    if (!out) return -EINVAL;
    memset(out->trace_id, 0, 16);
    memset(out->span_id, 0, 8);
    out->flags = 0;
    out->remote = 0;
    out->tracestate[0] = 0;
    if (!s) return -EINVAL;
    memcpy(out->trace_id, s->trace_id, 16);
    memcpy(out->span_id, s->span_id, 8);
    out->flags = s->flags;
    const char *ts = scry__span_str(s, s->tracestate_off);
    if (ts) snprintf(out->tracestate, sizeof out->tracestate, "%s", ts);
    return 0;
}

SCRY_API scry_span_t *scry_span_current(void)
{
    return current();
}

SCRY_API void scry_span_push(scry_span_t *s)
{
    if (!s || s->ended) return;
    push(s);
}

SCRY_API void scry_span_pop(scry_span_t *s)
{
    if (s) remove_from_stack(s);
}

SCRY_API int scry_span_set_sampler(const char *name, double ratio)
{
    pthread_once(&init_once, init);
    scry__sampler_t s;
    int rc = scry__sampler_make(name, ratio, &s);
    if (rc == 0) sampler = s;
    return rc;
}

/* ---- Export, stats, process events --------------------------------------- */

SCRY_API int scry_span_flush(int timeout_ms)
{
    return scry__export_flush(timeout_ms < 0 ? 0 : timeout_ms);
}

SCRY_API int scry_span_stats(scry_span_stats_t *out)
{
    if (!out) return -EINVAL;
    memset(out, 0, sizeof *out);
    scry__export_stats(out);
    pthread_mutex_lock(&reg_lock);
    uint64_t started = gone_started, recorded = gone_recorded;
    for (int i = 0; i < REG_MAX; i++) {
        if (!reg[i]) continue;
        started += __atomic_load_n(&reg[i]->started, __ATOMIC_RELAXED);
        recorded += __atomic_load_n(&reg[i]->recorded, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&reg_lock);
    out->started = started;
    out->recorded = recorded;
    return 0;
}

void scry__span_atexit(void)
{
    atomic_store(&shut_down, 1);
    scry__export_shutdown();
}

void scry__span_prefork(void)
{
    scry__span_names_prefork();
    pthread_mutex_lock(&reg_lock);
    pthread_mutex_lock(&pool_lock);
    scry__export_prefork();
}

void scry__span_postfork_parent(void)
{
    scry__export_postfork_parent();
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&reg_lock);
    scry__span_names_postfork_parent();
}

void scry__span_postfork_child(void)
{
    scry__export_postfork_child();
    pthread_mutex_init(&pool_lock, NULL);
    /* Only this thread crossed: the others' counters are the parent's. */
    for (int i = 0; i < REG_MAX; i++) reg[i] = NULL;
    gone_started = gone_recorded = 0;
    tls.started = tls.recorded = 0;
    if (tls.registered == 1) reg[0] = &tls;
    pthread_mutex_init(&reg_lock, NULL);
    atomic_fetch_add(&fork_generation, 1);
    scry__span_names_postfork_child();
}
