/*
 * fork_running.c - a multi-threaded program forks; the child keeps running
 * (burning CPU in child_work) after the parent has exited. Both must write
 * their own profile, the child's under its pid, each with its own work.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

static double sink;

__attribute__((noinline)) void child_work(long n)
{
    sink += spin(n);
}

__attribute__((noinline)) void parent_work(long n)
{
    sink += spin(n);
}

static void *helper(void *a)
{
    parent_work((long)a);
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, helper, (void *)50000000L);
    pthread_join(t, NULL); /* a thread existed before the fork */
    pid_t pid = fork();
    if (pid == 0) {
        child_work(300000000L);
        exit(0);
    }
    printf("child %d\n", (int)pid);
    fflush(stdout);
    parent_work(100000000L);
    return sink == 0.0; /* without waiting for the child */
}
