/*
 * back.c - the downstream service of the span example (front.c calls it).
 *
 * Its SERVER spans continue the caller's trace: service.c extracts the
 * traceparent front's CLIENT span injected. Its work is its own, in
 * functions named apart from front's, so that each process's CPU profile
 * shows which service did what:
 *   /hash  back_hash_work (a multiply-xorshift mix)
 *   /sort  back_sort_work (insertion sort)
 *
 * Usage: back [--port N] [--work N]   (or BACK_PORT, BACK_WORK)
 *   --port N   listen on 127.0.0.1:N; 0 (the default) picks a free port;
 *              "listening on PORT" is printed either way
 *   --work N   units of CPU work per request (200, about 1 ms)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "scry.h"
#include "service.h"

static long work = 200;

/* /hash: splitmix64's finalizer, chained (about 5 us a round). */
__attribute__((noinline)) static uint64_t back_hash_work(long rounds)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (long i = 0; i < rounds * 1200; i++) {
        h += 0x9e3779b97f4a7c15ULL;
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
        h ^= h >> 31;
    }
    return h;
}

/* /sort: insertion sort of 160 pseudo-random numbers, rounds times (about
 * 5 us a round); returns the sum of the medians. */
__attribute__((noinline)) static uint64_t back_sort_work(long rounds)
{
    uint32_t a[160], x = 2463534242u;
    uint64_t sum = 0;
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < 160; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            uint32_t v = x;
            int j = i;
            for (; j > 0 && a[j - 1] > v; j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
        sum += a[80];
    }
    return sum;
}

static void reply(request_t *req, const char *what, uint64_t result)
{
    scry_span_context_t ctx = {0};
    char tp[SCRY_TRACEPARENT_LEN + 1] = "-";
    if (scry_span_context(req->span, &ctx) == 0) scry_traceparent_format(&ctx, tp);
    snprintf(req->body, sizeof req->body, "back %s=%016llx traceparent=%s\n", what,
             (unsigned long long)result, tp);
}

static void on_hash(request_t *req)
{
    reply(req, "hash", back_hash_work(work));
}

static void on_sort(request_t *req)
{
    reply(req, "sort", back_sort_work(work));
}

static const route_t routes[] = {{"/hash", on_hash}, {"/sort", on_sort}, {NULL, NULL}};

int main(int argc, char **argv)
{
    const char *port = getenv("BACK_PORT"), *w = getenv("BACK_WORK"), *v;
    for (int i = 1; i < argc; i++) {
        if ((v = flag_value(argc, argv, &i, "--port")))
            port = v;
        else if ((v = flag_value(argc, argv, &i, "--work")))
            w = v;
        else {
            fprintf(stderr, "usage: back [--port N] [--work N]\n");
            return 2;
        }
    }
    if (w) work = strtol(w, NULL, 10);
    if (work < 1) work = 1;
    return service_run("back", port ? atoi(port) : 0, routes);
}
