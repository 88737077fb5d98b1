/*
 * stripped_lib.c - a library whose allocating code nothing will name: the
 * test strips the built file (strip --strip-all: no DWARF, no .symtab), and
 * the one name .dynsym keeps, stripped_entry, is not on the allocating
 * stacks: it only hands out stripped_alloc, which the program then calls.
 * So no location in the library's mapping has a function from a symbol
 * table: a redis-server without its debug package, as far as pprof can tell.
 */
#include <stdlib.h>
#include <string.h>

#define KEPT 2048

static void *kept[KEPT];
static unsigned turn;

__attribute__((noinline)) static void *stripped_grow(size_t n)
{
    void *p = malloc(n);
    if (p) memset(p, 1, n);
    __asm__ volatile("");
    return p;
}

/* One allocation of about 5 KiB, kept until KEPT later ones: some 10 MiB
 * live, for the heap profile. */
__attribute__((noinline)) static void stripped_alloc(void)
{
    unsigned i = turn++ % KEPT;
    free(kept[i]);
    kept[i] = stripped_grow(4096 + (i % 8) * 256);
    __asm__ volatile("");
}

__attribute__((visibility("default"))) void (*stripped_entry(void))(void)
{
    return stripped_alloc;
}
