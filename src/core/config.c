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
    .block_rate = 1, .mutex_fraction = 1, .wall_hz = SCRY_WALL_HZ_DEFAULT, .out_dir = "scry-out"};

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
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
    if ((v = getenv("SCRY_UNWIND"))) {
        if (!strcmp(v, "fp"))
            scry__config.unwind = SCRY__UNWIND_FP;
        else if (!strcmp(v, "dwarf"))
            scry__config.unwind = SCRY__UNWIND_DWARF;
        else
            scry__log("SCRY_UNWIND=\"%s\" is not fp or dwarf; using fp", v);
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
