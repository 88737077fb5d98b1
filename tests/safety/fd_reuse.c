/*
 * fd_reuse - a program that takes every descriptor number back, the way
 * daemons do, then writes two files of known bytes and exits with them open.
 *
 *   fd_reuse MODE DIR [PAUSE_MS]
 *
 * MODE says how the numbers above stderr are taken back:
 *   close        close(fd) for every fd from 3 to the descriptor limit
 *   close0       the same from 0 (stdin, stdout, stderr too)
 *   closefrom    closefrom(3)
 *   close_range  close_range(3, ~0U, 0)
 *   dup2         dup2(/dev/null, fd) onto every fd from 3 to 1023, then
 *                close(fd) for each
 * Then it opens DIR/a, DIR/b and DIR/c (which get the lowest free numbers,
 * 3, 4 and 5, or 0, 1 and 2 when MODE is close0: then c is where stderr
 * was, and scry's messages must not go there), and while threads lock,
 * wait and allocate around
 * it, writes 310 bytes to each in 31 writes of 10 (PAUSE_MS apart, default
 * 5; it says "ready" on stderr before the first unless MODE is close0),
 * and returns 7 from main without closing them. The caller checks that both files hold exactly
 * their bytes and that the exit status is 7. It also prints the numbers it
 * got to DIR/fds, the program's own record of what it opened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static volatile int done;

/* Busy enough that every profile has something: locks, waits, blocks. */
static void *worker(void *arg)
{
    (void)arg;
    unsigned x = 1;
    while (!done) {
        pthread_mutex_lock(&mu);
        for (int i = 0; i < 20000; i++) x = x * 1103515245u + 12345u;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&cv, &mu, &ts);
        pthread_mutex_unlock(&mu);
        free(malloc(100 + x % 1000));
    }
    return NULL;
}

static int limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 65536) return 65536;
    return (int)rl.rlim_cur;
}

static void take_back(const char *mode)
{
    if (!strcmp(mode, "close")) {
        for (int fd = 3; fd < limit(); fd++) close(fd);
    } else if (!strcmp(mode, "close0")) {
        for (int fd = 0; fd < limit(); fd++) close(fd);
    } else if (!strcmp(mode, "closefrom")) {
        closefrom(3);
    } else if (!strcmp(mode, "close_range")) {
        if (close_range(3, ~0u, 0) < 0) _exit(90);
    } else if (!strcmp(mode, "dup2")) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0) _exit(91);
        for (int fd = 3; fd < 1024 && fd < limit(); fd++)
            if (fd != null && dup2(null, fd) != fd) _exit(92);
        for (int fd = 3; fd < 1024 && fd < limit(); fd++) close(fd);
    } else {
        _exit(93);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, NULL);
    struct timespec pause = {0, 20 * 1000000};
    nanosleep(&pause, NULL); /* the threads are running and profiled */

    take_back(argv[1]);
    char a[4096], b[4096], f[4096];
    snprintf(a, sizeof a, "%s/a", argv[2]);
    snprintf(b, sizeof b, "%s/b", argv[2]);
    char c[4096];
    snprintf(c, sizeof c, "%s/c", argv[2]);
    snprintf(f, sizeof f, "%s/fds", argv[2]);
    int fa = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fb = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fc = open(c, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fa < 0 || fb < 0 || fc < 0) return 94;
    long pause_ms = argc > 3 ? atol(argv[3]) : 5;
    if (strcmp(argv[1], "close0")) fprintf(stderr, "ready\n");
    char chunk_a[10], chunk_b[10], chunk_c[10];
    memset(chunk_a, 'a', sizeof chunk_a);
    memset(chunk_b, 'b', sizeof chunk_b);
    memset(chunk_c, 'c', sizeof chunk_c);
    for (int i = 0; i < 31; i++) {
        if (write(fa, chunk_a, sizeof chunk_a) != 10 || write(fb, chunk_b, sizeof chunk_b) != 10 ||
            write(fc, chunk_c, sizeof chunk_c) != 10)
            return 95;
        struct timespec ts = {pause_ms / 1000, pause_ms % 1000 * 1000000};
        nanosleep(&ts, NULL); /* samples, stack requests and ticks land meanwhile */
    }
    int ff = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (ff >= 0) {
        dprintf(ff, "%d %d %d\n", fa, fb, fc);
        close(ff);
    }
    done = 1;
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    return 7; /* fa, fb and fc still open */
}
