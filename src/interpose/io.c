/*
 * io.c - the blocking I/O calls of libc, interposed so that the thread and
 * wall profiles see a thread blocked in read, recv or accept as "IO wait" on
 * its own stack without signalling it (core/waits.h), and so that the tracer
 * sees each call (trace/trace.h).
 *
 * Why not signal it: with SA_RESTART a pipe read simply restarts after
 * scry's stack request, but each request still wakes the thread, and the
 * socket calls with a timeout (SO_RCVTIMEO, SO_SNDTIMEO) return EINTR
 * whatever SA_RESTART says (signal(7)): the program would see an error scry
 * caused. A thread inside one of these calls publishes that it is in an
 * "IO wait" (SCRY__TW_IO, a wait a signal cuts short) and, while stacks are
 * wanted, its stack; scry then reads what it published instead.
 *
 * Covered: read, readv, pread, pread64, write, writev, pwrite, pwrite64,
 * recv, recvfrom, recvmsg, send, sendto, sendmsg, accept, accept4, connect,
 * and the _FORTIFY_SOURCE forms that programs built with it call instead
 * (__read_chk, __pread_chk, __pread64_chk, __recv_chk, __recvfrom_chk; Debian
 * builds its packages with it). Not covered: preadv/pwritev and their v2
 * forms, recvmmsg/sendmmsg, sendfile, splice; libc-internal entry points
 * (__read, __write, __send) that some programs call by name.
 *
 * Who reaches these: the program and every library other than libc, through
 * the PLT (libstdc++'s file streams call read, write and writev; OpenSSL's
 * and libcurl's sockets call read/write/recv/send). libc itself never does:
 * it has no PLT entries for them (objdump -R libc.so.6), so stdio (fread,
 * fwrite, printf, getline), the resolver (getaddrinfo's sends and
 * receives), syslog and the like do their I/O unseen. That is fine: a thread
 * blocked there is found blocked by a signal, as before this file.
 *
 * Cost. The fast path, when no profile wants stacks and nothing traces, is
 * two relaxed loads and a branch before a tail jump to glibc's; the
 * measured numbers are at WRAP below. Otherwise a call publishes its wait
 * (a coarse clock read, a frame-pointer walk while stacks are wanted, a
 * sequentially consistent store) and, when tracing, reads the trace clock
 * on both sides.
 *
 * What a published IO wait means to the readers: the thread is inside the
 * call, not necessarily blocked (a write to a file or to /dev/null runs on
 * the CPU in the kernel). The thread profile's "IO wait" says just that, as
 * Go's "syscall" state does. The wall profile credits a published wait
 * off-cpu, so a thread busy with calls that do not block is shown off-cpu
 * (a loop of writes to /dev/null: 100% off-cpu, against 97% on-cpu without
 * this file); telling the two apart needs the thread's CPU clock, which is
 * profile/wall.c's to read.
 *
 * Symbol versions: each of these has a single version in glibc 2.36
 * (GLIBC_2.2.5, accept4 GLIBC_2.10, the _chk forms GLIBC_2.4), so dlsym
 * finds the right one; pread/pread64 and pwrite/pwrite64 are aliases there.
 *
 * Cancellation: these are cancellation points. A thread cancelled inside the
 * real call is unwound through the wrapper without reaching
 * scry__wait_leave, so its record stays "in an IO wait". That is harmless
 * and not worth a pthread_cleanup_push (a setjmp) per call: a cancelled
 * thread always ends (C cleanup handlers cannot stop the unwind, and a C++
 * catch that swallows it terminates the process), and its record is
 * unlinked and freed by threads.c's TLS destructor, which runs after the
 * cleanup handlers. Until then the thread shows as in the cancelled call and
 * is not signalled; its own waits in cleanup handlers are not published
 * (nested). A program whose signal handler siglongjmps out of one of these
 * calls leaves the record the same way, and keeps running: that thread then
 * shows as in this call until it ends (waits.h cannot tell a stale record
 * from a live one).
 *
 * Signal handlers: read and write are async-signal-safe and programs call
 * them from handlers. A handler's call made while the thread is already in
 * a published wait (a read the signal interrupted, a sleep) finds the record
 * odd: scry__wait_enter returns NULL and leave(NULL) does nothing, so the
 * outer wait stays published. A handler running on an alternate signal stack
 * publishes nothing: the frame-pointer walk would start outside the thread's
 * stack bounds (see on_own_stack). A handler that interrupts
 * scry__wait_enter itself, before it made the record odd, publishes and
 * ends its own wait first; the interrupted one then publishes with a
 * generation already used and, if the handler came after its walk, the
 * handler's frames: rare and cosmetic (waits.h could close it by marking
 * the thread busy across enter). The trace hook is called from handlers
 * too; it must stay async-signal-safe.
 *
 * errno: the wrapper returns with errno exactly as the real call left it.
 */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE /* its inline read() would clash with ours */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/fds.h"
#include "core/home.h"
#include "core/threads.h"
#include "core/waits.h"
#include "trace/trace.h"

#define SCRY_EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The _FORTIFY_SOURCE entry points (glibc's debug/ *_chk.c): each checks
 * the length against the buffer's size, then does the call inside libc. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, __SOCKADDR_ARG from,
                       socklen_t *fromlen);

/* The next definitions (glibc's). Resolved by the constructor, or on first
 * use when something calls in before it runs (another library's
 * constructor); the two threads racing there store the same values. */
static struct {
    __typeof__(read) *read;
    __typeof__(readv) *readv;
    __typeof__(pread) *pread;
    __typeof__(pread64) *pread64;
    __typeof__(write) *write;
    __typeof__(writev) *writev;
    __typeof__(pwrite) *pwrite;
    __typeof__(pwrite64) *pwrite64;
    __typeof__(recv) *recv;
    __typeof__(recvfrom) *recvfrom;
    __typeof__(recvmsg) *recvmsg;
    __typeof__(send) *send;
    __typeof__(sendto) *sendto;
    __typeof__(sendmsg) *sendmsg;
    __typeof__(accept) *accept;
    __typeof__(accept4) *accept4;
    __typeof__(connect) *connect;
    __typeof__(__read_chk) *__read_chk;
    __typeof__(__pread_chk) *__pread_chk;
    __typeof__(__pread64_chk) *__pread64_chk;
    __typeof__(__recv_chk) *__recv_chk;
    __typeof__(__recvfrom_chk) *__recvfrom_chk;
} real;

/* Early, so that the first call from a signal handler does not run dlsym
 * (which takes the loader's lock) there. */
__attribute__((constructor)) static void resolve(void)
{
#define GET(f) real.f = (__typeof__(real.f))dlsym(RTLD_NEXT, #f)
    GET(read);
    GET(readv);
    GET(pread);
    GET(pread64);
    GET(write);
    GET(writev);
    GET(pwrite);
    GET(pwrite64);
    GET(recv);
    GET(recvfrom);
    GET(recvmsg);
    GET(send);
    GET(sendto);
    GET(sendmsg);
    GET(accept);
    GET(accept4);
    GET(connect);
    GET(__read_chk);
    GET(__pread_chk);
    GET(__pread64_chk);
    GET(__recv_chk);
    GET(__recvfrom_chk);
#undef GET
}

/* Whether the calling frame is on the thread's own stack (or its bounds are
 * unknown). Not on it: a handler on an alternate signal stack (or a
 * coroutine's stack), whose published registers would be walked within the
 * thread's stack bounds they are not in (the walk reads through
 * process_vm_readv, so that would fail, not fault). Such a call is not
 * published: at worst the thread is signalled in it, as before this file. */
static inline int on_own_stack(void)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    return !scry__tls.stack_hi || (here >= scry__tls.stack_lo && here < scry__tls.stack_hi);
}

/* Publishes the IO wait; NULL when there is nothing to undo. A stack
 * request on its way is let land first, or given up when the thread blocks
 * its signal (core/waits.c). */
__attribute__((always_inline)) static inline scry__thread_t *io_enter(void)
{
    scry__thread_t *r = scry__tls.rec;
    if (!r || !on_own_stack()) return NULL;
    return scry__wait_enter(SCRY__TW_IO, NULL);
}

/* Whether nothing wants stacks, nothing traces and the program never took
 * one of scry's descriptors with dup2 (core/fds.h): the fast path. */
static inline int quiet(void)
{
    return LIKELY(!(atomic_load_explicit(&scry__wait_stacks_wanted, memory_order_relaxed) |
                    atomic_load_explicit(&scry__trace_on, memory_order_relaxed) |
                    atomic_load_explicit(&scry__fds_any_stolen, memory_order_relaxed)));
}

/* scry's own code (busy) on a number the program took from it: the
 * program's file, never to be read or written by scry. */
static int stolen_from_scry(int fd)
{
    if (!scry__fd_stolen(fd) || scry__home_here()) return 0; /* numbers of the program's table */
    errno = EBADF;
    return 1;
}

/* WRAP defines wrapper f (params, forwarded as args) and its slow path;
 * kind and fd are what the tracer records.
 *
 * Fast path (quiet): a tail jump to the next definition, errno untouched.
 * Kept apart from the slow path so that it saves no registers and sets up
 * no frame. Measured on the project's 2-vCPU VM, 1-byte writes pinned to
 * one CPU, best of 5 interleaved runs: behind a write that returns at once
 * (a preloaded stub), 4.0 ns a call without this file and 4.8 ns with it;
 * with stacks wanted (-p wall, or tracebacks) 27 to 29 ns; tracing alone
 * (no record kept) 36 ns. Against write(2) to /dev/null, which costs 720 to
 * 770 ns here, the fast path is lost in the noise and the slow path adds 20
 * to 70 ns.
 *
 * Slow path: scry's own threads (busy) go straight through (their waits are
 * not published and the tracer ignores them). Otherwise the wait is
 * published around the call; when tracing, t0 and t1 bracket it and the
 * tracer gets the call once the thread is out of the wait. Publishing
 * leaves errno alone (three register stores, a coarse clock read, no
 * unwinding); the tracer may not, so when tracing errno is saved right
 * after the call and put back last. The published stack starts in slow_f
 * (f itself tail-jumped there), whose caller is the program's; pprof drops
 * libscry's frames. */
#define WRAP_SLOW(ret, f, kind, fd, params, args)                                                  \
    static __attribute__((noinline)) ret slow_##f params                                           \
    {                                                                                              \
        if (UNLIKELY(!real.f)) resolve();                                                          \
        if (scry__tls.busy) return stolen_from_scry(fd) ? -1 : real.f args;                        \
        int tr = scry__tracing();                                                                  \
        scry__thread_t *r = io_enter();                                                            \
        uint64_t t0 = tr ? scry__trace_clock() : 0;                                                \
        ret rc = real.f args;                                                                      \
        if (UNLIKELY(tr)) {                                                                        \
            int e = errno;                                                                         \
            uint64_t t1 = scry__trace_clock();                                                     \
            scry__wait_leave(r);                                                                   \
            scry__trace_syscall((kind), (fd), t0, t1, (int64_t)rc);                                \
            errno = e;                                                                             \
            return rc;                                                                             \
        }                                                                                          \
        scry__wait_leave(r);                                                                       \
        return rc;                                                                                 \
    }
#define WRAP(ret, f, kind, fd, params, args)                                                       \
    WRAP_SLOW(ret, f, kind, fd, params, args)                                                      \
    SCRY_EXPORT ret f params                                                                       \
    {                                                                                              \
        if (LIKELY(real.f != NULL) && quiet()) return real.f args;                                 \
        return slow_##f args;                                                                      \
    }

WRAP(ssize_t, read, SCRY__TS_READ, fd, (int fd, void *buf, size_t n), (fd, buf, n))
WRAP(ssize_t, readv, SCRY__TS_READ, fd, (int fd, const struct iovec *iov, int n), (fd, iov, n))
WRAP(ssize_t, pread, SCRY__TS_READ, fd, (int fd, void *buf, size_t n, off_t off), (fd, buf, n, off))
WRAP(ssize_t, pread64, SCRY__TS_READ, fd, (int fd, void *buf, size_t n, off64_t off),
     (fd, buf, n, off))

WRAP(ssize_t, write, SCRY__TS_WRITE, fd, (int fd, const void *buf, size_t n), (fd, buf, n))
WRAP(ssize_t, writev, SCRY__TS_WRITE, fd, (int fd, const struct iovec *iov, int n), (fd, iov, n))
WRAP(ssize_t, pwrite, SCRY__TS_WRITE, fd, (int fd, const void *buf, size_t n, off_t off),
     (fd, buf, n, off))
WRAP(ssize_t, pwrite64, SCRY__TS_WRITE, fd, (int fd, const void *buf, size_t n, off64_t off),
     (fd, buf, n, off))

WRAP(ssize_t, recv, SCRY__TS_RECV, fd, (int fd, void *buf, size_t n, int flags),
     (fd, buf, n, flags))
WRAP(ssize_t, recvfrom, SCRY__TS_RECV, fd,
     (int fd, void *restrict buf, size_t n, int flags, __SOCKADDR_ARG from,
      socklen_t *restrict fromlen),
     (fd, buf, n, flags, from, fromlen))
WRAP(ssize_t, recvmsg, SCRY__TS_RECV, fd, (int fd, struct msghdr *msg, int flags), (fd, msg, flags))

WRAP(ssize_t, send, SCRY__TS_SEND, fd, (int fd, const void *buf, size_t n, int flags),
     (fd, buf, n, flags))
WRAP(ssize_t, sendto, SCRY__TS_SEND, fd,
     (int fd, const void *buf, size_t n, int flags, __CONST_SOCKADDR_ARG to, socklen_t tolen),
     (fd, buf, n, flags, to, tolen))
WRAP(ssize_t, sendmsg, SCRY__TS_SEND, fd, (int fd, const struct msghdr *msg, int flags),
     (fd, msg, flags))

/* fd: the listening socket (the result is the new one); for connect, the
 * socket connecting. */
WRAP_SLOW(int, accept, SCRY__TS_ACCEPT, fd, (int fd, __SOCKADDR_ARG addr, socklen_t *restrict len),
          (fd, addr, len))
WRAP_SLOW(int, accept4, SCRY__TS_ACCEPT, fd,
          (int fd, __SOCKADDR_ARG addr, socklen_t *restrict len, int flags), (fd, addr, len, flags))

/* A connection scry's own server accepts is scry's: adopted (core/fds.h).
 * The busy test comes first; accept is no fast path. */
SCRY_EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *restrict len)
{
    if (UNLIKELY(scry__tls.busy)) {
        int c = slow_accept(fd, addr, len);
        return scry__home_here() ? c : scry__fd_adopt(c);
    }
    if (LIKELY(real.accept != NULL) && quiet()) return real.accept(fd, addr, len);
    return slow_accept(fd, addr, len);
}

SCRY_EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *restrict len, int flags)
{
    if (UNLIKELY(scry__tls.busy)) {
        int c = slow_accept4(fd, addr, len, flags);
        return scry__home_here() ? c : scry__fd_adopt(c);
    }
    if (LIKELY(real.accept4 != NULL) && quiet()) return real.accept4(fd, addr, len, flags);
    return slow_accept4(fd, addr, len, flags);
}
WRAP(int, connect, SCRY__TS_CONNECT, fd, (int fd, __CONST_SOCKADDR_ARG addr, socklen_t len),
     (fd, addr, len))

/* The fortified forms: the real one does the length check (and reports an
 * overflow itself), so they are wrapped whole, like the others. */
WRAP(ssize_t, __read_chk, SCRY__TS_READ, fd, (int fd, void *buf, size_t n, size_t buflen),
     (fd, buf, n, buflen))
WRAP(ssize_t, __pread_chk, SCRY__TS_READ, fd,
     (int fd, void *buf, size_t n, off_t off, size_t buflen), (fd, buf, n, off, buflen))
WRAP(ssize_t, __pread64_chk, SCRY__TS_READ, fd,
     (int fd, void *buf, size_t n, off64_t off, size_t buflen), (fd, buf, n, off, buflen))
WRAP(ssize_t, __recv_chk, SCRY__TS_RECV, fd,
     (int fd, void *buf, size_t n, size_t buflen, int flags), (fd, buf, n, buflen, flags))
WRAP(ssize_t, __recvfrom_chk, SCRY__TS_RECV, fd,
     (int fd, void *buf, size_t n, size_t buflen, int flags, __SOCKADDR_ARG from,
      socklen_t *fromlen),
     (fd, buf, n, buflen, flags, from, fromlen))
