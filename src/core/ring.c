/*
 * ring.c - bounded lock-free multi-producer, single-consumer sample queue.
 * See ring.h for why there is one queue and how it is used.
 *
 * Each slot carries a sequence number. Slot i is free for the producer whose
 * ticket is t when seq == t, and holds a committed sample for the consumer at
 * ticket t when seq == t + 1; the consumer frees it by setting seq to
 * t + SLOTS. A producer interrupted between reserve and commit (by being
 * descheduled) only delays the consumer, which stops at the first uncommitted
 * slot and resumes at the next drain.
 */
#include "core/ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#define SLOTS 4096u /* power of two; 4096 * ~1 KiB = 4 MiB, touched lazily */

typedef struct {
    _Atomic uint64_t seq;
    uint64_t ticket; /* the ticket this slot was reserved under, for commit */
    scry__sample_t sample;
} slot_t;

static slot_t *slots;
static _Alignas(64) _Atomic uint64_t tail; /* next ticket for producers */
static _Alignas(64) uint64_t head;         /* next ticket for the consumer */
static _Atomic uint64_t drops;
static _Atomic uint64_t taken; /* samples committed */

int scry__ring_init(void)
{
    if (slots) return 0;
    void *m = mmap(NULL, sizeof(slot_t) * SLOTS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -ENOMEM;
    slot_t *s = m;
    for (uint64_t i = 0; i < SLOTS; i++) atomic_init(&s[i].seq, i);
    atomic_store(&tail, 0);
    head = 0;
    slots = s;
    return 0;
}

scry__sample_t *scry__ring_reserve_as_safe(void)
{
    slot_t *s = slots;
    if (!s) {
        atomic_fetch_add_explicit(&drops, 1, memory_order_relaxed);
        return NULL;
    }
    uint64_t t = atomic_load_explicit(&tail, memory_order_relaxed);
    for (;;) {
        slot_t *sl = &s[t & (SLOTS - 1)];
        uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire);
        if (seq == t) {
            if (atomic_compare_exchange_weak_explicit(&tail, &t, t + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                sl->ticket = t;
                return &sl->sample;
            }
            /* t was reloaded by the failed CAS; try again */
        } else if (seq < t) {
            /* the consumer has not freed this slot: full */
            atomic_fetch_add_explicit(&drops, 1, memory_order_relaxed);
            return NULL;
        } else {
            t = atomic_load_explicit(&tail, memory_order_relaxed);
        }
    }
}

void scry__ring_commit_as_safe(scry__sample_t *sample)
{
    slot_t *sl = (slot_t *)((char *)sample - offsetof(slot_t, sample));
    atomic_store_explicit(&sl->seq, sl->ticket + 1, memory_order_release);
    atomic_fetch_add_explicit(&taken, 1, memory_order_relaxed);
}

uint64_t scry__ring_taken(void)
{
    return atomic_load_explicit(&taken, memory_order_relaxed);
}

_Atomic uint64_t scry__handler_ns;

uint64_t scry__ring_drain(scry__ring_fn fn, void *arg)
{
    if (!slots) return 0;
    uint64_t n = 0;
    for (;;) {
        slot_t *sl = &slots[head & (SLOTS - 1)];
        uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire);
        if (seq != head + 1) break;
        fn(&sl->sample, arg);
        atomic_store_explicit(&sl->seq, head + SLOTS, memory_order_release);
        head++;
        n++;
    }
    return n;
}

uint64_t scry__ring_drops(void)
{
    return atomic_load_explicit(&drops, memory_order_relaxed);
}

void scry__ring_reset(void)
{
    if (!slots) return;
    for (uint64_t i = 0; i < SLOTS; i++) atomic_store(&slots[i].seq, i);
    atomic_store(&tail, 0);
    head = 0;
}
