/*
 * debug_pprof.h - the /debug/pprof/ endpoints, as Go's net/http/pprof
 * serves them, so `go tool pprof http://HOST/debug/pprof/heap` and every
 * other pprof client work unchanged.
 *
 * A handler answers one request: it reads the query parameters it knows
 * (through get), and fills a reply: a status, a content type, and a body in
 * a file descriptor (profiles are written straight into a memfd) or a short
 * text. Handlers run on the connection's own thread and may take seconds
 * (a CPU profile of ?seconds=30); they never run in a signal handler.
 */
#ifndef SCRY_HTTP_DEBUG_PPROF_H
#define SCRY_HTTP_DEBUG_PPROF_H

#include <stddef.h>

typedef struct {
    int status;
    const char *content_type;
    int fd;                  /* body, from offset 0, or -1 */
    char text[512];          /* body when fd < 0 */
    const char *disposition; /* Content-Disposition file name, or NULL */
} scry__reply_t;

/* A query parameter's value, or NULL. */
typedef const char *(*scry__get_fn)(void *conn, const char *key);

/* Answers path (under /debug/pprof/). */
void scry__debug_pprof(const char *path, scry__get_fn get, void *conn, scry__reply_t *r);

#endif
