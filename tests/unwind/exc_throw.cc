/*
 * exc_throw.cc - two threads throw and catch C++ exceptions in a loop, each
 * thrown three frames down (level3 -> level2 -> level1 -> the catch in
 * thrower), while scry samples them: much of the CPU time is in the C++
 * runtime's unwinder (libgcc_s's _Unwind_RaiseException and its search of
 * the unwind tables, libstdc++'s personality routine), whose frames keep
 * no frame pointer, and samples land in the middle of phase 2, while the
 * unwinder rewrites registers and jumps into landing pads.
 *
 * Ground truth: every throw is caught exactly once, by its own thread
 * (each thread counts its throws and catches); the program exits 1 if not.
 * Usage: exc_throw THROWS_PER_THREAD
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct failure {
    long seq;
};

static long per_thread;
static long caught[2];

/* Some work in every frame, so samples land in each, and a throw at the
 * bottom. noinline: the three frames are real frames to unwind through. */
__attribute__((noinline)) static long level3(long i)
{
    volatile unsigned long x = (unsigned long)i;
    for (int k = 0; k < 50; k++)
        x = x * 3 + (unsigned long)k;
    if (x != 0 || i >= 0) throw failure{i};
    return (long)x;
}

__attribute__((noinline)) static long level2(long i)
{
    volatile long y = i;
    long r = level3(y + 1);
    return r + y;
}

__attribute__((noinline)) static long level1(long i)
{
    volatile long z = i;
    long r = level2(z + 1);
    return r * z;
}

static void *thrower(void *arg)
{
    long t = (long)arg;
    for (long i = 0; i < per_thread; i++) {
        try {
            level1(i);
        } catch (const failure &f) {
            if (f.seq == i + 2) caught[t]++;
        }
    }
    return nullptr;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: exc_throw THROWS_PER_THREAD\n");
        return 2;
    }
    per_thread = atol(argv[1]);
    pthread_t th[2];
    for (long t = 0; t < 2; t++)
        if (pthread_create(&th[t], nullptr, thrower, (void *)t)) return 2;
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], nullptr);
    printf("caught %ld and %ld of %ld each\n", caught[0], caught[1], per_thread);
    return caught[0] == per_thread && caught[1] == per_thread ? 0 : 1;
}
