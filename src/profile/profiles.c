/*
 * profiles.c - the table of profiles and writing one to a path.
 */
#define _GNU_SOURCE
#include "profile/profile.h"
#include "span/labels.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/profile_names.h"
#include "core/threads.h"
#include "core/unwind.h"
#include "format/symbolize.h"
#include "core/busy.h"

const scry__profile_t *const scry__profiles[] = {
    &scry__cpu_profile,   &scry__heap_profile,  &scry__allocs_profile,
    &scry__block_profile, &scry__mutex_profile, &scry__threads_profile,
    &scry__wall_profile,  NULL};

static const scry__profile_t reserved = {.name = "reserved"};

const scry__profile_t *scry__profile_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; scry__profiles[i]; i++)
        if (!strcmp(scry__profiles[i]->name, name)) return scry__profiles[i];
    if (scry__profile_index(name, strlen(name)) >= 0) return &reserved;
    return NULL;
}

/* Starting and stopping allocate (tables, threads, the first stacks) and
 * take scry's locks: as scry's own work, so that no heap sample is taken
 * inside them (a sample interns its stack: the stack table's lock, maybe
 * held already by the start). */
int scry__profile_start(const scry__profile_t *p)
{
    scry__busy_enter();
    /* The unwind tables first: the objects loaded now (the program's) get
     * theirs at once; those the symbolizer loads next (libdebuginfod,
     * libcurl, OpenSSL) only if a walk ever meets their code. */
    scry__unwind_init(scry__config.unwind);
    scry__symbolizer_prepare();
    int rc = p->start();
    scry__busy_leave();
    return rc;
}

int scry__profile_stop(const scry__profile_t *p)
{
    scry__busy_enter();
    int rc = p->stop();
    scry__busy_leave();
    return rc;
}

int scry__profile_write_fd(const scry__profile_t *p, int fd)
{
    /* Writing allocates a lot (symbols, encoding): none of it is the
     * program's, so none of it is sampled. */
    scry__busy_enter();
    int rc = p->write_fd(fd);
    scry__busy_leave();
    return rc;
}

int scry__profile_write_path(const scry__profile_t *p, const char *path)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    if (n < 0 || n >= (int)sizeof tmp) return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    int rc = scry__profile_write_fd(p, fd);
    if (close(fd) < 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0) rc = -errno;
    if (rc != 0) unlink(tmp);
    return rc;
}

int scry__span_pprof_labels(uint64_t span_id, uint32_t names, char hex[17], scry__label_t out[3])
{
    uint32_t name_id = names & 0xffff, root_id = names >> 16;
    int n = 0;
    if (span_id) {
        scry__span_id_hex(span_id, hex);
        out[n++] = (scry__label_t){"span_id", hex, 0, NULL};
    }
    const char *name = scry__span_name(name_id);
    if (name) out[n++] = (scry__label_t){"span_name", name, 0, NULL};
    const char *root = scry__span_name(root_id);
    if (root) out[n++] = (scry__label_t){"root_span_name", root, 0, NULL};
    return n;
}
