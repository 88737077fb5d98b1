/*
 * heap_jemalloc - a program linked with jemalloc, profiled by scry.
 *
 * keep_blocks keeps 1000 blocks of 3000 bytes. jemalloc's own per-thread
 * counters (mallctl thread.allocated / thread.deallocated, in its size
 * classes) must grow by what the program did: the blocks went to jemalloc,
 * not to glibc. scry's exact totals, in the allocator's usable sizes, must
 * agree to the byte with what the program counts itself (jemalloc's usable
 * size of every block it allocates and frees). jemalloc's counters hold
 * that and also what scry allocated on this thread meanwhile (the sampled
 * stacks' tables), which scry's totals leave out: they may only be larger.
 * The heap profile (--heap-rate 1) must show keep_blocks with 3000000
 * bytes in use.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scry.h"

static void *blocks[1000];
static uint64_t own_alloc, own_free; /* jemalloc's usable sizes, as the program counts */

static uint64_t je(const char *name)
{
    uint64_t v = 0;
    size_t len = sizeof v;
    if (mallctl(name, &v, &len, NULL, 0) != 0) return UINT64_MAX;
    return v;
}

__attribute__((noinline)) static void keep_blocks(void)
{
    for (int i = 0; i < 1000; i++) {
        blocks[i] = malloc(3000);
        memset(blocks[i], 7, 3000);
        own_alloc += malloc_usable_size(blocks[i]);
    }
}

__attribute__((noinline)) static void churn(void)
{
    for (int i = 0; i < 5000; i++) {
        char *p = malloc(100 + (size_t)i % 400);
        __asm__ volatile("" : : "r"(p) : "memory"); /* the compiler may not drop the pair */
        size_t u = malloc_usable_size(p);
        own_alloc += u;
        own_free += u;
        free(p);
    }
}

int main(void)
{
    int (*totals)(scry_heap_totals_t *) =
        (int (*)(scry_heap_totals_t *))dlsym(RTLD_DEFAULT, "scry_heap_totals");
    scry_heap_totals_t s0 = {0}, s1 = {0};
    if (totals) totals(&s0);
    uint64_t a0 = je("thread.allocated"), d0 = je("thread.deallocated");
    keep_blocks();
    churn();
    uint64_t a1 = je("thread.allocated"), d1 = je("thread.deallocated");
    if (totals) totals(&s1);
    printf("jemalloc: allocated %llu deallocated %llu\n", (unsigned long long)(a1 - a0),
           (unsigned long long)(d1 - d0));
    printf("scry:     allocated %llu deallocated %llu\n", s1.alloc_bytes - s0.alloc_bytes,
           s1.free_bytes - s0.free_bytes);
    printf("served_by_jemalloc %d\n", a0 != UINT64_MAX && a1 - a0 >= 1000 * 3000 + 5000 * 100 && d1 - d0 >= 5000 * 100);
    printf("program:  allocated %llu deallocated %llu\n", (unsigned long long)own_alloc,
           (unsigned long long)own_free);
    printf("totals_match %d\n", totals && own_alloc == s1.alloc_bytes - s0.alloc_bytes &&
                                    own_free == s1.free_bytes - s0.free_bytes &&
                                    a1 - a0 >= own_alloc && d1 - d0 >= own_free);
    return 0;
}
