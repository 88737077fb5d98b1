/*
 * fork_storm.c - 300 forks while two threads burn CPU under a 1000 Hz
 * profile, so forks land while the aggregator drains, threads start and
 * samples arrive. Every child runs a little, and exits through _exit (no
 * profile) or, one in 50, through exit (writes cpu.<pid>.pb.gz). Nothing
 * may hang (the fork handlers take every scry lock in one order) or crash.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static atomic_int stop;
static double sink;

static void *burn(void *a)
{
    (void)a;
    while (!atomic_load(&stop)) sink += spin(20000);
    return NULL;
}

__attribute__((noinline)) void child_body(void)
{
    sink += spin(100000);
}

int main(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, burn, NULL);
    int bad = 0, with_exit = 0;
    for (int i = 0; i < 300; i++) {
        pid_t pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) {
            child_body();
            if (i % 50 == 0) exit(0);
            _exit(0);
        }
        with_exit += i % 50 == 0;
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    printf("forks 300 bad %d profiled_children %d\n", bad, with_exit);
    return bad != 0;
}
