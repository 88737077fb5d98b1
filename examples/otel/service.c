/*
 * service.c - libmicrohttpd server with a SERVER span per request (see
 * service.h). The part of the example that every instrumented HTTP server
 * repeats: extract the caller's context, start the span, name it after the
 * route, record the OpenTelemetry HTTP attributes, end it with the status.
 *
 * Threads: MHD_USE_THREAD_PER_CONNECTION runs each connection's requests
 * on a thread of its own, so a request's span is that thread's current
 * span for exactly as long as its handler runs. A thread pool would do the
 * same as long as the handler runs on one thread (otherwise hand the span
 * over with scry_span_push/scry_span_pop).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "service.h"

static const route_t *routes;
static int listen_port;

/* ---- W3C context from the request headers ---------------------------- */

/* The carrier scry_context_extract reads through header_get. A header
 * sent in several lines (tracestate may be) is joined with ","; two
 * buffers, so the value returned for traceparent stays valid while
 * tracestate is read. */
typedef struct {
    struct MHD_Connection *conn;
    const char *name;
    char joined[2][1024];
    int next;
    size_t len, lines;
    const char *first;
} headers_t;

static enum MHD_Result join_line(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    headers_t *h = cls;
    (void)kind;
    if (strcasecmp(key, h->name) != 0) return MHD_YES;
    if (h->lines++ == 0) h->first = value;
    char *out = h->joined[h->next];
    size_t n = strlen(value);
    /* Whole lines only: a value cut in the middle would be invalid. */
    if (h->len + n + 2 <= sizeof h->joined[0]) {
        if (h->len) out[h->len++] = ',';
        memcpy(out + h->len, value, n + 1);
        h->len += n;
    }
    return MHD_YES;
}

static const char *header_get(void *carrier, const char *name)
{
    headers_t *h = carrier;
    h->name = name;
    h->len = h->lines = 0;
    h->first = NULL;
    h->joined[h->next][0] = '\0';
    MHD_get_connection_values(h->conn, MHD_HEADER_KIND, join_line, h);
    if (h->lines <= 1) return h->first; /* MHD's own copy, valid for the request */
    const char *v = h->joined[h->next];
    h->next ^= 1;
    return v;
}

/* ---- The request ------------------------------------------------------ */

static const route_t *find_route(const char *path)
{
    for (const route_t *r = routes; r->path; r++)
        if (strcmp(r->path, path) == 0) return r;
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)upload_data;
    /* MHD calls once the headers are in, then with the body in pieces,
     * then with none left. Answering on the first call would make it close
     * the connection (the body is unread): answer on the last. */
    static int headers_seen;
    if (!*con_cls) {
        *con_cls = &headers_seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* no route takes a body */
        return MHD_YES;
    }

    /* The caller's context; zeroed (a new trace) when it sent none or an
     * invalid one. */
    headers_t headers = {.conn = conn};
    scry_span_context_t parent;
    scry_context_extract(header_get, &headers, &parent);

    /* Span name: "GET /hash" for a known route, just the method otherwise
     * (OpenTelemetry names server spans by route, never by raw path, so
     * that names stay few). */
    const route_t *route = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ? find_route(url) : NULL;
    char name[128];
    if (route)
        snprintf(name, sizeof name, "%s %s", method, route->path);
    else
        snprintf(name, sizeof name, "%s", method);
    scry_span_t *span = scry_span_start(name, SCRY_SPAN_SERVER, &parent);
    scry_span_set_str(span, "http.request.method", method);
    scry_span_set_str(span, "url.scheme", "http");
    scry_span_set_str(span, "url.path", url);
    scry_span_set_str(span, "server.address", "127.0.0.1");
    scry_span_set_int(span, "server.port", listen_port);
    if (strncmp(version, "HTTP/", 5) == 0)
        scry_span_set_str(span, "network.protocol.version", version + 5);
    const char *agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    if (agent) scry_span_set_str(span, "user_agent.original", agent);

    request_t req = {.path = url, .span = span, .status = 200};
    if (route) {
        scry_span_set_str(span, "http.route", route->path);
        route->handle(&req); /* the span is this thread's current span */
    } else {
        req.status = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ? 404 : 405;
        snprintf(req.body, sizeof req.body, "no route for %s %s\n", method, url);
    }

    /* Server spans are errors for 5xx only: a 4xx is the client's fault. */
    scry_span_set_int(span, "http.response.status_code", req.status);
    if (req.status >= 500) {
        char code[16];
        snprintf(code, sizeof code, "%d", req.status);
        scry_span_set_str(span, "error.type", code);
        scry_span_set_status(span, SCRY_STATUS_ERROR, NULL);
    }
    scry_span_end(span);

    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(req.body), req.body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)req.status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- Running ----------------------------------------------------------- */

static int stop_pipe[2] = {-1, -1};

static void on_stop(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t n = write(stop_pipe[1], "x", 1);
    (void)n;
    errno = saved;
}

int service_run(const char *name, int port, const route_t *table)
{
    routes = table;
    if (pipe(stop_pipe) < 0) {
        perror(name);
        return 1;
    }
    /* Our own handler: the process exits normally, so the spans still
     * queued are exported (and, with SCRY_PROFILES, profiles written). */
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                             MHD_USE_AUTO | MHD_USE_ERROR_LOG,
                         0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%d (in use? try --port 0)\n", name, port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    listen_port = info ? info->port : port;
    printf("listening on %d\n", listen_port);
    fflush(stdout);

    char c;
    while (read(stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    MHD_stop_daemon(d);

    /* Spans are exported in batches by scry's thread: send what is left
     * before the process goes. */
    int rc = scry_span_flush(5000);
    scry_span_stats_t st;
    if (scry_span_stats(&st) == 0)
        fprintf(stderr,
                "%s: spans: %llu started, %llu recorded, %llu exported in %llu requests, "
                "%llu dropped (queue full), %llu dropped (export failed)%s%s\n",
                name, st.started, st.recorded, st.exported, st.exports, st.dropped_queue,
                st.dropped_export, rc < 0 ? "; last flush: " : "", rc < 0 ? scry_strerror(rc) : "");
    return 0;
}

const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    const char *a = argv[*i];
    if (strncmp(a, flag, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != '\0' || *i + 1 >= argc) return NULL;
    return argv[++*i];
}
