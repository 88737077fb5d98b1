/*
 * pprof_read.h - loading and checking a pprof file, and the per-function
 * sums that `scry top` and the tests print.
 *
 * This is the CLI's side of the format: the library writes profiles
 * (src/format/pprof.c), and everything that reads one back, `scry top` and
 * the test tool tests/pprof_dump, goes through here so that they agree with
 * each other and with `go tool pprof` on what a file says. A file is
 * accepted gzipped (as pprof writes it) or as a bare protobuf (as pprof also
 * reads), is checked the way pprof checks it (every id and string index
 * resolves, every sample has one value per sample type), and every failure
 * is one line, "<path>: <what>", for the caller to prefix with "scry: ".
 *
 * Function sums follow pprof's "functions" granularity, so that the numbers
 * match `go tool pprof -top`: a frame is named by its function's name (the
 * same name in two files is one function), an unnamed frame by its binary,
 * "[libfoo.so]", else "<unknown>"; inlined frames are functions of their own.
 */
#ifndef SCRY_PPROF_READ_H
#define SCRY_PPROF_READ_H

#include <stddef.h>
#include <stdint.h>

#include "profile.pb-c.h"

typedef Perftools__Profiles__Location scry_pb_location_t;
typedef Perftools__Profiles__Function scry_pb_function_t;
typedef Perftools__Profiles__Mapping scry_pb_mapping_t;

/* A loaded, validated profile. pb is the unpacked message, read-only; the
 * rest is private to pprof_read.c. */
typedef struct scry_pprof {
    const Perftools__Profiles__Profile *pb;
    struct scry_pprof_index *index;
} scry_pprof_t;

/* Reads path. 0 and *out on success (free with scry_pprof_free); -1 and a
 * one-line "<path>: <what>" in err otherwise. */
int scry_pprof_load(const char *path, scry_pprof_t **out, char *err, size_t errlen);
void scry_pprof_free(scry_pprof_t *p);

/* string_table[i]. Validation guarantees every index the profile holds is
 * in range; an index from elsewhere out of range gives "". */
const char *scry_pprof_str(const scry_pprof_t *p, int64_t i);

/* The sample index for a type name ("cpu"; "inuse_space" also finds
 * "space"), or a number ("0"). NULL or "" picks the profile's
 * default_sample_type, else the last type, as pprof does. -1 when there is
 * no such type (or the profile has no sample types at all). */
int scry_pprof_sample_index(const scry_pprof_t *p, const char *name);

/* Objects by id, in O(log n); NULL for an id the profile lacks. */
const scry_pb_location_t *scry_pprof_location(const scry_pprof_t *p, uint64_t id);
const scry_pb_function_t *scry_pprof_function(const scry_pprof_t *p, uint64_t id);
const scry_pb_mapping_t *scry_pprof_mapping(const scry_pprof_t *p, uint64_t id);

/* The name pprof shows for line k of location l (k == l->n_line for a
 * location without lines): the function name, else "[<binary basename>]",
 * else "<unknown>". Valid as long as p. */
const char *scry_pprof_frame_name(const scry_pprof_t *p, const scry_pb_location_t *l, size_t k);

typedef struct {
    const char *name; /* as scry_pprof_frame_name */
    int64_t flat;     /* samples whose innermost frame is this function */
    int64_t cum;      /* samples with this function anywhere on the stack, once each */
    /* How callers reach it, for pprof's "(inline)" marks: some caller
     * inlined it into every sample where the pair occurs (inlined), or at
     * least one caller called it for real (called). */
    unsigned inlined : 1, called : 1;
} scry_func_stat_t;

/* Per-function flat and cum for sample index idx, as pprof computes them:
 * flat to the innermost line of each sample's leaf location, cum to every
 * function of the stack once per sample (recursion counts once), inlined
 * lines count as functions. Functions whose flat and cum are both 0 are
 * left out. *total is the sum of |value| over all samples (pprof's total).
 * Sums saturate instead of overflowing. Returns the number of functions in
 * *out (malloc'ed, unsorted, caller frees), or -1 when out of memory. */
long scry_pprof_func_stats(const scry_pprof_t *p, int idx, scry_func_stat_t **out, int64_t *total);

#endif
