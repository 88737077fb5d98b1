/*
 * heap_truth - allocation sites with known amounts, for the heap profile.
 *
 *   churn       allocates and frees 1 GiB in 1 KiB blocks (64 live at most)
 *   keep_small  keeps 64 MiB in 64-byte blocks
 *   keep_big    keeps 128 MiB in 1 MiB blocks
 *
 * Nothing is freed at the end of keep_*: the heap profile written at exit
 * must show them in use. Around the three sites, the exact totals scry keeps
 * (scry_heap_totals, found with dlsym so the program runs without scry too)
 * are compared with the program's own sums of malloc_usable_size, and the
 * difference is printed: "totals_delta_ok 1" when they agree exactly.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scry.h"

static unsigned long long usable_alloc, usable_freed, nalloc, nfreed;

static void *take(size_t n)
{
    void *p = malloc(n);
    if (!p) abort();
    memset(p, 1, n < 64 ? n : 64);
    usable_alloc += malloc_usable_size(p);
    nalloc++;
    return p;
}

static void give(void *p)
{
    usable_freed += malloc_usable_size(p);
    nfreed++;
    free(p);
}

__attribute__((noinline)) static void churn(void)
{
    void *ring[64] = {0};
    for (long i = 0; i < (1L << 20); i++) {
        if (ring[i & 63]) give(ring[i & 63]);
        ring[i & 63] = take(1024);
    }
    for (int i = 0; i < 64; i++) give(ring[i]);
}

static void **small_blocks, **big_blocks;

__attribute__((noinline)) static void keep_small(void)
{
    for (long i = 0; i < (1L << 20); i++) small_blocks[i] = take(64);
}

__attribute__((noinline)) static void keep_big(void)
{
    for (int i = 0; i < 128; i++) big_blocks[i] = take(1 << 20);
}

int main(void)
{
    int (*totals)(scry_heap_totals_t *) = (int (*)(scry_heap_totals_t *))dlsym(RTLD_DEFAULT, "scry_heap_totals");
    /* The arrays come from mmap so they are no allocation of ours. */
    small_blocks = calloc(1L << 20, sizeof *small_blocks);
    big_blocks = calloc(128, sizeof *big_blocks);
    scry_heap_totals_t a = {0}, b = {0};
    if (totals) totals(&a);
    churn();
    keep_small();
    keep_big();
    if (totals) totals(&b);
    unsigned long long da = b.alloc_bytes - a.alloc_bytes, df = b.free_bytes - a.free_bytes;
    unsigned long long doa = b.alloc_objects - a.alloc_objects, dof = b.free_objects - a.free_objects;
    printf("program: allocated %llu bytes in %llu blocks, freed %llu bytes in %llu blocks\n",
           usable_alloc, nalloc, usable_freed, nfreed);
    printf("scry:    allocated %llu bytes in %llu blocks, freed %llu bytes in %llu blocks\n", da, doa,
           df, dof);
    printf("totals_delta_ok %d\n",
           totals && da == usable_alloc && df == usable_freed && doa == nalloc && dof == nfreed);
    return 0;
}
