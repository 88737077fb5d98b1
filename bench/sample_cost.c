/*
 * sample_cost.c - the cost of one CPU sample: signal delivery, unwinding a
 * 64-deep frame-pointer stack, and recording into the ring.
 *
 * At the bottom of a 64-deep call chain the program sends itself SIGPROF
 * with rt_tgsigqueueinfo, shaped exactly like a signal from scry's timer
 * (SI_TIMER and scry's cookie), so scry's handler takes the full sample
 * path. Run under `scry run` (or SCRY_PROFILES=cpu with the library
 * preloaded), that measures scry's sample; run plain with `--baseline` it
 * installs an empty handler and measures the kernel's signal delivery and
 * return alone; with `--ignored` the signal is ignored, which the kernel
 * discards when it is sent, leaving the cost of the sending system call,
 * which a timer signal does not pay. Batches of 1000 with a 30 ms pause, so the aggregator keeps
 * the ring from filling (a full ring would drop, which is cheaper).
 *
 * Usage: sample_cost [--baseline | --ignored] [batches]
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "profile/cpu.h"

#define BATCH 1000
#define DEPTH 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void empty(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
}

static siginfo_t info;
static volatile long frames_walked;
static pid_t pid, tid;

__attribute__((noinline)) static double burst(void)
{
    double t0 = now();
    for (int i = 0; i < BATCH; i++) syscall(SYS_rt_tgsigqueueinfo, pid, tid, SIGPROF, &info);
    return now() - t0;
}

__attribute__((noinline)) static double descend(int depth)
{
    if (depth <= 1) return burst();
    double r = descend(depth - 1);
    frames_walked++; /* work after the call: no tail call, the frame stays */
    return r;
}

int main(int argc, char **argv)
{
    int baseline = argc > 1 && !strcmp(argv[1], "--baseline");
    int ignored = argc > 1 && !strcmp(argv[1], "--ignored");
    int mode = baseline || ignored;
    int batches = argc > 1 + mode ? atoi(argv[1 + mode]) : 100;
    if (ignored) signal(SIGPROF, SIG_IGN); /* the kernel drops it at send time */
    if (baseline) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = empty;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigaction(SIGPROF, &sa, NULL);
    }
    pid = getpid();
    tid = (pid_t)syscall(SYS_gettid);
    memset(&info, 0, sizeof info);
    info.si_signo = SIGPROF;
    info.si_code = SI_TIMER;
    info.si_value.sival_ptr = SCRY__CPU_COOKIE;
    double total = 0;
    struct timespec pause = {0, 30000000};
    for (int b = 0; b < batches; b++) {
        total += descend(DEPTH);
        nanosleep(&pause, NULL);
    }
    printf("ns_per_sample %.1f\n", total * 1e9 / ((double)batches * BATCH));
    return 0;
}
