/*
 * trace_truth.c - a program whose runtime trace is known, for
 * tests/trace/summary.sh: it makes tasks, regions, logs, sleeps and lock
 * waits, measures each itself with CLOCK_MONOTONIC (the trace's clock), and
 * writes what it did to a file the test compares with the trace.
 *
 *   trace_truth OUT
 *
 * Three phases, one after another, so that one's timing does not disturb
 * the next:
 *   1. jobs: three threads "worker-1".."worker-3" each run JOBS tasks of
 *      type "job". The first HANDED of each worker's jobs are begun by main
 *      before the worker starts and adopted by the worker (tasks that cross
 *      threads); the worker begins the rest itself. A job is
 *          region "outer" { spin 1 ms;
 *                           region "inner" { nanosleep 2 ms };
 *                           region "inner" { spin 1 ms };
 *                           spin 0.5 ms }
 *      then a log "job" and scry_task_end on the worker. Last, each worker
 *      begins a task "reply", sleeps 2 ms in it and returns; main ends it
 *      after joining the worker (a task that crosses threads the other way).
 *   2. handoff: "holder" locks the mutex `handoff` and holds it HOLD_MS
 *      (asleep) while "waiter", told it is held, waits for it in
 *      pthread_mutex_lock: ROUNDS times. Each wait ends with the holder's
 *      unlock.
 *   3. pingpong: "ping" and "pong" take TURNS turns each, handing the turn
 *      over through one condition variable; each thread counts its
 *      pthread_cond_wait calls. "ping" logs "pingpong" every 50 turns.
 * main logs "phase" at the start of each phase.
 *
 * OUT has one line per event, in each thread's order:
 *     KIND TID NAME START_NS DURATION_NS EXTRA
 *   region   TID outer|inner  start, duration around scry_region_begin/end
 *   task     TID job|reply    from before scry_task_begin (on whichever
 *                             thread began it) to after scry_task_end (on
 *                             TID); EXTRA: the task id
 *   log      TID CATEGORY     time of the call, 0
 *   sleep    TID nanosleep    one nanosleep call
 *   mutex    TID handoff      the waiter's pthread_mutex_lock; EXTRA: the
 *                             mutex's address
 *   condwait TID pingpong     one pthread_cond_wait call; EXTRA: the
 *                             condition variable's address
 * and lines "thread TID NAME" for every thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <scry.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 3
#define JOBS 8
#define HANDED 3
#define HOLD_MS 20
#define ROUNDS 10
#define TURNS 200
#define MAX_EVENTS 2048

typedef struct {
    const char *kind, *name;
    long long start, dur;
    unsigned long long extra;
} event_t;

/* One thread's own record of what it did. */
typedef struct {
    pid_t tid;
    char name[16];
    event_t ev[MAX_EVENTS];
    int n;
} log_t;

static log_t logs[WORKERS + 5]; /* main, workers, holder, waiter, ping, pong */
static int nlogs;
static pthread_mutex_t logs_lock = PTHREAD_MUTEX_INITIALIZER;

static long long now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Names the calling thread and gives it its log (before it records). */
static log_t *me(const char *name)
{
    pthread_setname_np(pthread_self(), name);
    pthread_mutex_lock(&logs_lock);
    log_t *l = &logs[nlogs++];
    pthread_mutex_unlock(&logs_lock);
    l->tid = (pid_t)syscall(SYS_gettid);
    snprintf(l->name, sizeof l->name, "%s", name);
    return l;
}

static void note(log_t *l, const char *kind, const char *name, long long start, long long dur,
                 unsigned long long extra)
{
    if (l->n == MAX_EVENTS) {
        fprintf(stderr, "trace_truth: too many events\n");
        exit(1);
    }
    l->ev[l->n++] = (event_t){kind, name, start, dur, extra};
}

static void spin(long long ns)
{
    long long end = now() + ns;
    while (now() < end) {
    }
}

static void nap(log_t *l, long long ns)
{
    struct timespec t = {ns / 1000000000, ns % 1000000000};
    for (;;) {
        long long t0 = now();
        int rc = nanosleep(&t, &t);
        note(l, "sleep", "nanosleep", t0, now() - t0, 0);
        if (rc == 0 || errno != EINTR) break;
    }
}

static void say(log_t *l, const char *category, const char *message)
{
    long long t = now();
    scry_log(category, message);
    note(l, "log", category, t, 0, 0);
}

/* Times this thread was preempted: the program's clock read and the
 * library's bracket nothing, but a preemption between the two moves them
 * apart by a time slice, which says nothing about the trace. */
static long preemptions(void)
{
    struct rusage r;
    getrusage(RUSAGE_THREAD, &r);
    return r.ru_nivcsw;
}

/* region_begin(type) ... region_end(l, type, mark). A region whose
 * bracketing clock reads were split by a preemption is noted "disturbed"
 * (extra 1): the test counts it and checks its order, not its length. */
typedef struct {
    long long t0;
    int disturbed;
} mark_t;

static mark_t region_begin(const char *type)
{
    long c = preemptions();
    long long t = now();
    scry_region_begin(type);
    return (mark_t){t, preemptions() != c};
}

static void region_end(log_t *l, const char *type, mark_t m)
{
    long c = preemptions();
    scry_region_end();
    long long t1 = now();
    note(l, "region", type, m.t0, t1 - m.t0, m.disturbed || preemptions() != c);
}

/* ---- Phase 1: jobs ------------------------------------------------------ */

typedef struct {
    int index; /* 0 .. WORKERS - 1 */
    scry_task_t handed[HANDED];
    long long handed_at[HANDED];
    scry_task_t reply;
    long long reply_at;
} worker_t;

static void job(log_t *l, int n)
{
    mark_t outer = region_begin("outer");
    spin(1000000);
    mark_t inner = region_begin("inner");
    nap(l, 2000000);
    region_end(l, "inner", inner);
    inner = region_begin("inner");
    spin(1000000);
    region_end(l, "inner", inner);
    spin(500000);
    region_end(l, "outer", outer);
    char msg[32];
    snprintf(msg, sizeof msg, "done %d", n);
    say(l, "job", msg);
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    char name[16];
    snprintf(name, sizeof name, "worker-%d", (w->index + 1) % 10);
    log_t *l = me(name);
    for (int i = 0; i < JOBS; i++) {
        scry_task_t task;
        long long t0;
        if (i < HANDED) {
            task = w->handed[i];
            t0 = w->handed_at[i];
            scry_task_adopt(task);
        } else {
            t0 = now();
            task = scry_task_begin("job");
        }
        job(l, w->index * JOBS + i);
        scry_task_end(task);
        note(l, "task", "job", t0, now() - t0, task);
    }
    /* A task for main to end: begun here, ended there. */
    w->reply_at = now();
    w->reply = scry_task_begin("reply");
    nap(l, 2000000);
    scry_task_adopt(0);
    return NULL;
}

/* ---- Phase 2: a mutex handed off --------------------------------------- */

static pthread_mutex_t handoff = PTHREAD_MUTEX_INITIALIZER;
static atomic_int ready = -1, held = -1; /* the round the waiter / holder is at */

static void *holder(void *arg)
{
    (void)arg;
    log_t *l = me("holder");
    for (int r = 0; r < ROUNDS; r++) {
        while (atomic_load(&ready) < r)
            sched_yield();
        pthread_mutex_lock(&handoff);
        atomic_store(&held, r);
        nap(l, HOLD_MS * 1000000LL);
        pthread_mutex_unlock(&handoff);
    }
    return NULL;
}

static void *waiter(void *arg)
{
    (void)arg;
    log_t *l = me("waiter");
    for (int r = 0; r < ROUNDS; r++) {
        atomic_store(&ready, r);
        while (atomic_load(&held) < r)
            sched_yield();
        long long t0 = now();
        pthread_mutex_lock(&handoff);
        note(l, "mutex", "handoff", t0, now() - t0, (uintptr_t)&handoff);
        pthread_mutex_unlock(&handoff);
    }
    return NULL;
}

/* ---- Phase 3: ping-pong on a condition variable ------------------------ */

static pthread_mutex_t pp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_cond = PTHREAD_COND_INITIALIZER;
static int turn; /* 0: ping's, 1: pong's */

static void *player(void *arg)
{
    int self = (int)(intptr_t)arg;
    log_t *l = me(self ? "pong" : "ping");
    for (int i = 0; i < TURNS; i++) {
        pthread_mutex_lock(&pp_lock);
        while (turn != self) {
            long long t0 = now();
            pthread_cond_wait(&pp_cond, &pp_lock);
            note(l, "condwait", "pingpong", t0, now() - t0, (uintptr_t)&pp_cond);
        }
        turn = !self;
        pthread_cond_signal(&pp_cond);
        pthread_mutex_unlock(&pp_lock);
        if (!self && i % 50 == 0) {
            char msg[32];
            snprintf(msg, sizeof msg, "turn %d", i);
            say(l, "pingpong", msg);
        }
    }
    return NULL;
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc) {
        fprintf(stderr, "trace_truth: pthread_create: %s\n", strerror(rc));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: trace_truth OUT\n");
        return 2;
    }
    if (!scry_trace_enabled()) {
        fprintf(stderr,
                "trace_truth: no trace is being recorded (run it under scry run --trace)\n");
        return 1;
    }
    log_t *l = me("trace_truth");

    say(l, "phase", "jobs");
    static worker_t w[WORKERS];
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i].index = i;
        for (int k = 0; k < HANDED; k++) {
            w[i].handed_at[k] = now();
            w[i].handed[k] = scry_task_begin("job");
            scry_task_adopt(0); /* main does not work in it: no parent for the next */
        }
    }
    for (int i = 0; i < WORKERS; i++)
        start(&t[i], worker, &w[i]);
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        scry_task_end(w[i].reply);
        note(l, "task", "reply", w[i].reply_at, now() - w[i].reply_at, w[i].reply);
    }

    say(l, "phase", "handoff");
    pthread_t h, wt;
    start(&h, holder, NULL);
    start(&wt, waiter, NULL);
    pthread_join(h, NULL);
    pthread_join(wt, NULL);

    say(l, "phase", "pingpong");
    pthread_t p0, p1;
    start(&p0, player, (void *)(intptr_t)0);
    start(&p1, player, (void *)(intptr_t)1);
    pthread_join(p0, NULL);
    pthread_join(p1, NULL);

    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    for (int i = 0; i < nlogs; i++) {
        fprintf(f, "thread %d %s\n", logs[i].tid, logs[i].name);
        for (int k = 0; k < logs[i].n; k++) {
            const event_t *e = &logs[i].ev[k];
            fprintf(f, "%s %d %s %lld %lld %llu\n", e->kind, logs[i].tid, e->name, e->start, e->dur,
                    e->extra);
        }
    }
    if (fclose(f) != 0) {
        perror(argv[1]);
        return 1;
    }
    return 0;
}
