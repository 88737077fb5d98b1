/*
 * tracer.c - trace sessions and the writer thread; see trace.h.
 *
 * Data flows one way: traced threads -> their buffers (buffer.h) -> the
 * writer thread, which every WRITER_MS drains the buffers and hands each
 * record to the outputs that want it:
 *   - the stream: a file (scry run --trace, SCRY_TRACE, scry_trace_start)
 *     or an HTTP request's temporary file, written as it goes;
 *   - the flight recorder: encoded packets kept in memory in generations
 *     of half its window, the oldest dropped once the newer ones cover the
 *     window or the bytes exceed its limit, written on demand.
 * Each output has its own Perfetto encoder (format/perfetto.h), so each
 * file stands on its own.
 *
 * Control: API calls post a request and wait for the writer to carry it
 * out, so outputs are only ever touched by the writer thread. The writer is
 * scry's own thread (never traced, never profiled).
 */
#define _GNU_SOURCE
#include "trace/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/home.h"
#include "core/callstack.h"
#include "core/config.h"
#include "core/fds.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/traceback.h"
#include "core/waits.h"
#include "format/perfetto.h"
#include "interpose/pthread.h"
#include "interpose/signal.h"
#include "profile/contention.h"
#include "scry.h"
#include "trace/buffer.h"
#include "core/busy.h"

#define WRITER_MS 50
#define FLIGHT_GENERATIONS 64

_Atomic int scry__trace_on;
size_t scry__trace_alloc_min = SIZE_MAX; /* SIZE_MAX while off: one compare in malloc */

/* ---- Hooks ------------------------------------------------------------- */

static uint64_t syscall_min_raw; /* the syscall threshold in raw clock units */

/* The last wake of each object, by waiter-filter slot: a wait that began
 * before it and ended after it was ended by it (as far as scry can tell). */
static _Atomic uint64_t wake_flow[1u << SCRY__WAITER_FILTER_BITS];
static _Atomic uint64_t wake_time[1u << SCRY__WAITER_FILTER_BITS];
static __thread uint32_t flow_seq __attribute__((tls_model("initial-exec")));

void scry__trace_syscall(int kind, int fd, uint64_t t0, uint64_t t1, int64_t result)
{
    if (!scry__tracing() || t1 - t0 < syscall_min_raw) return;
    int saved = errno;
    scry__tr_syscall_t *r = scry__tbuf_reserve(sizeof *r);
    if (r) {
        r->h = (scry__trec_t){SCRY__TR_SYSCALL, sizeof *r, 0, t0};
        r->t1 = t1;
        r->result = result;
        r->kind = kind;
        r->fd = fd;
        scry__tbuf_commit(r);
    }
    errno = saved;
}

static uint32_t frames_of(uintptr_t caller, uint64_t *out, uint32_t max)
{
    if (!scry__config.trace_stacks || !caller) return 0;
    uintptr_t f[64];
    uint32_t n = scry__callstack(caller, f, max < 64 ? max : 64);
    for (uint32_t i = 0; i < n; i++) out[i] = f[i];
    return n;
}

void scry__trace_wait(int kind, const void *obj, uint64_t t0, uint64_t t1, uintptr_t caller)
{
    if (!scry__tracing()) return;
    int saved = errno;
    uint32_t i = scry__waiter_index(obj);
    uint64_t wt = atomic_load_explicit(&wake_time[i], memory_order_relaxed);
    uint64_t flow = atomic_load_explicit(&wake_flow[i], memory_order_relaxed);
    uint32_t max = scry__config.trace_stacks ? 64 : 0;
    scry__tr_wait_t *r = scry__tbuf_reserve(scry__trec_size(sizeof *r, max * 8));
    if (r) {
        uint32_t n = frames_of(caller, r->frames, max);
        r->h = (scry__trec_t){SCRY__TR_WAIT, (uint16_t)scry__trec_size(sizeof *r, n * 8), n, t0};
        r->t1 = t1;
        r->obj = (uintptr_t)obj;
        r->flow = wt >= t0 && wt <= t1 ? flow : 0;
        r->kind = kind;
        r->pad = 0;
        scry__tbuf_commit(r);
    }
    errno = saved;
}

void scry__trace_wake(int kind, const void *obj)
{
    if (!scry__tracing()) return;
    int saved = errno;
    uint64_t now = scry__trace_clock();
    uint64_t flow = (uint64_t)(uint32_t)scry__tls.tid << 32 | ++flow_seq;
    uint32_t i = scry__waiter_index(obj);
    atomic_store_explicit(&wake_flow[i], flow, memory_order_relaxed);
    atomic_store_explicit(&wake_time[i], now, memory_order_relaxed);
    scry__tr_wake_t *r = scry__tbuf_reserve(sizeof *r);
    if (r) {
        r->h = (scry__trec_t){SCRY__TR_WAKE, sizeof *r, 0, now};
        r->obj = (uintptr_t)obj;
        r->flow = flow;
        r->kind = kind;
        r->pad = 0;
        scry__tbuf_commit(r);
    }
    errno = saved;
}

void scry__trace_cpu_sample_as_safe(const uintptr_t *frames, uint32_t n)
{
    if (!scry__tracing()) return;
    int saved = errno;
    if (n > 128) n = 128;
    uint64_t now = scry__trace_clock();
    uint32_t size = scry__trec_size(sizeof(scry__tr_frames_t), n * 8);
    scry__tr_frames_t *r = scry__tbuf_reserve(size);
    if (r) {
        r->h = (scry__trec_t){SCRY__TR_SAMPLE, (uint16_t)size, n, now};
        for (uint32_t i = 0; i < n; i++) r->frames[i] = frames[i];
        scry__tbuf_commit(r);
    }
    errno = saved;
}

void scry__trace_alloc(size_t size, const void *p, uintptr_t caller)
{
    if (!scry__tracing() || !p) return;
    int saved = errno;
    uint64_t now = scry__trace_clock();
    uint32_t max = scry__config.trace_stacks ? 64 : 0;
    scry__tr_alloc_t *r = scry__tbuf_reserve(scry__trec_size(sizeof *r, max * 8));
    if (r) {
        uint32_t n = frames_of(caller, r->frames, max);
        r->h = (scry__trec_t){SCRY__TR_ALLOC, (uint16_t)scry__trec_size(sizeof *r, n * 8), n, now};
        r->size = size;
        r->addr = (uintptr_t)p;
        scry__tbuf_commit(r);
    }
    errno = saved;
}

static void thread_record(int type, pid_t tid, const char *name)
{
    uint32_t len = name ? (uint32_t)strnlen(name, 15) : 0;
    uint32_t size = scry__trec_size(sizeof(scry__tr_thread_t), len + 1);
    uint64_t now = scry__trace_clock();
    scry__tr_thread_t *r = scry__tbuf_reserve(size);
    if (!r) return;
    r->h = (scry__trec_t){(uint16_t)type, (uint16_t)size, len, now};
    r->tid = tid;
    r->pad = 0;
    if (len) memcpy(r->name, name, len);
    r->name[len] = 0;
    scry__tbuf_commit(r);
}

void scry__trace_thread_name(pid_t tid, const char *name)
{
    if (!scry__tracing()) return;
    int saved = errno;
    thread_record(SCRY__TR_THREAD_NAME, tid, name);
    errno = saved;
}

void scry__trace_thread_end(void)
{
    int saved = errno;
    if (scry__tracing()) thread_record(SCRY__TR_THREAD_END, scry__tls.tid, NULL);
    scry__tbuf_thread_done();
    errno = saved;
}

/* The registry's leaving hook runs on the ending thread, or on a scanning
 * thread for a foreign thread found gone: only the former is ours. */
static void thread_leaving(scry__thread_t *t)
{
    if (t == scry__tls.rec) scry__trace_thread_end();
}

/* ---- Outputs ----------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    int64_t start_ns;
} generation_t;

typedef struct {
    int on;
    scry__perfetto_t *enc;
    uint64_t start_raw; /* records before it belong to an earlier session */
    int64_t start_ns;
    uint64_t dropped_at_start; /* scry__tbuf_dropped() when it started */
    /* the stream: fd is scry's (core/fds.h), checked to be id's file
     * before each write */
    int fd;
    scry__fd_id_t id;
    int lost; /* the program closed or replaced it: nothing more is written */
    uint64_t bytes;
    /* the flight recorder */
    int64_t window_ns;
    size_t max_bytes;
    generation_t gens[FLIGHT_GENERATIONS]; /* oldest first */
    int ngens;
    size_t held; /* bytes allocated for gens */
} output_t;

static output_t stream = {.fd = -1}, flight;

static int stream_sink(void *ctx, const void *buf, size_t len)
{
    output_t *o = ctx;
    const char *p = buf;
    /* In scry's own table (core/home.h) nobody else can replace it; in
     * the program's, the program's dup2 may have. */
    if (o->lost || (!scry__home_here() && !scry__fd_same(o->fd, &o->id))) {
        if (!o->lost) scry__log("trace: its output was closed or replaced by the program (descriptor %d); "
                                "the trace ends here", o->fd);
        o->lost = 1;
        return -1;
    }
    while (len) {
        ssize_t n = write(o->fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
        o->bytes += (uint64_t)n;
    }
    return 0;
}

static int flight_sink(void *ctx, const void *buf, size_t len)
{
    output_t *o = ctx;
    generation_t *g = &o->gens[o->ngens - 1];
    if (g->len + len > g->cap) {
        /* Grown by half at a time: `held` counts what is allocated. */
        size_t cap = g->cap ? g->cap + g->cap / 2 : 256 * 1024;
        if (cap < g->len + len) cap = g->len + len;
        char *b = realloc(g->buf, cap);
        if (!b) return -1;
        o->held += cap - g->cap;
        g->buf = b;
        g->cap = cap;
    }
    memcpy(g->buf + g->len, buf, len);
    g->len += len;
    return 0;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char process_name[64];

static scry__perfetto_t *new_encoder(output_t *o, scry__perfetto_sink_fn sink)
{
    return scry__perfetto_new(sink, o, getpid(), process_name);
}

static void deliver(void *arg, pid_t tid, const scry__trec_t *r)
{
    (void)arg;
    int64_t ts = scry__trace_clock_ns(r->ts), end = 0;
    if (r->type == SCRY__TR_WAIT) end = scry__trace_clock_ns(((const scry__tr_wait_t *)r)->t1);
    if (r->type == SCRY__TR_SYSCALL) end = scry__trace_clock_ns(((const scry__tr_syscall_t *)r)->t1);
    int naming = r->type == SCRY__TR_THREAD_START || r->type == SCRY__TR_THREAD_NAME;
    output_t *outs[2] = {&stream, &flight};
    for (int i = 0; i < 2; i++) {
        output_t *o = outs[i];
        if (!o->on || (!naming && r->ts < o->start_raw)) continue;
        scry__perfetto_record(o->enc, tid, r, ts, end);
    }
}

static void drop_oldest(output_t *o)
{
    o->held -= o->gens[0].cap;
    free(o->gens[0].buf);
    memmove(o->gens, o->gens + 1, (size_t)(o->ngens - 1) * sizeof *o->gens);
    o->ngens--;
}

/* Drops the oldest generations while the newer ones still cover the window,
 * and while the bytes held are over the limit (never the current one). */
static void flight_trim(int64_t now)
{
    output_t *o = &flight;
    while (o->ngens > 1 && (o->gens[1].start_ns <= now - o->window_ns || o->held > o->max_bytes))
        drop_oldest(o);
}

/* A new generation at now: the current one is complete. */
static void flight_rotate(int64_t now)
{
    output_t *o = &flight;
    scry__perfetto_end_generation(o->enc, now);
    if (o->ngens == FLIGHT_GENERATIONS) drop_oldest(o);
    o->gens[o->ngens++] = (generation_t){NULL, 0, 0, now};
    scry__perfetto_begin_generation(o->enc, now);
    flight_trim(now);
}

/* Every writer tick: a generation lasts half the window, or until it holds
 * half the bytes; the limit is kept at every tick, so the memory held stays
 * within MAXBYTES but for one tick's growth of the current generation. */
static void flight_tick(int64_t now)
{
    output_t *o = &flight;
    generation_t *g = &o->gens[o->ngens - 1];
    if (now - g->start_ns >= o->window_ns / 2 || g->cap > o->max_bytes / 2)
        flight_rotate(now);
    else
        flight_trim(now);
}

static void free_output(output_t *o)
{
    if (o->enc) scry__perfetto_free(o->enc);
    o->enc = NULL;
    for (int i = 0; i < o->ngens; i++) free(o->gens[i].buf);
    o->ngens = 0;
    o->held = 0;
    o->on = 0;
}

/* ---- The writer thread -------------------------------------------------- */

enum { REQ_NONE = 0, REQ_STREAM_START, REQ_STREAM_STOP, REQ_FLIGHT_START, REQ_FLIGHT_STOP, REQ_FLIGHT_WRITE };

static pthread_mutex_t ctl = PTHREAD_MUTEX_INITIALIZER; /* one request at a time */
static pthread_mutex_t req_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t req_done = PTHREAD_COND_INITIALIZER;
static struct {
    int kind, fd, rc, done;
    double seconds;
    size_t max_bytes;
} req;
/* The writer sleeps on a futex, not a descriptor: nothing the program
 * could close or reuse (core/fds.h). */
static _Atomic uint32_t wake_seq;
static pthread_t writer;
static int writer_running;
static _Atomic int flight_dumps_asked; /* by SIGUSR2 or a fatal signal */
static _Atomic int flight_dumps_done;
static int flight_dump_seq;

static void update_on(void)
{
    int on = stream.on || flight.on;
    scry__trace_alloc_min = on ? scry__config.trace_alloc_min : SIZE_MAX;
    scry__malloc_trace_changed();
    scry__contention_set_tracing(on);
    atomic_store(&scry__trace_on, on);
}

static void start_output(output_t *o, scry__perfetto_sink_fn sink)
{
    o->start_raw = scry__trace_clock();
    o->dropped_at_start = scry__tbuf_dropped();
    o->start_ns = scry__trace_clock_ns(o->start_raw);
    o->enc = new_encoder(o, sink);
    o->on = o->enc != NULL;
    /* Threads that recorded before say their names again. */
    scry__tbuf_new_session();
}

static int flight_write(int fd)
{
    output_t *o = &flight;
    if (!o->on) return -EINVAL;
    /* Complete the current generation, so the file ends every open slice. */
    flight_rotate(mono_ns());
    int rc = 0;
    for (int i = 0; i < o->ngens && rc == 0; i++) {
        const char *p = o->gens[i].buf;
        size_t len = o->gens[i].len;
        while (len && rc == 0) {
            ssize_t n = write(fd, p, len);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) rc = n < 0 ? -errno : -EIO;
            else p += n, len -= (size_t)n;
        }
    }
    return rc;
}

static void flight_dump_to_file(void)
{
    /* What the threads wrote since the last drain: a crashing thread's
     * last events above all. */
    scry__tbuf_drain(deliver, NULL);
    char path[PATH_MAX + 64];
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(path, sizeof path, "%s/flight.%d.%d.pftrace", scry__config.out_dir, (int)getpid(),
                 ++flight_dump_seq);
        mkdir(scry__config.out_dir, 0755);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        scry__log("flight recorder: cannot create a file in %s: %s", scry__config.out_dir, strerror(errno));
        return;
    }
    int64_t from = flight.ngens ? flight.gens[0].start_ns : mono_ns();
    int rc = flight_write(fd);
    size_t bytes = 0;
    for (int i = 0; i < flight.ngens; i++) bytes += flight.gens[i].len;
    close(fd);
    if (rc < 0)
        scry__log("flight recorder: writing %s failed: %s", path, strerror(-rc));
    else
        scry__log("flight recorder: wrote %s (the last %.1f s, %zu bytes)", path, (mono_ns() - from) / 1e9,
                  bytes);
}

static void carry_out(void)
{
    switch (req.kind) {
    case REQ_STREAM_START:
        stream.fd = req.fd;
        stream.lost = scry__fd_identify(stream.fd, &stream.id) < 0;
        stream.bytes = 0;
        start_output(&stream, stream_sink);
        req.rc = stream.on ? 0 : -ENOMEM;
        if (!stream.on) close(stream.fd), stream.fd = -1;
        break;
    case REQ_STREAM_STOP:
        scry__tbuf_drain(deliver, NULL);
        scry__perfetto_finish(stream.enc, mono_ns());
        req.rc = scry__perfetto_failed(stream.enc) ? -EIO : 0;
        {
            /* What the trace itself reports, and what was lost with no
             * later record of its thread to say so. */
            uint64_t lost = scry__perfetto_dropped(stream.enc);
            uint64_t all = scry__tbuf_dropped() - stream.dropped_at_start;
            if (lost || all)
                scry__log("trace: %llu events were dropped (buffers full: SCRY_TRACE_BUFFER)",
                          (unsigned long long)(all > lost ? all : lost));
        }
        free_output(&stream);
        close(stream.fd);
        stream.fd = -1;
        break;
    case REQ_FLIGHT_START:
        flight.window_ns = (int64_t)(req.seconds * 1e9);
        flight.max_bytes = req.max_bytes;
        flight.gens[0] = (generation_t){NULL, 0, 0, mono_ns()};
        flight.ngens = 1;
        start_output(&flight, flight_sink);
        req.rc = flight.on ? 0 : -ENOMEM;
        if (!flight.on) free_output(&flight);
        break;
    case REQ_FLIGHT_STOP:
        free_output(&flight);
        req.rc = 0;
        break;
    case REQ_FLIGHT_WRITE:
        scry__tbuf_drain(deliver, NULL);
        req.rc = flight_write(req.fd);
        break;
    }
    update_on();
}

static void *writer_loop(void *arg)
{
    (void)arg;
    scry__threads_mark_internal();
    scry__busy_enter();
    for (;;) {
        struct timespec ts = {0, WRITER_MS * 1000000L};
        syscall(SYS_futex, &wake_seq, FUTEX_WAIT_PRIVATE, atomic_load(&wake_seq), &ts, NULL, 0);
        scry__tbuf_drain(deliver, NULL);
        /* Flushing also lets go of the symbolizer between batches. */
        if (flight.on) {
            scry__perfetto_flush(flight.enc);
            flight_tick(mono_ns());
        }
        if (stream.on) scry__perfetto_flush(stream.enc);
        while (atomic_load(&flight_dumps_done) < atomic_load(&flight_dumps_asked)) {
            if (flight.on) flight_dump_to_file();
            atomic_fetch_add(&flight_dumps_done, 1);
            syscall(SYS_futex, &flight_dumps_done, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
        }
        pthread_mutex_lock(&req_lock);
        if (req.kind != REQ_NONE && !req.done) {
            carry_out();
            req.done = 1;
            pthread_cond_broadcast(&req_done);
        }
        pthread_mutex_unlock(&req_lock);
    }
    return NULL;
}

static void wake_writer(void)
{
    atomic_fetch_add(&wake_seq, 1);
    syscall(SYS_futex, &wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static int start_writer(void)
{
    if (writer_running) return 0;
    int rc = scry__tbuf_init(scry__config.trace_buffer);
    if (rc < 0) return rc;
    scry__trace_clock_init();
    if (scry__config.trace_stacks) scry__callstack_init(scry__config.unwind);
    syscall_min_raw = (uint64_t)(scry__config.trace_syscall_ns / scry__trace_clock_ns_per_tick());
    static int hooked;
    if (!hooked) {
        /* No joined hook: a thread's slot is taken when it first records. */
        static const scry__thread_hooks_t hooks = {NULL, thread_leaving};
        scry__threads_add_hooks(&hooks);
        hooked = 1;
    }
    FILE *f = fopen("/proc/self/comm", "re");
    if (f) {
        if (fgets(process_name, sizeof process_name, f)) process_name[strcspn(process_name, "\n")] = 0;
        fclose(f);
    }
    rc = scry__home_create(&writer, writer_loop, NULL); /* all signals blocked */
    if (rc != 0) return -rc;
    pthread_setname_np(writer, "scry-tracer");
    writer_running = 1;
    return 0;
}

/* Posts a request and waits for the writer to carry it out. ctl held. */
static int request(int kind)
{
    pthread_mutex_lock(&req_lock);
    req.kind = kind;
    req.done = 0;
    wake_writer();
    while (!req.done) pthread_cond_wait(&req_done, &req_lock);
    req.kind = REQ_NONE;
    int rc = req.rc;
    pthread_mutex_unlock(&req_lock);
    return rc;
}

/* ---- Sessions ----------------------------------------------------------- */

int scry__trace_stream_start(int fd)
{
    scry__busy_enter();
    pthread_mutex_lock(&ctl);
    int rc = stream.on ? -EBUSY : start_writer();
    if (rc == 0) {
        req.fd = fd;
        rc = request(REQ_STREAM_START);
        fd = -1; /* the writer owns it now */
    }
    pthread_mutex_unlock(&ctl);
    if (fd >= 0) scry__home_close(fd);
    scry__busy_leave();
    return rc;
}

int scry__trace_stream_stop(void)
{
    scry__busy_enter();
    pthread_mutex_lock(&ctl);
    int rc = stream.on ? request(REQ_STREAM_STOP) : -EINVAL;
    pthread_mutex_unlock(&ctl);
    scry__busy_leave();
    return rc;
}

int scry__trace_streaming(void)
{
    return stream.on;
}

static void on_sigusr2(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
    scry__trace_flight_request_as_safe();
}

int scry__trace_flight_start(double seconds, size_t max_bytes)
{
    if (!(seconds > 0) || max_bytes < 64 * 1024) return -EINVAL;
    scry__busy_enter();
    pthread_mutex_lock(&ctl);
    int rc = flight.on ? -EBUSY : start_writer();
    if (rc == 0) {
        req.seconds = seconds;
        req.max_bytes = max_bytes;
        rc = request(REQ_FLIGHT_START);
    }
    pthread_mutex_unlock(&ctl);
    if (rc == 0) {
        static int claimed;
        if (!claimed) {
            claimed = 1;
            if (scry__signal_claim(SIGUSR2, on_sigusr2, SCRY__CLAIM_YIELD) < 0)
                scry__log("flight recorder: the program handles SIGUSR2 itself; write the trace "
                          "with scry_flight_write()");
            scry__fatal_claim();
        }
    }
    scry__busy_leave();
    return rc;
}

int scry__trace_flight_stop(void)
{
    scry__busy_enter();
    pthread_mutex_lock(&ctl);
    int rc = flight.on ? request(REQ_FLIGHT_STOP) : -EINVAL;
    pthread_mutex_unlock(&ctl);
    scry__busy_leave();
    return rc;
}

int scry__trace_flight_write_fd(int fd)
{
    scry__busy_enter();
    pthread_mutex_lock(&ctl);
    int rc = -EINVAL;
    if (flight.on) {
        req.fd = fd;
        rc = request(REQ_FLIGHT_WRITE);
    }
    pthread_mutex_unlock(&ctl);
    scry__busy_leave();
    return rc;
}

void scry__trace_flight_request_as_safe(void)
{
    int saved = errno;
    atomic_fetch_add(&flight_dumps_asked, 1);
    wake_writer();
    errno = saved;
}

void scry__trace_on_fatal_as_safe(void)
{
    if (!flight.on || !writer_running) return;
    int target = atomic_fetch_add(&flight_dumps_asked, 1) + 1;
    wake_writer();
    for (int i = 0; i < 50; i++) {
        int done = atomic_load(&flight_dumps_done);
        if (done >= target) return;
        struct timespec ts = {0, 100000000};
        syscall(SYS_futex, &flight_dumps_done, FUTEX_WAIT_PRIVATE, done, &ts, NULL, 0);
    }
}

/* ---- Load, exit, fork --------------------------------------------------- */

void scry__trace_init(void)
{
    if (scry__config.trace_path[0]) {
        /* Programs this one runs inherit SCRY_TRACE: only the root process
         * writes FILE, the others FILE.<pid> (as with profiles). */
        char path[PATH_MAX + 16];
        if (getpid() == scry__config.root_pid)
            snprintf(path, sizeof path, "%s", scry__config.trace_path);
        else
            snprintf(path, sizeof path, "%s.%d", scry__config.trace_path, (int)getpid());
        int fd = scry__home_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            scry__log("SCRY_TRACE: cannot write %s: %s; no trace", path, strerror(errno));
        else if (scry__trace_stream_start(fd) < 0)
            scry__log("SCRY_TRACE: could not start the tracer; no trace");
    }
    if (scry__config.flight_seconds > 0) {
        int rc = scry__trace_flight_start(scry__config.flight_seconds, scry__config.flight_max_bytes);
        if (rc < 0) scry__log("SCRY_FLIGHT: could not start the flight recorder: %s", strerror(-rc));
    }
}

void scry__trace_atexit(void)
{
    if (stream.on) scry__trace_stream_stop();
}

void scry__trace_prefork(void)
{
    pthread_mutex_lock(&ctl);
    pthread_mutex_lock(&req_lock);
}

void scry__trace_postfork_parent(void)
{
    pthread_mutex_unlock(&req_lock);
    pthread_mutex_unlock(&ctl);
}

void scry__trace_postfork_child(void)
{
    /* The writer did not cross the fork; the outputs are the parent's (a
     * copy of the stream's fd must not be written by two processes). */
    pthread_mutex_init(&req_lock, NULL);
    pthread_mutex_init(&ctl, NULL);
    pthread_cond_init(&req_done, NULL);
    atomic_store(&scry__trace_on, 0);
    scry__trace_alloc_min = SIZE_MAX;
    scry__malloc_trace_changed();
    scry__contention_set_tracing(0);
    stream.fd = -1; /* in scry's table (core/home.h), which did not cross the fork */
    stream.on = 0;
    stream.enc = NULL; /* the parent's, in copied memory: leaked once, not freed twice */
    flight.on = 0;
    flight.enc = NULL;
    flight.ngens = 0;
    flight.held = 0;
    writer_running = 0;
    scry__tbuf_postfork_child();
}
