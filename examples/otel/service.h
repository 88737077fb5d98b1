/*
 * service.h - the HTTP server half shared by the two example services
 * (front.c, back.c): libmicrohttpd, one SERVER span per request.
 *
 * A service is a table of routes. For each request service.c extracts the
 * caller's W3C trace context from the headers, starts a SERVER span named
 * "GET /route" (OpenTelemetry's HTTP conventions: method and route) that
 * stays the thread's current span while the route's handler runs, so the
 * handler's CPU samples carry span_name="GET /route", and ends it with the
 * response's status.
 */
#ifndef OTEL_SERVICE_H
#define OTEL_SERVICE_H

#include <stddef.h>

#include "scry.h"

/* One request, as a handler sees it. The handler writes the status (200
 * unless told) and a text body. */
typedef struct {
    const char *path;  /* "/hash" */
    scry_span_t *span; /* the SERVER span (NULL when spans are disabled) */
    int status;
    char body[512];
} request_t;

typedef struct {
    const char *path;
    void (*handle)(request_t *req);
} route_t;

/* Serves routes (ended by a NULL path) on 127.0.0.1:port (0: any free
 * port) until SIGTERM or SIGINT, printing "listening on PORT" to stdout
 * once it accepts. Then it stops, exports the spans still queued and
 * returns the exit status for main. */
int service_run(const char *name, int port, const route_t *routes);

/* A flag's value: "--port 8080" or "--port=8080" at argv[*i]; NULL when
 * argv[*i] is not that flag. Advances *i past a separate value. */
const char *flag_value(int argc, char **argv, int *i, const char *flag);

#endif
