/*
 * heap.c - the heap and allocs profiles (Go's), over interpose/malloc.c.
 *
 * Data, as in Go's runtime: a bucket per (stack, requested size) counts the
 * sampled allocations made there and how many of them were freed since;
 * alloc_* come from the first count, inuse_* from the difference. Values
 * are scaled when written, per bucket, by 1 / (1 - exp(-size / rate)): the
 * inverse of the chance that a block of that size was sampled, so the
 * estimates are unbiased (Go's pprof does the same). There is no garbage
 * collector: a free is counted when it happens, so in-use is as of now.
 *
 * The live table maps each sampled block's address to its bucket, so free()
 * can count it. It is split into stripes by address hash, each with its own
 * lock and open-addressed table (linear probing, backward-shift deletion),
 * so frees on different threads rarely meet. Buckets never move and their
 * counts are atomics: a free touches one stripe and no global lock.
 *
 * Memory: tables and buckets come from mmap, never from malloc, and are
 * bounded (LIVE_MAX sampled blocks alive at once, BUCKETS_MAX buckets);
 * samples past a bound are dropped and counted in the profile.
 *
 * Exact totals: each thread counts in its own TLS (malloc.c); a registry of
 * threads lets a reader sum them. They are kept only while wanted (a
 * profile here, the HTTP endpoint, SCRY_HEAP_TOTALS): the wants are counted
 * under ctl, and the first and last switch malloc.c between forwarding and
 * counting. A period's counts are the raw sums less those at its start.
 *
 * Locks: prof_lock (buckets, stack interning) and the stripe locks are never
 * held together; prof_lock -> stacktab lock; ctl -> reg_lock (totals);
 * the registry lock is a leaf.
 * Every slow path marks the thread busy (threads.h): an allocation made while
 * busy is not sampled, and a free met while busy uses trylock, so scry can
 * never wait for itself (scry's own allocations, or a program's signal
 * handler that allocates while interrupting scry).
 */
#define _GNU_SOURCE
#include "core/unwind.h"
#include "profile/heap.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/callstack.h"
#include "core/config.h"
#include "core/log.h"
#include "core/ring.h"
#include "core/stacktab.h"
#include "core/threads.h"
#include "format/pprof.h"
#include "profile/profile.h"
#include "scry.h"
#include "span/labels.h"
#include "core/busy.h"

_Atomic uint8_t scry__heap_filter[1u << SCRY__HEAP_FILTER_BITS];

/* ---- Settings and state ------------------------------------------------ */

static pthread_mutex_t ctl = PTHREAD_MUTEX_INITIALIZER; /* start/stop/rate */
static _Atomic int want_heap, want_allocs;
static _Atomic int active;       /* sampling: want_heap || want_allocs */
static _Atomic int64_t rate = 0; /* 0 until configured: the config's */
static int ever_started;

static int64_t current_rate(void)
{
    int64_t r = atomic_load_explicit(&rate, memory_order_relaxed);
    return r > 0 ? r : scry__config.heap_rate;
}

/* ---- Exact totals: a registry of every thread's counters ---------------- */

typedef struct reg {
    scry__heap_tls_t *tls;
    struct reg *next;
} reg_t;

/* Registry nodes live in a fixed pool (no malloc); a dead thread's node is
 * recycled. Threads beyond the pool fold their counts in only at exit. */
#define REG_MAX 4096
static reg_t reg_pool[REG_MAX];
static reg_t *reg_live, *reg_free_list;
static int reg_used;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static scry__heap_totals_t exited; /* threads gone, under reg_lock */
static pthread_key_t reg_key;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* One thread's counters, as totals. Read while the owner counts: each
 * counter is whole, the four are not one snapshot. The owner adds a
 * block's bytes before the block (malloc.c's count_alloc), and the block
 * count is loaded first (acquire), so the bytes read include every block
 * counted: bytes - 8 * blocks never wraps (it may include a block more). */
static void read_tls(const scry__heap_tls_t *t, scry__heap_totals_t *out)
{
    out->alloc_objects = __atomic_load_n(&t->alloc_objects, __ATOMIC_ACQUIRE);
    out->alloc_bytes = scry__heap_bytes(load(&t->alloc_chunk), out->alloc_objects);
    out->free_objects = __atomic_load_n(&t->free_objects, __ATOMIC_ACQUIRE);
    out->free_bytes = scry__heap_bytes(load(&t->free_chunk), out->free_objects);
}

static void add_tls(scry__heap_totals_t *to, const scry__heap_tls_t *t)
{
    scry__heap_totals_t c;
    read_tls(t, &c);
    to->alloc_objects += c.alloc_objects;
    to->alloc_bytes += c.alloc_bytes;
    to->free_objects += c.free_objects;
    to->free_bytes += c.free_bytes;
}

static void fold_locked(const scry__heap_tls_t *t)
{
    add_tls(&exited, t);
}

/* TLS destructor: the thread leaves; its counts stay in the totals. */
static void on_thread_exit(void *arg)
{
    reg_t *r = arg;
    if (r < reg_pool || r >= reg_pool + REG_MAX) r = NULL; /* had no node */
    scry__heap_tls_t *t = &scry__heap_tls;
    pthread_mutex_lock(&reg_lock);
    fold_locked(t);
    /* Zeroed, so the counting that follows (later destructors) starts from
     * nothing: it is lost, not counted twice. */
    memset(&t->alloc_objects, 0, 4 * sizeof t->alloc_objects);
    if (r) {
        for (reg_t **p = &reg_live; *p; p = &(*p)->next)
            if (*p == r) {
                *p = r->next;
                break;
            }
        r->next = reg_free_list;
        reg_free_list = r;
    }
    pthread_mutex_unlock(&reg_lock);
    /* From here on both slow paths count into scry__heap_late (malloc.c):
     * glibc frees a detached thread's DTV after this, and later TLS
     * destructors may allocate and free. A thread that ends inside scry's
     * code (diverted) gets the state back when it leaves. */
    if (t->state == SCRY__HEAP_DIVERTED) {
        t->saved_state = SCRY__HEAP_EXITED;
        t->saved_countdown = INT64_MIN / 2;
        return;
    }
    t->state = SCRY__HEAP_EXITED;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t->countdown = INT64_MIN / 2;
}

static void make_key(void)
{
    pthread_key_create(&reg_key, on_thread_exit);
}

/* Not while busy: scry's own threads stay out of the program's totals, and
 * a thread inside fork (holding reg_lock) must not take it again. */
static void register_thread(scry__heap_tls_t *t, int glibc)
{
    if (scry__tls.busy) return;
    /* First: what follows may allocate and come back here. */
    t->state = glibc ? SCRY__HEAP_REGISTERED_GLIBC : SCRY__HEAP_REGISTERED;
    scry__busy_enter();
    pthread_once(&reg_once, make_key);
    pthread_mutex_lock(&reg_lock);
    reg_t *r = reg_free_list;
    if (r)
        reg_free_list = r->next;
    else if (reg_used < REG_MAX)
        r = &reg_pool[reg_used++];
    if (r) {
        r->tls = t;
        r->next = reg_live;
        reg_live = r;
    }
    pthread_mutex_unlock(&reg_lock);
    /* A thread without a node is folded in at exit all the same. */
    pthread_setspecific(reg_key, r ? (void *)r : (void *)t);
    scry__busy_leave();
}

/* Every count ever made: the threads gone, the late ones, the live
 * threads' counters. Only grows (a thread's counters are zeroed only once
 * folded into `exited`, under reg_lock). */
static void raw_totals(scry__heap_totals_t *out)
{
    pthread_mutex_lock(&reg_lock);
    *out = exited;
    out->alloc_objects += atomic_load_explicit(&scry__heap_late[0], memory_order_relaxed);
    out->alloc_bytes += atomic_load_explicit(&scry__heap_late[1], memory_order_relaxed);
    out->free_objects += atomic_load_explicit(&scry__heap_late[2], memory_order_relaxed);
    out->free_bytes += atomic_load_explicit(&scry__heap_late[3], memory_order_relaxed);
    for (reg_t *r = reg_live; r; r = r->next) add_tls(out, r->tls);
    pthread_mutex_unlock(&reg_lock);
}

/* ---- Exact totals: who wants them, and the period they cover ------------ */

/* Under ctl. Counting costs every malloc and free of the program a few
 * nanoseconds (bench/heap.sh), so it runs only while wanted: a period
 * starts at the first want and ends at the last (heap.h). The counters are
 * never reset: a period's counts are the raw sums less those at its start. */
static int totals_wants;
static int totals_kept, totals_whole;
static int64_t totals_since_ns;
static scry__heap_totals_t period_base; /* raw sums when the period began */
static scry__heap_totals_t period_last; /* its counts when it ended */

/* Which call is scry's constructor's: its thread, inside the entry into
 * scry's code during which scry__malloc_ready ran (core/busy.h counts the
 * entries). A period begun there counts everything the program does. */
static const scry__heap_tls_t *load_tls;
static uint32_t load_entry;

static int in_constructor(void)
{
    return load_tls == &scry__heap_tls && scry__tls.busy > 0 && scry__heap_tls.entries == load_entry;
}

static void totals_sub(scry__heap_totals_t *a, const scry__heap_totals_t *b)
{
    a->alloc_objects -= b->alloc_objects;
    a->alloc_bytes -= b->alloc_bytes;
    a->free_objects -= b->free_objects;
    a->free_bytes -= b->free_bytes;
}

static void want_locked(int delta)
{
    int before = totals_wants;
    totals_wants += delta;
    if (totals_wants < 0) totals_wants = 0; /* an unmatched -1: ignored */
    if (before == 0 && totals_wants > 0) {
        raw_totals(&period_base);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        totals_since_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        totals_whole = in_constructor();
        totals_kept = 1;
        scry__malloc_counting(1);
    } else if (before > 0 && totals_wants == 0) {
        scry__malloc_counting(0);
        raw_totals(&period_last);
        totals_sub(&period_last, &period_base);
        totals_kept = 0;
    }
}

void scry__heap_totals_want(int delta)
{
    pthread_mutex_lock(&ctl);
    want_locked(delta);
    pthread_mutex_unlock(&ctl);
}

void scry__heap_at_load(void)
{
    load_tls = &scry__heap_tls;
    load_entry = scry__heap_tls.entries;
    if (scry__config.heap_totals) scry__heap_totals_want(+1); /* to the end */
}

void scry__heap_totals(scry__heap_totals_t *out)
{
    pthread_mutex_lock(&ctl);
    if (totals_kept) {
        raw_totals(out);
        totals_sub(out, &period_base);
    } else {
        *out = period_last; /* zeros when never kept */
    }
    out->kept = totals_kept;
    out->whole = totals_whole;
    out->since_ns = totals_since_ns;
    pthread_mutex_unlock(&ctl);
}

/* ---- Sampling intervals ------------------------------------------------ */

static uint64_t next_random(scry__heap_tls_t *t)
{
    if (!t->rng) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)t ^ (uint64_t)gettid() ^ 1;
    }
    /* xorshift64* */
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545f4914f6cdd1dull;
}

/* Bytes until the next sample: exponential with mean r, so samples form a
 * Poisson process over allocated bytes; r == 1 samples everything. */
static int64_t next_interval(scry__heap_tls_t *t, int64_t r)
{
    if (r <= 1) return 0;
    double u = ((double)(next_random(t) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    double v = -log(u) * (double)r;
    if (v > (double)r * 64) v = (double)r * 64; /* u tiny: keep it bounded */
    return (int64_t)v + 1;
}

/* Longest countdown while the profile does not run. */
#define IDLE_INTERVAL (64 * 1024)

/* ---- Buckets ----------------------------------------------------------- */

#define BUCKETS_MAX (1u << 20)
#define BUCKET_HASH (1u << 16)

typedef struct {
    uint32_t stack;
    uint32_t next; /* chain in the hash; index + 1, 0 ends */
    uint64_t size;
    uint64_t span_id;   /* the span current at the allocation (span/labels.h) */
    uint32_t span_name; /* 0: none */
    _Atomic int64_t allocs, frees;
} bucket_t;

static pthread_mutex_t prof_lock = PTHREAD_MUTEX_INITIALIZER;
static bucket_t *buckets;    /* BUCKETS_MAX, mmap'ed, never moves */
static uint32_t *bucket_hash; /* BUCKET_HASH heads */
static _Atomic uint32_t nbuckets;
static _Atomic uint64_t dropped_tables; /* samples lost to a full table */
/* Sampled blocks in the live table. While any is, or the profile runs,
 * frees consult the filter (SCRY__HEAP_MATCH): in-use stays right after a
 * stop, for a profile written later (Go's semantics, docs/heap.md). The
 * last one out turns the check off, so a process whose profile stopped and
 * whose sampled blocks were all freed is back to the pass-through. */
static _Atomic int64_t live_blocks;

/* The live table emptied, or the profile stopped: no more matching unless a
 * block went in meanwhile (live_insert sets the bit after counting it, so
 * one of the two sees the other). */
static void match_off(void)
{
    if (atomic_load(&active) || atomic_load(&live_blocks) != 0) return;
    atomic_fetch_and(&scry__heap_mode, ~SCRY__HEAP_MATCH);
    if (atomic_load(&active) || atomic_load(&live_blocks) != 0)
        atomic_fetch_or(&scry__heap_mode, SCRY__HEAP_MATCH);
}
static _Atomic uint64_t lost_frees;     /* frees of sampled blocks not matched */
static uint64_t span_ids_folded;        /* samples that lost span_id; prof_lock */

static void *map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* prof_lock held. Index of the bucket, or UINT32_MAX when full. */
static uint32_t bucket_for(uint32_t stack, uint64_t size, uint64_t span_id, uint32_t span_name)
{
    if (!buckets) {
        buckets = map(BUCKETS_MAX * sizeof *buckets);
        bucket_hash = map(BUCKET_HASH * sizeof *bucket_hash);
        if (!buckets || !bucket_hash) return UINT32_MAX;
    }
    for (;;) {
        uint32_t h = (uint32_t)(((uint64_t)stack * 0x9e3779b97f4a7c15ull ^ size * 0xff51afd7ed558ccdull ^
                                 span_id * 0xc4ceb9fe1a85ec53ull ^ span_name) >> 40) &
                     (BUCKET_HASH - 1);
        for (uint32_t i = bucket_hash[h]; i; i = buckets[i - 1].next) {
            const bucket_t *b = &buckets[i - 1];
            if (b->stack == stack && b->size == size && b->span_id == span_id &&
                b->span_name == span_name)
                return i - 1;
        }
        uint32_t n = atomic_load(&nbuckets);
        /* A new bucket: a span id only while the table has room. */
        uint64_t kept = scry__span_id_keep(span_id, n, BUCKETS_MAX, &span_ids_folded);
        if (kept != span_id) {
            span_id = kept;
            continue;
        }
        if (n >= BUCKETS_MAX) return UINT32_MAX;
        bucket_t *b = &buckets[n];
        b->stack = stack;
        b->size = size;
        b->span_id = span_id;
        b->span_name = span_name;
        b->next = bucket_hash[h];
        bucket_hash[h] = n + 1;
        atomic_store_explicit(&nbuckets, n + 1, memory_order_release);
        return n;
    }
}

/* ---- The live table ---------------------------------------------------- */

#define STRIPES 64
#define LIVE_MAX (1u << 24)                    /* sampled blocks alive at once */
#define STRIPE_CAP_MAX (2 * LIVE_MAX / STRIPES) /* slots, at load <= 1/2 */

typedef struct {
    uintptr_t addr; /* 0: empty */
    uint32_t bucket;
} entry_t;

typedef struct {
    _Alignas(64) pthread_mutex_t lock; /* a cache line each: no false sharing */
    entry_t *slots;
    uint32_t cap, used;
} stripe_t;

static stripe_t stripes[STRIPES];

static uint64_t addr_hash(uintptr_t a)
{
    return (uint64_t)(a >> 4) * 0x9e3779b97f4a7c15ull;
}

static stripe_t *stripe_of(uintptr_t a)
{
    return &stripes[addr_hash(a) >> 58];
}

static uint32_t slot_of(const stripe_t *s, uintptr_t a)
{
    return (uint32_t)addr_hash(a) & (s->cap - 1);
}

static void filter_add(const void *p, int delta)
{
    _Atomic uint8_t *c = &scry__heap_filter[scry__heap_filter_index(p)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        if (v == 255) return; /* saturated: stays "maybe" for good */
        if (delta < 0 && v == 0) return;
        if (atomic_compare_exchange_weak(c, &v, (uint8_t)(v + delta))) return;
    }
}

/* Stripe lock held. 0 when the table cannot grow. */
static int stripe_grow(stripe_t *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 1024;
    if (cap > STRIPE_CAP_MAX) return 0;
    entry_t *slots = map(cap * sizeof *slots);
    if (!slots) return 0;
    entry_t *old = s->slots;
    uint32_t old_cap = s->cap;
    s->slots = slots;
    s->cap = cap;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (!old[i].addr) continue;
        uint32_t j = slot_of(s, old[i].addr);
        while (slots[j].addr) j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    if (old) munmap(old, old_cap * sizeof *old);
    return 1;
}

/* Stripe lock held. Index of a's slot or UINT32_MAX. */
static uint32_t stripe_find(const stripe_t *s, uintptr_t a)
{
    if (!s->cap) return UINT32_MAX;
    for (uint32_t j = slot_of(s, a);; j = (j + 1) & (s->cap - 1)) {
        if (s->slots[j].addr == a) return j;
        if (!s->slots[j].addr) return UINT32_MAX;
    }
}

/* Stripe lock held. Backward-shift deletion keeps every probe chain whole. */
static void stripe_remove_at(stripe_t *s, uint32_t i)
{
    uint32_t mask = s->cap - 1;
    for (uint32_t j = (i + 1) & mask; s->slots[j].addr; j = (j + 1) & mask) {
        uint32_t home = slot_of(s, s->slots[j].addr);
        /* Move j into the hole i when its home is not in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].addr = 0;
    s->used--;
}

/* Stripe locks this thread holds (nonzero: inside a stripe's section): a free that reached
 * live_remove from inside that section must not wait for it. */
static __thread int in_stripe __attribute__((tls_model("initial-exec")));

static void lock_stripe(stripe_t *s)
{
    pthread_mutex_lock(&s->lock);
    in_stripe++;
}

static void unlock_stripe(stripe_t *s)
{
    in_stripe--;
    pthread_mutex_unlock(&s->lock);
}

/* 1 when inserted. A stale entry at the same address (a free that could not
 * be matched) is counted freed and replaced. */
static int live_insert(uintptr_t a, uint32_t bucket)
{
    stripe_t *s = stripe_of(a);
    lock_stripe(s);
    uint32_t i = stripe_find(s, a);
    if (i != UINT32_MAX) {
        atomic_fetch_add_explicit(&buckets[s->slots[i].bucket].frees, 1, memory_order_relaxed);
        s->slots[i].bucket = bucket;
        unlock_stripe(s);
        return 1;
    }
    if ((s->used + 1) * 2 > s->cap && !stripe_grow(s)) {
        unlock_stripe(s);
        return 0;
    }
    uint32_t j = slot_of(s, a);
    while (s->slots[j].addr) j = (j + 1) & (s->cap - 1);
    s->slots[j] = (entry_t){a, bucket};
    s->used++;
    atomic_fetch_add(&live_blocks, 1);
    atomic_fetch_or(&scry__heap_mode, SCRY__HEAP_MATCH); /* before the program can free a */
    unlock_stripe(s);
    filter_add((void *)a, +1);
    return 1;
}

/* Removes a; returns its bucket + 1, or 0 when a was not sampled (or the
 * thread already holds a stripe's lock and this one was taken: the free is
 * then counted lost). Any other thread waits for the lock: a thread in
 * scry's code freeing a block that only shares a granule with a sampled one
 * used to give up on a merely contended stripe and count a lost free. */
static uint64_t live_remove(uintptr_t a)
{
    stripe_t *s = stripe_of(a);
    if (in_stripe) { /* this thread holds a stripe: never wait for one */
        if (pthread_mutex_trylock(&s->lock) != 0) {
            atomic_fetch_add(&lost_frees, 1);
            return 0;
        }
        in_stripe++;
    } else {
        lock_stripe(s);
    }
    uint32_t i = stripe_find(s, a);
    uint64_t token = 0;
    if (i != UINT32_MAX) {
        token = (uint64_t)s->slots[i].bucket + 1;
        stripe_remove_at(s, i);
    }
    unlock_stripe(s);
    if (token) {
        filter_add((void *)a, -1);
        if (atomic_fetch_sub(&live_blocks, 1) == 1) match_off();
    }
    return token;
}

/* ---- Stacks ------------------------------------------------------------ */

/* Code ranges of operator new, stripped from the leaf end of stacks when an
 * allocation reaches malloc through an operator new that is not scry's
 * (one linked into the program, or libstdc++'s on its failure path). */
typedef struct {
    uintptr_t lo, hi;
} range_t;
static range_t new_ranges[16];
static int nnew_ranges;

static void add_symbol_range(void *addr)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!addr || nnew_ranges >= 16) return;
    if (!dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || !sym->st_size) return;
    for (int i = 0; i < nnew_ranges; i++)
        if (new_ranges[i].lo == (uintptr_t)addr) return;
    new_ranges[nnew_ranges++] = (range_t){(uintptr_t)addr, (uintptr_t)addr + sym->st_size};
}

static void find_new_ranges(void)
{
    static const char *const names[] = {
        "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
        "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
    };
    Dl_info self;
    dladdr((void *)find_new_ranges, &self);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *f = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info info;
        if (f && dladdr(f, &info) && info.dli_fbase != self.dli_fbase) add_symbol_range(f);
        add_symbol_range(dlsym(RTLD_NEXT, names[i]));
    }
    /* Without libstdc++ the lookups fail, and glibc keeps the message (two
     * blocks) until the thread's next dl call, which may be the program's:
     * freed there, scry's blocks would count as the program's frees. Read
     * and drop it here, in scry's code (the second call frees it). */
    while (dlerror() != NULL) {
    }
}

static int in_new(uintptr_t pc)
{
    for (int i = 0; i < nnew_ranges; i++)
        if (pc >= new_ranges[i].lo && pc < new_ranges[i].hi) return 1;
    return 0;
}

/* The allocation's stack (callstack.h), without operator new frames at the
 * leaf end. */
static uint32_t heap_stack(uintptr_t caller, uintptr_t *out)
{
    uint32_t k = scry__callstack(caller, out, SCRY__MAX_FRAMES);
    uint32_t skip = 0;
    while (skip + 1 < k && in_new(out[skip])) skip++;
    if (skip) memmove(out, out + skip, (k - skip) * sizeof *out);
    return k - skip;
}

/* ---- The slow paths ---------------------------------------------------- */

/* Allocation sizes, estimated from the samples (each weighs what it stands
 * for, as the profile's buckets are scaled): powers of two of bytes.
 * Under prof_lock. */
static double size_counts[SCRY__HEAP_SIZE_BUCKETS + 1];
static double size_sum;

void scry__heap_size_histogram(double counts[SCRY__HEAP_SIZE_BUCKETS + 1], double *sum)
{
    pthread_mutex_lock(&prof_lock);
    memcpy(counts, size_counts, sizeof size_counts);
    *sum = size_sum;
    pthread_mutex_unlock(&prof_lock);
}

static void record(void *p, size_t n, uintptr_t caller)
{
    uintptr_t frames[SCRY__MAX_FRAMES];
    uint32_t nf = heap_stack(caller, frames);
    int64_t r = current_rate();
    double w = r <= 1 || n == 0 ? 1.0 : 1.0 / (1.0 - exp(-(double)n / (double)r));
    int sb = n <= 1 ? 0 : 64 - __builtin_clzll((unsigned long long)n - 1); /* n <= 2^sb */
    if (sb > SCRY__HEAP_SIZE_BUCKETS) sb = SCRY__HEAP_SIZE_BUCKETS;
    pthread_mutex_lock(&prof_lock);
    size_counts[sb] += w;
    size_sum += w * (double)n;
    uint32_t stack = scry__stacktab_intern(frames, nf);
    uint32_t span_name;
    uint64_t span = scry__span_label_get_as_safe(&span_name);
    uint32_t b = stack == SCRY__STACK_NONE ? UINT32_MAX : bucket_for(stack, n, span, span_name);
    if (b != UINT32_MAX) atomic_fetch_add_explicit(&buckets[b].allocs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&prof_lock);
    if (b == UINT32_MAX) {
        atomic_fetch_add(&dropped_tables, 1);
        return;
    }
    if (!live_insert((uintptr_t)p, b)) {
        /* Counted as allocated and freed at once: alloc_* stay right. */
        atomic_fetch_add_explicit(&buckets[b].frees, 1, memory_order_relaxed);
        atomic_fetch_add(&dropped_tables, 1);
    }
}

void scry__heap_sampled_alloc(void *p, size_t n, uintptr_t caller, int glibc)
{
    scry__heap_tls_t *t = &scry__heap_tls;
    int saved = errno;
    int first = t->state == SCRY__HEAP_NEW;
    if (first) register_thread(t, glibc);
    int64_t r = current_rate();
    t->countdown = next_interval(t, r);
    /* While no heap profile runs, come back at least every 64 KiB, so that
     * a start (and its rate) reaches every thread soon. */
    if (!atomic_load_explicit(&active, memory_order_relaxed) && t->countdown > IDLE_INTERVAL)
        t->countdown = IDLE_INTERVAL;
    /* A thread's first allocation has no drawn countdown behind it: it is
     * sampled only when everything is. */
    if (p && atomic_load_explicit(&active, memory_order_relaxed) && !scry__tls.busy &&
        (!first || r <= 1)) {
        scry__busy_enter();
        record(p, n, caller);
        scry__busy_leave();
    }
    errno = saved;
}

void scry__heap_sampled_free(void *p, int glibc)
{
    int saved = errno;
    if (scry__heap_tls.state == SCRY__HEAP_NEW &&
        (atomic_load_explicit(&scry__heap_mode, memory_order_relaxed) & SCRY__HEAP_COUNT))
        register_thread(&scry__heap_tls, glibc);
    if (scry__heap_maybe_sampled(p)) {
        uint64_t token = live_remove((uintptr_t)p);
        if (token) atomic_fetch_add_explicit(&buckets[token - 1].frees, 1, memory_order_relaxed);
    }
    errno = saved;
}

uint64_t scry__heap_detach(void *p)
{
    int saved = errno;
    uint64_t token = live_remove((uintptr_t)p);
    errno = saved;
    return token;
}

void scry__heap_detach_commit(uint64_t token)
{
    atomic_fetch_add_explicit(&buckets[token - 1].frees, 1, memory_order_relaxed);
}

void scry__heap_detach_undo(void *p, uint64_t token)
{
    int saved = errno;
    if (!live_insert((uintptr_t)p, (uint32_t)(token - 1))) {
        atomic_fetch_add_explicit(&buckets[token - 1].frees, 1, memory_order_relaxed);
        atomic_fetch_add(&dropped_tables, 1);
    }
    errno = saved;
}

/* ---- Start, stop, rate ------------------------------------------------- */

static int start(_Atomic int *want)
{
    pthread_mutex_lock(&ctl);
    int rc = 0;
    const char *shadow = scry__malloc_shadowed_by();
    if (atomic_load(want)) {
        rc = -EALREADY;
    } else if (*shadow) {
        scry__warn_once("the heap profile cannot see this program's allocations: its malloc is "
                        "%s's, loaded before libscry.so (put libscry.so first in LD_PRELOAD)",
                        shadow);
        rc = -ENOTSUP;
    } else {
        if (!ever_started) {
            find_new_ranges();
            scry__callstack_init(scry__config.unwind);
            ever_started = 1;
        }
        want_locked(+1); /* the profile's totals, and its countdowns */
        atomic_store(want, 1);
        atomic_store(&active, 1);
        /* The calling thread's next allocation draws with the new rate;
         * other threads within IDLE_INTERVAL bytes. */
        if (scry__heap_tls.state == SCRY__HEAP_DIVERTED)
            scry__heap_tls.saved_countdown = 0; /* put back when the thread leaves scry */
        else
            scry__heap_tls.countdown = 0;
    }
    pthread_mutex_unlock(&ctl);
    return rc;
}

/* Sampling stops when neither view runs; frees of blocks already sampled
 * are still matched (SCRY__HEAP_MATCH, until the last of them is freed), so
 * in-use stays right. The totals stop with the last of their wants. */
static int stop(_Atomic int *want)
{
    pthread_mutex_lock(&ctl);
    int rc = atomic_load(want) ? 0 : -EINVAL;
    atomic_store(want, 0);
    atomic_store(&active, atomic_load(&want_heap) || atomic_load(&want_allocs));
    if (rc == 0) {
        want_locked(-1);
        match_off();
    }
    pthread_mutex_unlock(&ctl);
    return rc;
}

static int heap_start(void) { return start(&want_heap); }
static int heap_stop(void) { return stop(&want_heap); }
static int heap_running(void) { return atomic_load(&want_heap); }
static int allocs_start(void) { return start(&want_allocs); }
static int allocs_stop(void) { return stop(&want_allocs); }
static int allocs_running(void) { return atomic_load(&want_allocs); }

int scry__heap_set_rate(long r)
{
    if (r < 1) return -EINVAL;
    pthread_mutex_lock(&ctl);
    int rc = atomic_load(&active) ? -EBUSY : 0;
    if (rc == 0) atomic_store(&rate, r);
    pthread_mutex_unlock(&ctl);
    return rc;
}

/* ---- Writing ----------------------------------------------------------- */

/* Go's scaleHeapSample: count and bytes of a bucket, unbiased. */
static void scale(int64_t count, uint64_t size, int64_t r, int64_t *objects, int64_t *bytes)
{
    if (count <= 0) {
        *objects = *bytes = 0;
        return;
    }
    if (r <= 1) {
        *objects = count;
        *bytes = count * (int64_t)size;
        return;
    }
    double s = 1.0 / (1.0 - exp(-(double)size / (double)r));
    if (size == 0) s = 0;
    *objects = (int64_t)((double)count * s);
    *bytes = (int64_t)((double)count * (double)size * s);
}

static int write_profile(int fd, const char *default_type)
{
    if (!ever_started) return -EINVAL;
    int64_t r = current_rate();
    uint32_t n = atomic_load_explicit(&nbuckets, memory_order_acquire);

    static const scry__value_type_t types[] = {
        {"alloc_objects", "count"},
        {"alloc_space", "bytes"},
        {"inuse_objects", "count"},
        {"inuse_space", "bytes"},
    };
    scry__pprof_t *p = scry__pprof_new(types, 4, (scry__value_type_t){"space", "bytes"}, r);
    if (!p) return -ENOMEM;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    scry__pprof_set_time(p, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec, 0);
    scry__pprof_set_default_type(p, default_type);

    scry__heap_totals_t tot;
    scry__heap_totals(&tot);
    char c[512];
    snprintf(c, sizeof c,
             "scry %s: heap profile, one sample per %lld bytes allocated on average (Poisson); "
             "values scaled by 1/(1-exp(-size/rate)); sizes as requested",
             SCRY_VERSION, (long long)r);
    scry__pprof_add_comment(p, c);
    scry__pprof_add_comment(p, scry__unwind_describe(scry__config.unwind, c, sizeof c));
    /* A period begun after the program started: its frees include blocks
     * allocated before it, so it must not read as "still allocated" (the
     * "totals: " form, which scry run's summary reads). */
    if (tot.whole) {
        snprintf(c, sizeof c,
                 "totals: allocated %llu bytes in %llu blocks, freed %llu bytes in %llu blocks "
                 "(exact, usable sizes)",
                 (unsigned long long)tot.alloc_bytes, (unsigned long long)tot.alloc_objects,
                 (unsigned long long)tot.free_bytes, (unsigned long long)tot.free_objects);
    } else {
        time_t since = (time_t)(tot.since_ns / 1000000000);
        struct tm tm;
        char when[32] = "?";
        if (gmtime_r(&since, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(c, sizeof c,
                 "totals since %s: allocated %llu bytes in %llu blocks, freed %llu bytes in %llu "
                 "blocks (exact, usable sizes; counting began after the program started, so "
                 "frees of older blocks count and what is still allocated is not known)",
                 when, (unsigned long long)tot.alloc_bytes, (unsigned long long)tot.alloc_objects,
                 (unsigned long long)tot.free_bytes, (unsigned long long)tot.free_objects);
    }
    scry__pprof_add_comment(p, c);
    snprintf(c, sizeof c, "dropped samples: %llu (tables full); unmatched frees: %llu",
             (unsigned long long)atomic_load(&dropped_tables),
             (unsigned long long)atomic_load(&lost_frees));
    scry__pprof_add_comment(p, c);
    pthread_mutex_lock(&prof_lock);
    uint64_t folded = span_ids_folded;
    pthread_mutex_unlock(&prof_lock);
    if (folded) {
        snprintf(c, sizeof c, "span_id labels left off %llu samples (too many spans): they keep span_name",
                 (unsigned long long)folded);
        scry__pprof_add_comment(p, c);
    }

    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        bucket_t *b = &buckets[i];
        int64_t allocs = atomic_load_explicit(&b->allocs, memory_order_relaxed);
        int64_t frees = atomic_load_explicit(&b->frees, memory_order_relaxed);
        if (frees > allocs) frees = allocs; /* read while a free was counted */
        int64_t v[4];
        scale(allocs, b->size, r, &v[0], &v[1]);
        scale(allocs - frees, b->size, r, &v[2], &v[3]);
        if (!v[0] && !v[2]) continue;
        uint32_t nf;
        const uintptr_t *f = scry__stacktab_get(b->stack, &nf);
        char hex[17];
        scry__label_t l[4] = {{.key = "bytes", .num = (int64_t)b->size}};
        int nl = 1 + scry__span_pprof_labels(b->span_id, b->span_name, hex, l + 1);
        rc = scry__pprof_add_sample(p, f, nf, v, l, nl);
    }
    if (rc == 0) rc = scry__pprof_write_fd(p, fd);
    scry__pprof_free(p);
    return rc;
}

static int heap_write_fd(int fd) { return write_profile(fd, "inuse_space"); }
static int allocs_write_fd(int fd) { return write_profile(fd, "alloc_space"); }

/* ---- Fork -------------------------------------------------------------- */

/* Every lock, so the child's tables are whole; the forking thread is busy
 * meanwhile, so an atfork handler that frees a sampled block cannot wait on
 * a stripe this thread holds. The child keeps everything: its heap is the
 * parent's copy, and the live table describes it exactly. */
static void heap_prefork(void)
{
    scry__busy_enter();
    pthread_mutex_lock(&ctl);
    pthread_mutex_lock(&prof_lock);
    for (int i = 0; i < STRIPES; i++) pthread_mutex_lock(&stripes[i].lock);
    pthread_mutex_lock(&reg_lock);
}

static void heap_postfork_parent(void)
{
    pthread_mutex_unlock(&reg_lock);
    for (int i = STRIPES - 1; i >= 0; i--) pthread_mutex_unlock(&stripes[i].lock);
    pthread_mutex_unlock(&prof_lock);
    pthread_mutex_unlock(&ctl);
    scry__busy_leave();
}

/* Only the forking thread crossed: the others' counters are frozen as of
 * the fork, so they are folded into the totals and forgotten. */
static void heap_postfork_child(void)
{
    reg_t *self = NULL;
    for (reg_t *r = reg_live, *next; r; r = next) {
        next = r->next;
        if (r->tls == &scry__heap_tls) {
            self = r;
            continue;
        }
        fold_locked(r->tls);
        r->next = reg_free_list;
        reg_free_list = r;
    }
    reg_live = self;
    if (self) self->next = NULL;
    heap_postfork_parent();
}

static void nothing(void) {}

const scry__profile_t scry__heap_profile = {
    .name = "heap",
    .start = heap_start,
    .stop = heap_stop,
    .running = heap_running,
    .write_fd = heap_write_fd,
    .prefork = heap_prefork,
    .postfork_parent = heap_postfork_parent,
    .postfork_child = heap_postfork_child,
};

/* Same data: its fork hooks are the heap profile's, run once. */
const scry__profile_t scry__allocs_profile = {
    .name = "allocs",
    .start = allocs_start,
    .stop = allocs_stop,
    .running = allocs_running,
    .write_fd = allocs_write_fd,
    .prefork = nothing,
    .postfork_parent = nothing,
    .postfork_child = nothing,
};
