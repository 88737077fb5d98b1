/*
 * fd.c - the calls that create, close and replace descriptors, interposed
 * so that scry's own descriptors stay out of the program's way (see
 * core/fds.h for why and how).
 *
 * On scry's own code (busy threads, core/busy.h: its threads, and the
 * libraries it drives on them, libmicrohttpd and libcurl) every new
 * descriptor from socket, socketpair, eventfd, pipe, pipe2, memfd_create,
 * dup and open is adopted (only while they share the program's table: see
 * core/home.h): moved high and marked scry's. On the program's code:
 *   - close of a number scry owns fails with EBADF, as for any number the
 *     program never opened; closefrom and close_range close everything in
 *     their range but scry's numbers;
 *   - dup2/dup3 onto a number scry owns does what the program asked and
 *     marks the number stolen, so scry stops using it (fds.h).
 * Everything else goes straight to libc. The cost on the program's calls is
 * a TLS load or a load from the owned bitmap, next to a system call.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/fds.h"
#include "core/home.h"
#include "core/threads.h"

#define SCRY_EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The next definition of each, looked up on first use. dlsym may allocate,
 * which is fine here: none of these is called by the allocator. */
#define NEXT(type, name)                                                                           \
    static __typeof__(type) next_##name(void)                                                      \
    {                                                                                              \
        static __typeof__(type) f;                                                                 \
        if (!f) f = (__typeof__(type))dlsym(RTLD_NEXT, #name);                                     \
        return f;                                                                                  \
    }

NEXT(int (*)(int), close)
NEXT(int (*)(int, int), dup2)
NEXT(int (*)(int, int, int), dup3)
NEXT(int (*)(int), dup)
NEXT(int (*)(int, int, int), socket)
NEXT(int (*)(int, int, int, int *), socketpair)
NEXT(int (*)(unsigned, int), eventfd)
NEXT(int (*)(int *), pipe)
NEXT(int (*)(int *, int), pipe2)
NEXT(int (*)(const char *, unsigned), memfd_create)

/* ---- Closing ------------------------------------------------------------ */

SCRY_EXPORT int close(int fd)
{
    if (UNLIKELY(scry__fd_owned(fd) || scry__fd_stolen(fd)) && !scry__home_here()) {
        if (scry__tls.busy) return scry__fd_close(fd);
        if (scry__fd_owned(fd)) {
            errno = EBADF; /* not the program's to close: it never opened it */
            return -1;
        }
        /* Stolen: the program's file now, its to close. */
    }
    int (*f)(int) = next_close();
    return f ? f(fd) : (int)syscall(SYS_close, fd);
}

static int raw_close_range(unsigned lo, unsigned hi, int flags)
{
    long rc = syscall(SYS_close_range, lo, hi, flags);
    if (rc == 0 || errno != ENOSYS) return (int)rc;
    /* A kernel before 5.9: one close per number up to the limit. */
    if (flags) return -1;
    struct rlimit rl;
    unsigned top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1u << 20 ? (unsigned)rl.rlim_cur : 1u << 20;
    for (unsigned fd = lo; fd <= hi && fd < top; fd++) syscall(SYS_close, fd);
    return 0;
}

/* close_range over [lo, hi] but for scry's numbers, in the gaps between. */
static int close_range_around(unsigned lo, unsigned hi, int flags)
{
    unsigned at = lo;
    for (unsigned w = lo / 64; w < SCRY__FDS_TRACKED / 64 && (uint64_t)w * 64 <= hi; w++) {
        uint64_t bits = atomic_load(&scry__fds_owned[w]);
        while (bits) {
            unsigned fd = w * 64 + (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            if (fd < at || fd > hi) continue;
            if (fd > at && raw_close_range(at, fd - 1, flags) < 0) return -1;
            at = fd + 1;
        }
    }
    if (at <= hi && raw_close_range(at, hi, flags) < 0) return -1;
    return 0;
}

SCRY_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
    if (lo > hi) {
        errno = EINVAL;
        return -1;
    }
    if (scry__tls.busy) return raw_close_range(lo, hi, flags);
    return close_range_around(lo, hi, flags);
}

SCRY_EXPORT void closefrom(int lo)
{
    if (lo < 0) lo = 0;
    if (scry__tls.busy)
        raw_close_range((unsigned)lo, ~0u, 0);
    else
        close_range_around((unsigned)lo, ~0u, 0);
}

/* ---- Replacing ---------------------------------------------------------- */

/* The program chose a new stderr: scry's messages go there now. */
static int replaced(int rc, int fd)
{
    if (rc == STDERR_FILENO && fd == STDERR_FILENO && !scry__tls.busy) scry__stderr_note();
    return rc;
}

SCRY_EXPORT int dup2(int old, int fd)
{
    if (UNLIKELY(scry__fd_owned(fd)) && !scry__tls.busy && old != fd) scry__fd_steal(fd);
    int (*f)(int, int) = next_dup2();
    return replaced(f ? f(old, fd) : (int)syscall(SYS_dup2, old, fd), fd);
}

SCRY_EXPORT int dup3(int old, int fd, int flags)
{
    if (UNLIKELY(scry__fd_owned(fd)) && !scry__tls.busy && old != fd) scry__fd_steal(fd);
    int (*f)(int, int, int) = next_dup3();
    return replaced(f ? f(old, fd, flags) : (int)syscall(SYS_dup3, old, fd, flags), fd);
}

/* ---- Creating ----------------------------------------------------------- */

/* A new descriptor made by scry's code in the program's table (scry's
 * threads have their own, core/home.h, where nothing needs moving). */
static int ours_in_program_table(void)
{
    return UNLIKELY(scry__tls.busy) && !scry__home_here();
}

static int created(int fd)
{
    return ours_in_program_table() ? scry__fd_adopt(fd) : fd;
}

static int created_pair(int rc, int *fds)
{
    if (rc == 0 && ours_in_program_table()) {
        fds[0] = scry__fd_adopt(fds[0]);
        fds[1] = scry__fd_adopt(fds[1]);
    }
    return rc;
}

SCRY_EXPORT int dup(int old)
{
    return created(next_dup()(old));
}

SCRY_EXPORT int socket(int domain, int type, int protocol)
{
    return created(next_socket()(domain, type, protocol));
}

SCRY_EXPORT int socketpair(int domain, int type, int protocol, int fds[2])
{
    return created_pair(next_socketpair()(domain, type, protocol, fds), fds);
}

SCRY_EXPORT int eventfd(unsigned initval, int flags)
{
    return created(next_eventfd()(initval, flags));
}

SCRY_EXPORT int pipe(int fds[2])
{
    return created_pair(next_pipe()(fds), fds);
}

SCRY_EXPORT int pipe2(int fds[2], int flags)
{
    return created_pair(next_pipe2()(fds, flags), fds);
}

SCRY_EXPORT int memfd_create(const char *name, unsigned flags)
{
    return created(next_memfd_create()(name, flags));
}

/* Files opened by scry's threads when they share the program's table (the
 * fallback): libdw's and scry's own opens of ELF files and /proc, moved
 * high at once, so that a program closing every number does not close them
 * under scry, nor scry its file. (libc's own opens inside fopen and opendir
 * do not come through here.) */
NEXT(int (*)(const char *, int, ...), open)
NEXT(int (*)(const char *, int, ...), open64)
NEXT(int (*)(int, const char *, int, ...), openat)
NEXT(int (*)(int, const char *, int, ...), openat64)

/* The mode argument is there when the flags create a file. */
static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

SCRY_EXPORT int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return created(next_open()(path, flags, mode));
}

SCRY_EXPORT int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return created(next_open64()(path, flags, mode));
}

SCRY_EXPORT int openat(int dir, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return created(next_openat()(dir, path, flags, mode));
}

SCRY_EXPORT int openat64(int dir, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return created(next_openat64()(dir, path, flags, mode));
}

/* ---- Using -------------------------------------------------------------- */

/* The calls scry's HTTP server makes on a connection besides reading and
 * writing (interpose/io.c): on a number the program took, they must not
 * touch the program's file or socket. */
NEXT(ssize_t (*)(int, int, off_t *, size_t), sendfile)
NEXT(ssize_t (*)(int, int, off64_t *, size_t), sendfile64)
NEXT(int (*)(int, int), shutdown)
NEXT(int (*)(int, int, int, const void *, socklen_t), setsockopt)

static int refused(int fd)
{
    if (!UNLIKELY(scry__tls.busy) || !scry__fd_stolen(fd) || scry__home_here()) return 0;
    errno = EBADF;
    return 1;
}

SCRY_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    if (refused(out) || refused(in)) return -1;
    return next_sendfile()(out, in, off, n);
}

SCRY_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n)
{
    if (refused(out) || refused(in)) return -1;
    return next_sendfile64()(out, in, off, n);
}

SCRY_EXPORT int shutdown(int fd, int how)
{
    if (refused(fd)) return -1;
    return next_shutdown()(fd, how);
}

SCRY_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    if (refused(fd)) return -1;
    return next_setsockopt()(fd, level, name, val, len);
}
