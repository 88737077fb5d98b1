/*
 * fds.c - scry's own descriptors, kept out of the program's way; see fds.h.
 */
#define _GNU_SOURCE
#include "core/fds.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

_Atomic uint64_t scry__fds_owned[SCRY__FDS_TRACKED / 64];
_Atomic uint64_t scry__fds_stolen[SCRY__FDS_TRACKED / 64];
_Atomic int scry__fds_any_stolen;

static void set_bit(_Atomic uint64_t *map, int fd, int on)
{
    if ((unsigned)fd >= SCRY__FDS_TRACKED) return;
    uint64_t m = (uint64_t)1 << (fd % 64);
    if (on)
        atomic_fetch_or(&map[fd / 64], m);
    else
        atomic_fetch_and(&map[fd / 64], ~m);
}

/* Closes without going through interpose/fd.c's close. */
static int raw_close(int fd)
{
    return (int)syscall(SYS_close, fd);
}

/* Where adopted descriptors start. Read each time: the program may raise
 * or lower its limit. Below 1024 (FD_SETSIZE) when the limit allows, so a
 * program using select() finds its own numbers where they always were. */
static int floor_number(void)
{
    struct rlimit rl;
    rlim_t lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    if (lim > 1024) lim = 1024;
    return (int)(lim - lim / 4);
}

int scry__fd_adopt(int fd)
{
    if (fd < 0) return fd;
    int saved = errno;
    int floor = floor_number();
    int high = fd >= floor ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, floor);
    /* A number the program took with dup2 stays marked stolen until scry's
     * old holder closes it: never hand it out again meanwhile. */
    int parked[8], nparked = 0;
    while (high >= 0 && scry__fd_stolen(high) && nparked < 8) {
        parked[nparked++] = high;
        high = fcntl(fd, F_DUPFD_CLOEXEC, high + 1);
    }
    while (nparked) raw_close(parked[--nparked]);
    if (high >= 0 && (high >= SCRY__FDS_TRACKED || scry__fd_stolen(high))) {
        raw_close(high);
        high = -1;
    }
    if (high >= 0) {
        raw_close(fd);
        fd = high;
    } else if (fd < floor || fd >= SCRY__FDS_TRACKED) {
        /* Nothing free up there: it stays where it is, said once. */
        scry__warn_once("no free descriptor number from %d up; scry's descriptor %d stays where "
                        "the program's may go",
                        floor, fd);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        errno = saved;
        return fd;
    } else {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    set_bit(scry__fds_owned, fd, 1);
    errno = saved;
    return fd;
}

int scry__fd_close(int fd)
{
    if (scry__fd_stolen(fd)) {
        set_bit(scry__fds_stolen, fd, 0); /* the program's now: not closed */
        return 0;
    }
    set_bit(scry__fds_owned, fd, 0);
    return raw_close(fd);
}

void scry__fd_steal(int fd)
{
    set_bit(scry__fds_stolen, fd, 1);
    set_bit(scry__fds_owned, fd, 0);
    atomic_store(&scry__fds_any_stolen, 1);
}

int scry__fd_identify(int fd, scry__fd_id_t *id)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    return 0;
}

int scry__fd_same(int fd, const scry__fd_id_t *id)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino;
}

void scry__fds_postfork_child(void)
{
    for (int w = 0; w < SCRY__FDS_TRACKED / 64; w++) {
        uint64_t bits = atomic_exchange(&scry__fds_owned[w], 0);
        while (bits) {
            int b = __builtin_ctzll(bits);
            bits &= bits - 1;
            raw_close(w * 64 + b);
        }
        atomic_store(&scry__fds_stolen[w], 0);
    }
    atomic_store(&scry__fds_any_stolen, 0);
}
