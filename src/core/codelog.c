/*
 * codelog.c - see codelog.h.
 *
 * Entries are claimed in hash order by compare-and-swap on their state
 * (empty -> filling -> ready) and never change once ready. A reader that
 * meets an entry being filled by another thread takes the next free one:
 * the same object may then have two entries, which costs nothing but the
 * slot. Lookups stop at the first empty slot of the probe sequence.
 */
#define _GNU_SOURCE
#include "core/codelog.h"

#include <stdatomic.h>
#include <string.h>

enum { EMPTY = 0, FILLING = 1, READY = 2 };

#define PATH_MAX_KEPT 240

typedef struct {
    _Atomic uint32_t state;
    uint32_t order; /* claim order: count() and get() go by it */
    uintptr_t start, end, bias;
    char path[PATH_MAX_KEPT];
} slot_t;

static slot_t slots[SCRY__CODELOG_MAX];
static _Atomic uint32_t by_order[SCRY__CODELOG_MAX]; /* order -> slot + 1 */
static _Atomic uint32_t count;
static _Atomic uint64_t dropped;

static uint64_t hash(uintptr_t start, uintptr_t bias, const char *path)
{
    uint64_t h = 1469598103934665603ull ^ start ^ (bias << 17);
    for (const char *p = path; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

uintptr_t scry__codelog_tag_as_safe(uintptr_t pc, uintptr_t start, uintptr_t end, uintptr_t bias,
                                    const char *path)
{
    if (!path || pc < start || pc - start > UINT32_MAX || strlen(path) >= PATH_MAX_KEPT) return pc;
    uint64_t h = hash(start, bias, path);
    for (uint32_t k = 0; k < SCRY__CODELOG_MAX; k++) {
        uint32_t i = (uint32_t)((h + k) % SCRY__CODELOG_MAX);
        slot_t *s = &slots[i];
        uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (st == READY) {
            if (s->start == start && s->end == end && s->bias == bias && !strcmp(s->path, path))
                return (uintptr_t)(SCRY__CODE_TAG | (uint64_t)s->order << 32 |
                                   (uint64_t)(pc - start));
            continue;
        }
        if (st == FILLING) continue;
        uint32_t expect = EMPTY;
        if (!atomic_compare_exchange_strong(&s->state, &expect, FILLING)) continue;
        uint32_t order = atomic_fetch_add(&count, 1);
        s->start = start;
        s->end = end;
        s->bias = bias;
        strcpy(s->path, path);
        s->order = order;
        atomic_store_explicit(&by_order[order], i + 1, memory_order_release);
        atomic_store_explicit(&s->state, READY, memory_order_release);
        return (uintptr_t)(SCRY__CODE_TAG | (uint64_t)order << 32 | (uint64_t)(pc - start));
    }
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
    return pc;
}

uint32_t scry__codelog_count(void)
{
    return atomic_load(&count);
}

static const slot_t *by_index(uint32_t i)
{
    if (i >= SCRY__CODELOG_MAX) return NULL;
    uint32_t s = atomic_load_explicit(&by_order[i], memory_order_acquire);
    if (!s) return NULL;
    const slot_t *p = &slots[s - 1];
    return atomic_load_explicit(&((slot_t *)p)->state, memory_order_acquire) == READY ? p : NULL;
}

int scry__codelog_get(uint32_t i, scry__codelog_entry_t *e)
{
    const slot_t *s = by_index(i);
    if (!s) return -1;
    e->start = s->start;
    e->end = s->end;
    e->bias = s->bias;
    e->path = s->path;
    return 0;
}

int scry__codelog_untag(uintptr_t addr, uint32_t *index, uintptr_t *real)
{
    if (!scry__code_tagged(addr)) return -1;
    uint32_t i = (uint32_t)((addr & ~SCRY__CODE_TAG) >> 32);
    const slot_t *s = by_index(i);
    if (!s) return -1;
    *index = i;
    *real = s->start + (uint32_t)addr;
    return 0;
}

uint64_t scry__codelog_dropped(void)
{
    return atomic_load(&dropped);
}
