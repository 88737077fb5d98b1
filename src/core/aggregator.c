/*
 * aggregator.c - the sample-draining thread; see aggregator.h.
 */
#define _GNU_SOURCE
#include "core/home.h"
#include "core/aggregator.h"

#include <errno.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/threads.h"
#include "core/unwind_tables.h"
#include "metrics/metrics.h"
#include "interpose/pthread.h"
#include "core/busy.h"

/* 20 ms: at 1000 Hz on 2 cores that is 40 samples a drain, far below the
 * ring's 4096 slots, and the thread wakes 50 times a second for ~1 us. */
#define AGGREGATE_MS 20
#define SCAN_EVERY 50 /* drains between foreign-thread scans: 1 s */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static scry__consumer_fn consumers[SCRY__KIND_COUNT];
static scry__request_fn on_request;
static pthread_t thread;
static int running;
static _Atomic int stopping;
/* Requests and wake-ups need no descriptor, so none can ever be one of the
 * program's (a program that closes every descriptor and opens its own files
 * would otherwise get scry's wake-up pipe's numbers): pending holds one bit
 * per request byte, and the thread sleeps on a futex on wake_seq. */
static _Atomic uint64_t pending;
static _Atomic uint32_t wake_seq;

void scry__aggregator_set_consumer(int kind, scry__consumer_fn fn)
{
    pthread_mutex_lock(&lock);
    consumers[kind] = fn;
    pthread_mutex_unlock(&lock);
}

void scry__aggregator_on_request(scry__request_fn fn)
{
    on_request = fn;
}

static void consume(const scry__sample_t *s, void *arg)
{
    (void)arg;
    if (s->kind < SCRY__KIND_COUNT && consumers[s->kind]) consumers[s->kind](s);
}

void scry__aggregator_drain(void)
{
    pthread_mutex_lock(&lock);
    scry__ring_drain(consume, NULL);
    pthread_mutex_unlock(&lock);
}

static sem_t ready;

void scry__aggregator_drain_and_lock(void)
{
    pthread_mutex_lock(&lock);
    scry__ring_drain(consume, NULL);
}

void scry__aggregator_unlock(void)
{
    pthread_mutex_unlock(&lock);
}

static void sleep_until_woken(uint32_t seen)
{
    struct timespec ts = {0, AGGREGATE_MS * 1000000L};
    syscall(SYS_futex, &wake_seq, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

static void *loop(void *arg)
{
    (void)arg;
    scry__threads_mark_internal();
    sem_post(&ready);
    unsigned ticks = 0;
    while (!atomic_load(&stopping)) {
        uint32_t seen = atomic_load(&wake_seq);
        if (!atomic_load(&pending)) sleep_until_woken(seen);
        uint64_t req = atomic_exchange(&pending, 0);
        for (int i = 1; i < 64; i++)
            if ((req >> i & 1) && on_request) on_request(i);
        scry__aggregator_drain();
        scry__utab_poll(); /* a library loaded or unloaded: its unwind table */
        if (++ticks % SCAN_EVERY == 0) {
            scry__threads_scan();
            scry__metrics_tick(); /* does nothing until someone reads metrics */
        }
    }
    return NULL;
}

int scry__aggregator_start(void)
{
    if (running) return 0;
    atomic_store(&stopping, 0);
    sem_init(&ready, 0, 0);
    int rc = scry__home_create(&thread, loop, NULL); /* all signals blocked */
    if (rc != 0) return -rc;
    /* Wait until it has marked itself internal, so that a scan of
     * /proc/self/task that follows never mistakes it for the program's. */
    scry__busy_enter(); /* scry's own wait: not the program's to trace or profile */
    while (sem_wait(&ready) < 0 && errno == EINTR) {
    }
    scry__busy_leave();
    pthread_setname_np(thread, "scry-aggregator");
    running = 1;
    return 0;
}

int scry__aggregator_alive(void)
{
    return running;
}

void scry__aggregator_stop(void)
{
    if (!running) return;
    atomic_store(&stopping, 1);
    scry__aggregator_request_as_safe(0);
    pthread_join(thread, NULL);
    running = 0;
}

void scry__aggregator_request_as_safe(int arg)
{
    int saved = errno;
    if (arg > 0 && arg < 64) atomic_fetch_or(&pending, (uint64_t)1 << arg);
    atomic_fetch_add(&wake_seq, 1);
    syscall(SYS_futex, &wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}

void scry__aggregator_prefork(void)
{
    pthread_mutex_lock(&lock);
}

void scry__aggregator_postfork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void scry__aggregator_postfork_child(void)
{
    running = 0;
    atomic_store(&pending, 0); /* the parent's requests are the parent's */
    scry__ring_reset();
    pthread_mutex_unlock(&lock);
}
