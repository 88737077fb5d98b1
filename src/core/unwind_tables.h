/*
 * unwind_tables.h - the unwind tables of every loaded object, for the
 * hybrid walk (unwind.c) to search from signal handlers.
 *
 * Built on an ordinary thread (a profile's start, then scry's aggregator
 * thread whenever dl_iterate_phdr's load/unload counters move), one table
 * per object (core/cfi.h), published as an immutable snapshot: the code
 * ranges of all objects sorted by address, each pointing at its object's
 * table. A new snapshot reuses the tables of objects still loaded.
 *
 * Readers (signal handlers, interposers, the wall sampler) bracket their
 * use with enter/leave: two counters, one per parity of the snapshot
 * generation. A writer publishes the new snapshot, flips the generation and
 * waits for the old parity's readers to leave before freeing what only the
 * old snapshot used (as userspace RCU does); if they do not leave within a
 * second (a thread stopped in the middle of a walk), the old snapshot is
 * left allocated, and counted, rather than freed under a reader.
 *
 * The objects loaded when the first snapshot is built (the program and
 * the libraries it was linked with) get their tables then; dlclose never
 * unmaps them. Objects loaded later (dlopen'ed plugins, and the libraries
 * scry itself loads to symbolize) are "late": they get a table when a walk
 * first meets their code (the walk marks the object wanted, the next poll
 * of scry's aggregator thread, within 20 ms, builds it), and most of what
 * scry loads for itself (libcurl, OpenSSL) never runs on a program thread
 * and never costs one. A frame in late code, or in code loaded since the
 * last snapshot, is checked against the loader's own lock-free
 * _dl_find_object (another library may have taken the address of one the
 * snapshot knows), tagged with its object (core/codelog.h, so that it can
 * be named after a dlclose), and read from the object's table when the
 * snapshot's object is the loader's, else from its .eh_frame directly: the
 * one FDE that covers the pc (scry__cfi_row_at_as_safe).
 *
 * dlopen itself is not interposed: glibc looks at dlopen's caller to
 * search the calling object's RUNPATH, which a wrapper would change.
 */
#ifndef SCRY_CORE_UNWIND_TABLES_H
#define SCRY_CORE_UNWIND_TABLES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cfi.h"

typedef struct scry__utab_obj {
    uintptr_t bias;   /* dlpi_addr */
    const void *phdr; /* dlpi_phdr: with bias, which object this is */
    /* &cfi once built (empty when the object has no usable CFI); NULL
     * until then. Published with a release store. */
    const scry__cfi_table_t *_Atomic table;
    _Atomic int wanted; /* a walk met its code before its table existed */
    scry__cfi_table_t cfi;
    char name[96]; /* the file's base name, for descriptions */
    int from_debug_frame;
    /* Loaded after the first snapshot: it may be unloaded again, so its
     * frames are checked against the loader and tagged (core/codelog.h). */
    int late;
} scry__utab_obj_t;

/* The object's table, or NULL (not built yet: then asks for it).
 * Async-signal-safe. */
const scry__cfi_table_t *scry__utab_table_as_safe(scry__utab_obj_t *o);

typedef struct {
    uintptr_t lo, hi; /* an executable segment */
    scry__utab_obj_t *obj;
} scry__utab_range_t;

typedef struct {
    uint32_t nranges, nobjs;
    scry__utab_range_t *ranges; /* sorted by lo */
    scry__utab_obj_t **objs;
    size_t mapped;
} scry__utab_snap_t;

/* Reader's side. Async-signal-safe, lock-free; enter returns the snapshot
 * (NULL before the first build) valid until leave(parity). Nests. */
const scry__utab_snap_t *scry__utab_enter_as_safe(unsigned *parity);
void scry__utab_leave_as_safe(unsigned parity);

/* The range holding pc, or NULL: code scry knows of no object for. */
static inline const scry__utab_range_t *scry__utab_range_as_safe(const scry__utab_snap_t *s,
                                                                 uintptr_t pc)
{
    if (!s) return NULL;
    uint32_t lo = 0, hi = s->nranges;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const scry__utab_range_t *r = &s->ranges[mid];
        if (pc < r->lo)
            hi = mid;
        else if (pc >= r->hi)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

/* The row for pc (an instruction's own address, or a return address - 1)
 * in snapshot s, or NULL (no rule). Looks in a cache shared by all threads
 * first, then in the object *hint last found (a walk's consecutive frames
 * are often in one object), then in all; code of an object loaded since
 * the first snapshot is looked up in the loader and its own .eh_frame
 * (unless its table is built). *frame is what the walk records for pc:
 * pc itself, or its tag (core/codelog.h) when the object may be unloaded.
 * The row may be copied into *buf. Async-signal-safe. */
const scry__cfi_row_t *scry__utab_row_as_safe(const scry__utab_snap_t *s, uintptr_t pc,
                                              const scry__utab_range_t **hint, scry__cfi_row_t *buf,
                                              uintptr_t *frame);

/* The cache's half of scry__utab_row_as_safe, inlined into the walk: the
 * entry for pc (unwind_tables.c describes the packing), or 0. */
#define SCRY__UTAB_CACHE_BITS 12
extern _Atomic uint64_t scry__utab_cache[1u << SCRY__UTAB_CACHE_BITS];
static inline uint64_t scry__utab_cached_as_safe(uintptr_t pc)
{
    uint32_t i = (uint32_t)(((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> (64 - SCRY__UTAB_CACHE_BITS));
    uint64_t e = atomic_load_explicit(&scry__utab_cache[i], memory_order_relaxed);
    return (e & (((uint64_t)1 << 47) - 1)) == pc && (e >> 47 & 3) ? e : 0;
}

/* Whether pc is in code the loader knows (an object loaded since the
 * snapshot included). Async-signal-safe. */
int scry__utab_known_as_safe(uintptr_t pc);

/* Builds the tables of objects loaded since the last build (all of them
 * the first time) and publishes a snapshot. Not async-signal-safe; takes
 * the loader's lock (dl_iterate_phdr) and the tables' own. */
void scry__utab_refresh(void);
/* Refreshes when something was loaded or unloaded since the last build,
 * and builds the tables walks asked for; only if a build happened at all
 * (the aggregator's tick). */
void scry__utab_poll(void);
/* 1 once the first snapshot is published. */
int scry__utab_ready(void);

/* Totals of the current snapshot, for descriptions and benchmarks. */
typedef struct {
    uint32_t objects, with_table, pending; /* pending: not built (not met yet) */
    size_t rows, bytes;
    uint64_t leaked;       /* snapshots kept because a reader did not leave */
    uint64_t probes;       /* rows read from .eh_frame in a walk (no table yet) */
} scry__utab_stats_t;
void scry__utab_stats(scry__utab_stats_t *st);

void scry__utab_prefork(void);
void scry__utab_postfork_parent(void);
void scry__utab_postfork_child(void);

#endif
