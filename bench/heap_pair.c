/*
 * heap_pair.c - ns per malloc/free pair on the allocator's hottest path:
 * malloc a small block, touch it, free it at once, N times, single-threaded.
 * Sizes cycle through 16, 32, 64 and 128 bytes, so every allocator serves
 * them from its per-thread cache. This is the floor under which an
 * interposer's per-call cost shows most; bench/heap_work is the less
 * flattering, more realistic mix. Prints ns_per_pair (CPU time of the
 * process, all threads, over the loop) and pairs.
 *
 * Usage: heap_pair [pairs]   (default 20000000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t pairs_loop(long pairs)
{
    uint64_t sum = 0;
    for (long i = 0; i < pairs; i++) {
        char *volatile p = malloc((size_t)16 << (i & 3));
        if (!p) {
            fprintf(stderr, "heap_pair: malloc failed\n");
            exit(1);
        }
        p[0] = (char)i;
        sum += (unsigned char)p[0];
        free(p);
    }
    return sum;
}

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? atol(argv[1]) : 20000000;
    if (pairs <= 0) {
        fprintf(stderr, "usage: heap_pair [pairs]\n");
        return 2;
    }
    pairs_loop(pairs / 10); /* warm the allocator and the caches */
    double t0 = cpu_now();
    uint64_t sum = pairs_loop(pairs);
    double t1 = cpu_now();
    printf("ns_per_pair %.3f\npairs %ld\nchecksum %llu\n", (t1 - t0) * 1e9 / pairs, pairs,
           (unsigned long long)sum);
    return 0;
}
