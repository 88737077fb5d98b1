/*
 * dl_lib.c - one of the 50 libraries dl_loop loads, unloads and loads again:
 * built 50 times (tests/unwind_real.cmake), each with its own LIB_ID, so each
 * library's function has its own name, dl_burn_<LIB_ID>, and the profile
 * can tell whether a sample in a library was named from the right one.
 * Built without frame pointers: a leaf that keeps no frame, as most code in
 * a distribution's libraries.
 */
#ifndef LIB_ID
#error "build with -DLIB_ID=NN"
#endif
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)

/* Spins for n iterations of a dependent floating-point chain. */
__attribute__((noinline)) double CAT(dl_burn_, LIB_ID)(long n)
{
    volatile double x = 1.0;
    for (long i = 0; i < n; i++)
        x = x * 1.0000001 + 1e-9;
    return x;
}
