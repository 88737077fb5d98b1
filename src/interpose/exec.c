/*
 * exec.c - the exec family, interposed so that no stack request is pending
 * on a thread when it replaces the program.
 *
 * A signal sent to a thread stays pending across execve, and the new image
 * starts with the default action for it; for SIGVTALRM (core/stacks.h) that
 * is to terminate. So a thread about to exec first publishes a wait that a
 * signal must not interrupt (core/waits.h): from then on no thread profile,
 * wall sampler or traceback signals it, and a request already on its way is
 * let land before the exec. If the exec fails, the wait ends and the program
 * carries on as before. glibc's execl, execlp, execle, execv and execvp reach
 * execve inside libc, not through the PLT, so each is interposed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include "core/waits.h"

#define SCRY_EXPORT __attribute__((visibility("default")))

#define NEXT(type, name)                                                                           \
    static __typeof__(type) next_;                                                                 \
    if (!next_) next_ = (type)dlsym(RTLD_NEXT, name);                                              \
    if (!next_) {                                                                                  \
        errno = ENOSYS;                                                                            \
        return -1;                                                                                 \
    }

#define QUIET(call)                                                                                \
    do {                                                                                           \
        scry__thread_t *r_ = scry__wait_enter(SCRY__TW_EXEC, NULL);                                \
        int rc_ = (call);                                                                          \
        int e_ = errno;                                                                            \
        scry__wait_leave(r_);                                                                      \
        errno = e_;                                                                                \
        return rc_;                                                                                \
    } while (0)

SCRY_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    NEXT(int (*)(const char *, char *const[], char *const[]), "execve");
    QUIET(next_(path, argv, envp));
}

SCRY_EXPORT int execv(const char *path, char *const argv[])
{
    NEXT(int (*)(const char *, char *const[]), "execv");
    QUIET(next_(path, argv));
}

SCRY_EXPORT int execvp(const char *file, char *const argv[])
{
    NEXT(int (*)(const char *, char *const[]), "execvp");
    QUIET(next_(file, argv));
}

SCRY_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    NEXT(int (*)(const char *, char *const[], char *const[]), "execvpe");
    QUIET(next_(file, argv, envp));
}

SCRY_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    NEXT(int (*)(int, char *const[], char *const[]), "fexecve");
    QUIET(next_(fd, argv, envp));
}

/* The list forms, turned into vectors for the forms above. */
#define ARGV_FROM_LIST(first, ap, argv)                                                            \
    size_t n_ = 1;                                                                                 \
    va_list c_;                                                                                    \
    va_copy(c_, ap);                                                                               \
    while (va_arg(c_, const char *))                                                               \
        n_++;                                                                                      \
    va_end(c_);                                                                                    \
    const char *argv[n_ + 1];                                                                      \
    argv[0] = (first);                                                                             \
    for (size_t i_ = 1; i_ <= n_; i_++)                                                            \
    argv[i_] = va_arg(ap, const char *)

SCRY_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    ARGV_FROM_LIST(arg, ap, argv);
    va_end(ap);
    return execv(path, (char *const *)argv);
}

SCRY_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    ARGV_FROM_LIST(arg, ap, argv);
    va_end(ap);
    return execvp(file, (char *const *)argv);
}

SCRY_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    ARGV_FROM_LIST(arg, ap, argv);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, (char *const *)argv, envp);
}
