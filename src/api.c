/*
 * api.c - the public functions of include/scry.h. Each checks its arguments
 * and forwards to the profile table (profile/profile.h).
 */
#define _GNU_SOURCE
#include "scry.h"

#include <errno.h>
#include <string.h>

#include "profile/heap.h"
#include "http/server.h"
#include "profile/profile.h"

#define SCRY_EXPORT __attribute__((visibility("default")))

static int lookup(const char *name, const scry__profile_t **out)
{
    const scry__profile_t *p = scry__profile_find(name);
    if (!p) return -EINVAL;
    if (!p->start) return -ENOTSUP;
    *out = p;
    return 0;
}

SCRY_EXPORT int scry_cpu_set_hz(int hz)
{
    return scry__cpu_set_hz(hz);
}

SCRY_EXPORT int scry_heap_set_rate(long bytes)
{
    if (bytes < 1 || bytes > SCRY_HEAP_RATE_MAX) return -EINVAL;
    return scry__heap_set_rate(bytes);
}

SCRY_EXPORT int scry_block_set_rate(long ns)
{
    if (ns < 1 || ns > SCRY_BLOCK_RATE_MAX) return -EINVAL;
    return scry__block_set_rate(ns);
}

SCRY_EXPORT int scry_mutex_set_fraction(long n)
{
    if (n < 1 || n > SCRY_MUTEX_FRACTION_MAX) return -EINVAL;
    return scry__mutex_set_fraction(n);
}

SCRY_EXPORT int scry_http_start(const char *addr, const char *token)
{
    if (!addr) return -EINVAL;
    return scry__http_start(addr, token);
}

SCRY_EXPORT int scry_http_port(void)
{
    return scry__http_port();
}

SCRY_EXPORT void scry_http_stop(void)
{
    scry__http_stop();
}

SCRY_EXPORT int scry_wall_set_hz(int hz)
{
    if (hz < 1 || hz > SCRY_WALL_HZ_MAX) return -EINVAL;
    return scry__wall_set_hz(hz);
}

/* Only while they are kept: frozen or never-kept counts would read as a
 * program that stopped allocating (profile/heap.h). */
SCRY_EXPORT int scry_heap_totals(scry_heap_totals_t *out)
{
    if (!out) return -EINVAL;
    scry__heap_totals_t t;
    scry__heap_totals(&t);
    if (!t.kept) {
        memset(out, 0, sizeof *out);
        return -ENODATA;
    }
    out->alloc_objects = t.alloc_objects;
    out->alloc_bytes = t.alloc_bytes;
    out->free_objects = t.free_objects;
    out->free_bytes = t.free_bytes;
    return 0;
}

SCRY_EXPORT int scry_profile_start(const char *name)
{
    const scry__profile_t *p;
    int rc = lookup(name, &p);
    return rc < 0 ? rc : scry__profile_start(p);
}

SCRY_EXPORT int scry_profile_stop(const char *name)
{
    const scry__profile_t *p;
    int rc = lookup(name, &p);
    return rc < 0 ? rc : scry__profile_stop(p);
}

SCRY_EXPORT int scry_profile_write(const char *name, const char *path)
{
    const scry__profile_t *p;
    int rc = lookup(name, &p);
    if (rc < 0) return rc;
    if (!path || !*path) return -EINVAL;
    return scry__profile_write_path(p, path);
}

SCRY_EXPORT int scry_profile_write_fd(const char *name, int fd)
{
    const scry__profile_t *p;
    int rc = lookup(name, &p);
    if (rc < 0) return rc;
    if (fd < 0) return -EBADF;
    return scry__profile_write_fd(p, fd);
}

/* Messages for the values scry returns itself; any other errno gets libc's. */
#define SCRY_ERRORS(X)                                                                             \
    X(EINVAL, "invalid argument (unknown profile name, or profile not running)")                   \
    X(ENOTSUP, "this profile is not available in this version of scry")                            \
    X(EALREADY, "the profile is already running")                                                  \
    X(EBUSY, "cannot change this while the profile runs")                                          \
    X(ENOMEM, "out of memory")                                                                     \
    X(ENODATA, "the exact heap totals are not being kept (start the heap or allocs profile, "       \
               "serve /metrics, or set SCRY_HEAP_TOTALS=1)")

SCRY_EXPORT const char *scry_strerror(int err)
{
    if (err == 0) return "success";
    if (err > 0) return "not a scry error code (scry returns negative errno values)";
    switch (-err) {
#define X(code, msg)                                                                               \
    case code:                                                                                     \
        return msg;
        SCRY_ERRORS(X)
#undef X
    default:
        return strerror(-err);
    }
}
