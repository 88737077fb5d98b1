/*
 * config.c - SCRY_* environment variables; see config.h.
 */
#define _GNU_SOURCE
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/profile_names.h"
#include "core/traceback.h"
#include "core/unwind.h"
#include "scry.h"

scry__config_t scry__config = {
    .cpu_hz = SCRY_CPU_HZ_DEFAULT, .heap_rate = SCRY_HEAP_RATE_DEFAULT,
    .block_rate = 1, .mutex_fraction = 1, .wall_hz = SCRY_WALL_HZ_DEFAULT, .out_dir = "scry-out",
    .flight_max_bytes = 32u << 20, .trace_buffer = 16u << 20, .trace_alloc_min = 1u << 20,
    .trace_syscall_ns = 10000};

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* A byte count: digits with an optional K, M or G (powers of 1024). */
static int parse_bytes(const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-') return -1;
    int shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    else if (*end == 'G' || *end == 'g') shift = 30, end++;
    if (*end || v > (hi >> shift)) return -1;
    v <<= shift;
    if (v < lo || v > hi) return -1;
    *out = (size_t)v;
    return 0;
}

static void load_flight(const char *v)
{
    char *end;
    errno = 0;
    double secs = strtod(v, &end);
    size_t max = scry__config.flight_max_bytes;
    if (errno || end == v || !(secs >= 0.1 && secs <= 3600) ||
        (*end && (*end != ',' || parse_bytes(end + 1, 1u << 20, (size_t)1 << 40, &max) < 0))) {
        scry__log("SCRY_FLIGHT=\"%s\" is not SECONDS[,MAXBYTES] (0.1 to 3600 seconds, 1M to 1T "
                  "bytes); no flight recorder",
                  v);
        return;
    }
    scry__config.flight_seconds = secs;
    scry__config.flight_max_bytes = max;
}

static void load_profiles(const char *s)
{
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len) {
            int i = scry__profile_index(s, len);
            if (i < 0)
                scry__log("SCRY_PROFILES: unknown profile '%.*s' ignored (known: cpu, heap, "
                          "allocs, mutex, block, threads, wall)",
                          (int)len, s);
            else if (!scry__profile_names[i].available)
                scry__log("SCRY_PROFILES: the %s profile is not available in this version",
                          scry__profile_names[i].name);
            else
                scry__config.profiles |= 1u << i;
        }
        s += len;
        if (*s == ',') s++;
    }
}

void scry__config_load(void)
{
    const char *v;
    long n;
    if ((v = getenv("SCRY_PROFILES"))) load_profiles(v);
    if ((v = getenv("SCRY_CPU_HZ"))) {
        if (parse_int(v, 1, SCRY_CPU_HZ_MAX, &n) == 0)
            scry__config.cpu_hz = (int)n;
        else
            scry__log("SCRY_CPU_HZ=\"%s\" is not a whole number from 1 to %d; using %d", v,
                      SCRY_CPU_HZ_MAX, scry__config.cpu_hz);
    }
    if ((v = getenv("SCRY_HEAP_RATE"))) {
        if (parse_int(v, 1, SCRY_HEAP_RATE_MAX, &n) == 0)
            scry__config.heap_rate = n;
        else
            scry__log("SCRY_HEAP_RATE=\"%s\" is not a whole number of bytes from 1 to %lld; using %ld",
                      v, (long long)SCRY_HEAP_RATE_MAX, scry__config.heap_rate);
    }
    if ((v = getenv("SCRY_HEAP_TOTALS")) && *v) {
        if (!strcmp(v, "0") || !strcmp(v, "1"))
            scry__config.heap_totals = *v == '1';
        else
            scry__log("SCRY_HEAP_TOTALS=\"%s\" is not 0 or 1; the exact heap totals are kept "
                      "only while the heap or allocs profile runs or /metrics is served",
                      v);
    }
    if ((v = getenv("SCRY_BLOCK_RATE"))) {
        if (parse_int(v, 1, SCRY_BLOCK_RATE_MAX, &n) == 0)
            scry__config.block_rate = n;
        else
            scry__log("SCRY_BLOCK_RATE=\"%s\" is not a whole number of nanoseconds from 1 to %lld; using %ld",
                      v, (long long)SCRY_BLOCK_RATE_MAX, scry__config.block_rate);
    }
    if ((v = getenv("SCRY_MUTEX_FRACTION"))) {
        if (parse_int(v, 1, SCRY_MUTEX_FRACTION_MAX, &n) == 0)
            scry__config.mutex_fraction = n;
        else
            scry__log("SCRY_MUTEX_FRACTION=\"%s\" is not a whole number from 1 to %lld; using %ld", v,
                      (long long)SCRY_MUTEX_FRACTION_MAX, scry__config.mutex_fraction);
    }
    if ((v = getenv("SCRY_WALL_HZ"))) {
        if (parse_int(v, 1, SCRY_WALL_HZ_MAX, &n) == 0)
            scry__config.wall_hz = (int)n;
        else
            scry__log("SCRY_WALL_HZ=\"%s\" is not a whole number from 1 to %d; using %d", v,
                      SCRY_WALL_HZ_MAX, scry__config.wall_hz);
    }
    if ((v = getenv("SCRY_TRACEBACK")) && *v) {
        if (!strcmp(v, "0"))
            scry__config.traceback = SCRY__TRACEBACK_OFF;
        else if (!strcmp(v, "1") || !strcmp(v, "continue"))
            scry__config.traceback = SCRY__TRACEBACK_CONTINUE;
        else if (!strcmp(v, "exit"))
            scry__config.traceback = SCRY__TRACEBACK_EXIT;
        else
            scry__log("SCRY_TRACEBACK=\"%s\" is not 0, 1, continue or exit; no tracebacks", v);
    }
    if ((v = getenv("SCRY_HTTP")) && *v) {
        if (strlen(v) >= sizeof scry__config.http)
            scry__log("SCRY_HTTP is too long; no HTTP server");
        else
            snprintf(scry__config.http, sizeof scry__config.http, "%s", v);
    }
    if ((v = getenv("SCRY_HTTP_TOKEN"))) {
        if (strlen(v) >= sizeof scry__config.http_token)
            scry__log("SCRY_HTTP_TOKEN is longer than %zu bytes; ignored",
                      sizeof scry__config.http_token - 1);
        else
            snprintf(scry__config.http_token, sizeof scry__config.http_token, "%s", v);
    }
    if ((v = getenv("SCRY_TRACE")) && *v) {
        if (strlen(v) >= sizeof scry__config.trace_path - 16)
            scry__log("SCRY_TRACE is too long; no trace");
        else
            snprintf(scry__config.trace_path, sizeof scry__config.trace_path, "%s", v);
    }
    if ((v = getenv("SCRY_FLIGHT")) && *v) load_flight(v);
    size_t z;
    if ((v = getenv("SCRY_TRACE_BUFFER"))) {
        if (parse_bytes(v, 256u << 10, (size_t)4 << 30, &z) == 0)
            scry__config.trace_buffer = z;
        else
            scry__log("SCRY_TRACE_BUFFER=\"%s\" is not a byte count from 256K to 4G; using %zuM", v,
                      scry__config.trace_buffer >> 20);
    }
    if ((v = getenv("SCRY_TRACE_ALLOC_MIN"))) {
        if (parse_bytes(v, 1, (size_t)1 << 40, &z) == 0)
            scry__config.trace_alloc_min = z;
        else
            scry__log("SCRY_TRACE_ALLOC_MIN=\"%s\" is not a byte count from 1 to 1T; using %zu", v,
                      scry__config.trace_alloc_min);
    }
    if ((v = getenv("SCRY_TRACE_SYSCALL_NS"))) {
        if (parse_int(v, 0, 1000000000000L, &n) == 0)
            scry__config.trace_syscall_ns = n;
        else
            scry__log("SCRY_TRACE_SYSCALL_NS=\"%s\" is not a whole number of nanoseconds from 0 to "
                      "10^12; using %ld",
                      v, scry__config.trace_syscall_ns);
    }
    if ((v = getenv("SCRY_TRACE_STACKS")) && *v) {
        if (!strcmp(v, "0") || !strcmp(v, "1"))
            scry__config.trace_stacks = *v == '1';
        else
            scry__log("SCRY_TRACE_STACKS=\"%s\" is not 0 or 1; no stacks in the trace", v);
    }
    if ((v = getenv("SCRY_UNWIND"))) {
        if (!strcmp(v, "hybrid") || !strcmp(v, "dwarf"))
            scry__config.unwind = SCRY__UNWIND_HYBRID;
        else if (!strcmp(v, "fp"))
            scry__config.unwind = SCRY__UNWIND_FP;
        else if (!strcmp(v, "libunwind"))
            scry__config.unwind = SCRY__UNWIND_LIBUNWIND;
        else
            scry__log("SCRY_UNWIND=\"%s\" is not hybrid, fp or libunwind; using hybrid", v);
    }
    if ((v = getenv("SCRY_OUT")) && *v) {
        if (strlen(v) >= sizeof scry__config.out_dir - 64)
            scry__log("SCRY_OUT is too long; using ./scry-out");
        else
            snprintf(scry__config.out_dir, sizeof scry__config.out_dir, "%s", v);
    }
    scry__config.root_pid = getpid();
    if ((v = getenv("SCRY_ROOT_PID"))) {
        if (parse_int(v, 1, 0x7fffffff, &n) == 0)
            scry__config.root_pid = (pid_t)n;
        else
            scry__log("SCRY_ROOT_PID=\"%s\" is not a process id; ignored", v);
    }
}
