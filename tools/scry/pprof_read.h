/*
 * pprof_read.h - loading and checking a pprof file, and the per-function
 * sums that `scry top` and the tests print.
 *
 * A file is accepted gzipped (as pprof writes it) or as a bare protobuf (as
 * pprof also reads). Every failure produces one line: "<path>: <what>".
 */
#ifndef SCRY_PPROF_READ_H
#define SCRY_PPROF_READ_H

#include <stddef.h>
#include <stdint.h>

#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile scry_profile_t;

/* 0 and *out on success; -1 and a one-line message in err otherwise. */
int scry_pprof_load(const char *path, scry_profile_t **out, char *err, size_t errlen);
void scry_pprof_free(scry_profile_t *p);

/* string_table[i], or "" when out of range. */
const char *scry_pprof_str(const scry_profile_t *p, int64_t i);

/* The sample index for a type name or a number ("cpu", "1"); NULL or ""
 * picks the default sample type, else the last type, as pprof does.
 * -1 when there is no such type. */
int scry_pprof_sample_index(const scry_profile_t *p, const char *name);

typedef struct {
    const char *name;
    int64_t flat, cum;
} scry_func_stat_t;

/* Per-function flat and cum for sample index idx: flat goes to the innermost
 * function of each sample's leaf location, cum to every function of the
 * stack once per sample (recursion counts once). Inlined lines count as
 * functions of their own. *total is the sum over samples. Returns the number
 * of functions in *out (malloc'ed, caller frees), or -1 when out of memory. */
long scry_pprof_func_stats(const scry_profile_t *p, int idx, scry_func_stat_t **out,
                           int64_t *total);

/* The location with this id, or NULL. */
const Perftools__Profiles__Location *scry_pprof_location(const scry_profile_t *p, uint64_t id);
const Perftools__Profiles__Function *scry_pprof_function(const scry_profile_t *p, uint64_t id);
const Perftools__Profiles__Mapping *scry_pprof_mapping(const scry_profile_t *p, uint64_t id);

#endif
