/*
 * pingpong.c - the "channels" workload of bench/run: two threads hand a
 * token back and forth through one mutex and two condition variables, a
 * fixed number of round trips. Every hand-off is a wait, a signal and a
 * wake-up, so the block, mutex and wall profiles see every event; the work
 * itself is nothing but the hand-offs.
 *
 * Prints its own CPU time (getrusage RUSAGE_SELF, user + system, all
 * threads, so a profiler's helper threads count) and wall time, measured
 * before exit so writing a profile at exit is not counted.
 *
 * Usage: pingpong [round_trips]   (default 200000)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t to_pong = PTHREAD_COND_INITIALIZER;
static pthread_cond_t to_ping = PTHREAD_COND_INITIALIZER;
static int turn; /* 0: ping's turn, 1: pong's; guarded by mu */
static long trips;

static void *pong(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (long i = 0; i < trips; i++) {
        while (turn != 1) pthread_cond_wait(&to_pong, &mu);
        turn = 0;
        pthread_cond_signal(&to_ping);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    trips = argc > 1 ? atol(argv[1]) : 200000;
    if (trips <= 0) {
        fprintf(stderr, "usage: pingpong [round_trips]\n");
        return 2;
    }
    double t0 = now();
    pthread_t t;
    if (pthread_create(&t, NULL, pong, NULL) != 0) {
        fprintf(stderr, "pingpong: pthread_create failed\n");
        return 1;
    }
    pthread_mutex_lock(&mu);
    for (long i = 0; i < trips; i++) {
        turn = 1;
        pthread_cond_signal(&to_pong);
        while (turn != 0) pthread_cond_wait(&to_ping, &mu);
    }
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
    double wall = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("cpu_seconds %.6f wall_seconds %.6f round_trips %ld\n", cpu, wall, trips);
    return 0;
}
