/*
 * clock.c - the tracer's clock; see clock.h.
 */
#define _GNU_SOURCE
#include "trace/clock.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

int scry__trace_clock_tsc;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint64_t base_raw;
static int64_t base_ns;
static double ns_per_tick = 1.0;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int kernel_uses_tsc(void)
{
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[32] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n >= 3 && !strncmp(buf, "tsc", 3) && (buf[3] == '\n' || buf[3] == 0);
}

#if defined(__x86_64__) || defined(__i386__)
/* A (tsc, ns) pair from the tightest of a few bracketing reads. */
static void pair(uint64_t *tsc, int64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = __rdtsc();
        int64_t t = mono_ns();
        uint64_t b = __rdtsc();
        if (b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = t;
        }
    }
}
#endif

static void init(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (scry__trace_clock_tsc_capable()) {
        uint64_t t0, t1;
        int64_t n0, n1;
        pair(&t0, &n0);
        struct timespec d = {0, 10 * 1000 * 1000};
        while (nanosleep(&d, &d) != 0) {}
        pair(&t1, &n1);
        if (t1 > t0 && n1 > n0) {
            ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
            base_raw = t1;
            base_ns = n1;
            scry__trace_clock_tsc = 1;
            return;
        }
    }
#endif
    base_raw = 0;
    base_ns = 0;
    ns_per_tick = 1.0;
}

int scry__trace_clock_tsc_capable(void)
{
#if defined(__x86_64__) || defined(__i386__)
    static _Atomic int known; /* 0: not read yet, 1: no, 2: yes */
    int k = known;
    if (!k) known = k = kernel_uses_tsc() ? 2 : 1;
    return k == 2;
#else
    return 0;
#endif
}

void scry__trace_clock_init(void)
{
    pthread_once(&once, init);
}

int64_t scry__trace_clock_ns(uint64_t raw)
{
    if (!scry__trace_clock_tsc) return (int64_t)raw;
    return base_ns + (int64_t)((double)(int64_t)(raw - base_raw) * ns_per_tick);
}

double scry__trace_clock_ns_per_tick(void)
{
    return ns_per_tick;
}
