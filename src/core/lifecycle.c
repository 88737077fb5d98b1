/*
 * lifecycle.c - scry's life inside the host process.
 *
 * Load (constructor): read SCRY_*, register the loading thread, install the
 * fork handlers, start the profiles SCRY_PROFILES names.
 *
 * End: profiles are written once, by whichever comes first of
 *   - the library destructor (return from main, exit() from any thread);
 *   - SIGTERM or SIGINT while the program has no handler of its own: scry's
 *     handler only posts a request (async-signal-safe); the aggregator thread
 *     writes the profiles, puts the default action back and re-sends the
 *     signal, so the program still dies of it with the usual status. A second
 *     signal before that is done kills at once, so a stuck write can never
 *     make a program unkillable.
 * A trace being written (SCRY_TRACE) is finished first, at the same moments;
 * spans still queued for export are sent last.
 * With SCRY_TRACEBACK, also on a fatal signal (core/traceback.c), after the
 * stacks are printed. _exit(), quick_exit() and exec write nothing.
 * Under scry run, the root process notes its start and the end of the exit
 * writer in SCRY_RUN_STATUS, from which scry run tells the user why no
 * profile came out, when none did.
 *
 * Fork: every module's lock is taken before fork and released after it on
 * both sides (jemalloc's discipline), in the lock order written in each
 * header. The child keeps profiling itself: its registry holds only the
 * forking thread, its profiles start afresh, and it writes
 * <name>.<pid>.pb.gz so it never clobbers the parent's file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/unwind_tables.h"
#include "core/aggregator.h"
#include "core/busy.h"
#include "core/config.h"
#include "core/fds.h"
#include "core/home.h"
#include "core/log.h"
#include "core/profile_names.h"
#include "core/stacktab.h"
#include "core/stacks.h"
#include "core/threads.h"
#include "core/traceback.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "interpose/lock.h"
#include "interpose/signal.h"
#include "profile/heap.h"
#include "profile/profile.h"
#include "scry.h"
#include "span/span.h"
#include "trace/trace.h"

static pthread_mutex_t exit_lock = PTHREAD_MUTEX_INITIALIZER;
static int exit_done;
static int out_dir_given;
static _Atomic int term_signals;
static unsigned refused; /* profiles whose start failed (and said why): not written */

/* SCRY_RUN_STATUS, set by scry run: a file it created, that the root
 * process appends "load" to when scry starts in it and "exit" to when the
 * exit writer has run, so that scry run can say why no profile came out
 * (tools/scry/run.c) instead of guessing. An exec'd image appends again. */
static char run_status[PATH_MAX];

static void note_run(const char *line)
{
    if (!run_status[0] || getpid() != scry__config.root_pid) return;
    /* Raw system calls: no fd kept, and scry's own I/O interposers do not
     * see scry's note as the program's I/O. Never created here. */
    int fd = (int)syscall(SYS_openat, AT_FDCWD, run_status, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return;
    (void)!syscall(SYS_write, fd, line, strlen(line));
    syscall(SYS_close, fd);
}

static unsigned profile_bit(const scry__profile_t *p)
{
    int i = scry__profile_index(p->name, strlen(p->name));
    return i >= 0 ? 1u << i : 0;
}

static int auto_started(const scry__profile_t *p)
{
    return (scry__config.profiles & profile_bit(p)) != 0;
}

static void make_dirs(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *s = path + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        mkdir(path, 0755);
        *s = '/';
    }
    mkdir(path, 0755);
}

/* Writes every profile that must be written at exit, once per process. */
static void write_at_exit(void)
{
    scry__busy_enter(); /* none of it is the program's (its heap totals) */
    pthread_mutex_lock(&exit_lock);
    if (exit_done) {
        pthread_mutex_unlock(&exit_lock);
        scry__busy_leave();
        return;
    }
    exit_done = 1;
    scry__trace_atexit(); /* the trace first: it shows the end of the program, not the writes */
    pid_t pid = getpid();
    for (int i = 0; scry__profiles[i]; i++) {
        const scry__profile_t *p = scry__profiles[i];
        int running = p->running();
        if (!auto_started(p) && !(running && out_dir_given)) continue;
        if ((refused & profile_bit(p)) && !running) continue; /* it said why at start */
        if (running) scry__profile_stop(p);
        make_dirs(scry__config.out_dir);
        char path[PATH_MAX + 64];
        if (pid == scry__config.root_pid)
            snprintf(path, sizeof path, "%s/%s.pb.gz", scry__config.out_dir, p->name);
        else
            snprintf(path, sizeof path, "%s/%s.%d.pb.gz", scry__config.out_dir, p->name, (int)pid);
        int rc = scry__profile_write_path(p, path);
        if (rc < 0) scry__log("could not write %s: %s", path, scry_strerror(rc));
    }
    note_run("exit\n");
    /* Last, as it may wait on the network (at most the export timeout). */
    scry__span_atexit();
    pthread_mutex_unlock(&exit_lock);
    scry__busy_leave();
}

void scry__lifecycle_write_profiles(void)
{
    write_at_exit();
}

/* Aggregator thread: a SIGTERM/SIGINT arrived (see on_term), or a traceback
 * handler asks for its dump. */
static void on_request(int sig)
{
    if (sig == SIGQUIT || scry__traceback_is_fatal(sig)) {
        scry__traceback_on_request(sig);
        return;
    }
    if (sig != SIGTERM && sig != SIGINT) return;
    write_at_exit();
    scry__signal_release(sig);
    kill(getpid(), sig); /* blocked here, so another thread takes it */
}

static void on_term(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    if (atomic_fetch_add(&term_signals, 1) == 0) {
        scry__aggregator_request_as_safe(sig);
        return;
    }
    /* Second signal: the write is taking too long; die now. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    scry__real_sigaction(sig, &dfl, NULL);
    raise(sig);
}

static void prefork(void)
{
    /* In lock order (see each header): the spans' pool and exporter (taken
     * with no other scry lock held), the tracer's control, the profiles'
     * control locks, the stack requests, the registry, the aggregator, the
     * stack table. */
    scry__span_prefork();
    scry__trace_prefork();
    for (int i = 0; scry__profiles[i]; i++) scry__profiles[i]->prefork();
    scry__stacks_lock();
    scry__threads_prefork();
    scry__aggregator_prefork();
    scry__stacktab_prefork();
    scry__user_metrics_prefork();
    scry__utab_prefork(); /* taken alone, around the loader's lock only */
}

static void postfork_parent(void)
{
    scry__utab_postfork_parent();
    scry__user_metrics_postfork_parent();
    scry__stacktab_postfork_parent();
    scry__aggregator_postfork_parent();
    scry__threads_postfork_parent();
    scry__stacks_unlock();
    for (int i = 0; scry__profiles[i]; i++) scry__profiles[i]->postfork_parent();
    scry__trace_postfork_parent();
    scry__span_postfork_parent();
}

static void postfork_child(void)
{
    scry__home_postfork_child(); /* first: the child's scry threads start from a new home */
    scry__lock_postfork_child();
    scry__utab_postfork_child();
    scry__span_postfork_child();
    scry__http_postfork_child();
    scry__user_metrics_postfork_child();
    scry__stacktab_postfork_child();
    scry__aggregator_postfork_child();
    scry__threads_postfork_child();
    scry__stacks_unlock();
    int any = 0;
    for (int i = 0; scry__profiles[i]; i++) {
        scry__profiles[i]->postfork_child();
        any |= scry__profiles[i]->running();
    }
    /* Last: it switches the lock interposers' tracing off, under a lock the
     * profiles' handlers above have just made usable again. */
    scry__trace_postfork_child();
    /* The parent's descriptors scry held are closed in the child: their
     * users did not cross (core/fds.h). */
    scry__fds_postfork_child();
    if ((any || scry__config.traceback) && scry__aggregator_start() < 0)
        scry__log("could not start the aggregator in child %d; its samples may be dropped",
                  (int)getpid());
}

/* SCRY_HTTP is inherited by the programs this one starts: only the root
 * process (the one scry run started, or the first to load scry) serves. */
static void start_http(void)
{
    if (scry__config.http[0] && getpid() == scry__config.root_pid)
        scry__http_start(scry__config.http, scry__config.http_token);
}

static void init(void)
{
    scry__stderr_note(); /* fd 2 as the program starts: where scry's messages go */
    scry__config_load();
    const char *rs = getenv("SCRY_RUN_STATUS");
    if (rs && strlen(rs) < sizeof run_status) snprintf(run_status, sizeof run_status, "%s", rs);
    note_run("load\n");
    scry__malloc_ready();
    scry__threads_init();
    pthread_atfork(prefork, postfork_parent, postfork_child);
    out_dir_given = getenv("SCRY_OUT") != NULL;
    scry__aggregator_on_request(on_request);
    scry__traceback_init();
    int tracing = scry__config.trace_path[0] || scry__config.flight_seconds > 0;
    if (!scry__config.profiles && !scry__config.http[0] && !tracing) return;

    /* Processes exec'ed from this one inherit the preload: tell them who
     * the root is, so only this process writes <name>.pb.gz and serves. */
    if (!getenv("SCRY_ROOT_PID")) {
        char pid[16];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("SCRY_ROOT_PID", pid, 0);
    }
    scry__trace_init();
    /* SIGTERM's handler hands the trace's end to the aggregator thread. */
    if (tracing && scry__aggregator_start() < 0)
        scry__log("could not start scry's thread; a trace cut short by SIGTERM is not finished");
    if (!scry__config.profiles && !tracing) {
        start_http();
        return;
    }
    for (int i = 0; scry__profiles[i]; i++) {
        if (!auto_started(scry__profiles[i])) continue;
        int rc = scry__profile_start(scry__profiles[i]);
        if (rc < 0 && rc != -EALREADY) refused |= profile_bit(scry__profiles[i]);
        /* -ENOTSUP: the profile cannot work in this program and has said
         * why itself (the heap's foreign malloc); a second, generic line
         * ("not available in this version") would contradict it. */
        if (rc < 0 && rc != -EALREADY && rc != -ENOTSUP)
            scry__log("could not start the %s profile: %s; the program runs without it",
                      scry__profiles[i]->name, scry_strerror(rc));
    }
    scry__signal_claim(SIGTERM, on_term, SCRY__CLAIM_YIELD);
    scry__signal_claim(SIGINT, on_term, SCRY__CLAIM_YIELD);
    start_http();
}

/* Everything scry does at load and at the end is its own: the blocks it
 * allocates are not in the program's heap totals (core/busy.h). */
__attribute__((constructor)) static void scry_init(void)
{
    scry__busy_enter();
    init();
    scry__busy_leave();
}

__attribute__((destructor)) static void scry_fini(void)
{
    scry__busy_enter();
    write_at_exit();
    scry__aggregator_stop();
    scry__busy_leave();
}
