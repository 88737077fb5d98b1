/*
 * wall.c - the wall-clock profile ("wall", fgprof's model): every thread,
 * on and off CPU, sampled at a fixed wall-clock rate.
 *
 * A sampler thread of scry's ticks at --wall-hz (default 100). At each tick
 * every registered thread is credited with the wall time since the last
 * tick, on one stack, labelled on-cpu or off-cpu:
 *  - a thread still inside the same wait it was in at the last tick (scry's
 *    interposers publish their waits, core/waits.h) is credited its last
 *    stack, off-cpu, without being touched: no system call, no signal;
 *  - a thread that entered a wait since publishes its stack (sleeps, polls)
 *    or is asked for it by signal (locks and condition variables, which a
 *    signal does not disturb);
 *  - any other thread whose last sample found it blocked has its CPU clock
 *    read (one system call): if it used less than IDLE_CPU_NS since, it is
 *    still blocked somewhere scry does not see (read, a raw futex) and is
 *    credited its last stack, off-cpu;
 *  - the others (running at the last sample, or running since) are
 *    signalled for their stacks, and are on-cpu unless the handler found
 *    them blocked in a system call.
 * So idle threads cost a few loads per tick (in a wait scry knows) or one
 * system call (elsewhere), never a signal: async-profiler's batch idea.
 *
 * Credits accumulate in the thread's record (owed_n/owed_ns) while its stack
 * and state do not change, and are added to the profile's table when they
 * do, when the thread exits, and when the profile is written.
 *
 * Keeping the rate. A tick waits for answers only until a quarter period
 * after the next tick is due, so a slow answer (a thread waiting for a CPU
 * on a busy machine) never makes the next tick late. A thread that did not
 * answer is credited its last stack, off-cpu; one that has never answered
 * yet owes the time to its first stack (wall.stack 0 with owed time: the
 * first stack it gives takes it, or the empty stack if it ends first).
 * Threads that block everything take the request signal like any other
 * (interpose/sigmask.c); one that blocks it by name, or by a raw system
 * call, cannot answer: found by its SigBlk when it does not, it is not
 * asked again for DEAF_RECHECK_NS, and meanwhile credited its last stack
 * (a published wait's) on or off CPU as its CPU clock says, and counted.
 *
 * Locks: ctl (start/stop/fork) -> stacks request lock -> threads lock ->
 * data -> stacktab.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/home.h"
#include "core/config.h"
#include "core/log.h"
#include "core/stacks.h"
#include "core/stacktab.h"
#include "core/threads.h"
#include "core/unwind.h"
#include "core/waits.h"
#include "format/pprof.h"
#include "interpose/pthread.h"
#include "interpose/signal.h"
#include "profile/profile.h"
#include "scry.h"

/* CPU a thread may use between two ticks and still count as not having run
 * (returning from the last sample's handler costs a few microseconds). */
#define IDLE_CPU_NS 50000
/* How long a tick waits for signalled threads, at most; at least
 * ANSWER_MIN_NS even when the tick is late already. */
#define ANSWER_TIMEOUT_NS 20000000
#define ANSWER_MIN_NS 200000
/* How long a thread that blocks the request signal is left unasked. */
#define DEAF_RECHECK_NS 1000000000

static pthread_mutex_t ctl = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t data = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int active;
static pthread_t sampler;
static int sampler_running;
static int hz_setting, run_hz;
static int64_t period_ns;
static int64_t start_wall_ns, start_mono_ns, stop_mono_ns;
static int ever_started;

/* Per stack id and state (0 off-cpu, 1 on-cpu): samples and nanoseconds.
 * Under data. */
static int64_t (*vals)[2][2];
static uint32_t vals_cap;
static uint64_t drops; /* stack table full, out of memory */
static uint64_t ticks, late_ticks, signals_sent, unanswered;
static uint64_t deaf_samples;  /* credited without asking: the thread blocks the signal */
static int64_t sampler_cpu_ns; /* the sampler's own CPU time */
static uint32_t empty_stack;   /* id + 1 of the stack with no frames */

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The CPU clock of a thread of this process (glibc's encoding). */
static clockid_t thread_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6);
}

/* Under data. */
static void add(uint32_t stack1, int on_cpu, int64_t n, int64_t ns)
{
    if (!stack1 || !n) return;
    uint32_t id = stack1 - 1;
    if (id >= vals_cap) {
        uint32_t cap = vals_cap ? vals_cap : 1024;
        while (cap <= id)
            cap *= 2;
        void *v = realloc(vals, cap * sizeof *vals);
        if (!v) {
            drops += (uint64_t)n;
            return;
        }
        vals = v;
        memset(vals + vals_cap, 0, (cap - vals_cap) * sizeof *vals);
        vals_cap = cap;
    }
    vals[id][on_cpu][0] += n;
    vals[id][on_cpu][1] += ns;
}

/* Threads lock held. Time owed by a thread that never gave a stack goes
 * to the empty stack. */
static void flush(scry__thread_t *t)
{
    if (!t->wall.owed_n) return;
    pthread_mutex_lock(&data);
    add(t->wall.stack ? t->wall.stack : empty_stack, t->wall.on_cpu, t->wall.owed_n,
        t->wall.owed_ns);
    pthread_mutex_unlock(&data);
    t->wall.owed_n = t->wall.owed_ns = 0;
}

/* Threads lock held: credit ns of wall time to (stack1, on_cpu). */
static void owe(scry__thread_t *t, uint32_t stack1, int on_cpu, int64_t ns)
{
    if (!stack1) return;
    if (t->wall.stack != stack1 || t->wall.on_cpu != on_cpu) {
        if (t->wall.stack) flush(t); /* else its first stack takes what it owes */
        t->wall.stack = stack1;
        t->wall.on_cpu = on_cpu;
    }
    t->wall.owed_n++;
    t->wall.owed_ns += ns;
}

/* Threads lock held: credit ns to t's last stack, in state on_cpu; a
 * thread with no stack yet owes it to its first. */
static void owe_last(scry__thread_t *t, int on_cpu, int64_t ns)
{
    if (t->wall.stack) {
        owe(t, t->wall.stack, on_cpu, ns);
        return;
    }
    t->wall.owed_n++;
    t->wall.owed_ns += ns;
}

/* Threads that block the request signal (see the top): not asked until
 * `until`; entries [0, ndeaf) in use, so that a tick with none costs
 * nothing. Threads lock. A full table only means more of them are asked. */
#define DEAF_MAX 64
static struct {
    pid_t tid;
    int64_t until;
} deaf[DEAF_MAX];
static int ndeaf;

/* Threads lock held. */
static int is_deaf(pid_t tid, int64_t now)
{
    for (int i = 0; i < ndeaf; i++)
        if (deaf[i].tid == tid) return deaf[i].until > now;
    return 0;
}

/* Threads lock held: t did not answer; if it blocks the request signal,
 * leave it unasked for a while. */
static void check_deaf(const scry__thread_t *t, int64_t now)
{
    uint64_t blocked;
    if (scry__sigmask_of_thread(t->tid, &blocked) < 0 ||
        !(blocked >> (SCRY__STACKS_SIGNAL - 1) & 1))
        return;
    int at = -1;
    for (int i = 0; i < ndeaf; i++) {
        if (deaf[i].tid == t->tid) {
            at = i;
            break;
        }
        if (at < 0 && deaf[i].until <= now) at = i; /* expired: reused */
    }
    if (at < 0 && ndeaf < DEAF_MAX) at = ndeaf++;
    if (at < 0) return;
    deaf[at].tid = t->tid;
    deaf[at].until = now + DEAF_RECHECK_NS;
}

/* Threads lock held: t is leaving. */
static void forget_deaf(pid_t tid)
{
    for (int i = 0; i < ndeaf; i++)
        if (deaf[i].tid == tid) deaf[i] = deaf[--ndeaf];
}

static uint32_t intern(const uintptr_t *f, uint32_t n)
{
    uint32_t id = scry__stacktab_intern(f, n);
    if (id == SCRY__STACK_NONE) {
        pthread_mutex_lock(&data);
        drops++;
        pthread_mutex_unlock(&data);
        return 0;
    }
    return id + 1;
}

/* Per-tick scratch, grown by the sampler only. */
static scry__thread_t **asked;
static int asked_cap;

/* One tick: elapsed since the last; answers are waited for until
 * answer_by (CLOCK_MONOTONIC). */
static void tick(int64_t elapsed, int64_t answer_by)
{
    uintptr_t frames[SCRY__WAIT_FRAMES];
    int64_t now = clock_ns(CLOCK_MONOTONIC);
    uint64_t unasked = 0;
    scry__stacks_lock();
    scry__threads_lock();
    int n;
    scry__thread_t *const *all = scry__threads_all(&n);
    if (n > asked_cap) {
        void *a = realloc(asked, (size_t)n * sizeof *asked);
        if (a) {
            asked = a;
            asked_cap = n;
        }
    }
    if (n > asked_cap || scry__stacks_begin(n, 1) < 0) {
        scry__threads_unlock();
        scry__stacks_unlock();
        return;
    }
    int k = 0, any_deaf = 0;
    for (int i = 0; i < ndeaf && !any_deaf; i++)
        any_deaf = deaf[i].until > now;
    for (int i = 0; i < n; i++) {
        scry__thread_t *t = all[i];
        if (i + 8 < n) __builtin_prefetch(all[i + 8], 1); /* idle threads: all misses */
        scry__thread_t *rec = t->foreign ? NULL : t;
        uint64_t g = rec ? atomic_load_explicit(&t->wait.gen, memory_order_acquire) : 0;
        if (g & 1) {
            if (g == t->wall.gen && t->wall.stack) {
                owe(t, t->wall.stack, 0, elapsed); /* the same wait as last tick */
                continue;
            }
            scry__wait_view_t v;
            scry__wait_read(t, &v, frames);
            if (v.kind != SCRY__TW_NONE && v.nframes) {
                /* A read or write that does not block (a file, a busy
                 * socket) is published as a wait all the same: whether the
                 * thread ran, its CPU clock says. */
                int on_cpu = 0;
                if (v.kind == SCRY__TW_IO) {
                    int64_t cpu = clock_ns(thread_clock(t->tid));
                    on_cpu = cpu - t->wall.cpu_ns >= elapsed / 2;
                    t->wall.cpu_ns = cpu;
                }
                t->wall.gen = v.gen;
                owe(t, intern(frames, v.nframes), on_cpu, elapsed);
                continue;
            }
        } else if (t->wall.stack && !t->wall.on_cpu && g == t->wall.gen) {
            /* Only after a sample that found it blocked: a thread last seen
             * running that stopped using the CPU blocked somewhere since,
             * and is asked once more, for where. */
            int64_t cpu = clock_ns(thread_clock(t->tid));
            if (cpu - t->wall.cpu_ns < IDLE_CPU_NS) {
                owe(t, t->wall.stack, 0, elapsed); /* has not run: blocked */
                continue;
            }
        }
        if (any_deaf && is_deaf(t->tid, now)) {
            int64_t cpu = clock_ns(thread_clock(t->tid));
            int on_cpu = cpu - t->wall.cpu_ns >= elapsed / 2;
            t->wall.cpu_ns = cpu;
            owe_last(t, on_cpu, elapsed);
            unasked++;
            continue;
        }
        int rc = scry__stacks_ask(k, t->tid, rec);
        if (rc == 0) {
            asked[k++] = t;
            continue;
        }
        /* In a wait a signal would cut short, without a published stack
         * (it began before the profile started): its last stack, or none. */
        if (rc == -EAGAIN) owe(t, t->wall.stack ? t->wall.stack : empty_stack, 0, elapsed);
    }
    uint64_t sent = (uint64_t)k;
    int64_t wait = answer_by - clock_ns(CLOCK_MONOTONIC);
    if (wait < ANSWER_MIN_NS) wait = ANSWER_MIN_NS;
    if (wait > ANSWER_TIMEOUT_NS) wait = ANSWER_TIMEOUT_NS;
    int missing = k ? scry__stacks_wait(wait) : 0;
    for (int i = 0; i < k; i++) {
        scry__thread_t *t = asked[i];
        const scry__stack_slot_t *s = scry__stacks_answer(i);
        if (!s) {
            owe_last(t, 0, elapsed);
            check_deaf(t, now);
            continue;
        }
        /* The wait generation the handler saw with the stack it took: the
         * thread may have entered a wait since. A wait a signal would cut
         * short has it land at its entry, in the handshake (core/waits.c),
         * before it blocks: a thread caught there was running when asked,
         * which its CPU clock says, as for a published IO wait. */
        uint64_t g = t->foreign ? 0 : s->wait_gen;
        int on_cpu = !s->in_syscall && (!(g & 1) || s->cpu_ns - t->wall.cpu_ns >= elapsed / 2);
        t->wall.gen = g;
        t->wall.cpu_ns = s->cpu_ns;
        owe(t, intern(s->frames, s->nframes), on_cpu, elapsed);
    }
    scry__threads_unlock();
    scry__stacks_unlock();
    pthread_mutex_lock(&data);
    ticks++;
    signals_sent += sent;
    unanswered += (uint64_t)missing;
    deaf_samples += unasked;
    pthread_mutex_unlock(&data);
}

static void *sampler_main(void *arg)
{
    (void)arg;
    scry__threads_mark_internal();
    int64_t last = clock_ns(CLOCK_MONOTONIC), next = last + period_ns;
    while (atomic_load(&active)) {
        struct timespec ts = {next / 1000000000, next % 1000000000};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if (!atomic_load(&active)) break;
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        next += period_ns;
        int late = next <= now;
        if (late) next = now + period_ns; /* the machine was too busy: skip, do not burst */
        tick(now - last, next + period_ns / 4);
        last = now;
        if (late) {
            pthread_mutex_lock(&data);
            late_ticks++;
            pthread_mutex_unlock(&data);
        }
    }
    int64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    pthread_mutex_lock(&data);
    sampler_cpu_ns += cpu;
    pthread_mutex_unlock(&data);
    return NULL;
}

static void leaving(scry__thread_t *t)
{
    flush(t);
    forget_deaf(t->tid);
}

static void joined(scry__thread_t *t)
{
    (void)t;
}

static const scry__thread_hooks_t hooks = {joined, leaving};

static int start_sampler(void)
{
    int rc = scry__home_create(&sampler, sampler_main, NULL); /* all signals blocked */
    sampler_running = rc == 0;
    return -rc;
}

static void reset_data(void)
{
    pthread_mutex_lock(&data);
    if (vals) memset(vals, 0, vals_cap * sizeof *vals);
    drops = ticks = late_ticks = signals_sent = unanswered = deaf_samples = 0;
    sampler_cpu_ns = 0;
    pthread_mutex_unlock(&data);
    scry__threads_lock();
    int n;
    scry__thread_t *const *all = scry__threads_all(&n);
    for (int i = 0; i < n; i++)
        memset(&all[i]->wall, 0, sizeof all[i]->wall);
    memset(deaf, 0, sizeof deaf);
    ndeaf = 0;
    scry__threads_unlock();
}

static int wall_start(void)
{
    pthread_mutex_lock(&ctl);
    int rc = 0;
    if (atomic_load(&active)) {
        rc = -EALREADY;
        goto out;
    }
    static int once;
    if (!once) {
        scry__threads_add_hooks(&hooks);
        once = 1;
    }
    if ((rc = scry__stacks_init(scry__config.unwind)) < 0) goto out;
    scry__sigmask_keep(SCRY__STACKS_SIGNAL); /* threads that block everything answer */
    run_hz = hz_setting ? hz_setting : scry__config.wall_hz;
    period_ns = 1000000000 / run_hz;
    reset_data();
    if (!empty_stack) empty_stack = intern(NULL, 0);
    scry__threads_scan();
    atomic_fetch_add(&scry__wait_stacks_wanted, 1);
    start_wall_ns = clock_ns(CLOCK_REALTIME);
    start_mono_ns = clock_ns(CLOCK_MONOTONIC);
    stop_mono_ns = 0;
    ever_started = 1;
    atomic_store(&active, 1);
    if ((rc = start_sampler()) < 0) {
        atomic_store(&active, 0);
        atomic_fetch_sub(&scry__wait_stacks_wanted, 1);
    }
out:
    pthread_mutex_unlock(&ctl);
    return rc;
}

static int wall_stop(void)
{
    pthread_mutex_lock(&ctl);
    if (!atomic_load(&active)) {
        pthread_mutex_unlock(&ctl);
        return -EINVAL;
    }
    atomic_store(&active, 0);
    if (sampler_running) pthread_join(sampler, NULL);
    sampler_running = 0;
    atomic_fetch_sub(&scry__wait_stacks_wanted, 1);
    stop_mono_ns = clock_ns(CLOCK_MONOTONIC);
    pthread_mutex_unlock(&ctl);
    return 0;
}

static int wall_running(void)
{
    return atomic_load(&active);
}

typedef struct {
    uint32_t id;
    int on_cpu;
    int64_t v[2];
} row_t;

static int wall_write_fd(int fd)
{
    if (!ever_started) return -EINVAL;
    pthread_mutex_lock(&ctl);
    int64_t end = stop_mono_ns ? stop_mono_ns : clock_ns(CLOCK_MONOTONIC);
    int64_t duration = end - start_mono_ns, when = start_wall_ns, period = period_ns;
    int hz = run_hz;
    pthread_mutex_unlock(&ctl);

    scry__stacks_lock(); /* no tick in between */
    scry__threads_lock();
    int nt;
    scry__thread_t *const *all = scry__threads_all(&nt);
    for (int i = 0; i < nt; i++)
        flush(all[i]);
    scry__threads_unlock();
    scry__stacks_unlock();

    pthread_mutex_lock(&data);
    uint32_t n = 0;
    for (uint32_t i = 0; i < vals_cap; i++)
        n += (vals[i][0][0] != 0) + (vals[i][1][0] != 0);
    row_t *rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows) {
        pthread_mutex_unlock(&data);
        return -ENOMEM;
    }
    n = 0;
    for (uint32_t i = 0; i < vals_cap; i++)
        for (int s = 0; s < 2; s++)
            if (vals[i][s][0]) rows[n++] = (row_t){i, s, {vals[i][s][0], vals[i][s][1]}};
    uint64_t d = drops, tk = ticks, late = late_ticks, sent = signals_sent, lost = unanswered;
    uint64_t deafs = deaf_samples;
    int64_t own = sampler_cpu_ns;
    pthread_mutex_unlock(&data);
    if (atomic_load(&active)) own = -1; /* still running: not summed yet */

    static const scry__value_type_t types[] = {{"samples", "count"}, {"wall", "nanoseconds"}};
    scry__pprof_t *p = scry__pprof_new(types, 2, types[1], period);
    if (!p) {
        free(rows);
        return -ENOMEM;
    }
    scry__pprof_set_time(p, when, duration);
    scry__pprof_set_default_type(p, "wall");
    char c[512];
    snprintf(c, sizeof c, "scry %s: wall-clock profile at %d Hz, every thread on and off CPU",
             SCRY_VERSION, hz);
    scry__pprof_add_comment(p, c);
    scry__pprof_add_comment(p, scry__unwind_describe(scry__config.unwind, c, sizeof c));
    snprintf(c, sizeof c,
             "ticks: %llu (%llu late, skipped); signals sent: %llu, unanswered: %llu; "
             "dropped samples: %llu",
             (unsigned long long)tk, (unsigned long long)late, (unsigned long long)sent,
             (unsigned long long)lost, (unsigned long long)d);
    scry__pprof_add_comment(p, c);
    if (deafs) {
        snprintf(c, sizeof c,
                 "%llu samples of threads that block SIGVTALRM by name or by a system call: "
                 "not asked for a stack, credited their last known one (or none)",
                 (unsigned long long)deafs);
        scry__pprof_add_comment(p, c);
    }
    if (own >= 0) {
        snprintf(c, sizeof c, "sampler thread CPU time: %.3f ms", (double)own / 1e6);
        scry__pprof_add_comment(p, c);
    }
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        uint32_t nf;
        const uintptr_t *f = scry__stacktab_get(rows[i].id, &nf);
        scry__label_t l = {.key = "state", .str = rows[i].on_cpu ? "on-cpu" : "off-cpu"};
        rc = scry__pprof_add_sample(p, f, nf, rows[i].v, &l, 1);
    }
    free(rows);
    if (rc == 0) rc = scry__pprof_write_fd(p, fd);
    scry__pprof_free(p);
    return rc;
}

int scry__wall_set_hz(int hz)
{
    if (hz < 1 || hz > SCRY_WALL_HZ_MAX) return -EINVAL;
    pthread_mutex_lock(&ctl);
    int rc = atomic_load(&active) ? -EBUSY : 0;
    if (rc == 0) hz_setting = hz;
    pthread_mutex_unlock(&ctl);
    return rc;
}

/* data nests inside the stack-request and threads locks, which lifecycle
 * takes after every profile's prefork: it is not held across fork; the
 * child, alone, makes it afresh (and resets what it guards). */
static void wall_prefork(void)
{
    pthread_mutex_lock(&ctl);
}

static void wall_postfork_parent(void)
{
    pthread_mutex_unlock(&ctl);
}

/* The sampler did not cross the fork: a running profile starts afresh in
 * the child with a sampler of its own. */
static void wall_postfork_child(void)
{
    pthread_mutex_init(&data, NULL);
    sampler_running = 0;
    if (atomic_load(&active)) {
        reset_data();
        start_wall_ns = clock_ns(CLOCK_REALTIME);
        start_mono_ns = clock_ns(CLOCK_MONOTONIC);
        if (start_sampler() < 0) atomic_store(&active, 0);
    }
    pthread_mutex_unlock(&ctl);
}

const scry__profile_t scry__wall_profile = {
    .name = "wall",
    .start = wall_start,
    .stop = wall_stop,
    .running = wall_running,
    .write_fd = wall_write_fd,
    .prefork = wall_prefork,
    .postfork_parent = wall_postfork_parent,
    .postfork_child = wall_postfork_child,
};
