/*
 * exec_clean.c - profiled at a high rate, the program burns CPU on two
 * threads and then execs a shell that exits 7. No SIGPROF may survive
 * into the new image (it would kill it: SIGPROF's default action), so the
 * exit status must be 7.
 */
#include <pthread.h>
#include <unistd.h>

#include "common.h"

static double sink;

static void *body(void *a)
{
    (void)a;
    for (;;) sink += spin(100000);
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, body, NULL);
    sink += spin(50000000L);
    execl("/bin/sh", "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 7",
          (char *)NULL);
    return 1;
}
