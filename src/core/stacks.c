/*
 * stacks.c - asking threads for their stacks by signal; see stacks.h.
 */
#define _GNU_SOURCE
#include "core/stacks.h"

#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <linux/futex.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/unwind.h"
#include "core/waits.h"
#include "interpose/signal.h"

enum { WAITING = 1, WRITING = 2, DONE = 3 };

/* Slots in chunks of 256, never freed: at most 65536 threads per request.
 * Chunks are populated when mapped: a page fault in each of 2000 handlers
 * at once would queue them all on the process's memory-map lock. */
#define CHUNK 256
#define NCHUNKS 256
static scry__stack_slot_t *_Atomic chunks[NCHUNKS];

/* The value a request's signal carries: MAGIC, generation, slot. */
#define MAGIC 0x5c13ull

static pthread_mutex_t req_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t gen; /* current request, 16 bits */
static int nslots;   /* slots of the current request */
static int nasked;   /* 1 + the highest slot asked */
static int want_cpu; /* answers carry the thread's CPU clock */
static pid_t my_pid;
static uid_t my_uid;
static _Atomic int outstanding; /* asked and not yet answered */
static int unwind_mode;
static int installed;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static scry__stack_slot_t *slot(uint32_t i)
{
    if (i >= CHUNK * NCHUNKS) return NULL;
    scry__stack_slot_t *c = atomic_load_explicit(&chunks[i / CHUNK], memory_order_acquire);
    return c ? &c[i % CHUNK] : NULL;
}

/* Whether the interrupted context sits on a system call the kernel will
 * restart (it moved the instruction pointer back onto the `syscall`): the
 * thread was blocked in it, off the CPU, when the signal came. */
static int at_restarted_syscall(const ucontext_t *uc)
{
#if defined(__x86_64__)
    const unsigned char *ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    /* Read the second byte only after the first says the instruction is
     * at least two bytes long: it is then mapped. */
    return ip && ip[0] == 0x0f && ip[1] == 0x05;
#else
    (void)uc;
    return 0;
#endif
}

/* Reads n bytes at addr of this process, or fails (instead of faulting) on
 * an address that is not mapped. Async-signal-safe. */
static int peek(uintptr_t addr, void *out, size_t n)
{
    struct iovec local = {out, n}, remote = {(void *)addr, n};
    return addr >= 4096 &&
           syscall(SYS_process_vm_readv, my_pid, &local, 1, &remote, 1, 0) == (long)n;
}

/* The code of every loaded object (dl_iterate_phdr: no file to parse, so
 * cheap even when thousands of thread stacks fill /proc/self/maps), sorted,
 * taken by the requester at most once a second. Handlers use it to reject
 * stack words that cannot be return addresses without a system call; peek
 * checks again, safely, so a stale table is harmless. */
#define MAX_RANGES 1024
static struct {
    uintptr_t lo, hi;
} ranges[MAX_RANGES];
static int nranges;
static int64_t ranges_read_ns;

static int add_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    int *n = arg;
    for (int i = 0; i < info->dlpi_phnum && *n < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        ranges[*n].lo = info->dlpi_addr + ph->p_vaddr;
        ranges[*n].hi = ranges[*n].lo + ph->p_memsz;
        (*n)++;
    }
    return 0;
}

static int by_lo(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static void read_ranges(void)
{
    int64_t now = mono_ns();
    if (ranges_read_ns && now - ranges_read_ns < 1000000000) return;
    ranges_read_ns = now;
    int n = 0;
    dl_iterate_phdr(add_object, &n);
    qsort(ranges, (size_t)n, sizeof ranges[0], by_lo);
    nranges = n;
}

static int in_text(uintptr_t a)
{
    int lo = 0, hi = nranges - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (a < ranges[mid].lo)
            hi = mid - 1;
        else if (a >= ranges[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

/* Whether ret is the return address of a call to the function holding ip
 * (the libc wrapper), directly or through a PLT entry. */
static int returns_from(uintptr_t ret, uintptr_t ip)
{
    unsigned char call[5], to[7];
    if (!in_text(ret - 5) || !peek(ret - 5, call, sizeof call) || call[0] != 0xe8) return 0;
    int32_t rel;
    memcpy(&rel, call + 1, sizeof rel);
    uintptr_t target = ret + (uintptr_t)(intptr_t)rel;
    if (target <= ip && ip - target < 4096) return 1; /* a direct call */
    if (!peek(target, to, sizeof to)) return 0;
    static const unsigned char ibt_plt[] = {0xf3, 0x0f, 0x1e, 0xfa};
    return (to[0] == 0xff && to[1] == 0x25) ||
           (!memcmp(to, ibt_plt, 4) && ((to[4] == 0xf2 && to[5] == 0xff && to[6] == 0x25) ||
                                        (to[4] == 0xff && to[5] == 0x25)));
}

/* A thread blocked in a system call sits in a libc wrapper (read, futex,
 * ...) that keeps no frame pointer, so the frame-pointer walk goes from the
 * wrapper straight to its caller's caller. The wrapper's return address is
 * in the few words it pushed: find the one that returns from a call to the
 * wrapper and put it back as frame 1. */
static uint32_t add_wrapper_caller(const ucontext_t *uc, uintptr_t *f, uint32_t n)
{
#if defined(__x86_64__)
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    if (n < 1 || n >= SCRY__MAX_FRAMES || sp < scry__tls.stack_lo) return n;
    for (int w = 0; w < 12 && sp + 8 * (uintptr_t)w + 8 <= scry__tls.stack_hi; w++) {
        uintptr_t ret = ((const uintptr_t *)sp)[w];
        if (n > 1 && f[1] == ret - 1) return n; /* the walk has it */
        if (!returns_from(ret, ip)) continue;
        memmove(f + 2, f + 1, (n - 1) * sizeof *f);
        f[1] = ret - 1;
        return n + 1;
    }
    return n;
#else
    (void)uc;
    (void)f;
    return n;
#endif
}

int scry__stacks_is_request(const siginfo_t *si)
{
    uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
    return si->si_code == SI_QUEUE && (v >> 48) == MAGIC;
}

static void on_request(int sig, siginfo_t *si, void *ucv)
{
    int saved = errno;
    if (!scry__stacks_is_request(si)) {
        scry__signal_chain_as_safe(sig, si, ucv);
        errno = saved;
        return;
    }
    int64_t t0 = mono_ns();
    uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
    uint32_t g = (uint32_t)(v >> 32) & 0xffff, i = (uint32_t)v;
    scry__stack_slot_t *s = slot(i);
    uint32_t expect = g << 2 | WAITING;
    if (s && atomic_compare_exchange_strong(&s->state, &expect, g << 2 | WRITING)) {
        const ucontext_t *uc = ucv;
        s->in_syscall = at_restarted_syscall(uc);
        s->nframes = scry__unwind_as_safe(unwind_mode, uc, s->frames, SCRY__MAX_FRAMES);
        /* Only the frame-pointer walk skips the frameless libc wrapper. */
        if (unwind_mode == SCRY__UNWIND_FP && s->in_syscall)
            s->nframes = add_wrapper_caller(uc, s->frames, s->nframes);
        s->cpu_ns = 0;
        if (want_cpu) {
            struct timespec ts;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            s->cpu_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        }
        scry__thread_t *me = scry__tls.rec;
        s->wait_gen = me ? atomic_load_explicit(&me->wait.gen, memory_order_relaxed) : 0;
        s->pause_ns = mono_ns() - t0;
        atomic_fetch_add_explicit(&scry__handler_ns, (uint64_t)s->pause_ns, memory_order_relaxed);
        atomic_store_explicit(&s->state, g << 2 | DONE, memory_order_release);
        if (atomic_fetch_sub(&outstanding, 1) == 1)
            syscall(SYS_futex, &outstanding, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
    scry__thread_t *r = scry__tls.rec;
    if (r) atomic_store(&r->signal_coming, 0);
    errno = saved;
}

int scry__stacks_init(int mode)
{
    pthread_mutex_lock(&req_lock);
    unwind_mode = mode;
    scry__wait_unwind_mode = mode;
    int rc = 0;
    if (!installed) {
        scry__unwind_init(mode);
        rc = scry__signal_claim(SCRY__STACKS_SIGNAL, on_request, SCRY__CLAIM_CHAIN);
        installed = rc == 0;
        /* Threads that block every signal still answer (threads and wall
         * profiles, tracebacks): interpose/sigmask.c. */
        if (installed) scry__sigmask_keep(SCRY__STACKS_SIGNAL);
    }
    pthread_mutex_unlock(&req_lock);
    return rc;
}

void scry__stacks_lock(void)
{
    pthread_mutex_lock(&req_lock);
}

void scry__stacks_unlock(void)
{
    pthread_mutex_unlock(&req_lock);
}

int scry__stacks_begin(int n, int cpu)
{
    if (n > CHUNK * NCHUNKS) n = CHUNK * NCHUNKS;
    for (int c = 0; c * CHUNK < n; c++) {
        if (atomic_load(&chunks[c])) continue;
        void *m = mmap(NULL, CHUNK * sizeof(scry__stack_slot_t), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED) return -ENOMEM;
        atomic_store_explicit(&chunks[c], m, memory_order_release);
    }
    read_ranges();
    want_cpu = cpu;
    my_pid = getpid();
    my_uid = getuid();
    gen = (gen + 1) & 0xffff;
    nslots = n;
    nasked = 0;
    atomic_store(&outstanding, 0);
    return 0;
}

int scry__stacks_ask(int i, pid_t tid, scry__thread_t *rec)
{
    scry__stack_slot_t *s = i < nslots ? slot((uint32_t)i) : NULL;
    if (!s) return -ENOMEM;
    if (rec) {
        /* The requester's half of the handshake in scry__wait_enter. */
        atomic_store_explicit(&rec->signal_coming, 1, memory_order_seq_cst);
        uint64_t g = atomic_load_explicit(&rec->wait.gen, memory_order_seq_cst);
        if ((g & 1) && !scry__wait_restartable(rec->wait.kind)) {
            atomic_store(&rec->signal_coming, 0);
            return -EAGAIN;
        }
    }
    atomic_store(&s->state, gen << 2 | WAITING);
    atomic_fetch_add(&outstanding, 1);
    if (i >= nasked) nasked = i + 1;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SCRY__STACKS_SIGNAL;
    si.si_code = SI_QUEUE;
    si.si_pid = my_pid;
    si.si_uid = my_uid;
    si.si_value.sival_ptr = (void *)(uintptr_t)(MAGIC << 48 | (uint64_t)gen << 32 | (uint32_t)i);
    if (syscall(SYS_rt_tgsigqueueinfo, my_pid, tid, SCRY__STACKS_SIGNAL, &si) < 0) {
        int e = errno;
        uint32_t expect = gen << 2 | WAITING;
        if (atomic_compare_exchange_strong(&s->state, &expect, 0))
            atomic_fetch_sub(&outstanding, 1);
        if (rec) atomic_store(&rec->signal_coming, 0);
        return e == ESRCH ? -ESRCH : -e;
    }
    return 0;
}

int scry__stacks_wait(int64_t timeout_ns)
{
    int64_t deadline = mono_ns() + timeout_ns;
    for (;;) {
        int n = atomic_load(&outstanding);
        if (n <= 0) break;
        int64_t left = deadline - mono_ns();
        if (left <= 0) break;
        struct timespec ts = {left / 1000000000, left % 1000000000};
        syscall(SYS_futex, &outstanding, FUTEX_WAIT_PRIVATE, n, &ts, NULL, 0);
    }
    int missing = 0;
    for (int i = 0; i < nasked; i++) {
        scry__stack_slot_t *s = slot((uint32_t)i);
        uint32_t expect = gen << 2 | WAITING;
        if (atomic_compare_exchange_strong(&s->state, &expect, 0)) {
            missing++;
            continue;
        }
        /* A handler caught writing finishes in microseconds. */
        for (int k = 0; k < 10000 && atomic_load(&s->state) == (gen << 2 | WRITING); k++)
            sched_yield();
    }
    return missing;
}

const scry__stack_slot_t *scry__stacks_answer(int i)
{
    scry__stack_slot_t *s = i < nasked ? slot((uint32_t)i) : NULL;
    return s && atomic_load_explicit(&s->state, memory_order_acquire) == (gen << 2 | DONE) ? s
                                                                                           : NULL;
}
