/*
 * signal.h - sharing signals with the program.
 *
 * scry needs SIGPROF for the CPU profiler and SIGTERM/SIGINT to write
 * profiles when the program is killed. The program may want the same
 * signals. sigaction() and signal() are interposed so that for a signal scry
 * claimed, the program's installs are recorded rather than replacing scry's
 * handler, queries return what the program installed (as if scry were not
 * there), and scry's handler passes every signal that is not its own to the
 * program's handler (chaining).
 *
 * A claim made with SCRY__CLAIM_YIELD (SIGTERM, SIGINT) instead steps aside
 * as soon as the program installs a handler of its own: the program then
 * owns the signal and scry only writes profiles when the program exits.
 */
#ifndef SCRY_INTERPOSE_SIGNAL_H
#define SCRY_INTERPOSE_SIGNAL_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

typedef void (*scry__sighandler_t)(int sig, siginfo_t *si, void *uc);

enum { SCRY__CLAIM_CHAIN = 0, SCRY__CLAIM_YIELD = 1 };

/* Installs h for sig (SA_SIGINFO | SA_RESTART, all other claimed signals
 * blocked while it runs). The handler that was there becomes the program's
 * recorded handler. With SCRY__CLAIM_YIELD the claim is refused (-EBUSY)
 * when the program already has a handler. 0 or a negative errno. */
int scry__signal_claim(int sig, scry__sighandler_t h, int mode);
/* Puts the program's recorded handler back in place. */
void scry__signal_release(int sig);
/* Async-signal-safe. Delivers a signal that was not scry's to what the
 * program installed: its handler, nothing for SIG_IGN, and for SIG_DFL the
 * default action (re-raised with scry's handler out of the way). */
void scry__signal_chain_as_safe(int sig, siginfo_t *si, void *uc);
/* The libc sigaction, bypassing the interposer. */
int scry__real_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* Signal masks (sigmask.c): pthread_sigmask, sigprocmask, sigblock,
 * sigsetmask, siggetmask and signalfd are interposed so that a mask that
 * "blocks everything" leaves the signals scry keeps deliverable, while the
 * program reads back what it set. The rule is written at the top of
 * sigmask.c. */

/* From now on sig (one scry claimed for itself) stays deliverable to
 * threads that block everything; for the life of the process. Not in a
 * signal handler. */
void scry__sigmask_keep(int sig);
/* The kernel's mask of the calling thread, changed as given (rt_sigprocmask,
 * bypassing the rule): for scry's code that must know what is really
 * blocked. 0 or a negative errno; errno untouched. Async-signal-safe. */
int scry__sigmask_real(int how, const sigset_t *set, sigset_t *old);
/* For interposers of calls that consume signals (sigwait, signalfd): set,
 * or a copy in buf without the kept signals when set blocks everything, so
 * that the program's wait never takes scry's signals. Async-signal-safe. */
const sigset_t *scry__sigmask_wait_set(const sigset_t *set, sigset_t *buf);
/* The signals thread tid of this process blocks (bit sig-1), from
 * /proc/self/task/TID/status. 0 or a negative errno. Not in a handler. */
int scry__sigmask_of_thread(pid_t tid, uint64_t *blocked);

#endif
