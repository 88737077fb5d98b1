/*
 * http_server.c - the "http" workload of bench/run: a real HTTP server
 * (libmicrohttpd, one thread per connection) that bench/run loads with wrk
 * from another process. Each request gets a small computed body: an FNV-1a
 * hash of the URL iterated 2000 times, so a request costs some CPU of its
 * own besides the library's parsing and the socket calls.
 *
 * Runs until SIGTERM (or SIGINT), then stops the daemon and prints its CPU
 * time (getrusage RUSAGE_SELF, all threads) and the requests it answered:
 *   cpu_seconds X requests N
 * bench/run divides the two. The signals are blocked in every thread and
 * taken with sigwait, so a profiler's own signal handlers are not disturbed.
 *
 * Usage: http_server PORT
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static atomic_long requests;

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state)
{
    (void)cls, (void)method, (void)version, (void)data, (void)size;
    /* The first call only announces the request; answer on the second. */
    if (*state == NULL) {
        *state = c;
        return MHD_YES;
    }
    uint64_t h = 0xcbf29ce484222325ull;
    for (int k = 0; k < 2000; k++)
        for (const char *p = url; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    char body[64];
    int n = snprintf(body, sizeof body, "%016llx\n", (unsigned long long)h);
    struct MHD_Response *r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&requests, 1);
    return ret;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: http_server PORT\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by the daemon's threads */
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port,
                         NULL, NULL, answer, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "http_server: cannot listen on port %d (in use?)\n", port);
        return 1;
    }
    fprintf(stderr, "http_server: listening on 127.0.0.1:%d\n", port);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("cpu_seconds %.6f requests %ld\n", cpu, atomic_load(&requests));
    return 0;
}
