/*
 * cfi.h - one object's call frame information, compiled ahead of time into
 * a table a signal handler can search.
 *
 * DWARF CFI (.eh_frame, or .debug_frame where there is none) describes, for
 * every instruction of the code it covers, how to find the caller's frame:
 * a little program per function (FDE) run from its start to the
 * instruction. That is too slow, and needs too much state, for a signal
 * handler; so scry runs every program once, when a profile starts or a
 * library is loaded, and keeps the result as rows sorted by address: from
 * this address up to the next row's, the canonical frame address (CFA, the
 * caller's stack pointer) is sp or fp plus an offset, the return address is
 * at CFA - 8 and the caller's fp is where the row says. Only the registers
 * an unwinder needs on x86-64 are kept (rsp, rbp, the return address), 12
 * bytes a row, as async-profiler's FrameDesc tables and the OpenTelemetry
 * eBPF profiler's precomputed .eh_frame tables do.
 *
 * Anything the rows cannot say (a CFA computed from another register, an
 * unusual expression) becomes a NONE row: the walk then falls back to the
 * frame pointer for that frame. Addresses covered by no FDE are NONE too.
 */
#ifndef SCRY_CORE_CFI_H
#define SCRY_CORE_CFI_H

#include <stddef.h>
#include <stdint.h>

/* How the CFA is found. */
enum {
    SCRY__CFA_NONE = 0, /* no rule: fall back to the frame pointer */
    SCRY__CFA_SP,       /* sp + cfa_off */
    SCRY__CFA_FP,       /* fp + cfa_off */
    SCRY__CFA_FP_DEREF, /* *(fp + cfa_off): stack realignment (main, AVX code) */
    SCRY__CFA_PLT,      /* sp + cfa_off + ((pc & 15) >= fp_off ? 8 : 0): PLT entries */
    SCRY__CFA_END,      /* return address undefined: the thread's or process's entry */
    SCRY__CFA_SIGNAL,   /* a signal trampoline (augmentation 'S'): sp points at a ucontext */
};

/* Where the caller's fp is. */
enum {
    SCRY__FPR_SAME = 0, /* not saved: the caller's fp is this frame's */
    SCRY__FPR_CFA,      /* *(CFA + fp_off) */
    SCRY__FPR_FP,       /* *(fp + fp_off) (saved by an expression, with realignment) */
    SCRY__FPR_UNDEF,    /* unknown: the caller's fp cannot be used */
};

typedef struct {
    uint32_t pc; /* offset from the object's load bias */
    int32_t cfa_off;
    int16_t fp_off;
    uint8_t cfa; /* SCRY__CFA_* */
    uint8_t fp;  /* SCRY__FPR_* */
} scry__cfi_row_t;

/* The index in front of the rows: bucket i holds the rows from the last
 * one at or below first_pc + i * 2^SCRY__CFI_BUCKET_SHIFT; a lookup
 * searches only its bucket's few rows (libc: about 5 per 256 bytes of
 * code), not all of them (libc: 28k, 15 dependent loads). */
#define SCRY__CFI_BUCKET_SHIFT 8

typedef struct {
    scry__cfi_row_t *rows; /* mmap'ed; sorted by pc; the last row is NONE */
    size_t n;
    uint32_t *bucket; /* mmap'ed, nbuckets + 1 entries */
    uint32_t nbuckets;
    size_t mapped, bucket_mapped; /* bytes */
    /* What the compile saw, for tests and benchmarks. */
    uint32_t fdes, bad_fdes;
} scry__cfi_table_t;

/* Compiles a loaded object's .eh_frame, found through its
 * .eh_frame_hdr at `hdr` (the PT_GNU_EH_FRAME segment, in memory). Every
 * read stays in [lo, hi) (the object's mapped extent). `bias` is the
 * object's load bias (dl_iterate_phdr's dlpi_addr): rows hold pc - bias.
 * Returns 0, or -1 (nothing usable; *t is empty). Not async-signal-safe;
 * allocates with mmap only. */
int scry__cfi_compile_eh_frame(const uint8_t *hdr, uintptr_t lo, uintptr_t hi, uintptr_t bias,
                               scry__cfi_table_t *t);

/* The same from a .debug_frame section read from the object's file
 * (addresses in it are link-time, so rows hold them as they are). */
int scry__cfi_compile_debug_frame(const uint8_t *sec, size_t size, scry__cfi_table_t *t);

void scry__cfi_free(scry__cfi_table_t *t);

/* The row for one pc, straight from a loaded object's .eh_frame through
 * .eh_frame_hdr's index, without a table: for code loaded since the tables
 * were built. Runs one function's CFA program (about 0.5 us). Returns 0
 * with *row, or -1 (no rule). Async-signal-safe: reads only [lo, hi), no
 * allocation, about 1 KB of stack. */
int scry__cfi_row_at_as_safe(const uint8_t *hdr, uintptr_t lo, uintptr_t hi, uintptr_t bias,
                             uintptr_t pc, scry__cfi_row_t *row);

/* The row covering offset `off`, or NULL (none, or a NONE row).
 * Async-signal-safe: reads only the table. */
static inline const scry__cfi_row_t *scry__cfi_find_as_safe(const scry__cfi_table_t *t,
                                                            uint32_t off)
{
    size_t lo = 0, hi = t->n;
    if (!hi || off < t->rows[0].pc) return NULL;
    uint32_t b = (off - t->rows[0].pc) >> SCRY__CFI_BUCKET_SHIFT;
    if (t->bucket && b < t->nbuckets) {
        lo = t->bucket[b];
        hi = (size_t)t->bucket[b + 1] + 1;
        if (hi > t->n) hi = t->n;
    }
    while (hi - lo > 1) { /* rows[lo].pc <= off < rows[hi].pc */
        size_t mid = lo + (hi - lo) / 2;
        if (t->rows[mid].pc <= off)
            lo = mid;
        else
            hi = mid;
    }
    const scry__cfi_row_t *r = &t->rows[lo];
    return r->cfa == SCRY__CFA_NONE ? NULL : r;
}

#endif
