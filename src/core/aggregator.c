/*
 * aggregator.c - the sample-draining thread; see aggregator.h.
 */
#define _GNU_SOURCE
#include "core/aggregator.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
static int wake[2] = {-1, -1};

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

static void *loop(void *arg)
{
    (void)arg;
    scry__threads_mark_internal();
    sem_post(&ready);
    unsigned ticks = 0;
    while (!atomic_load(&stopping)) {
        struct pollfd p = {.fd = wake[0], .events = POLLIN};
        if (poll(&p, 1, AGGREGATE_MS) > 0) {
            unsigned char req[16];
            ssize_t n = read(wake[0], req, sizeof req);
            for (ssize_t i = 0; i < n; i++)
                if (req[i] && on_request) on_request(req[i]);
        }
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
    if (wake[0] < 0 && pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    scry__pthread_create_fn create = scry__real_pthread_create();
    if (!create) return -ENOSYS;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits it */
    atomic_store(&stopping, 0);
    sem_init(&ready, 0, 0);
    int rc = create(&thread, NULL, loop, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
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
    unsigned char b = (unsigned char)arg;
    if (wake[1] >= 0) {
        ssize_t w = write(wake[1], &b, 1);
        (void)w;
    }
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
    /* The pipe is shared with the parent: a request meant for one process
     * must not wake the other. */
    if (wake[0] >= 0) {
        close(wake[0]);
        close(wake[1]);
        wake[0] = wake[1] = -1;
    }
    scry__ring_reset();
    pthread_mutex_unlock(&lock);
}
