/*
 * server.h - the live debug endpoint inside the profiled process, as Go's
 * net/http/pprof: libmicrohttpd, on threads of scry's own.
 *
 * Started by SCRY_HTTP=ADDR (or `scry run --http ADDR`, or scry_http_start):
 * "PORT", ":PORT" and "HOST:PORT" (IPv6 as "[::1]:PORT"); a missing host
 * means loopback. Port 0 picks a free port; the address is said on stderr
 * in one line either way. A non-loopback address is accepted only when
 * given explicitly, and then only with SCRY_HTTP_TOKEN set: every request
 * must carry "Authorization: Bearer TOKEN". Whatever goes wrong (a port in
 * use, a bad address) is said in one line and the program runs on without a
 * server.
 */
#ifndef SCRY_HTTP_SERVER_H
#define SCRY_HTTP_SERVER_H

/* 0, or a negative errno after saying why in one line. */
int scry__http_start(const char *addr, const char *token);
void scry__http_stop(void);
/* In a fork child: the server stays the parent's. */
void scry__http_postfork_child(void);
/* The port the server listens on, 0 when it does not run. */
int scry__http_port(void);

#endif
