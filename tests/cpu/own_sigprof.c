/*
 * own_sigprof.c - the program installs its own SIGPROF handler and drives
 * it with its own setitimer(ITIMER_PROF), as a program using another
 * profiler would. Its handler must keep receiving its signals, its queries
 * must see its own handler, and scry's profile must still be written.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "common.h"

static volatile sig_atomic_t mine;
static double sink;

static void my_handler(int sig)
{
    (void)sig;
    mine++;
}

__attribute__((noinline)) void busy_with_own_profiler(void)
{
    sink += spin(300000000L);
}

int main(void)
{
    struct sigaction sa, back;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = my_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGPROF, &sa, NULL) != 0) return 2;
    sigaction(SIGPROF, NULL, &back);
    int sees_own = back.sa_handler == my_handler;
    struct itimerval it = {{0, 20000}, {0, 20000}}; /* 50 Hz */
    setitimer(ITIMER_PROF, &it, NULL);
    double cpu0 = process_cpu_seconds();
    busy_with_own_profiler();
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_PROF, &it, NULL);
    printf("own_handler_calls %d\nexpected_calls %.0f\nsees_own_handler %d\n", (int)mine,
           (process_cpu_seconds() - cpu0) * 50, sees_own);
    return sink == 0.0;
}
