/*
 * leaf_share.c - ground truth for unwinding out of a frameless leaf: two
 * threads run at once, first_function until its thread has used 3T of CPU
 * and second_function until 1T (each by its own thread CPU clock, read in
 * the caller's loop), and both do all their work in one shared leaf,
 * leaf_work, which keeps no frame: its return address is the only trace
 * of its caller, in the word at the stack pointer. A profile can split the
 * leaf's time 3:1 between the two callers only if it unwinds past the leaf
 * without a frame pointer. (Each then calls the leaf a fixed number of
 * times more, in the same 3:1 ratio: see spend.)
 *
 * The program writes what it measured to REPORT: "first_function NS" and
 * "second_function NS", each the thread CPU time read around the call.
 *
 * Built three ways by tests/unwind.cmake: gcc -O2 -fno-omit-frame-pointer
 * (GCC 12 keeps no frame in a leaf that needs no stack, so leaf_work has
 * none even there, as the test shows with objdump), gcc -O2
 * -fomit-frame-pointer, clang -O2 (no frame pointers by default).
 *
 * Usage: leaf_share T_MS REPORT
 */
#include <pthread.h>
#include <stdlib.h>

#include "leaf_common.h"

static long long quota_ns; /* T */
/* Read on every call, so the call is never loop-invariant (a compiler that
 * found leaf_work pure could otherwise hoist it out of the loop), and its
 * argument never a constant to specialise on. */
static volatile long leaf_iters = 20000;
static volatile double sink;

/* The work: a dependent floating-point chain in registers, 30 to 50 us
 * per call. No stack, no calls: a leaf with no frame. */
TEST_FUNCTION double leaf_work(long iters)
{
    double x = 1.0;
    for (long i = 0; i < iters; i++) x = x * 1.0000001 + 1e-9;
    return x;
}

/* Calls the leaf until this thread has used `ns` of CPU since `start`, then
 * `finish` times more whatever the clock says. The result is used, so the
 * call is not a tail call.
 *
 * Why the finish: under load on the test VM the kernel can let 100 ms and
 * more of a thread's CPU time go by without delivering its CPU timer's
 * signal (one signal then carries all the expirations, as si_overrun;
 * likely a stall of the virtual CPU charged to the running thread). A loop
 * that stopped as soon as its clock said so would stop right after such a
 * stretch, before the signal, and those samples would die with the
 * thread: measured with a bare timer and two busy loops beside, up to
 * 90 ms lost at the end of a thread in 1 of 5 runs; with 20 ms of fixed
 * work after the clock's end, at most 4 ms in 20.
 */
static inline __attribute__((always_inline)) void spend(long long start, long long ns, int finish)
{
    while (thread_cpu_ns() - start < ns) sink += leaf_work(leaf_iters);
    for (int i = 0; i < finish; i++) sink += leaf_work(leaf_iters);
}

/* 13 ms of calls on the test VM for second_function; three times that
 * for first_function, so that the split stays 3:1. */
#define FINISH 400

TEST_FUNCTION void first_function(long long start)
{
    spend(start, 3 * quota_ns, 3 * FINISH);
}

TEST_FUNCTION void second_function(long long start)
{
    spend(start, quota_ns, FINISH);
}

static long long used[2];

static void *run_first(void *a)
{
    long long t0 = thread_cpu_ns();
    first_function(t0);
    used[0] = thread_cpu_ns() - t0;
    return a;
}

static void *run_second(void *a)
{
    long long t0 = thread_cpu_ns();
    second_function(t0);
    used[1] = thread_cpu_ns() - t0;
    return a;
}

int main(int argc, char **argv)
{
    if (argc != 3 || atol(argv[1]) <= 0) {
        fprintf(stderr, "usage: leaf_share T_MS REPORT\n");
        return 2;
    }
    quota_ns = atol(argv[1]) * 1000000LL;
    FILE *report = open_report(argv[2]);
    pthread_t a, b;
    pthread_create(&a, NULL, run_first, NULL);
    pthread_create(&b, NULL, run_second, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    fprintf(report, "first_function %lld\nsecond_function %lld\n", used[0], used[1]);
    return fclose(report) != 0;
}
