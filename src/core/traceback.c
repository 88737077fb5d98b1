/*
 * traceback.c - every thread's stack on SIGQUIT, and the crashing thread's
 * and everyone's on a fatal signal, as a Go program prints them.
 *
 * Enabled by SCRY_TRACEBACK (1 or "continue": SIGQUIT prints and the program
 * carries on; "exit": SIGQUIT prints, writes the profiles and the program
 * dies of SIGQUIT as it would have). Claimed only while the program has no
 * handler of its own for the signal; a program that installs one later takes
 * the signal back (SCRY__CLAIM_YIELD).
 *
 * Nothing is symbolized or printed in a signal handler: the handler posts a
 * request to the aggregator thread, which takes the snapshot
 * (profile/threads.h), symbolizes and writes to stderr.
 *
 * Fatal signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT): the flight
 * recorder, if it runs, writes its window first; then the crashing
 * thread unwinds itself into static memory, writes one line with write(2),
 * asks the aggregator to print its stack, every other thread's and to write
 * the profiles, and waits for that at most FATAL_WAIT_S (the heap may be
 * what is broken). Then it puts the default action back and lets the signal
 * take its course: a fault re-executes the faulting instruction, a sent
 * signal is sent again, so the exit status and the core dump are the ones
 * the program would have had. A fault while this is going on (in scry, or
 * in a second thread) goes straight to the default action.
 */
#define _GNU_SOURCE
#include "core/home.h"
#include "core/traceback.h"

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/aggregator.h"
#include "core/config.h"
#include "core/log.h"
#include "core/ring.h"
#include "core/threads.h"
#include "core/unwind.h"
#include "core/waits.h"
#include "interpose/signal.h"
#include "profile/threads.h"
#include "trace/trace.h"
#include "core/busy.h"

#define FATAL_WAIT_S 10

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static int mode; /* SCRY__TRACEBACK_* */

static _Atomic int fatal_started;
static _Atomic int fatal_done;
static struct {
    int sig, code;
    uintptr_t addr;
    pid_t tid;
    uint32_t nframes;
    uintptr_t frames[SCRY__MAX_FRAMES];
} fatal;

static const char *signame(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    case SIGQUIT:
        return "SIGQUIT";
    }
    return "signal";
}

/* ---- async-signal-safe output ---- */

static size_t put_str(char *b, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap)
        b[at++] = *s++;
    return at;
}

static size_t put_num(char *b, size_t at, size_t cap, uint64_t v, int base)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
        v /= (unsigned)base;
    } while (v);
    if (base == 16) at = put_str(b, at, cap, "0x");
    while (n && at + 1 < cap)
        b[at++] = tmp[--n];
    return at;
}

static void put_to(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        b += w;
        n -= (size_t)w;
    }
}

/* In the crashing thread's handler: the program's stderr, fd 2, when it
 * still is (core/home.h). */
static void put_all(const char *b, size_t n)
{
    int fd = scry__stderr_get();
    if (fd >= 0) put_to(fd, b, n);
    scry__stderr_put(fd);
}

/* The crashing thread's raw frames, when nothing else can be done. */
static void put_raw_frames(void)
{
    char b[64];
    for (uint32_t i = 0; i < fatal.nframes; i++) {
        size_t n = put_str(b, 0, sizeof b, "\t");
        n = put_num(b, n, sizeof b, fatal.frames[i], 16);
        n = put_str(b, n, sizeof b, "\n");
        put_all(b, n);
    }
}

/* ---- the aggregator's side ---- */

void scry__traceback_on_request(int sig)
{
    /* On scry's thread, in its own descriptor table: the program's stderr
     * is fetched (core/home.h). */
    int err = scry__stderr_get(); /* -1: none; the writes then fail */
    char head[160];
    if (sig == SIGQUIT) {
        snprintf(head, sizeof head, "scry: SIGQUIT: the stack of every thread of process %d\n\n",
                 (int)getpid());
        put_to(err, head, strlen(head));
        scry__tdump_t *d = scry__tdump_take(0);
        if (d) {
            scry__tdump_print(d, err);
            scry__tdump_free(d);
        } else {
            scry__log("SIGQUIT: could not take the threads' stacks (out of memory)");
        }
        if (mode == SCRY__TRACEBACK_EXIT) {
            scry__lifecycle_write_profiles();
            scry__signal_release(SIGQUIT);
            kill(getpid(), SIGQUIT); /* blocked here: another thread takes it */
        }
        scry__stderr_put(err);
        return;
    }
    if (!atomic_load(&fatal_started)) {
        scry__stderr_put(err);
        return;
    }
    snprintf(head, sizeof head, "\nthread %d (the one that received %s):\n", (int)fatal.tid,
             signame(fatal.sig));
    put_to(err, head, strlen(head));
    scry__tdump_print_stack(fatal.frames, fatal.nframes, err);
    snprintf(head, sizeof head, "\nevery other thread:\n\n");
    put_to(err, head, strlen(head));
    scry__tdump_t *d = scry__tdump_take(fatal.tid);
    if (d) {
        scry__tdump_print(d, err);
        if (!d->n) put_to(err, "(none)\n\n", 8);
        scry__tdump_free(d);
    }
    scry__stderr_put(err);
    scry__lifecycle_write_profiles();
    atomic_store(&fatal_done, 1);
    syscall(SYS_futex, &fatal_done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- handlers ---- */

static void on_quit(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    int saved = errno;
    scry__aggregator_request_as_safe(sig);
    errno = saved;
}

static void die_as_intended(int sig, const siginfo_t *si)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    scry__real_sigaction(sig, &dfl, NULL);
    /* Sent signals (kill, raise, abort) are not repeated by returning:
     * send it again; it is blocked until the handler returns. A fault
     * repeats by itself when the instruction runs again. */
    if (si->si_code <= 0) syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
}

static void on_fatal(int sig, siginfo_t *si, void *ucv)
{
    if (atomic_exchange(&fatal_started, 1)) {
        die_as_intended(sig, si);
        return;
    }
    /* Crashed in scry's own code? Then from here on this thread is scry's
     * (libunwind's reads below must not be traced or published as waits). */
    int in_scry = scry__tls.busy > 0;
    scry__busy_enter();
    /* The flight recorder's window first: what led here. Not when the
     * crash is in scry's own code (the writer may be what crashed). */
    if (!in_scry) scry__trace_on_fatal_as_safe();
    if (mode == SCRY__TRACEBACK_OFF) {
        die_as_intended(sig, si);
        return;
    }
    fatal.sig = sig;
    fatal.code = si->si_code;
    fatal.addr = (uintptr_t)si->si_addr;
    fatal.tid = (pid_t)syscall(SYS_gettid);
    /* The hybrid walk goes through libc (abort, raise), which frame
     * pointers cannot; the frame-pointer walk is the fallback. */
    fatal.nframes = scry__unwind_hybrid_as_safe(ucv, fatal.frames, SCRY__MAX_FRAMES);
    if (fatal.nframes <= 1) fatal.nframes = scry__unwind_fp_as_safe(ucv, fatal.frames, SCRY__MAX_FRAMES);

    char b[200];
    size_t n = put_str(b, 0, sizeof b, "\nscry: fatal signal ");
    n = put_str(b, n, sizeof b, signame(sig));
    if (sig != SIGABRT && si->si_code > 0) {
        n = put_str(b, n, sizeof b, ", fault address ");
        n = put_num(b, n, sizeof b, fatal.addr, 16);
    }
    n = put_str(b, n, sizeof b, ", in thread ");
    n = put_num(b, n, sizeof b, (uint64_t)fatal.tid, 10);
    n = put_str(b, n, sizeof b, " of process ");
    n = put_num(b, n, sizeof b, (uint64_t)getpid(), 10);
    n = put_str(b, n, sizeof b, "\n");
    put_all(b, n);

    if (in_scry || !scry__aggregator_alive()) {
        /* Crashed in scry's own code, or nobody to symbolize: addresses. */
        put_all("(scry cannot symbolize from here; raw frames)\n", 46);
        put_raw_frames();
    } else {
        scry__aggregator_request_as_safe(sig);
        for (int i = 0; i < FATAL_WAIT_S * 10 && !atomic_load(&fatal_done); i++) {
            struct timespec ts = {0, 100000000};
            syscall(SYS_futex, &fatal_done, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
        }
        if (!atomic_load(&fatal_done)) {
            put_all("scry: the traceback did not finish in time; raw frames:\n", 56);
            put_raw_frames();
        }
    }
    die_as_intended(sig, si);
}

void scry__traceback_init(void)
{
    mode = scry__config.traceback;
    if (mode == SCRY__TRACEBACK_OFF) return;
    scry__unwind_init(SCRY__UNWIND_HYBRID); /* the crashing thread's walk */
    /* Threads in sleeps are never signalled: they publish their stacks. */
    atomic_fetch_add(&scry__wait_stacks_wanted, 1);
    if (scry__aggregator_start() < 0) {
        scry__log("SCRY_TRACEBACK: could not start scry's thread; no tracebacks");
        return;
    }
    /* A shell starts background jobs with SIGQUIT ignored; asking for
     * tracebacks overrides that (in "continue" mode the program still does
     * not die of it). A handler of the program's own is left alone. */
    struct sigaction old;
    if (scry__real_sigaction(SIGQUIT, NULL, &old) == 0 && old.sa_handler == SIG_IGN &&
        !(old.sa_flags & SA_SIGINFO)) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        scry__real_sigaction(SIGQUIT, &dfl, NULL);
    }
    if (scry__signal_claim(SIGQUIT, on_quit, SCRY__CLAIM_YIELD) < 0)
        scry__log("SCRY_TRACEBACK: the program handles SIGQUIT itself; no traceback on SIGQUIT");
    scry__fatal_claim();
}

void scry__fatal_claim(void)
{
    static atomic_flag claimed = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&claimed)) return;
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        if (scry__signal_claim(fatal_signals[i], on_fatal, SCRY__CLAIM_YIELD) < 0)
            scry__log("the program handles %s itself; scry writes no traceback or flight "
                      "recording for it",
                      signame(fatal_signals[i]));
}

int scry__traceback_is_fatal(int sig)
{
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        if (fatal_signals[i] == sig) return 1;
    return 0;
}
