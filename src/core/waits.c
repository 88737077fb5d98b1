/*
 * waits.c - names of the waits and the reader's side of their records; see
 * waits.h.
 */
#include "core/waits.h"

#include <string.h>

_Atomic int scry__wait_stacks_wanted;
int scry__wait_unwind_mode;

const char *scry__wait_name(int kind)
{
    static const char *const names[SCRY__TW_COUNT] = {
        [SCRY__TW_NONE] = "",
        [SCRY__TW_MUTEX] = "mutex wait",
        [SCRY__TW_RWLOCK] = "rwlock wait",
        [SCRY__TW_COND] = "cond wait",
        [SCRY__TW_SEM] = "semaphore wait",
        [SCRY__TW_JOIN] = "join wait",
        [SCRY__TW_BARRIER] = "barrier wait",
        [SCRY__TW_SLEEP] = "sleep",
        [SCRY__TW_POLL] = "poll",
        [SCRY__TW_SIGNAL] = "signal wait",
        [SCRY__TW_IO] = "IO wait",
        [SCRY__TW_EXEC] = "exec",
    };
    return kind > 0 && kind < SCRY__TW_COUNT ? names[kind] : "";
}

int scry__wait_read(scry__thread_t *t, scry__wait_view_t *v, uintptr_t *frames)
{
    for (int tries = 0; tries < 4; tries++) {
        uint64_t g = atomic_load_explicit(&t->wait.gen, memory_order_acquire);
        memset(v, 0, sizeof *v);
        v->gen = g;
        if (!(g & 1)) return 0;
        v->kind = t->wait.kind;
        v->obj = t->wait.obj;
        v->since_ns = t->wait.since_ns;
        int has = t->wait.has_regs;
        scry__regs_t r = t->wait_regs;
        v->nframes = 0;
        /* The walk reads the stack above r.sp, which the thread leaves
         * alone until it returns from the wait: if gen is the same after
         * the walk, so was the stack during it. */
        if (has && frames) v->nframes = scry__unwind_remote(scry__wait_unwind_mode, &r, t->stack_lo, t->stack_hi, frames, SCRY__WAIT_FRAMES);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->wait.gen, memory_order_relaxed) == g) {
            if (has && !frames) v->nframes = 1; /* a stack can be had */
            return 0;
        }
    }
    /* The thread keeps entering and leaving waits: call it not waiting. */
    memset(v, 0, sizeof *v);
    v->gen = atomic_load_explicit(&t->wait.gen, memory_order_relaxed) & ~1ull;
    return 0;
}
