/*
 * heap_work.c - the allocation-heavy workload of bench/heap.sh: N mixed
 * small malloc/free pairs, single-threaded, a fixed amount of work.
 *
 * A ring of 1024 live blocks: each step picks a slot with a cheap
 * deterministic PRNG, frees the block there and mallocs a new one in its
 * place, touching its first byte. So it is not malloc-then-free of the same
 * chunk: the allocator sees a small, changing working set of mixed sizes.
 * Sizes: 15 in 16 between 16 and 256 bytes, 1 in 16 between 8 and 512.
 * On average about 150 bytes per malloc.
 *
 * malloc and free are plain calls through the PLT (the compiler is told
 * not to treat them as builtins), so an LD_PRELOAD interposer sees them
 * all. Prints its own CPU time (getrusage, all threads, so a profiler's
 * helper threads count) measured before exit, so the one-time cost of
 * writing a profile at exit is reported apart, and the number of pairs.
 *
 * Usage: heap_work [pairs]   (default 40000000: about 1 s with glibc here)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define SLOTS 1024 /* a power of two */

static char *ring[SLOTS];

static inline uint64_t next(uint64_t *s) /* xorshift64*: cheap, deterministic */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static inline size_t size_of(uint64_t r)
{
    if ((r & 15) == 0) return 8 + (size_t)((r >> 8) % 505); /* 8..512 */
    return 16 + (size_t)((r >> 8) % 241);                     /* 16..256 */
}

__attribute__((noinline)) static uint64_t churn(long pairs, uint64_t seed)
{
    uint64_t sum = 0;
    for (long i = 0; i < pairs; i++) {
        uint64_t r = next(&seed);
        unsigned slot = (unsigned)(r >> 40) & (SLOTS - 1);
        char *old = ring[slot];
        if (old) sum += (unsigned char)old[0];
        free(old);
        char *p = malloc(size_of(r));
        if (!p) {
            fprintf(stderr, "heap_work: malloc failed\n");
            exit(1);
        }
        p[0] = (char)i;
        ring[slot] = p;
    }
    return sum;
}

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? atol(argv[1]) : 40000000;
    if (pairs <= 0) {
        fprintf(stderr, "usage: heap_work [pairs]\n");
        return 2;
    }
    uint64_t sum = churn(pairs, 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < SLOTS; i++) {
        free(ring[i]);
        ring[i] = NULL;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("cpu_seconds %.6f\npairs %ld\nchecksum %llu\n", cpu, pairs, (unsigned long long)sum);
    return 0;
}
