/*
 * callstack.c - see callstack.h.
 */
#define _GNU_SOURCE
#include "core/callstack.h"

#include <elf.h>
#include <link.h>
#include <pthread.h>

#include "core/ring.h"
#include "core/unwind.h"

static int mode;
static uintptr_t own_lo, own_hi; /* libscry.so's code */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int find_own(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    uintptr_t self = (uintptr_t)scry__callstack;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (self >= lo && self < hi) {
            own_lo = lo;
            own_hi = hi;
            return 1;
        }
    }
    return 0;
}

static void find_range(void)
{
    dl_iterate_phdr(find_own, NULL);
}

void scry__callstack_init(int unwind_mode)
{
    mode = unwind_mode;
    pthread_once(&once, find_range);
    scry__unwind_init(unwind_mode);
}

uint32_t scry__callstack(uintptr_t caller, uintptr_t *out, uint32_t max)
{
    uintptr_t raw[SCRY__MAX_FRAMES + 16];
    uint32_t n = scry__unwind_here(mode, raw, SCRY__MAX_FRAMES + 16);
    /* Past the last of scry's frames near the top, and past the caller
     * itself if the walk found it (it is added first, below). */
    uint32_t at = 0;
    for (uint32_t i = 0; i < n && i < 16; i++)
        if (raw[i] >= own_lo && raw[i] < own_hi) at = i + 1;
    if (at < n && raw[at] == caller - 1) at++;
    uint32_t k = 0;
    out[k++] = caller - 1;
    for (; at < n && k < max; at++) out[k++] = raw[at];
    return k;
}
