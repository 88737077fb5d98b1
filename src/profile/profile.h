/*
 * profile.h - what every profile module provides, and the table of them.
 *
 * The API (api.c) and the exit path (core/lifecycle.c) reach profiles only
 * through this table, by name. A module owns its lock and its data; write_fd
 * drains pending samples, snapshots its data under its lock, and encodes
 * with format/pprof.h outside the lock.
 */
#ifndef SCRY_PROFILE_PROFILE_H
#define SCRY_PROFILE_PROFILE_H

#include <stdint.h>

#include "format/pprof.h"

typedef struct {
    const char *name;
    int (*start)(void);      /* 0, -EALREADY, or a negative errno */
    int (*stop)(void);       /* 0 or -EINVAL when not running */
    int (*running)(void);    /* 1 while running */
    int (*write_fd)(int fd); /* 0 or a negative errno */
    void (*prefork)(void);
    void (*postfork_parent)(void);
    void (*postfork_child)(void);
} scry__profile_t;

/* NULL when the name is unknown; a profile with start == NULL is reserved. */
const scry__profile_t *scry__profile_find(const char *name);
/* Every implemented profile, NULL-terminated. */
extern const scry__profile_t *const scry__profiles[];

/* p->start() and p->stop() as scry's own work (nothing they allocate is
 * sampled). Every caller outside the profile modules goes through these. */
int scry__profile_start(const scry__profile_t *p);
int scry__profile_stop(const scry__profile_t *p);
/* Writes profile p to fd (not closed), as scry's own work: what it
 * allocates is not sampled. 0 or a negative errno. */
int scry__profile_write_fd(const scry__profile_t *p, int fd);
/* Writes profile p to path atomically: a temporary file in the same
 * directory, then rename(2). 0 or a negative errno. */
int scry__profile_write_path(const scry__profile_t *p, const char *path);

extern const scry__profile_t scry__cpu_profile;
/* "heap" and "allocs": one set of samples, two default views. */
extern const scry__profile_t scry__heap_profile;
extern const scry__profile_t scry__allocs_profile;
/* Heap sampling rate in bytes (1: every allocation); -EBUSY while running. */
int scry__heap_set_rate(long rate);
/* "block" and "mutex": waits on locks and the releases that ended them. */
extern const scry__profile_t scry__block_profile;
extern const scry__profile_t scry__mutex_profile;
/* Go's SetBlockProfileRate (ns) and SetMutexProfileFraction; -EBUSY while
 * the profile runs. */
int scry__block_set_rate(long ns);
int scry__mutex_set_fraction(long n);
/* "threads": a snapshot of every thread when written. "wall": every
 * thread on and off CPU at a fixed rate. */
extern const scry__profile_t scry__threads_profile;
extern const scry__profile_t scry__wall_profile;
/* Wall-clock rate; -EBUSY while the wall profile runs. */
int scry__wall_set_hz(int hz);
/* The pprof labels of a sample taken in a span (span/labels.h): span_id
 * (16 hex digits, in hex[]), and from the names word span_name and
 * root_span_name, the ones known; returns how many were written to out. */
int scry__span_pprof_labels(uint64_t span_id, uint32_t names, char hex[17], scry__label_t out[3]);

/* CPU profile settings, read by the API. */
int scry__cpu_set_hz(int hz);

#endif
