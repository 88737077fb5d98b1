/*
 * sigmask.c - signal masks, interposed so that a thread that blocks
 * "everything" still takes scry's own signals; see signal.h.
 *
 * Why. Thread pools often block every signal: xz and jemalloc fill a set
 * (sigfillset) and block it around pthread_create, so each worker starts
 * with everything blocked; others block it inside the thread. Such a thread
 * never takes SIGPROF (its CPU timer's signal stays pending, so the CPU
 * profile of `xz -T2` held 10 ms of a 15.6 s run) nor a stack request
 * (SIGVTALRM: every wall tick waited for an answer that never came). The
 * program does not mean scry's signals when it blocks everything: it means
 * "none of mine here". So scry leaves the signals it claimed out of such a
 * mask; the program still believes them blocked (every old mask it is given
 * back says so) and all of its own signals stay exactly as it set them.
 *
 * The rule. A set "blocks everything" when it holds every signal a program
 * can block (1..64 without SIGKILL, SIGSTOP and glibc's internal 32 and 33,
 * which its sigfillset leaves out), scry's kept signals not counted, except
 * at most SLACK (8) of them; a set holding no realtime signal at all (what
 * BSD's sigblock/sigsetmask can express) is judged on the standard signals
 * 1..31 alone. Why a slack: "everything but SIGSEGV, SIGBUS, SIGFPE and
 * SIGILL" or "everything but the one signal this thread waits for" is still
 * a filled set, and no program lists 50 signals one by one. Why not more: a
 * set a program builds by naming signals holds a handful, and if it names
 * SIGPROF it means it.
 * So for pthread_sigmask, sigprocmask, sigblock and sigsetmask:
 *  - SIG_BLOCK or SIG_SETMASK with a set that blocks everything: the kept
 *    signals are taken out of the set before it reaches the kernel;
 *  - any other set (one that names a few signals, SIGPROF among them or
 *    not) and SIG_UNBLOCK: passed as given. A program that blocks SIGPROF by
 *    name keeps it blocked (its thread is then not sampled; profile/cpu.c
 *    counts that time and says so);
 *  - the old mask handed back: the kernel's, plus the kept signals when it
 *    blocks everything. So what the program set is what it reads back, and
 *    save/restore round-trips: blocking everything and restoring the saved
 *    set gives the kernel the same mask, and blocking SIGPROF by name inside
 *    it blocks SIGPROF for real until the saved set is put back (what
 *    signal.c's sigaction does around its record).
 * Nothing is kept per thread: the program's view is derived from the
 * kernel's mask alone, so it holds in signal handlers (the kernel restores
 * the interrupted mask on return, siglongjmp restores one through glibc's
 * internal call), in threads that inherited the mask, and after a mask set
 * by a raw system call. The one ambiguity: a mask that blocks everything
 * but exactly scry's signals (sigfillset then sigdelset(SIGPROF), or
 * SIG_UNBLOCK of SIGPROF inside a full mask) reads back with them blocked;
 * the kernel's mask is what the program asked.
 *
 * Which signals are kept: only those scry claimed for itself and registered
 * with scry__sigmask_keep (SIGPROF once a CPU profile starts, SIGVTALRM once
 * the wall profile starts); never SIGTERM or SIGINT (the program's when it
 * blocks them). A kept signal stays kept for the life of the process, as
 * its claim does.
 *
 * What follows:
 *  - Threads created while the creator blocks everything get the creator's
 *    kernel mask (glibc's pthread_create copies it into the new thread), so
 *    they start with scry's signals deliverable and their view blocked.
 *  - The CPU timers are per thread (SIGEV_THREAD_ID) and stack requests are
 *    sent to one thread: unblocking them in a thread never moves one of the
 *    program's signals to another thread. A SIGPROF or SIGVTALRM sent to the
 *    whole process (kill, the program's own setitimer) may now land in such
 *    a thread: scry's handler passes it to the program's handler there, or
 *    for SIG_DFL its default action, where without scry it would have stayed
 *    pending for a thread that unblocks or sigwaits it.
 *  - sigwait, sigwaitinfo, sigtimedwait and signalfd on a full set: a kept
 *    signal unblocked in the thread is delivered to scry's handler, so none
 *    is pending when the wait starts; a CPU timer does not fire while its
 *    thread sleeps; and no stack request is sent to a thread in a published
 *    sigwait (interpose/sleep.c, core/waits.h), one already on its way lands
 *    before the wait. What is left: a timer expiring in the few
 *    microseconds the thread spends in the kernel entering the wait, and a
 *    thread that blocks SIGPROF by name and then waits on a full set (its
 *    pending timer signal is in the set). signalfd closes both: a set that
 *    blocks everything is given to the kernel without the kept signals
 *    (scry__sigmask_wait_set), so the program's descriptor never reads
 *    scry's signals. The sigwait family is interposed in sleep.c, which
 *    closes them the same way (a wait on everything never takes scry's signals).
 *  - sigsuspend, pselect, ppoll, epoll_pwait and a handler's sa_mask are
 *    not changed: delivering scry's signal during sigsuspend would end the
 *    program's wait, and a handler's mask lasts as long as the handler (a
 *    timer's signal delayed by it carries the missed expirations, which
 *    profile/cpu.c adds to the sample).
 *  - exec: the new image inherits the kernel mask, so a program that execs
 *    with everything blocked gives it scry's signals unblocked.
 *
 * scry's own calls go straight to the kernel: callers in libscry.so (the
 * return address says so) mean what they say, e.g. its threads block every
 * signal for good. Code that must see the kernel's mask whatever the build
 * calls scry__sigmask_real (under AddressSanitizer the runtime's own
 * pthread_sigmask sits between scry's code and this file).
 *
 * Cost: a few ALU operations on the 64-bit mask around the system call;
 * nothing when no signal is kept. Async-signal-safe: no lock, no
 * allocation, errno preserved where the function does not report through it.
 */
#define _GNU_SOURCE
#include "interpose/signal.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SCRY_EXPORT __attribute__((visibility("default")))

#define SLACK 8
#define BIT(s) (1ull << ((s)-1))
/* Signals no program can block (SIGKILL, SIGSTOP) or may not (glibc's
 * SIGCANCEL and SIGSETXID: its pthread_sigmask drops them from a set). */
#define INTERNAL (BIT(32) | BIT(33))
#define BLOCKABLE (~(BIT(SIGKILL) | BIT(SIGSTOP) | INTERNAL))
#define STANDARD (BLOCKABLE & 0x7fffffffull)  /* 1..31 */
#define REALTIME (BLOCKABLE & ~0xffffffffull) /* 34..64 */

static _Atomic uint64_t kept;
/* libscry.so's code, for telling scry's own calls from the program's. */
static uintptr_t text_lo, text_hi;

/* The first 64 signals of a glibc sigset_t (the kernel's whole mask). */
static uint64_t bits(const sigset_t *s)
{
    uint64_t b;
    memcpy(&b, s, sizeof b);
    return b;
}

static void set_bits(sigset_t *s, uint64_t b)
{
    memcpy(s, &b, sizeof b);
}

static int count(uint64_t b)
{
    return __builtin_popcountll(b);
}

/* The rule, above. k: the kept signals. */
static int everything(uint64_t s, uint64_t k)
{
    if (count(BLOCKABLE & ~k & ~s) <= SLACK) return 1;
    return !(s & REALTIME) && count(STANDARD & ~k & ~s) <= SLACK;
}

/* rt_sigprocmask itself: 0 or -errno, errno untouched. Inline, so that a
 * stack request that lands during the call (a wall sample) begins its walk
 * in libscry.so, whose frames profiles drop, not in libc's syscall(). */
static long rt_sigprocmask(long how, const void *set, void *old)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = 8;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"((long)SYS_rt_sigprocmask), "D"(how), "S"(set), "d"(old), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_rt_sigprocmask, x0 __asm__("x0") = how,
                     x1 __asm__("x1") = (long)set, x2 __asm__("x2") = (long)old,
                     x3 __asm__("x3") = 8;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
#else
    int saved = errno;
    long r = syscall(SYS_rt_sigprocmask, how, set, old, (size_t)8);
    if (r < 0) r = -errno;
    errno = saved;
    return r;
#endif
}

/* The system call, as glibc's pthread_sigmask makes it: 0 or -errno. */
static int kernel(int how, const sigset_t *set, sigset_t *old)
{
    sigset_t copy;
    if (set && how != SIG_UNBLOCK && (bits(set) & INTERNAL)) {
        copy = *set;
        set_bits(&copy, bits(set) & ~INTERNAL);
        set = &copy;
    }
    return (int)rt_sigprocmask(how, set, old);
}

int scry__sigmask_real(int how, const sigset_t *set, sigset_t *old)
{
    return kernel(how, set, old);
}

static int from_scry(const void *caller)
{
    uintptr_t a = (uintptr_t)caller;
    return a >= text_lo && a < text_hi;
}

/* Every mask change of the program's comes here. 0 or -errno. */
static int change(int how, const sigset_t *set, sigset_t *old, const void *caller)
{
    /* acquire: text_lo/hi are written before the first kept signal. */
    uint64_t k = atomic_load_explicit(&kept, memory_order_acquire);
    if (!k || from_scry(caller)) return kernel(how, set, old);
    sigset_t copy;
    if (set && (how == SIG_BLOCK || how == SIG_SETMASK) && everything(bits(set), k)) {
        copy = *set; /* before the call: set and old may be the same */
        set_bits(&copy, bits(set) & ~k);
        set = &copy;
    }
    int rc = kernel(how, set, old);
    if (rc == 0 && old && everything(bits(old), k)) set_bits(old, bits(old) | k);
    return rc;
}

SCRY_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    return -change(how, set, old, __builtin_return_address(0));
}

SCRY_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    int rc = change(how, set, old, __builtin_return_address(0));
    if (rc == 0) return 0;
    errno = -rc;
    return -1;
}

/* BSD: masks of the first 32 signals in an int, as glibc converts them. */
static int bsd(int how, int mask, const void *caller)
{
    sigset_t set, old;
    sigemptyset(&set);
    set_bits(&set, (uint32_t)mask);
    int rc = change(how, &set, &old, caller);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return (int)(uint32_t)bits(&old);
}

SCRY_EXPORT int sigblock(int mask)
{
    return bsd(SIG_BLOCK, mask, __builtin_return_address(0));
}

SCRY_EXPORT int sigsetmask(int mask)
{
    return bsd(SIG_SETMASK, mask, __builtin_return_address(0));
}

SCRY_EXPORT int siggetmask(void)
{
    return bsd(SIG_BLOCK, 0, __builtin_return_address(0));
}

const sigset_t *scry__sigmask_wait_set(const sigset_t *set, sigset_t *buf)
{
    uint64_t k = atomic_load_explicit(&kept, memory_order_relaxed);
    if (!k || !set || !(bits(set) & k) || !everything(bits(set), k)) return set;
    *buf = *set;
    set_bits(buf, bits(set) & ~k);
    return buf;
}

/* glibc's signalfd is this system call. */
SCRY_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
    sigset_t buf;
    return (int)syscall(SYS_signalfd4, fd, scry__sigmask_wait_set(mask, &buf), (size_t)8, flags);
}

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t me = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo) lo = a;
        if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
    }
    if (me < lo || me >= hi) return 0;
    text_lo = lo;
    text_hi = hi;
    return 1;
}

void scry__sigmask_keep(int sig)
{
    if (sig <= 0 || sig > 64 || (BIT(sig) & ~BLOCKABLE)) return;
    if (!text_hi) dl_iterate_phdr(find_text, (void *)(uintptr_t)scry__sigmask_keep);
    uint64_t k = atomic_fetch_or(&kept, BIT(sig)) | BIT(sig);
    /* The calling thread may block everything already (a process started
     * with every signal blocked): the rule applies to it from now on. */
    sigset_t cur;
    if (kernel(SIG_BLOCK, NULL, &cur) == 0 && (bits(&cur) & BIT(sig)) &&
        everything(bits(&cur), k)) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        kernel(SIG_UNBLOCK, &one, NULL);
    }
}

int scry__sigmask_of_thread(pid_t tid, uint64_t *blocked)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n <= 0) return n < 0 ? -e : -ENOENT;
    buf[n] = 0;
    const char *p = strstr(buf, "\nSigBlk:");
    if (!p) return -ENOENT;
    unsigned long long v;
    if (sscanf(p + 8, "%llx", &v) != 1) return -ENOENT;
    *blocked = v;
    return 0;
}
