/*
 * cpu_work.c - the CPU-bound workload of bench/cpu.sh: hashing and sorting
 * at the bottom of a 16-deep call chain, single-threaded, a fixed amount of
 * work. Prints its own CPU time (getrusage, all threads, so scry's
 * aggregator thread counts) measured before exit, so the one-time cost of
 * writing the profile at exit is reported apart.
 *
 * Usage: cpu_work [rounds]   (default 40: about 3 s here)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define N 200000

static uint32_t data[N];

__attribute__((noinline)) static uint64_t hash_block(const uint32_t *p, int n, uint64_t h)
{
    for (int i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

static int cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

__attribute__((noinline)) static uint64_t round_of_work(uint64_t seed)
{
    for (int i = 0; i < N; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        data[i] = (uint32_t)(seed >> 33);
    }
    qsort(data, N, sizeof data[0], cmp);
    uint64_t h = 0;
    for (int k = 0; k < 8; k++) h = hash_block(data, N, h);
    return h;
}

__attribute__((noinline)) static uint64_t descend(int depth, uint64_t seed)
{
    if (depth == 0) return round_of_work(seed);
    return descend(depth - 1, seed) + 1; /* not a tail call: frames stay */
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 40;
    uint64_t h = 0;
    for (int r = 0; r < rounds; r++) h += descend(16, (uint64_t)r + h);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("cpu_seconds %.6f\nchecksum %llu\n", cpu, (unsigned long long)h);
    return 0;
}
