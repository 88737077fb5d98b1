/*
 * cpu.c - the CPU profiler.
 *
 * Like Go since 1.18, every thread gets its own POSIX timer on its own CPU
 * clock (timer_create(thread CPU clock, SIGEV_THREAD_ID)), so each thread is
 * sampled in proportion to the CPU time it uses, and the signal is delivered
 * to that thread. A process-wide setitimer(ITIMER_PROF) instead delivers to
 * whichever thread the kernel picks and merges expirations that collide, so
 * busy multi-threaded programs lose samples; it is used only where
 * timer_create fails, and the profile's comments say so.
 *
 * Flow: timer -> SIGPROF handler on the sampled thread (unwind, append to the
 * ring) -> aggregator thread (intern the stack, add values per stack id, or
 * per (stack, span) for a sample taken while a span was current: those
 * carry the span_id and span_name labels) -> write_fd (snapshot, pprof).
 * The first expiry of each timer is randomised
 * within one period so threads started together are not sampled in
 * lock-step. Expirations the kernel merged into one signal (si_overrun) are
 * added to that sample's weight and counted, so totals stay right even when
 * a signal was late.
 *
 * Threads that block SIGPROF. A thread that blocks "everything" still takes
 * scry's SIGPROF (interpose/sigmask.c). One that blocks it by name, or by a
 * raw system call, does not: its timer's signal stays pending, and the
 * expirations it missed are added to the sample when the thread unblocks
 * (si_overrun), or lost if it never does. So each armed thread gets a slot
 * holding its CPU clock when armed and the CPU time its samples carried
 * since (the handler adds to it; the slot's number rides in the timer's
 * sigev_value, so no lookup); when the thread ends, and when the profile
 * stops, a thread whose samples fall more than UNSAMPLED_MIN periods short
 * of its CPU time and that blocks SIGPROF at that moment (its own mask, or
 * SigBlk in /proc/self/task/TID/status) has that shortfall counted as "not
 * sampled", said in a comment and on stderr.
 *
 * The capture line. At stop, the profile's total is compared with the CPU
 * time the process used meanwhile (CLOCK_PROCESS_CPUTIME_ID), less what
 * scry's own threads used (the threads in /proc/self/task that the registry
 * does not hold). Each thread's sample count is unbiased (the first expiry
 * is uniform in the first period) but off by up to a period either way, so
 * the two are said to differ only past 10% and past (4 + 2 sqrt(threads
 * armed)) periods: about 4.5 standard deviations of that rounding.
 *
 * Locks: `ctl` serialises start/stop/fork and is outermost; thread hooks run
 * under the threads lock, and so do the slots' allocation and the
 * not-sampled counts; the per-stack values are built by the consumer
 * under the aggregator lock, and read or reset under it too.
 */
#define _GNU_SOURCE
#include "profile/cpu.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/aggregator.h"
#include "core/config.h"
#include "core/log.h"
#include "core/ring.h"
#include "core/stacktab.h"
#include "core/threads.h"
#include "core/unwind.h"
#include "format/pprof.h"
#include "interpose/signal.h"
#include "profile/profile.h"
#include "scry.h"
#include "span/labels.h"
#include "trace/trace.h"

static pthread_mutex_t ctl = PTHREAD_MUTEX_INITIALIZER;

/* Read by the signal handler. */
static _Atomic int active;
static int64_t period_ns;
static int unwind_mode;
static int use_setitimer;

static int hz_setting;          /* 0: from the config */
static int run_hz;              /* rate of the current or last run */
static int64_t start_wall_ns;   /* time_nanos */
static int64_t start_mono_ns, stop_mono_ns;
static int ever_started;

/* Per stack id: [0] samples, [1] nanoseconds. Aggregator lock. */
static int64_t (*vals)[2];
static uint32_t vals_cap;
static uint64_t table_full_drops;

/* Samples taken in a span, per (stack, span id, span name): mmap'ed once,
 * bounded; span ids are folded away past 3/4 of it (span/labels.h).
 * Aggregator lock. */
#define SPAN_BUCKETS_MAX (1u << 16)
#define SPAN_HASH (1u << 14)
typedef struct {
    uint64_t span_id;
    uint32_t stack, name;
    uint32_t next; /* index + 1 */
    int64_t v[2];
} span_bucket_t;
static span_bucket_t *span_buckets;
static uint32_t *span_hash;
static uint32_t nspan_buckets;
static uint64_t span_ids_folded;

static _Atomic uint64_t overruns;
static _Atomic int timer_failures;
static uint64_t ring_drops_at_start;

/* Per armed thread (see the top): slots are mmap'ed at the first start and
 * never freed, handed out from a stack of free numbers under the threads
 * lock. An armed thread's has_cpu_timer (cpu.c's field) is 1 + its slot
 * number + 1, or 1 when the slots ran out (the thread is then sampled but
 * not checked). A handler may add to a slot just after its thread was
 * disarmed from another thread and the slot reused: one sample's worth. */
#define SLOTS 16384
#define UNSAMPLED_MIN 2 /* periods a thread's samples may fall short */
typedef struct {
    int64_t cpu0;
    _Atomic int64_t sampled;
} slot_t;
static slot_t *slots;
static uint32_t *free_slots, nfree;
static uint64_t armed_threads; /* timers armed in this run */
static int64_t unsampled_ns;   /* what threads blocking SIGPROF lost */
static int unsampled_threads;

/* The capture line's inputs and the lines said at stop (profile comments). */
static int64_t start_cpu_ns; /* the process's CPU clock at start */
#define OWN_MAX 64
static struct {
    pid_t tid;
    int64_t cpu_ns;
} own_at_start[OWN_MAX]; /* scry's own threads' CPU clocks at start */
static int nown;
static char said_unsampled[256], said_capture[512];

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The CPU clock of any thread of this process, by kernel thread id: the
 * encoding glibc's pthread_getcpuclockid uses (CPUCLOCK_SCHED, per thread). */
static clockid_t thread_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6);
}

/* Thread tid's CPU time, or -1 when it has gone. */
static int64_t thread_cpu_ns(pid_t tid)
{
    struct timespec ts;
    if (clock_gettime(thread_clock(tid), &ts) < 0) return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The cookie in the low half of a timer's value, its slot + 1 (0: none)
 * in the high half. */
static void *timer_value(uint32_t slot1)
{
    return (void *)((uintptr_t)SCRY__CPU_COOKIE | (uintptr_t)slot1 << 32);
}

static void on_sigprof(int sig, siginfo_t *si, void *ucv)
{
    int saved = errno;
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    uint64_t value = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
    int ours = use_setitimer ? si->si_code == SI_KERNEL
                             : si->si_code == SI_TIMER &&
                                   (uint32_t)value == (uint32_t)(uintptr_t)SCRY__CPU_COOKIE;
    if (!ours) {
        scry__signal_chain_as_safe(sig, si, ucv);
        errno = saved;
        return;
    }
    /* acquire: pairs with start's store, after which period_ns and
     * unwind_mode are set (a plain load on x86-64). */
    if (atomic_load_explicit(&active, memory_order_acquire)) {
        int64_t weight = 1;
        if (!use_setitimer && si->si_overrun > 0) {
            weight += si->si_overrun;
            atomic_fetch_add_explicit(&overruns, (uint64_t)si->si_overrun, memory_order_relaxed);
        }
        uint32_t slot1 = (uint32_t)(value >> 32);
        if (slot1 && slot1 <= SLOTS && slots)
            atomic_fetch_add_explicit(&slots[slot1 - 1].sampled, weight * period_ns,
                                      memory_order_relaxed);
        scry__sample_t *s = scry__ring_reserve_as_safe();
        if (s) {
            const ucontext_t *uc = ucv;
            s->kind = SCRY__KIND_CPU;
            s->values[0] = weight;
            s->values[1] = weight * period_ns;
            s->span_id = scry__span_label_get_as_safe(&s->span_name);
            s->nframes = scry__unwind_as_safe(unwind_mode, uc, s->frames, SCRY__MAX_FRAMES);
            /* The trace's copy, into this thread's own trace buffer. */
            if (scry__tracing()) scry__trace_cpu_sample_as_safe(s->frames, s->nframes);
            scry__ring_commit_as_safe(s);
        }
        atomic_fetch_add_explicit(&scry__handler_ns, (uint64_t)(now_ns(CLOCK_MONOTONIC) - t0),
                                  memory_order_relaxed);
    }
    errno = saved;
}

/* Threads lock held. A slot number (+ 1), or 0 when they ran out. */
static uint32_t take_slot(pid_t tid)
{
    if (!slots || !nfree) return 0;
    int64_t cpu = thread_cpu_ns(tid);
    if (cpu < 0) return 0;
    uint32_t i = free_slots[--nfree];
    slots[i].cpu0 = cpu;
    atomic_store_explicit(&slots[i].sampled, 0, memory_order_relaxed);
    return i + 1;
}

/* Threads lock held. */
static slot_t *slot_of(const scry__thread_t *t)
{
    return t->has_cpu_timer > 1 ? &slots[t->has_cpu_timer - 2] : NULL;
}

/* Threads lock held. */
static void arm(scry__thread_t *t, void *arg)
{
    (void)arg;
    if (t->has_cpu_timer || use_setitimer) return;
    uint32_t slot1 = take_slot(t->tid);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SCRY__CPU_SIGNAL;
    sev.sigev_value.sival_ptr = timer_value(slot1);
    sev._sigev_un._tid = t->tid;
    if (timer_create(thread_clock(t->tid), &sev, &t->cpu_timer) < 0) {
        if (slot1) free_slots[nfree++] = slot1 - 1;
        atomic_fetch_add(&timer_failures, 1);
        return;
    }
    /* First expiry uniformly in (0, period], so that threads started at the
     * same moment do not all fire on the same tick. */
    uint64_t r = (uint64_t)now_ns(CLOCK_MONOTONIC) * 0x9e3779b97f4a7c15ull ^ (uint64_t)t->tid;
    r ^= r >> 29;
    int64_t first = 1 + (int64_t)(r % (uint64_t)period_ns);
    struct itimerspec its = {
        .it_interval = {period_ns / 1000000000, period_ns % 1000000000},
        .it_value = {first / 1000000000, first % 1000000000},
    };
    if (timer_settime(t->cpu_timer, 0, &its, NULL) < 0) {
        timer_delete(t->cpu_timer);
        if (slot1) free_slots[nfree++] = slot1 - 1;
        atomic_fetch_add(&timer_failures, 1);
        return;
    }
    t->has_cpu_timer = 1 + (int)slot1;
    armed_threads++;
}

/* Threads lock held. Deleting the timer also discards its pending signal. */
static void disarm(scry__thread_t *t, void *arg)
{
    (void)arg;
    if (!t->has_cpu_timer) return;
    timer_delete(t->cpu_timer);
    if (t->has_cpu_timer > 1) free_slots[nfree++] = (uint32_t)t->has_cpu_timer - 2;
    t->has_cpu_timer = 0;
}

/* Threads lock held, t armed: counts what its samples left out of its CPU
 * time if it blocks SIGPROF now (see the top). Reads its mask from the
 * kernel when t is the calling thread, else from /proc, and only when its
 * samples fall short: one file read per such thread. */
static void count_unsampled(scry__thread_t *t, void *arg)
{
    (void)arg;
    const slot_t *s = slot_of(t);
    if (!s) return;
    int self = t->tid == scry__tls.tid;
    int64_t cpu = self ? now_ns(CLOCK_THREAD_CPUTIME_ID) : thread_cpu_ns(t->tid);
    int64_t missing = cpu - s->cpu0 - atomic_load_explicit(&s->sampled, memory_order_relaxed);
    if (cpu < 0 || missing <= UNSAMPLED_MIN * period_ns) return;
    uint64_t blocked = 0;
    if (self) {
        sigset_t cur;
        if (scry__sigmask_real(SIG_BLOCK, NULL, &cur) < 0) return;
        memcpy(&blocked, &cur, sizeof blocked);
    } else if (scry__sigmask_of_thread(t->tid, &blocked) < 0) {
        return;
    }
    if (!(blocked >> (SCRY__CPU_SIGNAL - 1) & 1)) return;
    unsampled_ns += missing;
    unsampled_threads++;
}

static void joined(scry__thread_t *t)
{
    if (atomic_load(&active)) arm(t, NULL);
}

static void leaving(scry__thread_t *t)
{
    if (atomic_load(&active)) count_unsampled(t, NULL);
    disarm(t, NULL);
}

static const scry__thread_hooks_t hooks = {joined, leaving};

/* The bucket of a sample taken in a span, NULL when the table is full. */
static span_bucket_t *span_bucket(uint32_t stack, uint64_t span_id, uint32_t name)
{
    if (!span_buckets) {
        void *b = mmap(NULL, SPAN_BUCKETS_MAX * sizeof *span_buckets, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        void *h = mmap(NULL, SPAN_HASH * sizeof *span_hash, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b == MAP_FAILED || h == MAP_FAILED) {
            if (b != MAP_FAILED) munmap(b, SPAN_BUCKETS_MAX * sizeof *span_buckets);
            if (h != MAP_FAILED) munmap(h, SPAN_HASH * sizeof *span_hash);
            return NULL;
        }
        span_buckets = b;
        span_hash = h;
    }
    for (int pass = 0; pass < 2; pass++) {
        uint32_t at = (uint32_t)(((uint64_t)stack * 0x9e3779b97f4a7c15ull ^ span_id * 0xff51afd7ed558ccdull ^
                                  name) >> 40) & (SPAN_HASH - 1);
        for (uint32_t i = span_hash[at]; i; i = span_buckets[i - 1].next) {
            span_bucket_t *b = &span_buckets[i - 1];
            if (b->stack == stack && b->span_id == span_id && b->name == name) return b;
        }
        /* New: with its span id while there is room, else the span's name
         * alone (looked up again under that key). */
        uint64_t kept = scry__span_id_keep(span_id, nspan_buckets, SPAN_BUCKETS_MAX, &span_ids_folded);
        if (kept != span_id) {
            span_id = kept;
            continue;
        }
        if (nspan_buckets >= SPAN_BUCKETS_MAX) return NULL;
        span_bucket_t *b = &span_buckets[nspan_buckets];
        *b = (span_bucket_t){span_id, stack, name, span_hash[at], {0, 0}};
        span_hash[at] = ++nspan_buckets;
        return b;
    }
    return NULL;
}

/* Consumer, under the aggregator lock: add one sample. */
static void consume(const scry__sample_t *s)
{
    uint32_t id = scry__stacktab_intern(s->frames, s->nframes);
    if (id == SCRY__STACK_NONE) {
        table_full_drops += (uint64_t)s->values[0];
    } else if (s->span_id || s->span_name) {
        span_bucket_t *b = span_bucket(id, s->span_id, s->span_name);
        if (!b) {
            table_full_drops += (uint64_t)s->values[0];
            return;
        }
        b->v[0] += s->values[0];
        b->v[1] += s->values[1];
    } else {
        if (id >= vals_cap) {
            uint32_t cap = vals_cap ? vals_cap : 1024;
            while (cap <= id) cap *= 2;
            void *v = realloc(vals, cap * sizeof *vals);
            if (!v) {
                table_full_drops += (uint64_t)s->values[0];
                return;
            }
            vals = v;
            memset(vals + vals_cap, 0, (cap - vals_cap) * sizeof *vals);
            vals_cap = cap;
        }
        vals[id][0] += s->values[0];
        vals[id][1] += s->values[1];
    }
}

/* Samples still in the ring belong to the previous run: drained first. */
static void reset_data(void)
{
    scry__aggregator_drain_and_lock();
    if (vals) memset(vals, 0, vals_cap * sizeof *vals);
    if (span_hash) memset(span_hash, 0, SPAN_HASH * sizeof *span_hash);
    nspan_buckets = 0;
    span_ids_folded = 0;
    table_full_drops = 0;
    scry__aggregator_unlock();
    atomic_store(&overruns, 0);
    atomic_store(&timer_failures, 0);
    ring_drops_at_start = scry__ring_drops();
    /* No thread is armed here (stop disarmed them; a fork child's record
     * lost its timer): every slot is free. */
    scry__threads_lock();
    if (!slots) {
        void *a = mmap(NULL, SLOTS * sizeof *slots, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        void *b = mmap(NULL, SLOTS * sizeof *free_slots, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (a != MAP_FAILED && b != MAP_FAILED) {
            free_slots = b;
            slots = a;
        } else {
            if (a != MAP_FAILED) munmap(a, SLOTS * sizeof *slots);
            if (b != MAP_FAILED) munmap(b, SLOTS * sizeof *free_slots);
        }
    }
    nfree = 0;
    if (slots)
        for (uint32_t i = SLOTS; i > 0; i--)
            free_slots[nfree++] = i - 1;
    armed_threads = 0;
    unsampled_ns = 0;
    unsampled_threads = 0;
    scry__threads_unlock();
    said_unsampled[0] = said_capture[0] = 0;
}

static int by_tid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* Calls fn for each thread of the process the registry does not hold:
 * scry's own (the aggregator, the wall sampler, the HTTP server's), and
 * the program's that no scan has found yet (a raw clone, within a second
 * of starting). Not under the threads lock. */
static void foreach_unregistered(void (*fn)(pid_t tid, int64_t cpu_ns, void *arg), void *arg)
{
    scry__threads_lock();
    int n;
    scry__thread_t *const *all = scry__threads_all(&n);
    pid_t *known = malloc((n ? (size_t)n : 1) * sizeof *known);
    for (int i = 0; known && i < n; i++)
        known[i] = all[i]->tid;
    scry__threads_unlock();
    if (!known) return;
    qsort(known, (size_t)n, sizeof *known, by_tid);
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || bsearch(&tid, known, (size_t)n, sizeof *known, by_tid)) continue;
        int64_t cpu = thread_cpu_ns(tid);
        if (cpu >= 0) fn(tid, cpu, arg);
    }
    if (d) closedir(d);
    free(known);
}

static void note_own(pid_t tid, int64_t cpu_ns, void *arg)
{
    (void)arg;
    if (nown < OWN_MAX) {
        own_at_start[nown].tid = tid;
        own_at_start[nown].cpu_ns = cpu_ns;
        nown++;
    }
}

/* The CPU time scry's own threads used since start. */
static void add_own(pid_t tid, int64_t cpu_ns, void *arg)
{
    int64_t base = 0;
    for (int i = 0; i < nown; i++)
        if (own_at_start[i].tid == tid) base = own_at_start[i].cpu_ns;
    if (cpu_ns > base) *(int64_t *)arg += cpu_ns - base;
}

/* Where the CPU clock starts for the capture line. */
static void note_start_cpu(void)
{
    nown = 0;
    foreach_unregistered(note_own, NULL);
    start_cpu_ns = now_ns(CLOCK_PROCESS_CPUTIME_ID);
}

static void seconds(char *buf, size_t n, int64_t ns)
{
    double s = (double)ns / 1e9;
    snprintf(buf, n, s < 10 ? "%.2f s" : "%.1f s", s);
}

static int arm_process_timer(void)
{
    struct itimerval it = {
        .it_interval = {period_ns / 1000000000, (period_ns % 1000000000) / 1000},
        .it_value = {period_ns / 1000000000, (period_ns % 1000000000) / 1000},
    };
    return setitimer(ITIMER_PROF, &it, NULL);
}

static void disarm_process_timer(void)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_PROF, &it, NULL);
}

/* Decides between per-thread timers and setitimer with one probe timer. */
static void choose_timer(void)
{
    timer_t t;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SCRY__CPU_SIGNAL;
    sev.sigev_value.sival_ptr = SCRY__CPU_COOKIE;
    sev._sigev_un._tid = scry__tls.tid ? scry__tls.tid : gettid();
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t) == 0) {
        timer_delete(t);
        use_setitimer = 0;
        return;
    }
    scry__warn_once("per-thread CPU timers are unavailable (timer_create: %s); using setitimer, "
                    "which may lose samples when several threads are busy",
                    strerror(errno));
    use_setitimer = 1;
}

static int start_locked(void)
{
    int rc = scry__ring_init();
    if (rc < 0) return rc;
    static int once;
    if (!once) {
        scry__threads_add_hooks(&hooks);
        scry__aggregator_set_consumer(SCRY__KIND_CPU, consume);
        once = 1;
    }
    if ((rc = scry__aggregator_start()) < 0) return rc;
    run_hz = hz_setting ? hz_setting : scry__config.cpu_hz;
    period_ns = 1000000000 / run_hz;
    unwind_mode = scry__config.unwind;
    scry__unwind_init(unwind_mode);
    reset_data();
    rc = scry__signal_claim(SCRY__CPU_SIGNAL, on_sigprof, SCRY__CLAIM_CHAIN);
    if (rc < 0) return rc;
    scry__sigmask_keep(SCRY__CPU_SIGNAL); /* threads that block everything are sampled */
    choose_timer();
    note_start_cpu();
    start_wall_ns = now_ns(CLOCK_REALTIME);
    start_mono_ns = now_ns(CLOCK_MONOTONIC);
    stop_mono_ns = 0;
    ever_started = 1;
    atomic_store(&active, 1);
    scry__threads_foreach(arm, NULL);
    scry__threads_scan(); /* threads scry did not see start */
    if (use_setitimer && arm_process_timer() < 0) {
        atomic_store(&active, 0);
        return -errno;
    }
    if (atomic_load(&timer_failures))
        scry__warn_once("could not start a CPU timer for %d thread(s); they are not profiled",
                        atomic_load(&timer_failures));
    return 0;
}

static int cpu_start(void)
{
    pthread_mutex_lock(&ctl);
    int rc = atomic_load(&active) ? -EALREADY : start_locked();
    pthread_mutex_unlock(&ctl);
    return rc;
}

/* After stop, ctl held: the CPU time the profile holds. */
static int64_t sampled_total(void)
{
    int64_t t = 0;
    scry__aggregator_drain_and_lock();
    for (uint32_t i = 0; i < vals_cap; i++) t += vals[i][1];
    for (uint32_t i = 0; i < nspan_buckets; i++) t += span_buckets[i].v[1];
    scry__aggregator_unlock();
    return t;
}

/* After stop, ctl held: the not-sampled line and the capture line, kept
 * for the profile's comments and said once on stderr. process_ns: the
 * program's CPU time during the profile (scry's threads' left out). */
static void say_what_was_missed(int64_t process_ns)
{
    char a[32], b[32];
    if (unsampled_threads) {
        seconds(a, sizeof a, unsampled_ns);
        snprintf(said_unsampled, sizeof said_unsampled,
                 "CPU time not sampled: %s in %d thread%s that block%s SIGPROF (blocked by name or "
                 "by a system call, which scry leaves alone)",
                 a, unsampled_threads, unsampled_threads == 1 ? "" : "s",
                 unsampled_threads == 1 ? "s" : "");
        scry__log("%s", said_unsampled);
    }
    int64_t held = sampled_total();
    int64_t diff = held > process_ns ? held - process_ns : process_ns - held;
    double slack = (double)period_ns * (4 + 2 * sqrt((double)armed_threads));
    if (use_setitimer) slack = (double)period_ns * 8;
    if (process_ns <= 0 || diff <= process_ns / 10 || (double)diff <= slack) return;
    char why[256] = "";
    uint64_t drops = scry__ring_drops() - ring_drops_at_start;
    int failed = atomic_load(&timer_failures);
    size_t w = 0;
    if (held < process_ns && unsampled_threads) {
        seconds(b, sizeof b, unsampled_ns);
        w += (size_t)snprintf(why + w, sizeof why - w, "; %s in %d thread%s that block%s SIGPROF",
                              b, unsampled_threads, unsampled_threads == 1 ? "" : "s",
                              unsampled_threads == 1 ? "s" : "");
    }
    if (drops && w < sizeof why)
        w += (size_t)snprintf(why + w, sizeof why - w, "; %llu samples dropped (ring full)",
                              (unsigned long long)drops);
    if (failed && w < sizeof why)
        w += (size_t)snprintf(why + w, sizeof why - w, "; no CPU timer for %d thread%s", failed,
                              failed == 1 ? "" : "s");
    if (use_setitimer && w < sizeof why)
        w += (size_t)snprintf(why + w, sizeof why - w,
                              "; the process timer (setitimer) merges the signals of busy threads");
    /* None of scry's own counts explains it: say what was ruled out rather
     * than guess. (Seen with threads that run in bursts of tens of
     * microseconds between waits: the kernel checks CPU timers at its
     * scheduler tick.) */
    if (!w)
        snprintf(why, sizeof why,
                 "; not from anything scry counts (no sample dropped, no timer failed, no thread "
                 "blocks SIGPROF)");
    seconds(a, sizeof a, held);
    seconds(b, sizeof b, process_ns);
    snprintf(said_capture, sizeof said_capture,
             "the cpu profile holds %s of the process's %s of CPU time (%.0f%%)%s", a, b,
             100.0 * (double)held / (double)process_ns, why);
    scry__log("%s", said_capture);
}

static int cpu_stop(void)
{
    pthread_mutex_lock(&ctl);
    if (!atomic_load(&active)) {
        pthread_mutex_unlock(&ctl);
        return -EINVAL;
    }
    int64_t own = 0;
    foreach_unregistered(add_own, &own);
    int64_t process_ns = now_ns(CLOCK_PROCESS_CPUTIME_ID) - start_cpu_ns - own;
    if (!use_setitimer) scry__threads_foreach(count_unsampled, NULL);
    atomic_store(&active, 0);
    if (use_setitimer) disarm_process_timer();
    scry__threads_foreach(disarm, NULL);
    stop_mono_ns = now_ns(CLOCK_MONOTONIC);
    say_what_was_missed(process_ns);
    pthread_mutex_unlock(&ctl);
    scry__aggregator_drain();
    return 0;
}

static int cpu_running(void)
{
    return atomic_load(&active);
}

typedef struct {
    uint32_t id;
    int64_t v[2];
    uint64_t span_id;
    uint32_t span_name;
} row_t;

static int cpu_write_fd(int fd)
{
    if (!ever_started) return -EINVAL;

    pthread_mutex_lock(&ctl);
    int64_t end = stop_mono_ns ? stop_mono_ns : now_ns(CLOCK_MONOTONIC);
    int64_t duration = end - start_mono_ns, when = start_wall_ns, period = period_ns;
    int hz = run_hz, setitimer_mode = use_setitimer, mode = unwind_mode;
    char missed[2][512];
    snprintf(missed[0], sizeof missed[0], "%s", said_unsampled);
    snprintf(missed[1], sizeof missed[1], "%s", said_capture);
    pthread_mutex_unlock(&ctl);

    scry__aggregator_drain_and_lock();
    uint32_t n = nspan_buckets;
    for (uint32_t i = 0; i < vals_cap; i++) n += vals[i][0] != 0;
    row_t *rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows) {
        scry__aggregator_unlock();
        return -ENOMEM;
    }
    n = 0;
    for (uint32_t i = 0; i < vals_cap; i++)
        if (vals[i][0]) rows[n++] = (row_t){i, {vals[i][0], vals[i][1]}, 0, 0};
    for (uint32_t i = 0; i < nspan_buckets; i++) {
        const span_bucket_t *b = &span_buckets[i];
        rows[n++] = (row_t){b->stack, {b->v[0], b->v[1]}, b->span_id, b->name};
    }
    uint64_t full = table_full_drops, folded = span_ids_folded;
    scry__aggregator_unlock();

    static const scry__value_type_t types[] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
    scry__pprof_t *p = scry__pprof_new(types, 2, types[1], period);
    if (!p) {
        free(rows);
        return -ENOMEM;
    }
    scry__pprof_set_time(p, when, duration);
    scry__pprof_set_default_type(p, "cpu");
    char c[512];
    snprintf(c, sizeof c, "scry %s: cpu profile at %d Hz, %s", SCRY_VERSION, hz,
             setitimer_mode ? "process timer setitimer(ITIMER_PROF) (timer_create unavailable)"
                            : "per-thread CPU timers (timer_create)");
    scry__pprof_add_comment(p, c);
    scry__pprof_add_comment(p, scry__unwind_describe(mode, c, sizeof c));
    snprintf(c, sizeof c, "dropped samples: %llu (ring full), %llu (stack table full)",
             (unsigned long long)(scry__ring_drops() - ring_drops_at_start),
             (unsigned long long)full);
    scry__pprof_add_comment(p, c);
    snprintf(c, sizeof c, "timer overruns: %llu (added to the samples they belong to)",
             (unsigned long long)atomic_load(&overruns));
    scry__pprof_add_comment(p, c);

    if (folded) {
        snprintf(c, sizeof c, "span_id labels left off %llu samples (too many spans): they keep span_name",
                 (unsigned long long)folded);
        scry__pprof_add_comment(p, c);
    }
    for (int i = 0; i < 2; i++)
        if (missed[i][0]) scry__pprof_add_comment(p, missed[i]);

    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        uint32_t nf;
        const uintptr_t *f = scry__stacktab_get(rows[i].id, &nf);
        char hex[17];
        scry__label_t labels[3];
        int nl = scry__span_pprof_labels(rows[i].span_id, rows[i].span_name, hex, labels);
        rc = scry__pprof_add_sample(p, f, nf, rows[i].v, labels, nl);
    }
    free(rows);
    if (rc == 0) rc = scry__pprof_write_fd(p, fd);
    scry__pprof_free(p);
    return rc;
}

int scry__cpu_set_hz(int hz)
{
    if (hz < 1 || hz > SCRY_CPU_HZ_MAX) return -EINVAL;
    pthread_mutex_lock(&ctl);
    int rc = atomic_load(&active) ? -EBUSY : 0;
    if (rc == 0) hz_setting = hz;
    pthread_mutex_unlock(&ctl);
    return rc;
}

static void cpu_prefork(void)
{
    pthread_mutex_lock(&ctl);
}

static void cpu_postfork_parent(void)
{
    pthread_mutex_unlock(&ctl);
}

/* The child starts a profile of its own: the parent's samples are not its
 * own, and no timer crossed the fork. The thread registry has already been
 * trimmed to the forking thread. */
static void cpu_postfork_child(void)
{
    if (atomic_load(&active)) {
        reset_data();
        note_start_cpu();
        start_wall_ns = now_ns(CLOCK_REALTIME);
        start_mono_ns = now_ns(CLOCK_MONOTONIC);
        if (use_setitimer)
            arm_process_timer();
        else
            scry__threads_foreach(arm, NULL);
    }
    pthread_mutex_unlock(&ctl);
}

const scry__profile_t scry__cpu_profile = {
    .name = "cpu",
    .start = cpu_start,
    .stop = cpu_stop,
    .running = cpu_running,
    .write_fd = cpu_write_fd,
    .prefork = cpu_prefork,
    .postfork_parent = cpu_postfork_parent,
    .postfork_child = cpu_postfork_child,
};
