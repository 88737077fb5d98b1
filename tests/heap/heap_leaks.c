/*
 * heap_leaks - a program whose own allocations are known exactly, for the
 * exact heap totals: they must be the program's, not scry's.
 *
 *   heap_leaks N    allocates N blocks it keeps (sizes 16..1040 bytes, by
 *                   malloc, calloc, realloc, posix_memalign, aligned_alloc
 *                   and memalign), and allocates and frees 10 * N more
 *                   (realloc growing and shrinking in place and moving,
 *                   realloc(p, 0)); then, with every count taken, prints
 *                   them: "program allocated A freed F left N" (A and F are
 *                   the successful allocation calls and the frees it made,
 *                   realloc of a block counting one of each, as scry counts
 *                   it; the line's own stdout buffer is libc's block, made
 *                   after the counts).
 *   heap_leaks 0    allocates nothing and prints nothing (write(2) only).
 *
 * The program counts its own calls (a fact of this run); tests/heap/leaks.sh
 * compares them with the totals scry writes.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned long long allocated, freed;

static void *counted(void *p)
{
    if (!p) {
        static const char msg[] = "heap_leaks: out of memory\n";
        (void)!write(2, msg, sizeof msg - 1);
        exit(1);
    }
    allocated++;
    return p;
}

static void drop(void *p)
{
    free(p);
    freed++;
}

/* One kept block, made by the i-th allocation function. */
static void *keep(unsigned i)
{
    size_t n = 16 + (i * 24) % 1025;
    void *p;
    switch (i % 6) {
    case 0:
        return counted(malloc(n));
    case 1:
        return counted(calloc(1, n));
    case 2: /* realloc(NULL, n) is an allocation */
        return counted(realloc(NULL, n));
    case 3:
        if (posix_memalign(&p, 64, n) != 0) p = NULL;
        return counted(p);
    case 4:
        return counted(aligned_alloc(32, (n + 31) & ~(size_t)31));
    default:
        return counted(memalign(128, n));
    }
}

/* Ten blocks made and freed, through realloc's every case. */
static void churn(unsigned i)
{
    char *p = counted(malloc(24));
    memset(p, 1, 24);
    p = realloc(p, 20); /* shrink: a free and an allocation to scry */
    freed++, counted(p);
    p = realloc(p, 4000 + i % 64); /* grow: most likely moves */
    freed++, counted(p);
    void *q = realloc(p, 0); /* glibc frees p and returns NULL */
    freed++;
    if (q) drop(counted(q));
    for (int k = 0; k < 7; k++) drop(counted(malloc(8 + (size_t)k * 100)));
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    if (n <= 0) return 0;
    void **kept = counted(malloc((size_t)n * sizeof *kept));
    for (long i = 0; i < n; i++) {
        kept[i] = keep((unsigned)i);
        churn((unsigned)i);
    }
    drop(kept); /* the array: what is left are the n blocks */
    unsigned long long a = allocated, f = freed;
    printf("program allocated %llu freed %llu left %llu\n", a, f, a - f);
    return 0;
}
