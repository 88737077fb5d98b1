/*
 * span_truth.c - spans with a known ground truth, for the tests/span scripts.
 *
 *   span_truth api              the API's own rules, checked in process
 *   span_truth profile OUTFILE  work in named spans, for the profiles' labels
 *   span_truth trace OUTFILE    spans while a runtime trace records
 *
 * api: parent links and trace ids of nested spans, contexts handed to other
 * threads, push/pop, ended spans leaving the stack (also when ended on
 * another thread), the attribute and event limits, status rules, NULL
 * handles, sampler settings, and the counters. Prints one line per group
 * with its counts; exits 1 after printing every failure.
 *
 * profile (run with SCRY_PROFILES=cpu,heap,block,mutex, SCRY_HEAP_RATE=1):
 *   - ROUNDS x span "GET /alpha" running alpha_work for ALPHA_MS of thread
 *     CPU time, and "GET /beta" running beta_work for ALPHA_MS and then,
 *     in its child span "beta-child", for ALPHA_MS more;
 *   - inside the first "GET /alpha", ALPHA_BLOCKS blocks of BLOCK bytes kept
 *     live (malloc'd in alpha_alloc); inside the first "GET /beta",
 *     BETA_BLOCKS in beta_alloc;
 *   - a thread in span "hold" locks a mutex, signals, sleeps HOLD_MS and
 *     unlocks; the main thread in span "wait" blocks on that mutex.
 * OUTFILE gets "span NAME HEXID" for every span started, and "cpu NAME NS"
 * with the thread CPU time each name's work took.
 *
 * trace (run with SCRY_TRACE=FILE): NTRACE spans "traced" each with a
 * scry_task_begin("inner") inside; OUTFILE gets "span TRACEHEX SPANHEX".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <scry.h>

#include "span/span.h" /* a span's counters, for the limits */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 6
#define ALPHA_MS 50
#define BLOCK (1 << 20)
#define ALPHA_BLOCKS 24
#define BETA_BLOCKS 8
#define HOLD_MS 200
#define NTRACE 10

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void hex(const unsigned char *b, int n, char *out)
{
    for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static scry_span_context_t ctx_of(scry_span_t *s)
{
    scry_span_context_t c;
    memset(&c, 0, sizeof c);
    scry_span_context(s, &c);
    return c;
}

/* ---- api ----------------------------------------------------------------- */

static scry_span_context_t handed;
static scry_span_context_t from_thread;
static scry_span_t *to_end_elsewhere;

static void *child_thread(void *arg)
{
    (void)arg;
    CHECK(scry_span_current() == NULL, "a new thread has no current span");
    scry_span_t *s = scry_span_start("worker", SCRY_SPAN_CONSUMER, &handed);
    from_thread = ctx_of(s);
    scry_span_end(s);
    scry_span_end(to_end_elsewhere); /* started and current on main */
    return NULL;
}

static int run_api(void)
{
    scry_span_stats_t st0;
    scry_span_stats(&st0);
    int started = 0;

    /* Nesting: one trace, each parent the span around it. */
    scry_span_t *root = scry_span_start("root", SCRY_SPAN_SERVER, NULL);
    scry_span_t *mid = scry_span_start("mid", SCRY_SPAN_INTERNAL, NULL);
    scry_span_t *leaf = scry_span_start("leaf", SCRY_SPAN_CLIENT, NULL);
    started += 3;
    scry_span_context_t r = ctx_of(root), m = ctx_of(mid), l = ctx_of(leaf);
    CHECK(memcmp(r.trace_id, m.trace_id, 16) == 0 && memcmp(r.trace_id, l.trace_id, 16) == 0,
          "nested spans share the trace id");
    CHECK(memcmp(r.span_id, m.span_id, 8) && memcmp(m.span_id, l.span_id, 8), "span ids differ");
    CHECK(r.flags == (SCRY_TRACE_FLAG_SAMPLED | SCRY_TRACE_FLAG_RANDOM),
          "a new trace is sampled and random: flags %d", r.flags);
    CHECK(scry_span_current() == leaf, "the innermost span is current");
    scry_span_end(leaf);
    CHECK(scry_span_current() == mid, "ending the innermost makes its parent current");
    /* Ending a span that is not innermost takes it off the stack too. */
    scry_span_t *inner = scry_span_start("inner", SCRY_SPAN_INTERNAL, NULL);
    started++;
    scry_span_end(mid);
    CHECK(scry_span_current() == inner, "ending a middle span leaves the innermost current");
    scry_span_end(inner);
    CHECK(scry_span_current() == root, "then the root");

    /* An explicit context from another trace; a zeroed one starts a trace. */
    scry_span_context_t other = r;
    other.trace_id[0] ^= 0xff;
    other.remote = 1;
    scry_span_t *o = scry_span_start("other", SCRY_SPAN_SERVER, &other);
    started++;
    scry_span_context_t oc = ctx_of(o);
    CHECK(memcmp(oc.trace_id, other.trace_id, 16) == 0, "an explicit parent gives its trace id");
    scry_span_end(o);
    scry_span_context_t zero;
    memset(&zero, 0, sizeof zero);
    scry_span_t *fresh = scry_span_start("fresh", SCRY_SPAN_INTERNAL, &zero);
    started++;
    scry_span_context_t fc = ctx_of(fresh);
    CHECK(memcmp(fc.trace_id, r.trace_id, 16) != 0, "a zeroed context starts a new trace");
    scry_span_end(fresh);

    /* Contexts across threads; a span ended on another thread leaves this
     * thread's stack. */
    handed = r;
    to_end_elsewhere = scry_span_start("ended-elsewhere", SCRY_SPAN_INTERNAL, NULL);
    started += 2;
    pthread_t t;
    pthread_create(&t, NULL, child_thread, NULL);
    pthread_join(t, NULL);
    CHECK(memcmp(from_thread.trace_id, r.trace_id, 16) == 0, "a handed context keeps the trace");
    CHECK(scry_span_current() == root, "a span ended on another thread is no longer current");

    /* push / pop */
    scry_span_t *side = scry_span_start("side", SCRY_SPAN_INTERNAL, &zero);
    started++;
    scry_span_pop(side);
    CHECK(scry_span_current() == root, "pop takes a span off");
    scry_span_push(side);
    CHECK(scry_span_current() == side, "push makes it current");
    scry_span_end(side);
    CHECK(scry_span_current() == root, "its end takes it off again");

    /* Limits and status (OTel's: 128 attributes, OK is final). */
    scry_span_t *lim = scry_span_start("limits", SCRY_SPAN_INTERNAL, NULL);
    started++;
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        scry_span_set_int(lim, key, i);
    }
    scry_span_set_str(lim, "k0", "replaced"); /* a kept key may change */
    for (int i = 0; i < 130; i++)
        scry_span_add_event(lim, "e", (scry_attr_t[]){SCRY_ATTR_INT("i", i)}, 1);
    CHECK(lim->nattrs == 129 && lim->dropped_attrs == 72,
          "attributes: %u kept (128 keys + 1 update), %u dropped (want 129, 72)", lim->nattrs,
          lim->dropped_attrs);
    CHECK(lim->nevents == 128 && lim->dropped_events == 2, "events: %u kept, %u dropped", lim->nevents,
          lim->dropped_events);
    scry_span_set_status(lim, SCRY_STATUS_OK, NULL);
    scry_span_set_status(lim, SCRY_STATUS_ERROR, "late");
    CHECK(lim->status == SCRY_STATUS_OK, "OK is final");
    scry_span_end(lim);
    scry_span_end(lim); /* twice: nothing */

    /* NULL handles do nothing. */
    scry_span_set_str(NULL, "a", "b");
    scry_span_add_event(NULL, "e", NULL, 0);
    scry_span_end(NULL);
    scry_span_push(NULL);
    CHECK(scry_span_context(NULL, &oc) == -EINVAL, "context of NULL is -EINVAL");
    CHECK(!scry_span_is_recording(NULL), "NULL does not record");

    /* Samplers: always_off records nothing; a child follows its parent. */
    CHECK(scry_span_set_sampler("nonsense", 1) == -EINVAL, "unknown sampler refused");
    CHECK(scry_span_set_sampler("traceidratio", 1.5) == -EINVAL, "ratio above 1 refused");
    CHECK(scry_span_set_sampler("always_off", 0) == 0, "always_off accepted");
    scry_span_t *off = scry_span_start("off", SCRY_SPAN_INTERNAL, &zero);
    started++;
    CHECK(!scry_span_is_recording(off), "always_off: not recording");
    scry_span_context_t offc = ctx_of(off);
    CHECK(!(offc.flags & SCRY_TRACE_FLAG_SAMPLED), "always_off: not sampled in its context");
    scry_span_end(off);
    scry_span_set_sampler("parentbased_always_off", 0);
    scry_span_t *child = scry_span_start("child-of-sampled", SCRY_SPAN_INTERNAL, NULL);
    started++;
    CHECK(scry_span_is_recording(child), "parent-based: the child of a sampled span records");
    scry_span_end(child);
    scry_span_set_sampler("parentbased_always_on", 1);
    scry_span_end(root);

    scry_span_stats_t st;
    scry_span_stats(&st);
    CHECK(st.started - st0.started == (unsigned)started, "started %llu, want %d",
          st.started - st0.started, started);
    CHECK(st.recorded - st0.recorded == (unsigned)started - 1, "recorded %llu, want %d",
          st.recorded - st0.recorded, started - 1);
    printf("api: %d spans, %llu recorded, %d failures\n", started, st.recorded - st0.recorded,
           failures);
    return failures ? 1 : 0;
}

/* ---- profile -------------------------------------------------------------- */

static volatile unsigned long sink;
static FILE *out;

static long long thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The work takes a CLOCK_MONOTONIC timestamp on every turn, as a request
 * handler calls libc all the time: most of its samples land in
 * clock_gettime (libc's wrapper, then the vDSO, neither with a frame
 * pointer), and the profile must still find alpha_work and beta_work above
 * them. The thread's CPU clock, which says when to stop, is a system call:
 * it is read every 1000 turns (about 30 us), because reading it every few
 * microseconds made the kernel deliver the CPU timer's signals tens of ms
 * of CPU late under load (tests/unwind/libc_loop.c), moving samples from
 * one span into the next. */
static unsigned long timestamp(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long)ts.tv_nsec;
}

__attribute__((noinline)) static void alpha_work(long long ns)
{
    long long end = thread_cpu_ns() + ns;
    while (thread_cpu_ns() < end)
        for (int i = 0; i < 1000; i++) sink += (unsigned long)i * timestamp();
}

__attribute__((noinline)) static void beta_work(long long ns)
{
    long long end = thread_cpu_ns() + ns;
    while (thread_cpu_ns() < end)
        for (int i = 0; i < 1000; i++) sink ^= (unsigned long)i * 7 + timestamp();
}

__attribute__((noinline)) static void **alpha_alloc(int n)
{
    void **v = malloc(n * sizeof *v);
    for (int i = 0; i < n; i++) memset(v[i] = malloc(BLOCK), 1, 64);
    return v;
}

__attribute__((noinline)) static void **beta_alloc(int n)
{
    void **v = malloc(n * sizeof *v);
    for (int i = 0; i < n; i++) memset(v[i] = malloc(BLOCK), 2, 64);
    return v;
}

static void note_span(scry_span_t *s, const char *name)
{
    scry_span_context_t c = ctx_of(s);
    char h[17];
    hex(c.span_id, 8, h);
    fprintf(out, "span %s %s\n", name, h);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int holding;

static void *holder(void *arg)
{
    (void)arg;
    scry_span_t *s = scry_span_start("hold", SCRY_SPAN_INTERNAL, NULL);
    note_span(s, "hold");
    pthread_mutex_lock(&lock);
    pthread_mutex_lock(&ready_lock);
    holding = 1;
    pthread_cond_signal(&ready_cond);
    pthread_mutex_unlock(&ready_lock);
    struct timespec d = {0, HOLD_MS * 1000000L};
    nanosleep(&d, NULL);
    pthread_mutex_unlock(&lock);
    scry_span_end(s);
    return NULL;
}

static int run_profile(const char *path)
{
    out = fopen(path, "w");
    if (!out) return 2;
    long long alpha_ns = 0, beta_ns = 0, child_ns = 0;
    void **kept_a = NULL, **kept_b = NULL;
    for (int r = 0; r < ROUNDS; r++) {
        scry_span_t *a = scry_span_start("GET /alpha", SCRY_SPAN_SERVER, NULL);
        note_span(a, "GET /alpha");
        long long t0 = thread_cpu_ns();
        alpha_work(ALPHA_MS * 1000000LL);
        alpha_ns += thread_cpu_ns() - t0;
        if (r == 0) kept_a = alpha_alloc(ALPHA_BLOCKS);
        scry_span_end(a);

        scry_span_t *b = scry_span_start("GET /beta", SCRY_SPAN_SERVER, NULL);
        note_span(b, "GET /beta");
        t0 = thread_cpu_ns();
        beta_work(ALPHA_MS * 1000000LL);
        beta_ns += thread_cpu_ns() - t0;
        if (r == 0) kept_b = beta_alloc(BETA_BLOCKS);
        /* Half of the endpoint's work in a child span. */
        scry_span_t *child = scry_span_start("beta-child", SCRY_SPAN_INTERNAL, NULL);
        note_span(child, "beta-child");
        t0 = thread_cpu_ns();
        beta_work(ALPHA_MS * 1000000LL);
        child_ns += thread_cpu_ns() - t0;
        scry_span_end(child);
        scry_span_end(b);
    }
    fprintf(out, "cpu GET /alpha %lld\ncpu GET /beta %lld\ncpu beta-child %lld\n", alpha_ns, beta_ns,
            child_ns);

    /* A wait in "wait" on a lock released in "hold". */
    pthread_t t;
    pthread_create(&t, NULL, holder, NULL);
    pthread_mutex_lock(&ready_lock);
    while (!holding) pthread_cond_wait(&ready_cond, &ready_lock);
    pthread_mutex_unlock(&ready_lock);
    scry_span_t *w = scry_span_start("wait", SCRY_SPAN_INTERNAL, NULL);
    note_span(w, "wait");
    pthread_mutex_lock(&lock);
    pthread_mutex_unlock(&lock);
    scry_span_end(w);
    pthread_join(t, NULL);
    fclose(out);
    (void)kept_a;
    (void)kept_b;
    return 0; /* the blocks stay live: the heap profile is written at exit */
}

/* ---- trace ---------------------------------------------------------------- */

static int run_trace(const char *path)
{
    out = fopen(path, "w");
    if (!out) return 2;
    for (int i = 0; i < NTRACE; i++) {
        scry_span_t *s = scry_span_start("traced", SCRY_SPAN_SERVER, NULL);
        scry_task_t t = scry_task_begin("inner");
        scry_region_begin("step");
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
        scry_region_end();
        scry_task_end(t);
        scry_span_context_t c = ctx_of(s);
        char th[33], sh[17];
        hex(c.trace_id, 16, th);
        hex(c.span_id, 8, sh);
        fprintf(out, "span %s %s\n", th, sh);
        scry_span_end(s);
    }
    fclose(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "api") == 0) return run_api();
    if (argc >= 3 && strcmp(argv[1], "profile") == 0) return run_profile(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "trace") == 0) return run_trace(argv[2]);
    fprintf(stderr, "usage: span_truth api | profile OUTFILE | trace OUTFILE\n");
    return 2;
}
