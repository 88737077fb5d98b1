/*
 * blockall.c - threads that block every signal, as thread pools do, and a
 * program whose own signal handling must not change under scry.
 *
 *   blockall split T   Two workers that block all signals: first_worker's
 *       thread is created the way xz and jemalloc create theirs (sigfillset,
 *       pthread_sigmask(SIG_SETMASK) around pthread_create, so it inherits
 *       the full mask); second_worker's thread blocks everything itself
 *       (sigfillset, SIG_BLOCK) when it starts. first_worker spins until its
 *       thread has used 3T ms of CPU, second_worker until T ms (each by its
 *       own thread CPU clock): a 3:1 split by construction. Meanwhile the
 *       main thread (which blocks SIGUSR1 and SIGUSR2 by name) sends SIGUSR1
 *       to the process 10 times, each handled by `listener`, the one thread
 *       that unblocks SIGUSR1 (the handler records which thread ran it), and
 *       SIGUSR2 10 times, each taken by `waiter`, a thread that blocks
 *       everything and sigwaits on a full set but SIGUSR1 (it records every
 *       signal it takes: only SIGUSR2 may come, never SIGPROF or SIGVTALRM). Prints, one "name
 * value" a line: each worker's CPU time and whether it saw its mask as full, the process's CPU time
 * after the workers were joined, the signals sent, handled by the right thread and elsewhere, and
 * what the waiter took. blockall named T   worker `named_blocker` blocks SIGPROF and SIGVTALRM by
 *       name (a set of those two) and spins until its thread has used 2T ms;
 *       `free_worker` blocks nothing and spins for T ms. Prints both threads'
 *       CPU times and the process's.
 *   blockall masks     checks what the program reads back from pthread_sigmask,
 *       sigprocmask and the BSD calls is what it set (everything, a named
 *       set, save/restore, SIG_UNBLOCK, errors, a thread created under a full
 *       mask); with SCRY_EXPECTED=1 also that the kernel's mask leaves
 *       SIGPROF and SIGVTALRM deliverable under a full set and blocks a
 *       named SIGPROF, and that a signalfd on a full set does not take them.
 *       Prints "ok NAME" or "FAIL NAME: why" lines; exits 1 on a failure.
 */
#define _GNU_SOURCE
/* The BSD calls are deprecated, and tested on purpose; so is passing one
 * set as both arguments. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#pragma GCC diagnostic ignored "-Wrestrict"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double quota_s;
static double sink;

static double spin(long iters)
{
    volatile double x = 1.0;
    for (long i = 0; i < iters; i++)
        x = x * 1.0000001 + 1e-9;
    return x;
}

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spins in small steps until this thread has used `seconds` of CPU. */
static inline void spin_for_cpu(double seconds)
{
    while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < seconds * 1e9)
        sink += spin(20000);
}

/* SIGKILL and SIGSTOP are in a filled set but never in the kernel's mask. */
static int blockable(int s)
{
    return s != SIGKILL && s != SIGSTOP;
}

static int view_full(void)
{
    sigset_t cur, all;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    sigfillset(&all);
    for (int s = 1; s < 65; s++)
        if (blockable(s) && sigismember(&all, s) == 1 && sigismember(&cur, s) != 1) return 0;
    return 1;
}

/* ---- split ---- */

static int64_t first_cpu, second_cpu;
static int first_full, second_full;

__attribute__((noinline)) void first_worker(void)
{
    spin_for_cpu(3 * quota_s);
}

__attribute__((noinline)) void second_worker(void)
{
    spin_for_cpu(quota_s);
}

static void *run_first(void *a)
{
    (void)a;
    first_full = view_full(); /* inherited */
    first_worker();
    first_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

static void *run_second(void *a)
{
    (void)a;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    second_full = view_full();
    second_worker();
    second_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

static _Atomic pid_t listener_tid;
static _Atomic int usr1_right, usr1_elsewhere, listener_done;

static void on_usr1(int sig)
{
    (void)sig;
    if ((pid_t)syscall(SYS_gettid) == atomic_load(&listener_tid))
        atomic_fetch_add(&usr1_right, 1);
    else
        atomic_fetch_add(&usr1_elsewhere, 1);
}

__attribute__((noinline)) void listen_here(void)
{
    while (!atomic_load(&listener_done))
        pause();
}

static void *listener(void *a)
{
    (void)a;
    atomic_store(&listener_tid, (pid_t)syscall(SYS_gettid));
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    listen_here();
    return NULL;
}

static _Atomic int waiter_usr2, waiter_other, waiter_other_sig, waiter_done;

/* Everything but SIGUSR1, which is the listener's: a sigwait takes a
 * signal sent to the process as soon as it is in its set. */
__attribute__((noinline)) void wait_here(void)
{
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGUSR1);
    while (!atomic_load(&waiter_done)) {
        int sig = 0;
        if (sigwait(&all, &sig) != 0) continue;
        if (sig == SIGUSR2) {
            atomic_fetch_add(&waiter_usr2, 1);
        } else {
            atomic_fetch_add(&waiter_other, 1);
            atomic_store(&waiter_other_sig, sig);
        }
    }
}

static void *waiter(void *a)
{
    (void)a;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    wait_here();
    return NULL;
}

/* Waits up to 2 s for *n to reach want. */
static void await(_Atomic int *n, int want)
{
    for (int i = 0; i < 2000 && atomic_load(n) < want; i++)
        usleep(1000);
}

static int joined_within(pthread_t t, int seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

static int split(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t mine, all, old;
    sigemptyset(&mine);
    sigaddset(&mine, SIGUSR1);
    sigaddset(&mine, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &mine, NULL);

    pthread_t l, w, a, b;
    pthread_create(&l, NULL, listener, NULL);
    pthread_create(&w, NULL, waiter, NULL);
    while (!atomic_load(&listener_tid))
        usleep(1000);
    /* As xz does: the worker inherits a full mask. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_create(&a, NULL, run_first, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_create(&b, NULL, run_second, NULL);

    usleep(100000);
    int sent1 = 0, sent2 = 0;
    for (int i = 0; i < 10; i++) {
        kill(getpid(), SIGUSR1);
        sent1++;
        await(&usr1_right, sent1);
        kill(getpid(), SIGUSR2);
        sent2++;
        await(&waiter_usr2, sent2);
        usleep(20000);
    }
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    int64_t process = clock_ns(CLOCK_PROCESS_CPUTIME_ID);

    atomic_store(&listener_done, 1);
    kill(getpid(), SIGUSR1);
    sent1++;
    atomic_store(&waiter_done, 1);
    kill(getpid(), SIGUSR2);
    sent2++;
    /* A signal that went astray would leave one of them waiting: never hang. */
    int stuck = !joined_within(l, 3) + !joined_within(w, 3);
    printf("helpers_stuck %d\n", stuck);
    printf("first_cpu_ns %lld\nsecond_cpu_ns %lld\nprocess_cpu_ns %lld\n", (long long)first_cpu,
           (long long)second_cpu, (long long)process);
    printf("first_sees_full %d\nsecond_sees_full %d\n", first_full, second_full);
    printf("usr1_sent %d\nusr1_by_listener %d\nusr1_elsewhere %d\n", sent1,
           atomic_load(&usr1_right), atomic_load(&usr1_elsewhere));
    printf("usr2_sent %d\nwaiter_usr2 %d\nwaiter_other %d\nwaiter_other_sig %d\n", sent2,
           atomic_load(&waiter_usr2), atomic_load(&waiter_other), atomic_load(&waiter_other_sig));
    return sink == 0.0;
}

/* ---- named ---- */

static int64_t blocker_cpu, free_cpu;

__attribute__((noinline)) void named_blocker(void)
{
    spin_for_cpu(2 * quota_s);
}

__attribute__((noinline)) void free_worker(void)
{
    spin_for_cpu(quota_s);
}

static void *run_blocker(void *a)
{
    (void)a;
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    sigaddset(&prof, SIGVTALRM);
    pthread_sigmask(SIG_BLOCK, &prof, NULL);
    named_blocker();
    blocker_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

static void *run_free(void *a)
{
    (void)a;
    free_worker();
    free_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

static int named(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, run_blocker, NULL);
    pthread_create(&b, NULL, run_free, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("blocker_cpu_ns %lld\nfree_cpu_ns %lld\nprocess_cpu_ns %lld\n", (long long)blocker_cpu,
           (long long)free_cpu, (long long)clock_ns(CLOCK_PROCESS_CPUTIME_ID));
    return sink == 0.0;
}

/* ---- masks ---- */

static int failures, expect_scry;

#define BSD(sig) (1 << ((sig)-1)) /* glibc's deprecated sigmask() */

static void check(const char *name, int ok, const char *why)
{
    if (ok)
        printf("ok %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, why);
        failures++;
    }
}

/* The kernel's mask, bypassing every interposer. */
static uint64_t kernel_mask(void)
{
    uint64_t m = 0;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 8);
    return m;
}

static int kernel_blocks(int sig)
{
    return (int)(kernel_mask() >> (sig - 1) & 1);
}

static int same(const sigset_t *a, const sigset_t *b)
{
    for (int s = 1; s < 65; s++)
        if (blockable(s) && sigismember(a, s) != sigismember(b, s)) return 0;
    return 1;
}

static sigset_t current(void)
{
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    return cur;
}

static int thread_ok;

static void *created_under_full(void *a)
{
    (void)a;
    thread_ok =
        view_full() && (!expect_scry || (!kernel_blocks(SIGPROF) && !kernel_blocks(SIGVTALRM)));
    return NULL;
}

static int masks(void)
{
    expect_scry = getenv("SCRY_EXPECTED") && atoi(getenv("SCRY_EXPECTED"));
    sigset_t none, all, named_set, old, got;
    sigemptyset(&none);
    sigfillset(&all);
    sigemptyset(&named_set);
    sigaddset(&named_set, SIGPROF);
    sigaddset(&named_set, SIGUSR2);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Everything: read back in full, the kernel leaves scry's signals. */
    check("setmask_all_returns_old",
          pthread_sigmask(SIG_SETMASK, &all, &old) == 0 && same(&old, &none),
          "old mask is not the empty set the program had");
    got = current();
    check("all_reads_back_full", same(&got, &all), "a full set does not read back full");
    if (expect_scry) {
        check("all_kernel_keeps_scry", !kernel_blocks(SIGPROF) && !kernel_blocks(SIGVTALRM),
              "the kernel blocks SIGPROF or SIGVTALRM under a full set");
        check("all_kernel_blocks_program",
              kernel_blocks(SIGUSR1) && kernel_blocks(SIGTERM) && kernel_blocks(SIGRTMIN + 3),
              "the kernel does not block the program's own signals under a full set");
    }
    /* Save/restore round-trips. */
    sigset_t saved;
    pthread_sigmask(SIG_SETMASK, &none, &saved);
    check("restore_old_full", same(&saved, &all), "the saved mask is not full");
    pthread_sigmask(SIG_SETMASK, &saved, &old);
    got = current();
    check("restore_round_trip", same(&got, &all) && same(&old, &none),
          "restoring a saved full set");
    /* Inside everything, SIGPROF blocked by name is really blocked, and the
     * saved set puts things back (what a sigaction wrapper does). */
    sigset_t prof, back;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &back);
    if (expect_scry)
        check("named_inside_all_blocks", kernel_blocks(SIGPROF), "SIGPROF named, not blocked");
    pthread_sigmask(SIG_SETMASK, &back, NULL);
    got = current();
    check("named_inside_all_restores", same(&got, &all), "mask after restore is not full");
    if (expect_scry)
        check("named_inside_all_restores_kernel", !kernel_blocks(SIGPROF), "SIGPROF still blocked");
    /* Everything but SIGUSR1 (SIG_UNBLOCK): the program's view. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
    got = current();
    sigset_t want = all;
    sigdelset(&want, SIGUSR1);
    check("all_but_usr1_view", same(&got, &want), "everything but SIGUSR1 does not read back so");
    if (expect_scry)
        check("all_but_usr1_kernel",
              !kernel_blocks(SIGPROF) && !kernel_blocks(SIGUSR1) && kernel_blocks(SIGUSR2),
              "kernel mask for everything but SIGUSR1");

    /* A named set with SIGPROF: respected, read back exactly. */
    sigprocmask(SIG_SETMASK, &named_set, NULL);
    got = current();
    check("named_reads_back", same(&got, &named_set), "a named set does not read back as set");
    if (expect_scry)
        check("named_kernel_blocks_sigprof", kernel_blocks(SIGPROF) && !kernel_blocks(SIGVTALRM),
              "SIGPROF named by the program is not blocked");

    /* Errors: as glibc's. */
    errno = 1234;
    check("pthread_sigmask_einval", pthread_sigmask(12345, &all, NULL) == EINVAL && errno == 1234,
          "pthread_sigmask with a bad how");
    errno = 0;
    check("sigprocmask_einval", sigprocmask(12345, &all, NULL) == -1 && errno == EINVAL,
          "sigprocmask with a bad how");

    /* The same set passed as set and old. */
    sigset_t both = all;
    sigprocmask(SIG_SETMASK, &none, NULL);
    sigprocmask(SIG_SETMASK, &both, &both);
    got = current();
    check("set_is_old", same(&both, &none) && same(&got, &all), "set and old the same object");

    /* BSD calls (sigblock(0) is what siggetmask does; the linker warns
     * about siggetmask). */
    sigprocmask(SIG_SETMASK, &none, NULL);
    int o = sigsetmask(~0);
    int g = sigblock(0);
    check("bsd_setmask_all", o == 0 && (g & BSD(SIGPROF)) && (g & BSD(SIGUSR1)),
          "sigsetmask(~0) does not read back with SIGPROF and SIGUSR1");
    if (expect_scry)
        check("bsd_kernel", !kernel_blocks(SIGPROF) && kernel_blocks(SIGUSR1),
              "kernel mask after sigsetmask(~0)");
    sigsetmask(0);
    o = sigblock(BSD(SIGPROF));
    check("bsd_named", o == 0 && sigblock(0) == BSD(SIGPROF), "sigblock(SIGPROF)");
    if (expect_scry)
        check("bsd_named_kernel", kernel_blocks(SIGPROF), "sigblock(SIGPROF) not blocked");
    sigsetmask(0);

    /* A thread created under a full mask. */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    pthread_create(&t, NULL, created_under_full, NULL);
    pthread_join(t, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    check("thread_created_under_full", thread_ok, "the new thread's mask");

    /* signalfd on a full set: scry's signals are not in the descriptor's. */
    if (expect_scry) {
        int fd = signalfd(-1, &all, SFD_CLOEXEC);
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
        FILE *f = fopen(path, "r");
        unsigned long long m = 0;
        while (f && fgets(buf, sizeof buf, f))
            if (sscanf(buf, "sigmask: %llx", &m) == 1) break;
        if (f) fclose(f);
        close(fd);
        check("signalfd_full",
              fd >= 0 && !(m >> (SIGPROF - 1) & 1) && !(m >> (SIGVTALRM - 1) & 1) &&
                  (m >> (SIGUSR1 - 1) & 1),
              "signalfd's mask holds scry's signals");
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 2) quota_s = atof(argv[2]) / 1000.0;
    if (argc > 1 && !strcmp(argv[1], "split") && quota_s > 0) return split();
    if (argc > 1 && !strcmp(argv[1], "named") && quota_s > 0) return named();
    if (argc > 1 && !strcmp(argv[1], "masks")) return masks();
    fprintf(stderr, "usage: blockall split|named T_MS | blockall masks\n");
    return 2;
}
