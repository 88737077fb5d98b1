/*
 * log.c - one-line messages on stderr; see log.h.
 */
#include "core/log.h"
#include "core/home.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

/* Defaults for the test drivers that link this file alone; libscry.so has
 * core/home.c's, which fetch the program's stderr for scry's threads. */
__attribute__((weak)) int scry__stderr_get(void)
{
    return STDERR_FILENO;
}
__attribute__((weak)) void scry__stderr_put(int fd)
{
    (void)fd;
}

void scry__log(const char *fmt, ...)
{
    char line[512];
    int saved = errno;
    int n = snprintf(line, sizeof line, "scry: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += m;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    int fd = scry__stderr_get(); /* the program's, from scry's threads too */
    ssize_t w = fd >= 0 ? write(fd, line, (size_t)n) : 0;
    (void)w;
    scry__stderr_put(fd);
    errno = saved;
}
