/*
 * trace_cost.c - what one trace event costs the thread that records it, for
 * bench/trace.sh. Linked to libscry; uses only the public API (scry.h).
 *
 * Three kinds of event, each a tight loop of calls through the PLT:
 *   region  scry_region_begin("bench"); scry_region_end();  2 events a turn
 *   log     scry_log("bench", "event");                     1 event
 *   task    t = scry_task_begin("bench"); scry_task_end(t); 2 events
 * Each is timed with tracing off (every call returns at once) and with a
 * trace being written to a file; the cost of an event is the difference,
 * divided by the events. Two reference loops say what "off" costs: an
 * empty loop (a compiler barrier a turn: what off adds over no call at all)
 * and a loop of scry_trace_enabled() calls (the cheapest call into the
 * library, a load and a compare: what off adds over any call through the
 * PLT). A loop of TSC reads gives the trace clock's share of an event.
 *
 * The writer thread encodes far more slowly than a tight loop records (it
 * turns each record into a Perfetto packet), so a loop of millions of
 * events outruns any buffer and most of them would be dropped, and a
 * dropped event is cheaper than a kept one. So the EVENTS of a repeat are
 * recorded in batches of BATCH (sized to fit the per-thread buffers, 16 MiB
 * unless SCRY_TRACE_BUFFER says otherwise), one trace session per batch:
 * start, the timed loop, then scry_trace_stop, which waits until the writer
 * has written everything. The file is then read back (trace_pb.h) and the
 * events found in it counted: recorded - found = dropped, printed for
 * every kind, so a figure taken while events were lost says so.
 *
 * `-s` measures the other regime instead: EVENTS region events back to
 * back in one session, whatever the buffers hold, and prints how many were
 * kept, so the writer's sustained throughput and the drop rate show.
 *
 * Times are the recording thread's CPU time (CLOCK_THREAD_CPUTIME_ID), best
 * of REPEATS (kinds interleaved, each off then on); the writer's CPU time
 * is read from its thread's CPU clock. With -c the recording thread pins
 * itself to CPU after the first trace session has started the writer, so
 * the writer is free to run on another CPU, as it would in a program;
 * under `taskset -c` instead, the writer shares the CPU.
 *
 * Usage: trace_cost [-n EVENTS] [-r REPEATS] [-b BATCH] [-c CPU] [-o FILE] [-s]
 *   defaults: 10000000 events, 1 repeat, 200000 a batch, no pinning,
 *   /tmp/trace_cost.<pid>.pftrace (removed at the end).
 * Prints "key value" lines.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "scry.h"
#include "trace_pb.h"

enum { K_REGION, K_LOG, K_TASK, NKINDS };
static const char *const kind_name[NKINDS] = {"region", "log", "task"};
static const long per_turn[NKINDS] = {2, 1, 2}; /* events a loop turn records */

__attribute__((noinline)) static void loop_empty(long turns)
{
    for (long i = 0; i < turns; i++)
        __asm__ volatile("" ::: "memory");
}

/* The cheapest call into libscry: a load and a compare, the floor of any
 * API call through the PLT. */
__attribute__((noinline)) static void loop_call(long turns)
{
    for (long i = 0; i < turns; i++)
        __asm__ volatile("" ::"r"(scry_trace_enabled()) : "memory");
}

/* The trace clock's read when the kernel's clocksource is the TSC
 * (trace/clock.h): a part of every event's cost. */
__attribute__((noinline)) static uint64_t loop_tsc(long turns)
{
    uint64_t x = 0;
#if defined(__x86_64__) || defined(__i386__)
    for (long i = 0; i < turns; i++)
        x += __rdtsc();
#else
    (void)turns;
#endif
    return x;
}

__attribute__((noinline)) static void loop_region(long turns)
{
    for (long i = 0; i < turns; i++) {
        scry_region_begin("bench");
        scry_region_end();
    }
}

__attribute__((noinline)) static void loop_log(long turns)
{
    for (long i = 0; i < turns; i++)
        scry_log("bench", "event");
}

__attribute__((noinline)) static void loop_task(long turns)
{
    for (long i = 0; i < turns; i++)
        scry_task_end(scry_task_begin("bench"));
}

static void loop(int kind, long turns)
{
    switch (kind) {
    case K_REGION:
        loop_region(turns);
        break;
    case K_LOG:
        loop_log(turns);
        break;
    case K_TASK:
        loop_task(turns);
        break;
    }
}

static int64_t cpu_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) < 0) return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
    return cpu_ns(CLOCK_MONOTONIC);
}

/* The writer thread ("scry-tracer") and its CPU clock (the kernel's
 * MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)); -1 until it is found. */
static clockid_t writer_clock = -1;

static void find_writer(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f) && !strncmp(comm, "scry-tracer", 11)) {
            unsigned tid = (unsigned)atoi(e->d_name);
            writer_clock = (clockid_t)((~tid << 3) | 6u);
        }
        fclose(f);
    }
    closedir(d);
}

static int64_t writer_ns(void)
{
    return writer_clock == -1 ? 0 : cpu_ns(writer_clock);
}

typedef struct {
    int64_t ns;        /* the recording thread's CPU time in the loops */
    int64_t writer_ns; /* the writer's CPU time over the sessions */
    int64_t stop_ns;   /* wall time in scry_trace_stop (the final drains) */
    uint64_t recorded, kept, bytes, dropped_count;
} on_t;

/* Events of kind found in a trace. */
static uint64_t kept_of(int kind, const tpb_stats_t *st)
{
    /* Regions are begin/end slices on the thread's track, tasks on their
     * own tracks; nothing else of the loop's thread is in the trace. */
    return kind == K_LOG ? tpb_category(st, "log") : st->begins + st->ends;
}

static int session(const char *path, int kind, long turns, on_t *r)
{
    int rc = scry_trace_start(path);
    if (rc < 0) {
        fprintf(stderr, "trace_cost: scry_trace_start(%s): %s\n", path, scry_strerror(rc));
        return -1;
    }
    int64_t w0 = writer_ns(), t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    loop(kind, turns);
    int64_t t1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID), s0 = mono_ns();
    rc = scry_trace_stop();
    int64_t s1 = mono_ns(), w1 = writer_ns();
    if (rc < 0) {
        fprintf(stderr, "trace_cost: scry_trace_stop: %s\n", scry_strerror(rc));
        return -1;
    }
    tpb_stats_t st;
    if (tpb_read(path, &st) < 0 || st.bad) {
        fprintf(stderr, "trace_cost: cannot read back %s%s\n", path, st.bad ? " (malformed)" : "");
        return -1;
    }
    r->ns += t1 - t0;
    r->writer_ns += w1 - w0;
    r->stop_ns += s1 - s0;
    r->recorded += (uint64_t)(turns * per_turn[kind]);
    r->kept += kept_of(kind, &st);
    r->bytes += st.bytes;
    r->dropped_count += st.dropped_count;
    return 0;
}

/* events of kind, in sessions of at most batch events. */
static int measure_on(const char *path, int kind, long events, long batch, on_t *r)
{
    memset(r, 0, sizeof *r);
    long turns = events / per_turn[kind], per_batch = batch / per_turn[kind];
    if (per_batch < 1) per_batch = 1;
    for (long done = 0; done < turns;) {
        long n = turns - done < per_batch ? turns - done : per_batch;
        if (session(path, kind, n, r) < 0) return -1;
        done += n;
    }
    return 0;
}

enum { EMPTY = -1, CALL = -2, TSC = -3 };
static volatile uint64_t tsc_sink; /* keeps the TSC loop's reads */

/* kind's loop with tracing off, or a reference loop (EMPTY, CALL, TSC) of
 * events turns. */
static int64_t measure_off(int kind, long events)
{
    int64_t t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    if (kind == EMPTY)
        loop_empty(events);
    else if (kind == CALL)
        loop_call(events);
    else if (kind == TSC)
        tsc_sink = loop_tsc(events);
    else
        loop(kind, events / per_turn[kind]);
    return cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        fprintf(stderr, "trace_cost: cannot pin to CPU %d: %s (not pinned)\n", cpu,
                strerror(errno));
}

static void usage(void)
{
    fprintf(stderr,
            "usage: trace_cost [-n EVENTS] [-r REPEATS] [-b BATCH] [-c CPU] [-o FILE] [-s]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long events = 10000000, batch = 200000;
    int repeats = 1, cpu = -1, sustained = 0, c;
    char path[4096];
    snprintf(path, sizeof path, "/tmp/trace_cost.%d.pftrace", (int)getpid());
    while ((c = getopt(argc, argv, "n:r:b:c:o:s")) != -1) {
        switch (c) {
        case 'n':
            events = atol(optarg);
            break;
        case 'r':
            repeats = atoi(optarg);
            break;
        case 'b':
            batch = atol(optarg);
            break;
        case 'c':
            cpu = atoi(optarg);
            break;
        case 'o':
            snprintf(path, sizeof path, "%s", optarg);
            break;
        case 's':
            sustained = 1;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || events < 2 || repeats < 1 || batch < 2) usage();

    /* A first session starts the writer (unpinned), maps the buffers and
     * calibrates the clock; one batch of each kind warms them. */
    on_t one;
    for (int k = 0; k < NKINDS; k++)
        if (session(path, k, batch / per_turn[k], &(on_t){0}) < 0) return 1;
    find_writer();
    if (cpu >= 0) pin(cpu);
    const char *pool = getenv("SCRY_TRACE_BUFFER");
    printf("cpu %d\nevents %ld\nrepeats %d\nbatch %ld\ntrace_buffer %s\nwriter_found %d\n", cpu,
           events, repeats, sustained ? events : batch, pool && *pool ? pool : "default",
           writer_clock != -1);

    if (sustained) {
        /* One session, EVENTS region events back to back. */
        memset(&one, 0, sizeof one);
        int64_t w0 = mono_ns();
        if (session(path, K_REGION, events / 2, &one) < 0) return 1;
        int64_t wall = mono_ns() - w0;
        uint64_t lost = one.recorded - one.kept;
        printf("sustained_ns_per_event %.3f\n", (double)one.ns / (double)one.recorded);
        printf("sustained_recorded %llu\nsustained_kept %llu\nsustained_dropped %llu\n",
               (unsigned long long)one.recorded, (unsigned long long)one.kept,
               (unsigned long long)lost);
        printf("sustained_drop_rate %.4f\n", (double)lost / (double)one.recorded);
        printf("sustained_dropped_in_trace %llu\n", (unsigned long long)one.dropped_count);
        printf("sustained_writer_ns_per_kept_event %.1f\n",
               one.kept ? (double)one.writer_ns / (double)one.kept : 0);
        printf("sustained_kept_events_per_second %.0f\n",
               wall > 0 ? (double)one.kept / ((double)wall / 1e9) : 0);
        printf("sustained_wall_seconds %.3f\nsustained_stop_seconds %.3f\n", wall / 1e9,
               one.stop_ns / 1e9);
        printf("sustained_bytes %llu\n", (unsigned long long)one.bytes);
        unlink(path);
        return 0;
    }

    int64_t best_empty = 0, best_call = 0, best_tsc = 0, best_off[NKINDS] = {0},
            best_on[NKINDS] = {0};
    on_t total[NKINDS];
    memset(total, 0, sizeof total);
    for (int rep = 0; rep < repeats; rep++) {
        int64_t e = measure_off(EMPTY, events), call = measure_off(CALL, events),
                tsc = measure_off(TSC, events);
        if (rep == 0 || e < best_empty) best_empty = e;
        if (rep == 0 || call < best_call) best_call = call;
        if (rep == 0 || tsc < best_tsc) best_tsc = tsc;
        /* Interleaved: each kind off then on, every repeat. */
        for (int k = 0; k < NKINDS; k++) {
            int64_t off = measure_off(k, events);
            if (rep == 0 || off < best_off[k]) best_off[k] = off;
            on_t r;
            if (measure_on(path, k, events, batch, &r) < 0) return 1;
            if (rep == 0 || r.ns < best_on[k]) best_on[k] = r.ns;
            total[k].ns += r.ns;
            total[k].writer_ns += r.writer_ns;
            total[k].recorded += r.recorded;
            total[k].kept += r.kept;
            total[k].bytes += r.bytes;
            total[k].dropped_count += r.dropped_count;
        }
    }
    unlink(path);

    double n = (double)events;
    printf("empty_ns_per_turn %.3f\n", (double)best_empty / n);
    printf("call_ns_per_call %.3f\n", (double)best_call / n);
#if defined(__x86_64__) || defined(__i386__)
    printf("rdtsc_ns %.3f\n", (double)best_tsc / n);
#endif
    for (int k = 0; k < NKINDS; k++) {
        const char *kn = kind_name[k];
        double turns = (double)(events / per_turn[k]), calls = turns * (double)per_turn[k];
        /* Off: ns per call, and what it adds over an empty turn. */
        printf("off_%s_ns_per_call %.3f\n", kn, (double)best_off[k] / calls);
        printf("off_%s_added_ns_per_call %.3f\n", kn,
               ((double)best_off[k] - (double)best_empty / n * turns) / calls);
        printf("off_%s_over_call_ns_per_call %.3f\n", kn,
               ((double)best_off[k] - (double)best_call / n * calls) / calls);
        printf("on_%s_ns_per_event %.3f\n", kn, (double)best_on[k] / calls);
        printf("cost_%s_ns_per_event %.3f\n", kn,
               ((double)best_on[k] - (double)best_off[k]) / calls);
        printf("recorded_%s %llu\nkept_%s %llu\ndropped_%s %llu\n", kn,
               (unsigned long long)total[k].recorded, kn, (unsigned long long)total[k].kept, kn,
               (unsigned long long)(total[k].recorded - total[k].kept));
        printf("dropped_in_trace_%s %llu\n", kn, (unsigned long long)total[k].dropped_count);
        printf("writer_%s_ns_per_event %.1f\n", kn,
               total[k].kept ? (double)total[k].writer_ns / (double)total[k].kept : 0);
        printf("bytes_per_event_%s %.2f\n", kn,
               total[k].kept ? (double)total[k].bytes / (double)total[k].kept : 0);
    }
    return 0;
}
