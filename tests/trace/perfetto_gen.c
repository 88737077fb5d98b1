/*
 * perfetto_gen.c - feeds format/perfetto.c a known sequence of hand-made
 * tracer records and writes what it encodes, for perfetto_decode.sh to
 * decode with protoc and check against the ground truth below.
 *
 *   perfetto_gen OUT_DIR
 * writes OUT_DIR/all.pftrace (every packet), OUT_DIR/gen1.pftrace and
 * OUT_DIR/gen2.pftrace (the two generations, split where the flight
 * recorder would switch files), and OUT_DIR/addrs (the code addresses whose
 * names the stacks must show). Then runs a second converter on malformed
 * records and a failing sink: it must not crash (run it under ASan), must
 * report the failure, and must free everything.
 *
 * Ground truth (pid 4242, thread A = 4242 "main", thread B = 4243 "worker",
 * timestamps in ns from BASE):
 *   A  1000 THREAD_START main          B  1100 THREAD_START worker
 *   A  1200 TASK_BEGIN 7 request       A  1300 REGION_BEGIN parse (task 7)
 *   A  1400 REGION_BEGIN lex (task 7)  A  1500 LOG http "GET /index" (task 7)
 *   A  1600 REGION_END                 A  1700 REGION_END
 *   B  1800..2500 WAIT mutex 0xdead0 flow 99, stack waiter_fn
 *   A  2400 WAKE unlock 0xdead0 flow 99
 *   B  2600 TASK_END 7 (the task crosses threads)
 *   A  2700..2900 SYSCALL read fd 3 -> 512
 *   A  3000 SAMPLE sample_leaf <- sample_caller
 *   B  3100 DROPPED 5                  A  3150 ALLOC 1 MiB at 0xabc000
 *   B  3200 THREAD_NAME worker-renamed
 *   C  3250 LOG misc "no start" (C = 4244 never started: a nameless track)
 *   A  3300 REGION_BEGIN outer         A  3350 TASK_BEGIN 8 batch (parent 7)
 *   --- generation boundary at 3400 ---
 *   A  3500 LOG http "after"           A  3600 REGION_END (outer)
 *   A  3650 TASK_END 8                 B  3700 THREAD_END
 *   A  3800 REGION_BEGIN tail          finish at 4000
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/waits.h"
#include "format/perfetto.h"
#include "trace/record.h"

#define BASE 1000000000000ll
#define PID 4242
#define A 4242
#define B 4243
#define C 4244 /* seen with no THREAD_START */

static FILE *all, *gen;

static int file_sink(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    if (fwrite(buf, 1, len, all) != len) return -1;
    if (gen && fwrite(buf, 1, len, gen) != len) return -1;
    return 0;
}

static int failing_sink(void *ctx, const void *buf, size_t len)
{
    (void)buf;
    (void)len;
    ++*(int *)ctx;
    return -1;
}

/* One record, built in an 8-byte aligned buffer. */
static uint64_t rbuf[8192];

static void *rec(int type, size_t fixed, const void *var, size_t varlen, uint32_t aux)
{
    memset(rbuf, 0, sizeof rbuf);
    scry__trec_t *h = (scry__trec_t *)rbuf;
    h->type = (uint16_t)type;
    h->size = (uint16_t)scry__trec_size((uint32_t)fixed, (uint32_t)varlen);
    h->aux = aux;
    if (var) memcpy((char *)rbuf + fixed, var, varlen);
    return rbuf;
}

static void put(scry__perfetto_t *p, pid_t tid, int64_t ts, int64_t end)
{
    scry__perfetto_record(p, tid, (const scry__trec_t *)rbuf, BASE + ts, end ? BASE + end : 0);
}

static void thread_rec(scry__perfetto_t *p, int type, pid_t tid, const char *name, int64_t ts)
{
    size_t n = name ? strlen(name) : 0;
    scry__tr_thread_t *r = rec(type, sizeof *r, name, name ? n + 1 : 0, (uint32_t)n);
    r->tid = tid;
    put(p, tid, ts, 0);
}

static void task_rec(scry__perfetto_t *p, int type, pid_t tid, uint64_t id, uint64_t parent,
                     const char *name, int64_t ts)
{
    size_t n = name ? strlen(name) : 0;
    scry__tr_task_t *r = rec(type, sizeof *r, name, name ? n + 1 : 0, (uint32_t)n);
    r->id = id;
    r->parent = parent;
    put(p, tid, ts, 0);
}

static void region_rec(scry__perfetto_t *p, pid_t tid, const char *name, uint64_t task, int64_t ts)
{
    size_t n = name ? strlen(name) : 0;
    scry__tr_region_t *r = rec(name ? SCRY__TR_REGION_BEGIN : SCRY__TR_REGION_END, sizeof *r, name,
                               name ? n + 1 : 0, (uint32_t)n);
    r->task = task;
    put(p, tid, ts, 0);
}

static void log_rec(scry__perfetto_t *p, pid_t tid, const char *cat, const char *msg, uint64_t task,
                    int64_t ts)
{
    char text[256];
    size_t c = strlen(cat), m = strlen(msg);
    memcpy(text, cat, c + 1);
    memcpy(text + c + 1, msg, m + 1);
    scry__tr_log_t *r = rec(SCRY__TR_LOG, sizeof *r, text, c + m + 2, (uint32_t)c);
    r->task = task;
    r->message_len = (uint32_t)m;
    put(p, tid, ts, 0);
}

/* Functions whose addresses stand in for sampled code: big enough that an
 * address one byte in is still theirs. */
static volatile int spin;
__attribute__((noinline)) void waiter_fn(void)
{
    for (int i = 0; i < 3; i++)
        spin += i;
}
__attribute__((noinline)) void sample_leaf(void)
{
    for (int i = 0; i < 3; i++)
        spin += i;
}
__attribute__((noinline)) void sample_caller(void)
{
    sample_leaf();
    for (int i = 0; i < 3; i++)
        spin += i;
}

/* An address inside f (past its first byte, as a return address is). */
static uint64_t inside(void (*f)(void))
{
    return (uint64_t)(uintptr_t)f + 1;
}

static void write_trace(scry__perfetto_t *p, FILE *gen2)
{
    thread_rec(p, SCRY__TR_THREAD_START, A, "main", 1000);
    thread_rec(p, SCRY__TR_THREAD_START, B, "worker", 1100);
    task_rec(p, SCRY__TR_TASK_BEGIN, A, 7, 0, "request", 1200);
    region_rec(p, A, "parse", 7, 1300);
    region_rec(p, A, "lex", 7, 1400);
    log_rec(p, A, "http", "GET /index", 7, 1500);
    region_rec(p, A, NULL, 0, 1600);
    region_rec(p, A, NULL, 0, 1700);

    uint64_t wf[1] = {inside(waiter_fn)};
    scry__tr_wait_t *w = rec(SCRY__TR_WAIT, sizeof *w, wf, sizeof wf, 1);
    w->t1 = BASE + 2500;
    w->obj = 0xdead0;
    w->flow = 99;
    w->kind = SCRY__TW_MUTEX;
    put(p, B, 1800, 2500);

    scry__tr_wake_t *k = rec(SCRY__TR_WAKE, sizeof *k, NULL, 0, 0);
    k->obj = 0xdead0;
    k->flow = 99;
    k->kind = SCRY__TK_UNLOCK;
    put(p, A, 2400, 0);

    task_rec(p, SCRY__TR_TASK_END, B, 7, 0, NULL, 2600);

    scry__tr_syscall_t *s = rec(SCRY__TR_SYSCALL, sizeof *s, NULL, 0, 0);
    s->t1 = BASE + 2900;
    s->result = 512;
    s->kind = SCRY__TS_READ;
    s->fd = 3;
    put(p, A, 2700, 2900);

    uint64_t sf[2] = {inside(sample_leaf), inside(sample_caller)};
    rec(SCRY__TR_SAMPLE, sizeof(scry__tr_frames_t), sf, sizeof sf, 2);
    put(p, A, 3000, 0);

    scry__tr_dropped_t *d = rec(SCRY__TR_DROPPED, sizeof *d, NULL, 0, 0);
    d->count = 5;
    put(p, B, 3100, 0);

    scry__tr_alloc_t *al = rec(SCRY__TR_ALLOC, sizeof *al, NULL, 0, 0);
    al->size = 1 << 20;
    al->addr = 0xabc000;
    put(p, A, 3150, 0);

    thread_rec(p, SCRY__TR_THREAD_NAME, B, "worker-renamed", 3200);
    log_rec(p, C, "misc", "no start", 0, 3250);
    region_rec(p, A, "outer", 0, 3300);
    task_rec(p, SCRY__TR_TASK_BEGIN, A, 8, 7, "batch", 3350);

    scry__perfetto_end_generation(p, BASE + 3400);
    fclose(gen);
    gen = gen2;
    scry__perfetto_begin_generation(p, BASE + 3400);

    log_rec(p, A, "http", "after", 0, 3500);
    region_rec(p, A, NULL, 0, 3600);
    task_rec(p, SCRY__TR_TASK_END, A, 8, 0, NULL, 3650);
    thread_rec(p, SCRY__TR_THREAD_END, B, NULL, 3700);
    region_rec(p, A, "tail", 0, 3800);
    scry__perfetto_finish(p, BASE + 4000);
}

/* Records that lie about themselves; none may be read past its size. */
static void malformed(scry__perfetto_t *p)
{
    static const char junk[64] = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl";
    scry__trec_t *h;

    h = rec(99, sizeof *h, NULL, 0, 0); /* unknown type */
    put(p, A, 10, 0);
    h = rec(SCRY__TR_WAIT, sizeof *h, NULL, 0, 0); /* shorter than its type */
    put(p, A, 20, 0);
    h = rec(SCRY__TR_REGION_BEGIN, sizeof(scry__tr_region_t), NULL, 0, 0);
    h->size = 12; /* not a multiple of 8 */
    put(p, A, 30, 0);
    /* Strings with no NUL inside the record and lengths far past it. */
    h = rec(SCRY__TR_THREAD_START, sizeof(scry__tr_thread_t), junk, 13, 60000);
    memset((char *)rbuf + sizeof(scry__tr_thread_t), 'x', h->size - sizeof(scry__tr_thread_t));
    put(p, A, 40, 0);
    h = rec(SCRY__TR_REGION_BEGIN, sizeof(scry__tr_region_t), junk, 21, 1u << 31);
    memset((char *)rbuf + sizeof(scry__tr_region_t), 'y', h->size - sizeof(scry__tr_region_t));
    put(p, A, 50, 0);
    scry__tr_log_t *l = rec(SCRY__TR_LOG, sizeof *l, junk, 5, 1000);
    l->message_len = 1u << 30;
    put(p, A, 60, 0);
    l = rec(SCRY__TR_LOG, sizeof *l, "c\0mmmmmmm", 9, 1);
    memset((char *)rbuf + sizeof *l + 2, 'm', 14); /* message unterminated */
    l->message_len = 1000;
    put(p, A, 65, 0);
    h = rec(SCRY__TR_SAMPLE, sizeof(scry__tr_frames_t), NULL, 0, 1000); /* no frames */
    put(p, A, 70, 0);
    h = rec(SCRY__TR_TASK_BEGIN, sizeof(scry__tr_task_t), junk, 3, 0);
    ((scry__tr_task_t *)h)->id = 0; /* no id */
    put(p, A, 80, 0);
    task_rec(p, SCRY__TR_TASK_END, A, 12345, 0, NULL, 90); /* never begun */
    region_rec(p, B, NULL, 0, 100);                        /* nothing open */
    scry__tr_wait_t *w = rec(SCRY__TR_WAIT, sizeof *w, NULL, 0, 0);
    w->kind = 1000;      /* no such wait */
    put(p, A, 110, 105); /* ends before it starts */
    scry__tr_syscall_t *s = rec(SCRY__TR_SYSCALL, sizeof *s, NULL, 0, 0);
    s->kind = -3;
    s->fd = -1;
    put(p, A, 120, 130);
    /* Deeper than the converter keeps, then as many ends. */
    for (int i = 0; i < 300; i++)
        region_rec(p, A, "deep", 0, 200 + i);
    for (int i = 0; i < 300; i++)
        region_rec(p, A, NULL, 0, 600 + i);
    for (int i = 0; i < 200; i++)
        task_rec(p, SCRY__TR_TASK_BEGIN, B, 1000 + i, 0, "t", 1000);
    for (int i = 0; i < 100; i++)
        task_rec(p, SCRY__TR_TASK_END, B, 1000 + i, 0, NULL, 1001);
    scry__perfetto_end_generation(p, 2000);
    scry__perfetto_end_generation(p, 2000); /* twice */
    scry__perfetto_begin_generation(p, 2000);
    scry__perfetto_begin_generation(p, 2000); /* without an end */
    scry__perfetto_finish(p, -5);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: perfetto_gen OUT_DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/all.pftrace", argv[1]);
    all = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/gen1.pftrace", argv[1]);
    gen = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/gen2.pftrace", argv[1]);
    FILE *gen2 = fopen(path, "wb");
    if (!all || !gen || !gen2) {
        perror("perfetto_gen: fopen");
        return 1;
    }

    scry__perfetto_t *p = scry__perfetto_new(file_sink, NULL, PID, "perfetto_gen");
    if (!p) return 1;
    write_trace(p, gen2);
    printf("dropped %llu\nfailed %d\n", (unsigned long long)scry__perfetto_dropped(p),
           scry__perfetto_failed(p));
    scry__perfetto_free(p);
    if (fclose(all) || fclose(gen)) {
        perror("perfetto_gen: fclose");
        return 1;
    }

    snprintf(path, sizeof path, "%s/addrs", argv[1]);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "waiter_fn\nsample_leaf\nsample_caller\n");
    fclose(f);

    int calls = 0;
    p = scry__perfetto_new(failing_sink, &calls, PID, NULL);
    if (!p) return 1;
    malformed(p);
    int failed = scry__perfetto_failed(p);
    printf("malformed: failed %d, sink calls %d, dropped %llu\n", failed, calls,
           (unsigned long long)scry__perfetto_dropped(p));
    scry__perfetto_free(p);
    /* The sink saw bytes once (end_generation flushes) and never again. */
    if (failed != 1 || calls != 1) {
        fprintf(stderr, "perfetto_gen: a refusing sink: failed %d, called %d times\n", failed,
                calls);
        return 1;
    }
    return 0;
}
