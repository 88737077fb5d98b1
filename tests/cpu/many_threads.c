/*
 * many_threads.c - 1000 short-lived threads created and joined while the
 * CPU profile runs, in batches of 8. Each thread's timer must be deleted
 * when it exits: /proc/self/timers must not grow with the threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static double sink;

__attribute__((noinline)) void short_thread_work(void)
{
    sink += spin(200000);
}

static void *body(void *a)
{
    (void)a;
    short_thread_work();
    return NULL;
}

static int count_timers(void)
{
    FILE *f = fopen("/proc/self/timers", "r");
    if (!f) return -1;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "ID:", 3)) n++;
    fclose(f);
    return n;
}

int main(void)
{
    int created = 0;
    for (int round = 0; round < 125; round++) {
        pthread_t t[8];
        for (int i = 0; i < 8; i++)
            if (pthread_create(&t[i], NULL, body, NULL) == 0) created++;
        for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    }
    printf("threads %d\ntimers %d\n", created, count_timers());
    return sink == 0.0;
}
