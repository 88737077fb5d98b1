/*
 * annotate.c - the program's own trace events: tasks, regions and log
 * messages (scry.h, as Go's runtime/trace), and the C API's trace
 * sessions.
 *
 * With nothing recording, each annotation is one load and a return. While
 * recording, one clock read and one record in the thread's buffer
 * (trace/buffer.h): the type or message is copied in, bounded, since the
 * program's string may be gone before the writer reads it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/home.h"
#include "core/threads.h"
#include "scry.h"
#include "span/labels.h"
#include "trace/buffer.h"
#include "trace/trace.h"

#define TYPE_MAX 127     /* bytes of a task or region type kept */
#define CATEGORY_MAX 63  /* of a log category */
#define MESSAGE_MAX 1023 /* of a log message */
#define TASK_DEPTH 16    /* nested tasks a thread remembers the parents of */

static _Atomic uint64_t next_task_id;

/* The calling thread's current task and the tasks it began inside others. */
static __thread struct {
    scry_task_t current;
    int depth;
    scry_task_t task[TASK_DEPTH], parent[TASK_DEPTH];
} tasks __attribute__((tls_model("initial-exec")));

static uint32_t bounded_len(const char *s, uint32_t max)
{
    return s ? (uint32_t)strnlen(s, max) : 0;
}

/* A TASK_* or REGION_* record: header, one id, maybe a string. A task
 * begin carries a span's ids: span_id's, or else the thread's current
 * span's (span/labels.h). */
static void id_record(int type, uint64_t id, uint64_t parent, const char *str, uint32_t len,
                      uint64_t span_id, const uint8_t *trace_id)
{
    uint64_t now = scry__trace_clock();
    if (type == SCRY__TR_TASK_BEGIN || type == SCRY__TR_TASK_END) {
        uint32_t size = scry__trec_size(sizeof(scry__tr_task_t), len + 1);
        scry__tr_task_t *r = scry__tbuf_reserve(size);
        if (!r) return;
        r->h = (scry__trec_t){(uint16_t)type, (uint16_t)size, len, now};
        r->id = id;
        r->parent = parent;
        if (type == SCRY__TR_TASK_BEGIN && !span_id && scry__span_label.span_id) {
            span_id = scry__span_label.span_id;
            trace_id = scry__span_label.trace_id;
        }
        r->span_id = type == SCRY__TR_TASK_BEGIN ? span_id : 0;
        if (r->span_id && trace_id)
            memcpy(r->trace_id, trace_id, 16);
        else
            memset(r->trace_id, 0, 16);
        memcpy(r->type, str ? str : "", len);
        r->type[len] = 0;
        scry__tbuf_commit(r);
    } else {
        uint32_t size = scry__trec_size(sizeof(scry__tr_region_t), len + 1);
        scry__tr_region_t *r = scry__tbuf_reserve(size);
        if (!r) return;
        r->h = (scry__trec_t){(uint16_t)type, (uint16_t)size, len, now};
        r->task = id;
        memcpy(r->type, str ? str : "", len);
        r->type[len] = 0;
        scry__tbuf_commit(r);
    }
}

static scry_task_t task_begin(const char *type, uint64_t span_id, const uint8_t *trace_id)
{
    if (!scry__tracing()) return 0;
    int saved = errno;
    scry_task_t id = atomic_fetch_add_explicit(&next_task_id, 1, memory_order_relaxed) + 1;
    scry_task_t parent = tasks.current;
    id_record(SCRY__TR_TASK_BEGIN, id, parent, type, bounded_len(type, TYPE_MAX), span_id, trace_id);
    if (tasks.depth < TASK_DEPTH) {
        tasks.task[tasks.depth] = id;
        tasks.parent[tasks.depth] = parent;
        tasks.depth++;
    }
    tasks.current = id;
    errno = saved;
    return id;
}

SCRY_API scry_task_t scry_task_begin(const char *type)
{
    return task_begin(type, 0, NULL);
}

uint64_t scry__task_begin_span(const char *name, const uint8_t trace_id[16], uint64_t span_id)
{
    return task_begin(name, span_id, trace_id);
}

SCRY_API void scry_task_end(scry_task_t task)
{
    if (!task) return;
    int saved = errno;
    if (scry__tracing()) id_record(SCRY__TR_TASK_END, task, 0, NULL, 0, 0, NULL);
    /* Back to its parent if it was this thread's current task. */
    for (int i = tasks.depth - 1; i >= 0; i--) {
        if (tasks.task[i] != task) continue;
        if (tasks.current == task) tasks.current = tasks.parent[i];
        memmove(&tasks.task[i], &tasks.task[i + 1], (size_t)(tasks.depth - i - 1) * sizeof tasks.task[0]);
        memmove(&tasks.parent[i], &tasks.parent[i + 1],
                (size_t)(tasks.depth - i - 1) * sizeof tasks.parent[0]);
        tasks.depth--;
        break;
    }
    if (tasks.current == task) tasks.current = 0;
    errno = saved;
}

SCRY_API scry_task_t scry_task_adopt(scry_task_t task)
{
    scry_task_t previous = tasks.current;
    tasks.current = task;
    return previous;
}

SCRY_API scry_task_t scry_task_current(void)
{
    return tasks.current;
}

SCRY_API void scry_region_begin(const char *type)
{
    if (!scry__tracing()) return;
    int saved = errno;
    id_record(SCRY__TR_REGION_BEGIN, tasks.current, 0, type, bounded_len(type, TYPE_MAX), 0, NULL);
    errno = saved;
}

SCRY_API void scry_region_end(void)
{
    if (!scry__tracing()) return;
    int saved = errno;
    id_record(SCRY__TR_REGION_END, tasks.current, 0, NULL, 0, 0, NULL);
    errno = saved;
}

SCRY_API void scry_log(const char *category, const char *message)
{
    if (!scry__tracing()) return;
    int saved = errno;
    uint64_t now = scry__trace_clock();
    uint32_t clen = bounded_len(category, CATEGORY_MAX), mlen = bounded_len(message, MESSAGE_MAX);
    uint32_t size = scry__trec_size(sizeof(scry__tr_log_t), clen + 1 + mlen + 1);
    scry__tr_log_t *r = scry__tbuf_reserve(size);
    if (r) {
        r->h = (scry__trec_t){SCRY__TR_LOG, (uint16_t)size, clen, now};
        r->task = tasks.current;
        r->message_len = mlen;
        r->pad = 0;
        memcpy(r->text, category ? category : "", clen);
        r->text[clen] = 0;
        memcpy(r->text + clen + 1, message ? message : "", mlen);
        r->text[clen + 1 + mlen] = 0;
        scry__tbuf_commit(r);
    }
    errno = saved;
}

SCRY_API void scry_logf(const char *category, const char *fmt, ...)
{
    if (!scry__tracing()) return;
    int saved = errno;
    char msg[MESSAGE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    errno = saved;
    scry_log(category, msg);
}

/* ---- Sessions ----------------------------------------------------------- */

SCRY_API int scry_trace_start(const char *path)
{
    if (!path || !*path) return -EINVAL;
    if (scry__trace_streaming()) return -EBUSY;
    int fd = scry__home_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    return scry__trace_stream_start(fd);
}

SCRY_API int scry_trace_stop(void)
{
    return scry__trace_stream_stop();
}

SCRY_API int scry_trace_enabled(void)
{
    return scry__tracing();
}

SCRY_API int scry_flight_start(double seconds, size_t max_bytes)
{
    return scry__trace_flight_start(seconds, max_bytes ? max_bytes : (size_t)32 << 20);
}

SCRY_API int scry_flight_stop(void)
{
    return scry__trace_flight_stop();
}

SCRY_API int scry_flight_write(const char *path)
{
    if (!path || !*path) return -EINVAL;
    /* Written by scry's thread: opened in scry's table (core/home.h). */
    int fd = scry__home_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    int rc = scry__trace_flight_write_fd(fd);
    if (scry__home_close(fd) < 0 && rc == 0) rc = -errno;
    return rc;
}
