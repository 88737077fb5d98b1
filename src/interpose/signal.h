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

#endif
