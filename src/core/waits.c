/*
 * waits.c - names of the waits, the reader's side of their records, and the
 * waiting thread's half of the stack-request handshake; see waits.h.
 */
#define _GNU_SOURCE
#include "core/waits.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/stacks.h"

_Atomic int scry__wait_stacks_wanted;
int scry__wait_unwind_mode;

const char *scry__wait_name(int kind)
{
    static const char *const names[SCRY__TW_COUNT] = {
        [SCRY__TW_NONE] = "",
        [SCRY__TW_MUTEX] = "mutex wait",
        [SCRY__TW_RWLOCK] = "rwlock wait",
        [SCRY__TW_COND] = "cond wait",
        [SCRY__TW_SEM] = "semaphore wait",
        [SCRY__TW_JOIN] = "join wait",
        [SCRY__TW_BARRIER] = "barrier wait",
        [SCRY__TW_SLEEP] = "sleep",
        [SCRY__TW_POLL] = "poll",
        [SCRY__TW_SIGNAL] = "signal wait",
        [SCRY__TW_IO] = "IO wait",
        [SCRY__TW_EXEC] = "exec",
    };
    return kind > 0 && kind < SCRY__TW_COUNT ? names[kind] : "";
}

int scry__wait_read(scry__thread_t *t, scry__wait_view_t *v, uintptr_t *frames)
{
    for (int tries = 0; tries < 4; tries++) {
        uint64_t g = atomic_load_explicit(&t->wait.gen, memory_order_acquire);
        memset(v, 0, sizeof *v);
        v->gen = g;
        if (!(g & 1)) return 0;
        v->kind = t->wait.kind;
        v->obj = t->wait.obj;
        v->since_ns = t->wait.since_ns;
        int has = t->wait.has_regs;
        scry__regs_t r = t->wait_regs;
        v->nframes = 0;
        /* The walk reads the stack above r.sp, which the thread leaves
         * alone until it returns from the wait: if gen is the same after
         * the walk, so was the stack during it. */
        if (has && frames) v->nframes = scry__unwind_remote(scry__wait_unwind_mode, &r, t->stack_lo, t->stack_hi, frames, SCRY__WAIT_FRAMES);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->wait.gen, memory_order_relaxed) == g) {
            if (has && !frames) v->nframes = 1; /* a stack can be had */
            return 0;
        }
    }
    /* The thread keeps entering and leaving waits: call it not waiting. */
    memset(v, 0, sizeof *v);
    v->gen = atomic_load_explicit(&t->wait.gen, memory_order_relaxed) & ~1ull;
    return 0;
}

/* ---- the handshake ----
 *
 * A stack request whose signal is on its way as the thread enters a wait
 * the signal would cut short (a sleep, a poll, a read with SO_RCVTIMEO) must
 * land first. It nearly always has been sent already: the requester sets
 * signal_coming one system call before it queues the signal, which lands on
 * the thread's next return from the kernel.
 *
 * Where it lands is the sample. The handshake used to call libc's
 * sched_yield until it landed, so the handler's walk began in
 * __sched_yield, a frame of libc's that pprof keeps: every request that
 * caught a thread on its way into a wait was charged to sched_yield under
 * the program's function (7.7% of an nginx worker's wall time as
 * `__sched_yield <- ngx_read_file`; 7% to 20% of the wall time of
 * tests/threads/handshake_truth's loop of short calls). Here every system
 * call the thread makes until the signal lands is this function's own
 * instruction, so the walk begins in libscry.so, whose frames pprof and the
 * thread dump drop: the sample is the program's call of read or poll, the
 * stack the wait publishes. That is where the thread was; profile/wall.c
 * tells on-cpu from off-cpu there by the thread's CPU clock, as for a
 * published IO wait.
 *
 * The first system call asks the kernel whether the thread blocks the
 * signal (programs that leave signals to one thread block them in the
 * others): then it cannot land, nor cut the wait short, and waiting for it
 * would cost every call (a 1-byte write to /dev/null took 2203 ns against
 * 862, when interpose/io.c measured it). Otherwise sched_yield (the
 * requester may want this CPU), then naps of NAP_NS. No bound on turns: a
 * turn of sched_yield takes well under a microsecond on an idle CPU, and
 * 1000 of them could end before a requester preempted between its two
 * steps sends the signal, which would then cut the wait short. Given up are
 * a blocked signal and a request that has not landed in WAIT_GIVE_UP_MS
 * (its signal merged with a SIGVTALRM already pending, or the requester
 * stalled that long): the request is taken off the record, so later waits
 * do not wait for it again, and the requester's slot times out as any
 * unanswered one; a blocked signal, pending, lands when the program
 * unblocks it and finds its slot given up. */
#define SPINS 64
#define NAP_NS 20000
#define WAIT_GIVE_UP_MS 100

#if defined(__x86_64__)
static inline long raw4(long n, long a, long b, long c, long d)
{
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long raw4(long n, long a, long b, long c, long d)
{
    register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b,
                     x2 __asm__("x2") = c, x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}
#else
/* Elsewhere libc's syscall(): its frame stays in the sample, and errno may
 * change, so it is put back. */
static inline long raw4(long n, long a, long b, long c, long d)
{
    int e = errno;
    long ret = syscall(n, a, b, c, d);
    errno = e;
    return ret;
}
#endif

/* Whether the calling thread blocks scry's stack requests. */
static int request_blocked(void)
{
    uint64_t cur = 0; /* the kernel's sigset: 64 bits */
    if (raw4(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&cur, sizeof cur) != 0) return 0;
    return (cur >> (SCRY__STACKS_SIGNAL - 1)) & 1;
}

__attribute__((noinline)) void scry__wait_let_land(scry__thread_t *r)
{
    if (!request_blocked()) {
        int64_t give_up = 0;
        for (int i = 0;; i++) {
            if (!atomic_load_explicit(&r->signal_coming, memory_order_seq_cst)) return; /* landed */
            if (i < SPINS) {
                raw4(SYS_sched_yield, 0, 0, 0, 0);
                continue;
            }
            if (i == SPINS)
                give_up = scry__coarse_ns() + WAIT_GIVE_UP_MS * 1000000LL;
            else if (scry__coarse_ns() > give_up)
                break;
            /* Cut short by the signal (EINTR): that is what it waits for. */
            struct timespec nap = {0, NAP_NS};
            raw4(SYS_nanosleep, (long)&nap, 0, 0, 0);
        }
    }
    /* Given up. No new request can have come meanwhile: the thread is in a
     * wait a signal would cut short, which every requester declines. */
    atomic_store_explicit(&r->signal_coming, 0, memory_order_relaxed);
}
