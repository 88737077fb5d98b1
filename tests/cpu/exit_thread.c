/*
 * exit_thread.c - exit() is called from a non-main thread while the main
 * thread is still busy. The profile must be written, with both threads'
 * work in it.
 */
#include <pthread.h>
#include <stdlib.h>

#include "common.h"

static double sink;

__attribute__((noinline)) void main_keeps_working(void)
{
    for (;;) sink += spin(1000000);
}

__attribute__((noinline)) void exiting_thread_work(void)
{
    sink += spin(150000000L);
}

static void *body(void *a)
{
    (void)a;
    exiting_thread_work();
    exit(3);
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, body, NULL);
    main_keeps_working();
    return 0;
}
