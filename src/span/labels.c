/*
 * labels.c - the span name table behind the span_name profile label
 * (span/labels.h), and the per-thread current label.
 *
 * The table is fixed (SCRY__SPAN_NAMES names of at most
 * SCRY__SPAN_NAME_MAX bytes, 512 KiB of zero pages until used) and never
 * shrinks, so an id stays valid for the life of the process and a writer
 * can read a name without a lock. Lookups take no lock: a slot's id is
 * published with a release store after its name is written. Inserts are
 * serialised by one mutex, taken only the first time a name is seen.
 */
#define _GNU_SOURCE
#include "span/labels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

__thread scry__span_label_t scry__span_label __attribute__((tls_model("initial-exec")));

#define HASH_SLOTS (2 * SCRY__SPAN_NAMES) /* open addressing, half full at most */

static char names[SCRY__SPAN_NAMES][SCRY__SPAN_NAME_MAX + 1]; /* [0] unused */
static _Atomic uint16_t slots[HASH_SLOTS];                    /* name id, 0: empty */
static uint32_t nnames = 1;
static pthread_mutex_t insert_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* The id of the name in the slot chain from h, or 0; *free_slot: where it
 * would go. */
static uint32_t lookup(const char *s, size_t n, uint32_t h, uint32_t *free_slot)
{
    for (uint32_t i = 0; i < HASH_SLOTS; i++) {
        uint32_t at = (h + i) & (HASH_SLOTS - 1);
        uint32_t id = atomic_load_explicit(&slots[at], memory_order_acquire);
        if (!id) {
            *free_slot = at;
            return 0;
        }
        if (strncmp(names[id], s, n) == 0 && names[id][n] == 0) return id;
    }
    *free_slot = UINT32_MAX;
    return 0;
}

static uint32_t intern(const char *name);

/* The names this thread used last, by address: a program names its spans
 * with a few literals, so most lookups are one compare. */
#define CACHE 8
static __thread struct {
    const char *ptr;
    uint32_t id;
} cache[CACHE] __attribute__((tls_model("initial-exec")));

uint32_t scry__span_name_intern(const char *name)
{
    if (!name) return 0;
    uint32_t c = (uint32_t)((uintptr_t)name >> 3) & (CACHE - 1);
    if (cache[c].ptr == name && strcmp(names[cache[c].id], name) == 0) return cache[c].id;
    uint32_t id = intern(name);
    if (id) {
        cache[c].ptr = name;
        cache[c].id = id;
    }
    return id;
}

static uint32_t intern(const char *name)
{
    size_t n = strnlen(name, SCRY__SPAN_NAME_MAX);
    uint32_t h = hash(name, n), at;
    uint32_t id = lookup(name, n, h, &at);
    if (id) return id;
    pthread_mutex_lock(&insert_lock);
    id = lookup(name, n, h, &at); /* another thread may have added it */
    if (!id && at != UINT32_MAX && nnames < SCRY__SPAN_NAMES) {
        id = nnames++;
        memcpy(names[id], name, n);
        names[id][n] = 0;
        atomic_store_explicit(&slots[at], (uint16_t)id, memory_order_release);
    }
    pthread_mutex_unlock(&insert_lock);
    return id;
}

const char *scry__span_name(uint32_t id)
{
    return id && id < SCRY__SPAN_NAMES && names[id][0] ? names[id] : NULL;
}

void scry__span_id_hex(uint64_t span_id, char out[17])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = digits[span_id & 15];
        span_id >>= 4;
    }
    out[16] = 0;
}

void scry__span_names_prefork(void)
{
    pthread_mutex_lock(&insert_lock);
}

void scry__span_names_postfork_parent(void)
{
    pthread_mutex_unlock(&insert_lock);
}

void scry__span_names_postfork_child(void)
{
    pthread_mutex_init(&insert_lock, NULL);
}
