/*
 * heap_plt - a non-PIE program that takes malloc's address in its code, as
 * Debian's python3 does: the link gives malloc a canonical PLT entry in the
 * executable (an undefined dynamic symbol with an address), which is what
 * dlsym(RTLD_DEFAULT, "malloc") then answers. Its calls still go to the
 * first malloc defined after it. Built with -no-pie -fno-pie.
 *
 * Allocates 100 blocks of 100 bytes through the pointer and keeps them.
 */
#include <stdio.h>
#include <stdlib.h>

void *(*volatile through)(size_t);

__attribute__((noinline)) static void keep_through_plt(void)
{
    for (int i = 0; i < 100; i++) {
        void *p = through(100);
        if (!p) exit(1);
        __asm__ volatile("" : : "r"(p) : "memory");
    }
}

int main(void)
{
    through = malloc; /* an absolute address in non-PIE code: the PLT entry */
    keep_through_plt();
    return 0;
}
