/*
 * symbolize.h - turns code addresses of this process into functions, files
 * and lines, inlined frames included, with elfutils' libdw.
 *
 * A symbolizer is a snapshot of the process's executable mappings
 * (/proc/self/maps, with file offsets and GNU build IDs) and of the modules
 * libdw reported for them. It runs when a profile is written, never in a
 * signal handler; it allocates freely and checks every libdw result, since a
 * missing or odd debug file must never hurt the host. A library unloaded
 * with dlclose before the write is symbolized from its file when a walk
 * tagged its frames (core/codelog.h); its mapping follows the process's.
 *
 * Strings returned stay valid until scry__symbolizer_free().
 */
#ifndef SCRY_FORMAT_SYMBOLIZE_H
#define SCRY_FORMAT_SYMBOLIZE_H

#include <stdint.h>

typedef struct {
    uintptr_t start, limit, offset;
    const char *path;     /* as in /proc/self/maps, "[vdso]" etc. */
    const char *build_id; /* lower-case hex, "" when none */
} scry__mapping_t;

typedef struct {
    const char *name;        /* demangled */
    const char *system_name; /* linkage name */
    const char *file;        /* NULL when unknown */
    int line;                /* 0 when unknown */
} scry__frame_t;

typedef struct scry__symbolizer scry__symbolizer_t;

/* NULL when out of memory; libdw failures leave a symbolizer that knows the
 * mappings but no names. */
scry__symbolizer_t *scry__symbolizer_new(void);
/* Loads what symbolizing will load (libdebuginfod and its libcurl) now,
 * once: called when a profile or trace starts, so that nothing is first
 * loaded at exit, after the program tore its libraries down. */
void scry__symbolizer_prepare(void);
/* The process's shared symbolizer, rebuilt when a library was loaded or
 * unloaded since, held until release; while another user holds it, a
 * private one (freed by release). NULL when out of memory. */
scry__symbolizer_t *scry__symbolizer_acquire(void);
void scry__symbolizer_release(scry__symbolizer_t *s);
void scry__symbolizer_free(scry__symbolizer_t *s);

/* The executable mappings, sorted by address. */
int scry__symbolizer_mappings(scry__symbolizer_t *s, const scry__mapping_t **out);
/* Index of the mapping holding addr (a tagged frame's: its object's), or -1. */
int scry__symbolizer_find_mapping(scry__symbolizer_t *s, uintptr_t addr);
/* The address a frame had in the process: addr itself, or a tagged
 * frame's real address. */
uintptr_t scry__symbolizer_address(scry__symbolizer_t *s, uintptr_t addr);

/* Fills out[0..n) with the frames at addr, innermost inlined function
 * first and the function that really holds the code last. Returns n (0 when
 * nothing is known), at most max. */
int scry__symbolize(scry__symbolizer_t *s, uintptr_t addr, scry__frame_t *out, int max);

/* A name for code that neither DWARF nor a symbol table names (a stripped
 * library's static function): its object's file name and the address of
 * its function in that file, as nm, objdump and addr2line count addresses,
 * "libfoo.so+0x1120". The function's start is its FDE's (.eh_frame, which
 * strip keeps); without one, the address itself. NULL when addr lies in no
 * mapping. */
const char *scry__symbolize_unnamed(scry__symbolizer_t *s, uintptr_t addr);

#endif
