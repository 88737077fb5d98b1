/*
 * debug_pprof.c - the /debug/pprof/ endpoints; see debug_pprof.h.
 *
 *   /                      index (HTML): every profile, what it is, its state
 *   /profile?seconds=N     CPU profile over N s (default 30), started for the
 *                          request; 409 while another CPU profile runs
 *   /wall?seconds=N        the wall-clock profile, likewise
 *   /heap /allocs /mutex /block
 *                          the running profile as it stands, or with
 *                          ?seconds=N what it gained over N s (Go's delta
 *                          profiles); 404 with the variable that enables
 *                          it when it does not run
 *   /goroutine /threads    a snapshot of every thread: ?debug=0 pprof,
 *                          1 grouped by stack, 2 every thread (Go's texts)
 *   /cmdline               the command line, arguments separated by NUL
 *   /symbol                addresses to function names, as Go's (pprof asks
 *                          it for locations it cannot name); GET here, POST
 *                          and GET with a query through
 *                          scry__debug_pprof_symbol
 *   /trace?seconds=N       a runtime trace (Perfetto format) of the next N s
 *                          (default 1, as Go); 409 while another is written
 *
 * Parameters are checked before anything starts: seconds is a whole number
 * from 1 to MAX_SECONDS, debug is 0, 1 or 2 where the endpoint has text
 * forms, 0 elsewhere; anything else is 400 with one line saying what is
 * accepted. Profile bodies are written into a memfd (no copy of a large
 * profile in memory twice) that libmicrohttpd sends and closes.
 */
#define _GNU_SOURCE
#include "http/debug_pprof.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/profile_names.h"
#include "format/pprof.h"
#include "format/symbolize.h"
#include "core/threads.h"
#include "profile/profile.h"
#include "profile/threads.h"
#include "scry.h"
#include "trace/trace.h"

#define MAX_SECONDS 3600

static void text(scry__reply_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void text(scry__reply_t *r, int status, const char *fmt, ...)
{
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof r->text, fmt, ap);
    va_end(ap);
}

/* The query parameter key as a whole number in [lo, hi], or def when
 * absent; -1 after a 400 reply. */
static long number(scry__get_fn get, void *conn, const char *key, long def, long lo, long hi,
                   scry__reply_t *r)
{
    const char *v = get(conn, key);
    if (!v) return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) {
        if (lo == hi)
            text(r, 400, "scry: %s can only be %ld here, not '%.64s'\n", key, lo, v);
        else
            text(r, 400, "scry: %s must be a whole number from %ld to %ld, not '%.64s'\n", key, lo,
                 hi, v);
        return -1;
    }
    return n;
}

static int memfd(scry__reply_t *r)
{
    int fd = memfd_create("scry-http", MFD_CLOEXEC);
    if (fd < 0) text(r, 500, "scry: cannot make a buffer for the reply: %s\n", strerror(errno));
    return fd;
}

/* Writes profile p into the reply (gzipped pprof). */
static void write_profile(const scry__profile_t *p, const char *name, scry__reply_t *r)
{
    int fd = memfd(r);
    if (fd < 0) return;
    int rc = scry__profile_write_fd(p, fd);
    if (rc < 0) {
        close(fd);
        text(r, 500, "scry: could not write the %s profile: %s\n", name, scry_strerror(rc));
        return;
    }
    r->status = 200;
    r->content_type = "application/octet-stream";
    r->disposition = name;
    r->fd = fd;
}

static void sleep_s(long s)
{
    struct timespec ts = {s, 0};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* /profile and /wall: run the profile for the request, then write it. */
static void timed(const char *name, const char *var, scry__get_fn get, void *conn, scry__reply_t *r)
{
    long secs = number(get, conn, "seconds", 30, 1, MAX_SECONDS, r);
    if (secs < 0) return;
    const scry__profile_t *p = scry__profile_find(name);
    int rc = scry__profile_start(p);
    if (rc == -EALREADY) {
        text(r, 409,
             "scry: the %s profile is already running (another request, %s or the API); "
             "ask again when it ends\n",
             name, var);
        return;
    }
    if (rc < 0) {
        text(r, 500, "scry: could not start the %s profile: %s\n", name, scry_strerror(rc));
        return;
    }
    sleep_s(secs);
    scry__profile_stop(p);
    write_profile(p, name, r);
}

/* /trace: a runtime trace of the next N seconds, streamed by the tracer's
 * writer into the reply's memfd (trace/trace.h). */
static void trace(scry__get_fn get, void *conn, scry__reply_t *r)
{
    if (number(get, conn, "debug", 0, 0, 0, r) < 0) return;
    long secs = number(get, conn, "seconds", 1, 1, MAX_SECONDS, r);
    if (secs < 0) return;
    int fd = memfd(r);
    if (fd < 0) return;
    int w = dup(fd); /* the tracer closes its copy when the trace ends */
    int rc = w < 0 ? -errno : scry__trace_stream_start(w);
    if (rc == -EBUSY) {
        close(fd);
        text(r, 409,
             "scry: a trace is already being written (another request, SCRY_TRACE or "
             "scry_trace_start); ask again when it ends\n");
        return;
    }
    if (rc < 0) {
        close(fd);
        text(r, 500, "scry: could not start a trace: %s\n", scry_strerror(rc));
        return;
    }
    sleep_s(secs);
    rc = scry__trace_stream_stop();
    if (rc < 0) {
        close(fd);
        text(r, 500, "scry: the trace could not be written: %s\n", scry_strerror(rc));
        return;
    }
    r->status = 200;
    r->content_type = "application/octet-stream";
    r->disposition = "trace.pftrace";
    r->fd = fd;
}

/* /heap, /allocs, /mutex, /block: the running profile. */
static void running(const char *name, const char *how, scry__get_fn get, void *conn,
                    scry__reply_t *r)
{
    if (number(get, conn, "debug", 0, 0, 0, r) < 0) return;
    long secs = number(get, conn, "seconds", 0, 1, MAX_SECONDS, r);
    if (secs < 0) return;
    const scry__profile_t *p = scry__profile_find(name);
    /* heap and allocs are one set of samples: either one running serves both */
    const scry__profile_t *twin = !strcmp(name, "heap")     ? scry__profile_find("allocs")
                                  : !strcmp(name, "allocs") ? scry__profile_find("heap")
                                                            : p;
    if (!p->running() && !twin->running()) {
        text(r, 404, "scry: the %s profile is not running; start the program with %s\n", name, how);
        return;
    }
    if (!secs) {
        write_profile(p, name, r);
        return;
    }
    /* Go's delta profile: what the counts gained over the window. */
    scry__reply_t before;
    memset(&before, 0, sizeof before);
    before.fd = -1;
    write_profile(p, name, &before);
    if (before.fd < 0) {
        *r = before;
        return;
    }
    sleep_s(secs);
    write_profile(p, name, r);
    if (r->fd < 0) {
        close(before.fd);
        return;
    }
    int fd = memfd(r);
    int rc = fd < 0 ? -ENOMEM : scry__pprof_delta_fd(before.fd, r->fd, secs * 1000000000LL, fd);
    close(before.fd);
    close(r->fd);
    r->fd = -1;
    if (rc < 0) {
        if (fd >= 0) close(fd);
        text(r, 500, "scry: could not compute the delta %s profile: %s\n", name, scry_strerror(rc));
        return;
    }
    r->status = 200;
    r->fd = fd;
}

static void threads(scry__get_fn get, void *conn, scry__reply_t *r)
{
    long debug = number(get, conn, "debug", 0, 0, 2, r);
    if (debug < 0) return;
    if (debug == 0) {
        write_profile(scry__profile_find("threads"), "threads", r);
        return;
    }
    scry__tdump_t *d = scry__tdump_take(0);
    if (!d) {
        text(r, 500, "scry: could not take the threads' stacks\n");
        return;
    }
    int fd = memfd(r);
    if (fd >= 0) {
        if (debug == 1)
            scry__tdump_print_grouped(d, fd);
        else
            scry__tdump_print(d, fd);
        r->status = 200;
        r->content_type = "text/plain; charset=utf-8";
        r->fd = fd;
    }
    scry__tdump_free(d);
}

static void cmdline(scry__reply_t *r)
{
    int in = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    int fd = in >= 0 ? memfd(r) : -1;
    if (in < 0 || fd < 0) {
        if (in >= 0) close(in);
        if (in < 0) text(r, 500, "scry: cannot read /proc/self/cmdline: %s\n", strerror(errno));
        return;
    }
    char buf[4096];
    ssize_t n, total = 0;
    char last = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        /* as Go: arguments joined by NUL, without the kernel's final one */
        ssize_t keep = n;
        if (last == 0 && total > 0 && write(fd, "\0", 1) != 1) break;
        last = buf[n - 1];
        if (last == 0) keep--;
        if (write(fd, buf, (size_t)keep) != keep) break;
        total += n;
    }
    close(in);
    r->status = 200;
    r->content_type = "text/plain; charset=utf-8";
    r->fd = fd;
}

/* One address of a /symbol request: a word of C's notation for a whole
 * number (0x hex, as pprof sends them), as Go's ParseUint(word, 0, 64);
 * 0 for anything else, which is skipped, as Go skips it. */
static uintptr_t address(const char *w, size_t n)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, w, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    unsigned long long a = strtoull(buf, &end, 0);
    return *end || errno || buf[0] == '-' || a > UINTPTR_MAX ? 0 : (uintptr_t)a;
}

void scry__debug_pprof_symbol(const char *addrs, size_t len, scry__reply_t *r)
{
    int fd = memfd(r);
    if (fd < 0) return;
    FILE *f = fdopen(dup(fd), "w");
    if (!f) {
        close(fd);
        text(r, 500, "scry: cannot write the symbols\n");
        return;
    }
    /* pprof only asks whether this is 0 (no symbols at all); Go says 1. */
    fputs("num_symbols: 1\n", f);
    scry__symbolizer_t *sym = len ? scry__symbolizer_acquire() : NULL;
    for (size_t i = 0, j; sym && i < len; i = j + 1) {
        for (j = i; j < len && !strchr("+& \t\r\n", addrs[j]); j++) {
        }
        uintptr_t a = address(addrs + i, j - i);
        if (!a) continue;
        /* The innermost function, as Go's FuncForPC; named as scry's
         * profiles name it where nothing else does. */
        scry__frame_t fr[32];
        const char *name = scry__symbolize(sym, a, fr, 32) > 0 ? fr[0].name : NULL;
        if (!name) name = scry__symbolize_unnamed(sym, a);
        if (name) fprintf(f, "%#lx %s\n", (unsigned long)a, name);
    }
    scry__symbolizer_release(sym);
    if (fclose(f) != 0) {
        close(fd);
        text(r, 500, "scry: cannot write the symbols\n");
        return;
    }
    r->status = 200;
    r->content_type = "text/plain; charset=utf-8";
    r->fd = fd;
}

static const struct {
    const char *path, *what;
} index_rows[] = {
    {"allocs", "A sampling of all past heap allocations (while the heap profile runs)."},
    {"block", "Stack traces that led to blocking on locks, condition variables, semaphores, joins "
              "and barriers."},
    {"cmdline", "The command line of the program, arguments separated by NUL."},
    {"goroutine", "Stack traces of every thread (Go's name for it; /threads is the same)."},
    {"heap", "A sampling of memory allocations of live objects."},
    {"mutex", "Stack traces of holders of contended locks."},
    {"profile", "CPU profile. Add ?seconds=N (default 30). go tool pprof fetches it."},
    {"threads", "Stack traces of every thread, with their states. ?debug=1 or 2 for text."},
    {"trace", "A trace of execution of the current program (Perfetto format: open it in "
              "ui.perfetto.dev, or run scry trace FILE). ?seconds=N (default 1)."},
    {"wall", "Wall-clock profile of every thread, on and off CPU (fgprof's model). ?seconds=N."},
};

static void index_page(scry__reply_t *r)
{
    int fd = memfd(r);
    if (fd < 0) return;
    FILE *f = fdopen(dup(fd), "w");
    if (!f) {
        close(fd);
        text(r, 500, "scry: cannot write the index\n");
        return;
    }
    fprintf(f, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>/debug/pprof/</title>\n<style>\n"
               ".profile-name{display:inline-block; width:6rem;}\n</style>\n</head>\n<body>\n"
               "/debug/pprof/\n<br>\n<p>Set debug=1 as a query parameter to export in legacy "
               "text format</p>\n<br>\nTypes of profiles available:\n<table>\n"
               "<thead><td>Count</td><td>Profile</td></thead>\n");
    int nthreads;
    scry__threads_lock();
    scry__threads_all(&nthreads);
    scry__threads_unlock();
    for (size_t i = 0; i < sizeof index_rows / sizeof index_rows[0]; i++) {
        const char *name = index_rows[i].path;
        const char *lookup = !strcmp(name, "goroutine") ? "threads"
                             : !strcmp(name, "profile") ? "cpu"
                                                        : name;
        const scry__profile_t *p = scry__profile_find(lookup);
        /* Go counts records; scry counts threads, and says which profiles run. */
        char count[32];
        snprintf(count, sizeof count, "%d", nthreads);
        const scry__profile_t *twin = !strcmp(name, "heap")     ? scry__profile_find("allocs")
                                      : !strcmp(name, "allocs") ? scry__profile_find("heap")
                                                                : p;
        const char *state = !strcmp(name, "cmdline")                                 ? ""
                            : !strcmp(name, "threads") || !strcmp(name, "goroutine") ? count
                            : p && p->start && (p->running() || twin->running())     ? "running"
                            : !strcmp(name, "trace")                                 ? "on request"
                            : !strcmp(name, "profile") || !strcmp(name, "wall")      ? "on request"
                                                                                     : "off";
        const char *q = !strcmp(name, "threads") || !strcmp(name, "goroutine") ? "?debug=1" : "";
        fprintf(f, "<tr><td>%s</td><td><a href='%s%s'>%s</a></td></tr>\n", state, name, q, name);
    }
    fprintf(f, "</table>\n<a href=\"goroutine?debug=2\">full thread stack dump</a>\n<br>\n"
               "<p>Profile Descriptions:</p>\n<ul>\n");
    for (size_t i = 0; i < sizeof index_rows / sizeof index_rows[0]; i++)
        fprintf(f, "<li><div class=profile-name>%s: </div> %s</li>\n", index_rows[i].path,
                index_rows[i].what);
    fprintf(f, "</ul>\n</body>\n</html>\n");
    fclose(f);
    r->status = 200;
    r->content_type = "text/html; charset=utf-8";
    r->fd = fd;
}

void scry__debug_pprof(const char *path, scry__get_fn get, void *conn, scry__reply_t *r)
{
    if (!*path)
        index_page(r);
    else if (!strcmp(path, "profile"))
        timed("cpu", "SCRY_PROFILES=cpu", get, conn, r);
    else if (!strcmp(path, "wall"))
        timed("wall", "SCRY_PROFILES=wall", get, conn, r);
    else if (!strcmp(path, "heap") || !strcmp(path, "allocs"))
        running(path, "SCRY_PROFILES=heap (scry run -p heap)", get, conn, r);
    else if (!strcmp(path, "mutex") || !strcmp(path, "block"))
        running(path,
                !strcmp(path, "mutex") ? "SCRY_PROFILES=mutex (scry run -p mutex)"
                                       : "SCRY_PROFILES=block (scry run -p block)",
                get, conn, r);
    else if (!strcmp(path, "goroutine") || !strcmp(path, "threads"))
        threads(get, conn, r);
    else if (!strcmp(path, "cmdline"))
        cmdline(r);
    else if (!strcmp(path, "trace"))
        trace(get, conn, r);
    else if (!strcmp(path, "symbol"))
        scry__debug_pprof_symbol(NULL, 0, r);
    else
        text(r, 404, "scry: unknown profile '%.64s'; see /debug/pprof/\n", path);
}
