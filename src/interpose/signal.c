/*
 * signal.c - interposed sigaction() and signal(); see signal.h.
 *
 * The table of claims is written only with every claimed signal blocked in
 * the writing thread and read by handlers; a handler on another thread may
 * see the old or the new program handler during an install, never a torn one
 * (each field is read once into a local). This is the same race any program
 * has when it replaces a handler while the signal is being delivered.
 */
#define _GNU_SOURCE
#include "interpose/signal.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SCRY_EXPORT __attribute__((visibility("default")))

typedef struct {
    _Atomic int claimed; /* 0 none, 1 chain, 2 yield */
    scry__sighandler_t ours;
    struct sigaction program; /* what the program believes is installed */
} claim_t;

static claim_t claims[_NSIG];

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
static sigaction_fn real_sigaction_ptr;

static sigaction_fn real(void)
{
    sigaction_fn f = real_sigaction_ptr;
    if (!f) {
        f = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
        real_sigaction_ptr = f;
    }
    return f;
}

int scry__real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    sigaction_fn f = real();
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    return f(sig, act, old);
}

static int program_has_handler(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) || (sa->sa_handler != SIG_DFL);
}

int scry__signal_claim(int sig, scry__sighandler_t h, int mode)
{
    if (sig <= 0 || sig >= _NSIG) return -EINVAL;
    claim_t *c = &claims[sig];
    if (atomic_load(&c->claimed)) return 0;
    struct sigaction old;
    if (scry__real_sigaction(sig, NULL, &old) < 0) return -errno;
    if (mode == SCRY__CLAIM_YIELD && program_has_handler(&old)) return -EBUSY;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    c->program = old;
    c->ours = h;
    atomic_store(&c->claimed, mode == SCRY__CLAIM_YIELD ? 2 : 1);
    if (scry__real_sigaction(sig, &sa, NULL) < 0) {
        atomic_store(&c->claimed, 0);
        return -errno;
    }
    return 0;
}

void scry__signal_release(int sig)
{
    if (sig <= 0 || sig >= _NSIG) return;
    claim_t *c = &claims[sig];
    if (!atomic_exchange(&c->claimed, 0)) return;
    scry__real_sigaction(sig, &c->program, NULL);
}

void scry__signal_chain_as_safe(int sig, siginfo_t *si, void *uc)
{
    struct sigaction p = claims[sig].program;
    if (p.sa_flags & SA_SIGINFO) {
        if (p.sa_sigaction) p.sa_sigaction(sig, si, uc);
        return;
    }
    if (p.sa_handler == SIG_IGN) return;
    if (p.sa_handler != SIG_DFL) {
        p.sa_handler(sig);
        return;
    }
    /* SIG_DFL: do what the kernel would have done without scry. For signals
     * whose default is to ignore, that is nothing. */
    if (sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT) return;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    scry__real_sigaction(sig, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

SCRY_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (sig <= 0 || sig >= _NSIG || !atomic_load(&claims[sig].claimed))
        return scry__real_sigaction(sig, act, old);
    claim_t *c = &claims[sig];
    if (atomic_load(&c->claimed) == 2 && act && program_has_handler(act)) {
        /* A yielding claim: the program takes the signal over. */
        atomic_store(&c->claimed, 0);
        if (old) *old = c->program;
        return scry__real_sigaction(sig, act, NULL);
    }
    /* Block our own signal in this thread while the record changes, so our
     * handler never chains to a half-written sigaction on this thread. */
    sigset_t block, saved;
    sigemptyset(&block);
    sigaddset(&block, sig);
    pthread_sigmask(SIG_BLOCK, &block, &saved);
    if (old) *old = c->program;
    if (act) c->program = *act;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return 0;
}

/* glibc's signal() calls its internal sigaction directly, so it needs its own
 * interposer. BSD semantics, as glibc's signal() has: SA_RESTART, handler
 * stays installed. */
SCRY_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) < 0) return SIG_ERR;
    return old.sa_handler;
}
