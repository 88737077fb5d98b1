/*
 * target.c - symbolization ground truth, built -O2 -g. CPU time is spent
 * (1) in inlined_spin, always inlined into outer_with_inline at the line
 * marked CALL_INLINE, and (2) in dl_work, in a library this program loads
 * with dlopen. The driver finds the marked lines with grep and checks the
 * profile names these functions, files and lines.
 */
#include <dlfcn.h>
#include <stdio.h>

static inline __attribute__((always_inline)) double inlined_spin(long n)
{
    volatile double x = 1.0;
    for (long i = 0; i < n; i++) /* INLINE_BEGIN */
        x = x * 1.0000001 + 1e-9;
    return x; /* INLINE_END */
}

__attribute__((noinline)) double outer_with_inline(long n)
{
    double r = inlined_spin(n); /* CALL_INLINE */
    return r + 1.0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    double (*dl_work)(long) = (double (*)(long))dlsym(h, "dl_work");
    if (!dl_work) return 2;
    double r = dl_work(150000000L) + outer_with_inline(150000000L);
    return r == 0.0; /* the library stays loaded until exit */
}
