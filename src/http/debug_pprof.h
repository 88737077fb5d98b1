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

/* /debug/pprof/symbol with addresses, as Go's pprof.Symbol: pprof POSTs
 * "0x1234+0x5678" for the locations it has no function for, and a GET may
 * carry the same as its query. Answers "num_symbols: 1", then "0x1234 name"
 * for each address that names code of this process. addrs: the request's
 * body or query, len bytes, not necessarily NUL-terminated; words separated
 * by '+', '&' or white space (the server may hand over a query's '+' as
 * spaces). A GET without a query is scry__debug_pprof("symbol"). */
void scry__debug_pprof_symbol(const char *addrs, size_t len, scry__reply_t *r);
/* The largest body the server keeps for it: some 70000 addresses of 15
 * bytes, more than pprof asks about for any profile. */
#define SCRY__DEBUG_PPROF_SYMBOL_MAX (1 << 20)

#endif
