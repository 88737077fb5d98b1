/*
 * sink.c - the OTLP collector of bench/otlp/run.sh: a libmicrohttpd server
 * that reads each POST's body and answers 200 with an empty body at once,
 * so that the exporter, not the collector, is what is measured (a Python
 * collector decoding the spans would be the bottleneck).
 *
 * Usage: otlp_sink PORTFILE. Listens on 127.0.0.1, a free port written to
 * PORTFILE; on SIGTERM or SIGINT prints "sink requests=N bytes=B" (bodies as
 * received, compressed or not) and exits.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long requests, bytes;

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    (void)cls, (void)url, (void)method, (void)version, (void)data;
    if (*state == NULL) { /* the headers: the body follows in later calls */
        *state = c;
        return MHD_YES;
    }
    if (*size) { /* a piece of the body: consumed */
        atomic_fetch_add(&bytes, (long)*size);
        *size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/x-protobuf");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&requests, 1);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: otlp_sink PORTFILE\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by the daemon's threads */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, answer,
                         NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "otlp_sink: cannot start the server\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f || !info) return 1;
    fprintf(f, "%u\n", (unsigned)info->port);
    fclose(f);
    rename(tmp, argv[1]);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    printf("sink requests=%ld bytes=%ld\n", atomic_load(&requests), atomic_load(&bytes));
    return 0;
}
