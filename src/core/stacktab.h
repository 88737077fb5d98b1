/*
 * stacktab.h - the one table of distinct stacks that every profile shares.
 *
 * A stack (leaf first, code addresses) is interned once and named by a dense
 * id; profiles keep their values in arrays indexed by that id. Stored stacks
 * never move, so scry__stacktab_get() needs no lock once an id is known.
 * Memory is bounded: past SCRY__STACKTAB_MAX stacks, intern() refuses and the
 * caller counts the sample as dropped.
 *
 * Lock: stacktab owns one mutex, taken only by intern(); it nests inside any
 * profile's lock (profile lock -> stacktab lock), never the other way.
 * Not for signal handlers.
 */
#ifndef SCRY_CORE_STACKTAB_H
#define SCRY_CORE_STACKTAB_H

#include <stddef.h>
#include <stdint.h>

/* 65536 distinct stacks: real programs show a few thousand; the worst case
 * (every stack 128 frames deep) is 64 MiB of frames plus 1.5 MiB of index. */
#define SCRY__STACKTAB_MAX (1u << 16)
#define SCRY__STACK_NONE UINT32_MAX

uint32_t scry__stacktab_intern(const uintptr_t *frames, uint32_t n);
/* Memory the table holds, for /memory/classes/profiling/buckets:bytes. */
size_t scry__stacktab_bytes(void);
const uintptr_t *scry__stacktab_get(uint32_t id, uint32_t *n);

void scry__stacktab_prefork(void);
void scry__stacktab_postfork_parent(void);
void scry__stacktab_postfork_child(void);

#endif
