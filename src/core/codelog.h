/*
 * codelog.h - the code objects that walks met outside the program's first
 * objects, remembered past their unloading, so that their frames can be
 * named when the profile is written.
 *
 * A library dlopen'ed, called and dlclose'd between two profile writes is
 * gone from the process by the time its samples are symbolized, and
 * another library may have been mapped at its address since. So the walk
 * (unwind.c) records, for a frame in such a library, which object it was:
 * the object's load address, extent and file path, interned here (a fixed
 * table of SCRY__CODELOG_MAX entries, lock-free, filled from signal
 * handlers), and writes the frame as a tag: SCRY__CODE_TAG, the entry's
 * index and the offset from the object's start. Stacks keep tags like any
 * address; the symbolizer (format/symbolize.c) resolves a tag against the
 * entry's file, at the address the object had.
 *
 * The program's own objects (those loaded when the unwind tables were first
 * built, which dlclose never unmaps) are never tagged: their frames stay
 * plain addresses.
 */
#ifndef SCRY_CORE_CODELOG_H
#define SCRY_CORE_CODELOG_H

#include <stdint.h>

#define SCRY__CODELOG_MAX 1024
#define SCRY__CODE_TAG ((uint64_t)1 << 63)

static inline int scry__code_tagged(uintptr_t addr)
{
    return (addr & SCRY__CODE_TAG) != 0;
}

typedef struct {
    uintptr_t start, end, bias; /* the object's extent and load bias */
    const char *path;
} scry__codelog_entry_t;

/* The tagged form of pc, in the object (start, end, bias, path) that holds
 * it; pc itself when the table is full (counted) or the path too long.
 * Async-signal-safe: lock-free, no allocation. */
uintptr_t scry__codelog_tag_as_safe(uintptr_t pc, uintptr_t start, uintptr_t end, uintptr_t bias,
                                    const char *path);

/* Entries so far (an entry, once there, never changes). */
uint32_t scry__codelog_count(void);
/* Entry i (< count), or -1. */
int scry__codelog_get(uint32_t i, scry__codelog_entry_t *e);
/* Tagged address -> entry index and the real address it had; -1 when addr
 * is not a tag of a known entry. */
int scry__codelog_untag(uintptr_t addr, uint32_t *index, uintptr_t *real);
/* Frames left untagged because the table was full. */
uint64_t scry__codelog_dropped(void);

#endif
