/*
 * pprof.h - builds one pprof profile in memory and writes it gzipped.
 *
 * A profile module (src/profile/) creates a builder, adds its aggregated
 * samples as raw stacks of code addresses with their values, and writes. The
 * builder interns locations, symbolizes every address inside this process
 * (functions, files, lines and inlined frames, through libdw) and records
 * the mappings of /proc/self/maps with their GNU build IDs, so the file is
 * self-contained: code that nothing names (a stripped library's static
 * functions) is named by its place in its file, "libfoo.so+0x1139", and
 * every mapping is marked symbolized, so pprof never asks the program to
 * symbolize (/debug/pprof/symbol). Frames that lie in libscry.so itself are
 * dropped.
 *
 * Stack convention: frames[0] is the leaf. Every address is symbolized as it
 * is: the unwinder has already moved return addresses back into their call
 * instruction (return address - 1), so callers are attributed to the line of
 * the call.
 *
 * Not thread-safe: one builder belongs to one thread. Never call from a
 * signal handler (it allocates).
 */
#ifndef SCRY_FORMAT_PPROF_H
#define SCRY_FORMAT_PPROF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *type; /* "cpu", "samples", "alloc_space", ... */
    const char *unit; /* "nanoseconds", "count", "bytes" */
} scry__value_type_t;

/* A sample label: either str (non-NULL) or num with an optional unit. */
typedef struct {
    const char *key;
    const char *str;
    int64_t num;
    const char *num_unit;
} scry__label_t;

typedef struct scry__pprof scry__pprof_t;

/* ntypes is at most 8. Strings are copied. NULL when out of memory. */
scry__pprof_t *scry__pprof_new(const scry__value_type_t *types, int ntypes,
                               scry__value_type_t period_type, int64_t period);
void scry__pprof_set_time(scry__pprof_t *p, int64_t time_nanos, int64_t duration_nanos);
/* The sample type `go tool pprof` shows by default (e.g. "inuse_space"). */
void scry__pprof_set_default_type(scry__pprof_t *p, const char *type);
void scry__pprof_add_comment(scry__pprof_t *p, const char *text);
/* values has ntypes entries. Samples with equal stacks are kept apart (labels
 * may differ); callers aggregate. Returns 0 or -ENOMEM. */
int scry__pprof_add_sample(scry__pprof_t *p, const uintptr_t *frames, uint32_t nframes,
                           const int64_t *values, const scry__label_t *labels, int nlabels);
/* Symbolizes, encodes, gzips and writes the whole profile to fd (not closed).
 * Returns 0 or a negative errno. */
int scry__pprof_write_fd(scry__pprof_t *p, int fd);
void scry__pprof_free(scry__pprof_t *p);

/* Gzips len bytes (an encoded profile) into fd. 0 or a negative errno. */
int scry__pprof_gzip_to_fd(const uint8_t *data, size_t len, int fd);

/* Go's delta profile (?seconds=N): the gzipped profile in fd `after` minus
 * the one in fd `before`, the same profile written duration_ns earlier.
 * Samples are matched by their stacks' addresses and their labels; samples
 * with nothing left are dropped. Written gzipped to out. Both inputs are
 * read from offset 0. 0 or a negative errno. */
int scry__pprof_delta_fd(int before, int after, int64_t duration_ns, int out);

#endif
