/*
 * flight_truth.c - a program whose trace events are known, for the flight
 * recorder, /debug/pprof/trace and crash tests (tests/trace/flight.sh,
 * http_trace.sh, crash_flight.sh).
 *
 *   flight_truth run SECONDS TICK_US LOG
 *       Runs for SECONDS. Three threads:
 *         "ticker": a region "tick" around a nanosleep of TICK_US, over and
 *           over; between two ticks, every 100 ms, a log message category
 *           "progress", text "ticks N": N ticks were ended before it, so the
 *           ticks a trace holds between two progress logs are known exactly.
 *         "holder": every 100 ms (on a fixed schedule) locks the mutex
 *           `handoff`, holds it 5 ms and releases it; main locks it too 1 ms
 *           into that and waits (a lock wait, and the unlock that ends it:
 *           a flow).
 *         main: once a second writes a line to LOG:
 *           "sec S mono NS real NS ticks N rss KB"
 *           (CLOCK_MONOTONIC and CLOCK_REALTIME in ns, the ticks ended so
 *           far, VmRSS from /proc/self/status), and a log "second" "S".
 *       Prints "ready PID" when the threads run and "done TICKS" at the end.
 *   flight_truth crash STEPS
 *       Regions "step 1" .. "step STEPS" of about 1 ms each (a sleep inside),
 *       prints "last step STEPS", then begins region "crash" and writes
 *       through a null pointer in crash_now.
 *
 * The API is found with dlsym, so the program also runs without scry (it
 * then records nothing and says "no scry").
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void (*region_begin)(const char *);
static void (*region_end)(void);
static void (*trace_log)(const char *, const char *);

static void nop_begin(const char *type)
{
    (void)type;
}
static void nop_end(void) {}
static void nop_log(const char *c, const char *m)
{
    (void)c, (void)m;
}

static void find_api(void)
{
    region_begin = (void (*)(const char *))dlsym(RTLD_DEFAULT, "scry_region_begin");
    region_end = (void (*)(void))dlsym(RTLD_DEFAULT, "scry_region_end");
    trace_log = (void (*)(const char *, const char *))dlsym(RTLD_DEFAULT, "scry_log");
    if (!region_begin || !region_end || !trace_log) {
        fprintf(stderr, "flight_truth: no scry\n");
        region_begin = nop_begin;
        region_end = nop_end;
        trace_log = nop_log;
    }
}

static long long ns_of(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleep_ns(long long ns)
{
    struct timespec t = {ns / 1000000000, ns % 1000000000};
    while (nanosleep(&t, &t) < 0 && errno == EINTR) {
    }
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static _Atomic int stop;
static _Atomic unsigned long long ticks;
static long long tick_ns;

static void *ticker(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "ticker");
    long long next_log = ns_of(CLOCK_MONOTONIC);
    char msg[64];
    while (!atomic_load(&stop)) {
        region_begin("tick");
        sleep_ns(tick_ns);
        region_end();
        unsigned long long n = atomic_fetch_add(&ticks, 1) + 1;
        long long now = ns_of(CLOCK_MONOTONIC);
        if (now >= next_log) {
            snprintf(msg, sizeof msg, "ticks %llu", n);
            trace_log("progress", msg);
            next_log += 100000000;
            if (next_log < now) next_log = now + 100000000;
        }
    }
    return NULL;
}

static pthread_mutex_t handoff = PTHREAD_MUTEX_INITIALIZER;
static long long base_ns; /* the hand-off schedule: holder at base + k * 100 ms */

static void sleep_until(long long t)
{
    struct timespec ts = {t / 1000000000, t % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void *holder(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "holder");
    for (long long k = 1; !atomic_load(&stop); k++) {
        sleep_until(base_ns + k * 100000000);
        pthread_mutex_lock(&handoff);
        sleep_ns(5000000);
        pthread_mutex_unlock(&handoff);
    }
    return NULL;
}

static int run(double seconds, long tick_us, const char *log_path)
{
    FILE *log = fopen(log_path, "we");
    if (!log) {
        perror(log_path);
        return 2;
    }
    tick_ns = tick_us * 1000LL;
    base_ns = ns_of(CLOCK_MONOTONIC);
    pthread_t t1, t2;
    if (pthread_create(&t1, NULL, ticker, NULL) || pthread_create(&t2, NULL, holder, NULL)) {
        fprintf(stderr, "flight_truth: cannot create threads\n");
        return 2;
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    long long start = base_ns, end = start + (long long)(seconds * 1e9);
    long long next_sec = start;
    int sec = 0;
    char msg[32];
    for (long long k = 1;; k++) {
        long long now = ns_of(CLOCK_MONOTONIC);
        if (now >= next_sec) {
            long long mono = ns_of(CLOCK_MONOTONIC), real = ns_of(CLOCK_REALTIME);
            fprintf(log, "sec %d mono %lld real %lld ticks %llu rss %ld\n", sec, mono, real,
                    atomic_load(&ticks), rss_kb());
            fflush(log);
            snprintf(msg, sizeof msg, "%d", sec);
            trace_log("second", msg);
            sec++;
            next_sec += 1000000000;
        }
        if (now >= end) break;
        /* 1 ms into the holder's 5 ms: a wait of about 4 ms. */
        sleep_until(base_ns + k * 100000000 + 1000000);
        pthread_mutex_lock(&handoff);
        pthread_mutex_unlock(&handoff);
    }
    atomic_store(&stop, 1);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    fclose(log);
    printf("done %llu\n", atomic_load(&ticks));
    return 0;
}

__attribute__((noinline)) static void crash_now(volatile int *p)
{
    *p = 1; /* the crash */
    __asm__ volatile("");
}

static int crash(int steps)
{
    char name[32];
    for (int i = 1; i <= steps; i++) {
        snprintf(name, sizeof name, "step %d", i);
        region_begin(name);
        sleep_ns(1000000);
        region_end();
    }
    printf("last step %d\n", steps);
    fflush(stdout);
    region_begin("crash");
    crash_now(NULL);
    return 0;
}

int main(int argc, char **argv)
{
    find_api();
    if (argc == 5 && !strcmp(argv[1], "run")) return run(atof(argv[2]), atol(argv[3]), argv[4]);
    if (argc == 3 && !strcmp(argv[1], "crash")) return crash(atoi(argv[2]));
    fprintf(stderr, "usage: flight_truth run SECONDS TICK_US LOG | crash STEPS\n");
    return 2;
}
