/*
 * server.c - the HTTP server; see server.h.
 *
 * libmicrohttpd with a thread per connection, so that a CPU profile taking
 * 30 seconds holds only its own connection. The daemon is started with the
 * calling thread marked busy, which makes every thread libmicrohttpd starts
 * one of scry's own (interpose/pthread.c): never profiled, never dumped,
 * and their allocations never sampled. Connections are capped
 * (MAX_CONNECTIONS); libmicrohttpd refuses more, and times out idle ones.
 *
 * Routing: /metrics goes to metrics/exposition.c, /debug/pprof/... to
 * debug_pprof.c; anything else is 404.
 * Only GET and HEAD, without a body; and POST /debug/pprof/symbol, pprof's
 * symbol lookup, whose body (addresses) is read whole, up to
 * SCRY__DEBUG_PPROF_SYMBOL_MAX. Any other body is read to its end and
 * refused (libmicrohttpd cannot answer a request before it has it all: it
 * would close the connection without a word, the "EOF" pprof reported).
 */
#define _GNU_SOURCE
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/home.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/waits.h"
#include "core/aggregator.h"
#include "http/debug_pprof.h"
#include "metrics/metrics.h"
#include "core/busy.h"

#define MAX_CONNECTIONS 200
#define IDLE_TIMEOUT_S 300

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *daemon_;
static int port;
static char token[256];

/* "PORT", ":PORT", "HOST:PORT", "[V6]:PORT" into a socket address.
 * explicit_host says whether a host was given. 0 or -1 with why. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                      int *explicit_host, char *why, size_t whylen)
{
    char host[128] = "";
    const char *p = s;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (!end || end[1] != ':' || (size_t)(end - p - 1) >= sizeof host) {
            snprintf(why, whylen, "'%s' is not [IPv6]:PORT", s);
            return -1;
        }
        memcpy(host, p + 1, (size_t)(end - p - 1));
        p = end + 2;
    } else {
        const char *colon = strrchr(p, ':');
        if (colon) {
            if ((size_t)(colon - p) >= sizeof host) {
                snprintf(why, whylen, "host in '%s' is too long", s);
                return -1;
            }
            memcpy(host, p, (size_t)(colon - p));
            p = colon + 1;
        }
    }
    char *end;
    errno = 0;
    long n = strtol(p, &end, 10);
    if (!*p || *end || errno || n < 0 || n > 65535) {
        snprintf(why, whylen,
                 "'%s' has no port from 0 to 65535 (forms: PORT, HOST:PORT, [V6]:PORT)", s);
        return -1;
    }
    *explicit_host = host[0] != 0;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!host[0] || !strcmp(host, "localhost")) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        v4->sin_port = htons((uint16_t)n);
        *len = sizeof *v4;
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)n);
        *len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)n);
        *len = sizeof *v6;
    } else {
        snprintf(why, whylen,
                 "'%s' is not an IP address (names other than localhost are not looked up)", host);
        return -1;
    }
    return 0;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static const char *get_arg(void *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* /metrics: Prometheus text, or OpenMetrics when the scraper accepts it. */
static enum MHD_Result serve_metrics(struct MHD_Connection *c)
{
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    int om = accept && strstr(accept, "application/openmetrics-text") != NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return send_text(c, 500, "scry: out of memory\n");
    scry__metrics_expose(f, om);
    fclose(f);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type",
                            om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                               : "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

/* Compares in time independent of where the first difference is. */
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

/* Whether the request carries the token, if one is wanted. */
static int has_token(struct MHD_Connection *c)
{
    if (!token[0]) return 1;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return auth && !strncmp(auth, "Bearer ", 7) && same_secret(auth + 7, token);
}

/* A request's state from its headers to its end (completed): the body of
 * POST /debug/pprof/symbol, or how much of any other body was refused. */
typedef struct {
    char *data;
    size_t len;
    int too_big, refused;
} body_t;

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    body_t *b = *state;
    if (b) free(b->data);
    free(b);
    *state = NULL;
}

/* GET /debug/pprof/symbol?0x1234+0x5678: libmicrohttpd hands the query
 * over as argument names (its '+' made spaces), joined here again. */
static enum MHD_Result add_word(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    (void)value;
    fprintf(cls, "%s+", key);
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)cls;
    (void)version;
    if (!*state) { /* first call: headers only */
        *state = calloc(1, sizeof(body_t));
        return *state ? MHD_YES : MHD_NO;
    }
    body_t *body = *state;
    int post = !strcmp(method, "POST") && !strcmp(url, "/debug/pprof/symbol");
    if (*upload_size) { /* a piece of the body: kept for the symbol lookup */
        char *d = post && has_token(c) && body->len + *upload_size <= SCRY__DEBUG_PPROF_SYMBOL_MAX
                      ? realloc(body->data, body->len + *upload_size)
                      : NULL;
        if (d) {
            memcpy(d + body->len, upload, *upload_size);
            body->data = d;
            body->len += *upload_size;
        } else {
            body->too_big = post;
            body->refused = !post;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (!post && strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_text(c, 405, "scry: only GET and HEAD are served (and POST to /debug/pprof/symbol)\n");
    if (body->refused) return send_text(c, 413, "scry: requests take no body\n");
    if (body->too_big)
        return send_text(c, 413, "scry: too many addresses; send them in several requests\n");
    if (!has_token(c)) {
        struct MHD_Response *r = MHD_create_response_from_buffer(
            strlen("scry: send Authorization: Bearer <SCRY_HTTP_TOKEN>\n"),
            (void *)"scry: send Authorization: Bearer <SCRY_HTTP_TOKEN>\n", MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
        enum MHD_Result ok = MHD_queue_response(c, 401, r);
        MHD_destroy_response(r);
        return ok;
    }
    if (!strcmp(url, "/metrics")) return serve_metrics(c);
    static const char prefix[] = "/debug/pprof";
    if (strncmp(url, prefix, sizeof prefix - 1) ||
        (url[sizeof prefix - 1] != '/' && url[sizeof prefix - 1] != 0))
        return send_text(c, 404, "scry: not found; the profiles are under /debug/pprof/\n");
    const char *path = url + sizeof prefix - 1;
    if (*path == '/') path++;

    scry__reply_t rep;
    memset(&rep, 0, sizeof rep);
    rep.fd = -1;
    if (post) {
        scry__debug_pprof_symbol(body->data, body->len, &rep);
    } else if (!strcmp(path, "symbol") &&
               MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, NULL, NULL) > 0) {
        char *q = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&q, &n);
        if (f) {
            MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_word, f);
            fclose(f);
        }
        scry__debug_pprof_symbol(q, q ? n : 0, &rep);
        free(q);
    } else {
        scry__debug_pprof(path, get_arg, c, &rep);
    }
    struct MHD_Response *r;
    if (rep.fd >= 0) {
        off_t size = lseek(rep.fd, 0, SEEK_END);
        r = size >= 0 ? MHD_create_response_from_fd_at_offset64((uint64_t)size, rep.fd, 0) : NULL;
        if (!r) close(rep.fd);
    } else {
        r = MHD_create_response_from_buffer(strlen(rep.text), rep.text, MHD_RESPMEM_MUST_COPY);
    }
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            rep.content_type ? rep.content_type : "text/plain; charset=utf-8");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (rep.disposition) {
        char d[128];
        snprintf(d, sizeof d, "attachment; filename=\"%s\"", rep.disposition);
        MHD_add_response_header(r, "Content-Disposition", d);
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)rep.status, r);
    MHD_destroy_response(r);
    return ok;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap; /* libmicrohttpd's own chatter (a client hung up) is not the host's business */
}

typedef struct {
    unsigned flags;
    const struct sockaddr_storage *ss;
    struct MHD_Daemon *d;
    int err;
} start_t;

static long start_daemon(void *p)
{
    start_t *st = p;
    st->d = MHD_start_daemon(st->flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, st->ss,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    st->err = errno;
    return 0;
}

static long stop_daemon(void *d)
{
    MHD_stop_daemon(d);
    return 0;
}

int scry__http_start(const char *addr, const char *tok)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int explicit_host;
    char why[256];
    if (parse_addr(addr, &ss, &len, &explicit_host, why, sizeof why) < 0) {
        scry__log("SCRY_HTTP: %s; no HTTP server", why);
        return -EINVAL;
    }
    if (!is_loopback(&ss) && (!tok || !*tok)) {
        scry__log("SCRY_HTTP: %s is not a loopback address: set SCRY_HTTP_TOKEN to serve on it "
                  "(requests must then send Authorization: Bearer <token>); no HTTP server",
                  addr);
        return -EPERM;
    }
    if (tok && strlen(tok) >= sizeof token) {
        scry__log("SCRY_HTTP_TOKEN is longer than %zu bytes; no HTTP server", sizeof token - 1);
        return -EINVAL;
    }
    pthread_mutex_lock(&lock);
    if (daemon_) {
        pthread_mutex_unlock(&lock);
        return -EALREADY;
    }
    snprintf(token, sizeof token, "%s", tok ? tok : "");
    /* poll(), not select(): scry's sockets live at high numbers (core/fds.h),
     * which may be past FD_SETSIZE. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* Started on scry's home thread: its sockets and threads are scry's, in
     * scry's descriptor table (core/home.h). */
    start_t st = {flags, &ss, NULL, 0};
    scry__home_call(start_daemon, &st);
    daemon_ = st.d;
    int e = st.err;
    if (!daemon_) {
        pthread_mutex_unlock(&lock);
        scry__log("SCRY_HTTP: cannot listen on %s (%s); no HTTP server", addr,
                  e ? strerror(e) : "libmicrohttpd refused");
        return -(e ? e : EADDRINUSE);
    }
    /* Thread dumps can be asked for at any moment: waits publish their
     * stacks while the server runs (core/waits.h). */
    atomic_fetch_add(&scry__wait_stacks_wanted, 1);
    /* /metrics: the once-a-second samples (schedstat, RSS) come from the
     * aggregator. */
    atomic_store(&scry__metrics_wanted, 1);
    scry__heap_totals_want(+1); /* /metrics serves the exact heap totals (profile/heap.h) */
    if (scry__aggregator_start() < 0) scry__log("could not start scry's thread; some metrics stay 0");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port = info ? info->port : 0;
    pthread_mutex_unlock(&lock);
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    scry__log(ss.ss_family == AF_INET ? "serving http://%s:%d/debug/pprof/"
                                      : "serving http://[%s]:%d/debug/pprof/",
              host, port);
    return 0;
}

void scry__http_stop(void)
{
    pthread_mutex_lock(&lock);
    struct MHD_Daemon *d = daemon_;
    daemon_ = NULL;
    port = 0;
    pthread_mutex_unlock(&lock);
    if (d) {
        scry__home_call(stop_daemon, d); /* its descriptors are in scry's table */
        atomic_fetch_sub(&scry__wait_stacks_wanted, 1);
        scry__heap_totals_want(-1);
    }
}

/* The server's threads did not cross the fork: the child forgets the
 * daemon (it cannot be stopped without them). Its sockets, the listening
 * one included, are closed with scry's other descriptors (core/fds.h), so
 * the parent keeps the port to itself. */
void scry__http_postfork_child(void)
{
    if (!daemon_) return;
    daemon_ = NULL;
    port = 0;
    pthread_mutex_init(&lock, NULL);
}

int scry__http_port(void)
{
    return port;
}
