/*
 * cfi.c - compiles DWARF call frame information into sorted rows; see cfi.h.
 *
 * The format is the DWARF 4 standard's section 6.4 ("Call Frame
 * Information") with the LSB's .eh_frame changes (CIE id 0, pc-relative
 * pointer encodings, the 'z' augmentation) and .eh_frame_hdr's sorted
 * table of FDEs. Every FDE's program is run once, from its CIE's initial
 * instructions, and each address where the state changes gets a row.
 *
 * Only x86-64's registers are kept: rsp (7), rbp (6) and the return
 * address column (16). On other machines the tables are not built and the
 * hybrid walk follows frame pointers alone (unwind.c).
 *
 * Every read is bounds-checked against the extent the caller gives: a
 * malformed FDE is skipped and counted, never followed outside it.
 */
#define _GNU_SOURCE
#include "core/cfi.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { REG_FP = 6, REG_SP = 7, REG_RA = 16 };

/* A cursor over [p, end), failing sticky when a read would cross end. */
typedef struct {
    const uint8_t *p, *end;
    int bad;
} cur_t;

static int need(cur_t *c, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return 0;
    }
    return 1;
}

static uint64_t u(cur_t *c, size_t n)
{
    if (!need(c, n)) return 0;
    uint64_t v = 0;
    memcpy(&v, c->p, n); /* little-endian */
    c->p += n;
    return v;
}

static uint64_t uleb(cur_t *c)
{
    uint64_t v = 0;
    for (int shift = 0; need(c, 1); shift += 7) {
        uint8_t b = *c->p++;
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    return 0;
}

static int64_t sleb(cur_t *c)
{
    int64_t v = 0;
    int shift = 0;
    uint8_t b = 0;
    while (need(c, 1)) {
        b = *c->p++;
        if (shift < 64) v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
        if (!(b & 0x80)) break;
    }
    if (shift < 64 && (b & 0x40)) v |= -((int64_t)1 << shift);
    return v;
}

/* DW_EH_PE_* pointer encodings. `base_data` is what datarel is relative to
 * (.eh_frame_hdr's start, in the header only). */
enum { PE_OMIT = 0xff, PE_INDIRECT = 0x80 };

static uint64_t pointer(cur_t *c, uint8_t enc, uintptr_t base_data)
{
    if (enc == PE_OMIT) return 0;
    uintptr_t at = (uintptr_t)c->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case 0x00:
        v = u(c, 8);
        break; /* absptr */
    case 0x01:
        v = uleb(c);
        break;
    case 0x02:
        v = u(c, 2);
        break;
    case 0x03:
        v = u(c, 4);
        break;
    case 0x04:
        v = u(c, 8);
        break;
    case 0x09:
        v = (uint64_t)sleb(c);
        break;
    case 0x0a:
        v = (uint64_t)(int64_t)(int16_t)u(c, 2);
        break;
    case 0x0b:
        v = (uint64_t)(int64_t)(int32_t)u(c, 4);
        break;
    case 0x0c:
        v = u(c, 8);
        break;
    default:
        c->bad = 1;
        return 0;
    }
    switch (enc & 0x70) {
    case 0x00:
        break;
    case 0x10:
        v += at;
        break; /* pcrel: from the field itself */
    case 0x30:
        v += base_data;
        break; /* datarel */
    default:
        c->bad = 1;
        return 0; /* textrel, funcrel, aligned: not in .eh_frame on Linux */
    }
    if (enc & PE_INDIRECT) c->bad = 1; /* only personality pointers use it: never read */
    return v;
}

/* ---- the rows being built ------------------------------------------------ */

typedef struct {
    scry__cfi_row_t *rows;
    size_t n, cap; /* cap in rows; the mapping is cap * sizeof row */
    int failed;
    /* Probe mode (scry__cfi_row_at_as_safe): rows are not kept; the last
     * one at or below target is. */
    int probe, found;
    uint32_t target;
    scry__cfi_row_t row;
} out_t;

static void push(out_t *o, const scry__cfi_row_t *r)
{
    if (o->probe) {
        if (r->pc <= o->target) {
            o->row = *r;
            o->found = 1;
        }
        return;
    }
    if (o->failed) return;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        void *m = o->rows ? mremap(o->rows, o->cap * sizeof *o->rows, cap * sizeof *o->rows,
                                   MREMAP_MAYMOVE)
                          : mmap(NULL, cap * sizeof *o->rows, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            o->failed = 1;
            return;
        }
        o->rows = m;
        o->cap = cap;
    }
    o->rows[o->n++] = *r;
}

/* ---- the CFA program ----------------------------------------------------- */

typedef struct {
    uint8_t cfa_kind; /* SCRY__CFA_SP/FP/FP_DEREF/PLT/SIGNAL, or NONE */
    int64_t cfa_off;
    int64_t plt_threshold;
    uint8_t fp_kind; /* SCRY__FPR_* */
    int64_t fp_off;
    uint8_t ra_kind; /* 0 at CFA + ra_off, 1 undefined, 2 other */
    int64_t ra_off;
} state_t;

typedef struct {
    uint64_t caf; /* code alignment factor */
    int64_t daf;  /* data alignment factor */
    uint64_t ra_reg;
    uint8_t fde_enc; /* 'R' */
    int has_z, signal;
    const uint8_t *insns, *insns_end;
} cie_t;

/* The row a state gives, at pc. */
static scry__cfi_row_t row_of(const state_t *s, uint32_t pc)
{
    scry__cfi_row_t r = {.pc = pc};
    if (s->ra_kind == 1) {
        r.cfa = SCRY__CFA_END;
        return r;
    }
    if (s->cfa_kind == SCRY__CFA_SIGNAL) {
        r.cfa = SCRY__CFA_SIGNAL;
        return r;
    }
    if (s->ra_kind != 0 || s->ra_off != -8 || s->cfa_kind == SCRY__CFA_NONE) return r; /* NONE */
    if (s->cfa_off < INT32_MIN || s->cfa_off > INT32_MAX) return r;
    r.cfa = s->cfa_kind;
    r.cfa_off = (int32_t)s->cfa_off;
    if (s->cfa_kind == SCRY__CFA_PLT) {
        r.fp_off = (int16_t)s->plt_threshold;
        r.fp = SCRY__FPR_SAME;
        return r;
    }
    r.fp = s->fp_kind;
    if (s->fp_kind == SCRY__FPR_CFA || s->fp_kind == SCRY__FPR_FP) {
        if (s->fp_off < INT16_MIN || s->fp_off > INT16_MAX)
            r.fp = SCRY__FPR_UNDEF;
        else
            r.fp_off = (int16_t)s->fp_off;
    }
    return r;
}

static int same_rule(const scry__cfi_row_t *a, const scry__cfi_row_t *b)
{
    return a->cfa == b->cfa && a->cfa_off == b->cfa_off && a->fp == b->fp && a->fp_off == b->fp_off;
}

/* Appends the row for [pc, ...), replacing a row at the same pc, and
 * skipping one that says what the previous row says. */
static void emit(out_t *o, const state_t *s, uint64_t pc)
{
    if (pc > UINT32_MAX) {
        o->failed = 1; /* not an object scry can describe in 32-bit offsets */
        return;
    }
    scry__cfi_row_t r = row_of(s, (uint32_t)pc);
    if (o->probe) {
        push(o, &r);
        return;
    }
    if (o->n && o->rows[o->n - 1].pc == r.pc) {
        o->n--;
        if (o->n && same_rule(&o->rows[o->n - 1], &r) && o->rows[o->n - 1].pc < r.pc) return;
    } else if (o->n && same_rule(&o->rows[o->n - 1], &r) && o->rows[o->n - 1].pc < r.pc) {
        return;
    }
    push(o, &r);
}

/* A DW_CFA_def_cfa_expression scry understands: the PLT's
 *   breg7(rsp) A; breg16(rip) 0; lit15; and; litT; ge; lit3; shl; plus
 * (CFA = rsp + A, plus 8 past the entry's push), realignment's
 *   breg6(rbp) A; deref
 * and the signal trampoline's breg7(rsp) A; deref, which 'S' marks anyway. */
static void cfa_expression(state_t *s, const uint8_t *e, size_t len)
{
    cur_t c = {e, e + len, 0};
    s->cfa_kind = SCRY__CFA_NONE;
    if (!len) return;
    uint8_t op = *c.p++;
    if (op == 0x76) { /* breg6 */
        int64_t a = sleb(&c);
        if (!c.bad && c.end - c.p == 1 && c.p[0] == 0x06) {
            s->cfa_kind = SCRY__CFA_FP_DEREF;
            s->cfa_off = a;
        }
        return;
    }
    if (op != 0x77) return; /* breg7 */
    int64_t a = sleb(&c);
    if (c.bad || c.end - c.p != 9) return;
    const uint8_t *p = c.p;
    if (p[0] == 0x80 && p[1] == 0x00 && p[2] == 0x3f && p[3] == 0x1a && p[4] >= 0x30 &&
        p[4] <= 0x3f && p[5] == 0x2a && p[6] == 0x33 && p[7] == 0x24 && p[8] == 0x22) {
        s->cfa_kind = SCRY__CFA_PLT;
        s->cfa_off = a;
        s->plt_threshold = p[4] - 0x30;
    }
}

/* Where rbp was saved, by a DW_CFA_expression: "breg6(rbp) A" (after a
 * realignment the old rbp is at the new rbp + A). */
static void fp_expression(state_t *s, const uint8_t *e, size_t len)
{
    cur_t c = {e, e + len, 0};
    s->fp_kind = SCRY__FPR_UNDEF;
    if (len < 2 || *c.p++ != 0x76) return;
    int64_t a = sleb(&c);
    if (c.bad || c.p != c.end) return;
    s->fp_kind = SCRY__FPR_FP;
    s->fp_off = a;
}

static void set_reg_offset(state_t *s, uint64_t reg, int64_t off)
{
    if (reg == REG_FP) {
        s->fp_kind = SCRY__FPR_CFA;
        s->fp_off = off;
    } else if (reg == REG_RA) {
        s->ra_kind = 0;
        s->ra_off = off;
    }
}

static void set_reg_other(state_t *s, uint64_t reg, int undefined)
{
    if (reg == REG_FP)
        s->fp_kind = SCRY__FPR_UNDEF;
    else if (reg == REG_RA)
        s->ra_kind = undefined ? 1 : 2;
}

#define STATE_STACK 16

/* Runs insns from state *s at *loc, emitting rows into o (when o is not
 * NULL: the CIE's initial instructions emit nothing). `init` is the state
 * after the CIE's instructions, for DW_CFA_restore. Returns -1 on an
 * instruction it cannot skip. */
static int run(const cie_t *cie, const uint8_t *insns, const uint8_t *end, state_t *s,
               const state_t *init, uint64_t *loc, uint64_t loc_end, out_t *o)
{
    cur_t c = {insns, end, 0};
    state_t stack[STATE_STACK];
    int depth = 0;
    while (c.p < c.end && !c.bad) {
        uint8_t op = *c.p++;
        uint64_t adv = 0, reg;
        int64_t off;
        switch (op >> 6) {
        case 1:
            adv = (op & 0x3f) * cie->caf;
            goto advance;
        case 2:
            off = (int64_t)uleb(&c) * cie->daf;
            set_reg_offset(s, op & 0x3f, off);
            continue;
        case 3:
            reg = op & 0x3f;
            goto restore;
        }
        switch (op) {
        case 0x00:
            continue; /* nop */
        case 0x01: {  /* set_loc */
            uint64_t to = pointer(&c, cie->fde_enc, 0);
            if (to < *loc) return -1;
            adv = to - *loc;
            goto advance;
        }
        case 0x02:
            adv = u(&c, 1) * cie->caf;
            goto advance;
        case 0x03:
            adv = u(&c, 2) * cie->caf;
            goto advance;
        case 0x04:
            adv = u(&c, 4) * cie->caf;
            goto advance;
        case 0x05: /* offset_extended */
            reg = uleb(&c);
            off = (int64_t)uleb(&c) * cie->daf;
            set_reg_offset(s, reg, off);
            continue;
        case 0x06:
            reg = uleb(&c);
            goto restore;
        case 0x07:
            set_reg_other(s, uleb(&c), 1);
            continue; /* undefined */
        case 0x08:    /* same_value */
            reg = uleb(&c);
            if (reg == REG_FP)
                s->fp_kind = SCRY__FPR_SAME;
            else
                set_reg_other(s, reg, 0);
            continue;
        case 0x09: /* register */
            reg = uleb(&c);
            (void)uleb(&c);
            set_reg_other(s, reg, 0);
            continue;
        case 0x0a: /* remember_state */
            if (depth == STATE_STACK) return -1;
            stack[depth++] = *s;
            continue;
        case 0x0b: /* restore_state: the CFA rule is kept across it (DWARF) but
                    * GCC relies on the whole state coming back; so does
                    * every unwinder in practice. */
            if (!depth) return -1;
            *s = stack[--depth];
            continue;
        case 0x0c: /* def_cfa */
            reg = uleb(&c);
            off = (int64_t)uleb(&c);
            goto def_cfa;
        case 0x0d: /* def_cfa_register */
            reg = uleb(&c);
            off = s->cfa_off;
            goto def_cfa;
        case 0x0e: /* def_cfa_offset */
            s->cfa_off = (int64_t)uleb(&c);
            continue;
        case 0x0f: { /* def_cfa_expression */
            uint64_t len = uleb(&c);
            if (!need(&c, len)) return -1;
            cfa_expression(s, c.p, len);
            c.p += len;
            continue;
        }
        case 0x10: { /* expression */
            reg = uleb(&c);
            uint64_t len = uleb(&c);
            if (!need(&c, len)) return -1;
            if (reg == REG_FP)
                fp_expression(s, c.p, len);
            else
                set_reg_other(s, reg, 0);
            c.p += len;
            continue;
        }
        case 0x11: /* offset_extended_sf */
            reg = uleb(&c);
            off = sleb(&c) * cie->daf;
            set_reg_offset(s, reg, off);
            continue;
        case 0x12: /* def_cfa_sf */
            reg = uleb(&c);
            off = sleb(&c) * cie->daf;
            goto def_cfa;
        case 0x13: /* def_cfa_offset_sf */
            s->cfa_off = sleb(&c) * cie->daf;
            continue;
        case 0x14: /* val_offset */
        case 0x15: /* val_offset_sf */
            reg = uleb(&c);
            if (op == 0x14)
                (void)uleb(&c);
            else
                (void)sleb(&c);
            set_reg_other(s, reg, 0);
            continue;
        case 0x16: { /* val_expression */
            reg = uleb(&c);
            uint64_t len = uleb(&c);
            if (!need(&c, len)) return -1;
            set_reg_other(s, reg, 0);
            c.p += len;
            continue;
        }
        case 0x2e:
            (void)uleb(&c);
            continue; /* GNU_args_size */
        case 0x2f:    /* GNU_negative_offset_extended */
            reg = uleb(&c);
            off = -(int64_t)uleb(&c) * cie->daf;
            set_reg_offset(s, reg, off);
            continue;
        default:
            return -1;
        }
    advance:
        if (o) emit(o, s, *loc);
        *loc += adv;
        if (*loc >= loc_end) return 0; /* the rest describes nothing in range */
        continue;
    restore:
        if (reg == REG_FP) {
            s->fp_kind = init->fp_kind;
            s->fp_off = init->fp_off;
        } else if (reg == REG_RA) {
            s->ra_kind = init->ra_kind;
            s->ra_off = init->ra_off;
        }
        continue;
    def_cfa:
        s->cfa_off = off;
        s->cfa_kind = reg == REG_SP ? SCRY__CFA_SP : reg == REG_FP ? SCRY__CFA_FP : SCRY__CFA_NONE;
        continue;
    }
    return c.bad ? -1 : 0;
}

/* Opens the CIE or FDE whose length field is at p, within [lo, hi): *c
 * spans the entry after its length, *wide says whether it has 64-bit
 * fields. 0, or -1 when it does not fit (or is the zero terminator). */
static int open_entry(const uint8_t *p, const uint8_t *lo, const uint8_t *hi, cur_t *c, int *wide)
{
    if (p < lo || p >= hi) return -1;
    *c = (cur_t){p, hi, 0};
    uint64_t len = u(c, 4);
    *wide = len == 0xffffffffu;
    if (*wide) len = u(c, 8);
    if (c->bad || len == 0 || len > (uint64_t)(hi - c->p)) return -1;
    c->end = c->p + len;
    return 0;
}

/* The CIE id: 0 in .eh_frame, all ones in .debug_frame. */
static uint64_t cie_id(int debug_frame, int wide)
{
    return debug_frame ? (wide ? UINT64_MAX : 0xffffffffu) : 0;
}

/* Parses the CIE at p (its length field) within [lo, hi). */
static int parse_cie(const uint8_t *p, const uint8_t *lo, const uint8_t *hi, int debug_frame,
                     cie_t *cie)
{
    cur_t c;
    int wide;
    if (open_entry(p, lo, hi, &c, &wide) < 0) return -1;
    uint64_t id = wide ? u(&c, 8) : u(&c, 4);
    if (id != cie_id(debug_frame, wide)) return -1;
    uint8_t version = (uint8_t)u(&c, 1);
    if (version != 1 && version != 3 && version != 4) return -1;
    const char *aug = (const char *)c.p;
    size_t alen = strnlen(aug, (size_t)(c.end - c.p));
    if (!need(&c, alen + 1)) return -1;
    c.p += alen + 1;
    memset(cie, 0, sizeof *cie);
    cie->fde_enc = 0; /* absptr */
    if (version == 4) {
        uint8_t asize = (uint8_t)u(&c, 1);
        (void)u(&c, 1); /* segment selector size */
        if (asize != 8) return -1;
    }
    cie->caf = uleb(&c);
    cie->daf = sleb(&c);
    cie->ra_reg = version == 1 ? u(&c, 1) : uleb(&c);
    if (aug[0] == 'z') {
        cie->has_z = 1;
        uint64_t dlen = uleb(&c);
        if (!need(&c, dlen)) return -1;
        cur_t d = {c.p, c.p + dlen, 0};
        for (size_t i = 1; i < alen && !d.bad; i++) {
            switch (aug[i]) {
            case 'L':
                (void)u(&d, 1);
                break;
            case 'R':
                cie->fde_enc = (uint8_t)u(&d, 1);
                break;
            case 'P': {
                uint8_t enc = (uint8_t)u(&d, 1);
                (void)pointer(&d, enc & 0x7f, 0);
                d.bad = 0; /* an indirect or odd personality is fine: never used */
                break;
            }
            case 'S':
                cie->signal = 1;
                break;
            case 'B':
            case 'G':
                break; /* AArch64 keys, MTE: nothing to read */
            default:
                return -1;
            }
        }
        c.p += dlen;
    } else if (alen) {
        if (strcmp(aug, "eh") == 0)
            (void)u(&c, 8); /* GCC's old "eh" data */
        else
            return -1;
    }
    if (c.bad || cie->ra_reg != REG_RA) return -1;
    cie->insns = c.p;
    cie->insns_end = c.end;
    return 0;
}

/* Compiles the FDE whose length field is at p; its CIE is found from it.
 * Rows hold the decoded addresses minus bias (the load bias for .eh_frame
 * in memory, 0 for .debug_frame). 0, 1 for a CIE, -1 for what cannot be
 * understood. */
static int compile_fde(const uint8_t *p, const uint8_t *lo, const uint8_t *hi, int debug_frame,
                       uintptr_t bias, out_t *o)
{
    cur_t c;
    int wide;
    if (open_entry(p, lo, hi, &c, &wide) < 0) return -1;
    const uint8_t *id_at = c.p;
    uint64_t id = wide ? u(&c, 8) : u(&c, 4);
    if (id == cie_id(debug_frame, wide)) return 1; /* a CIE: not an FDE */
    /* The CIE pointer: from the section's start in .debug_frame, back
     * from the field itself in .eh_frame. */
    const uint8_t *cie_at = debug_frame ? lo + id : id_at - id;
    cie_t cie;
    if (parse_cie(cie_at, lo, hi, debug_frame, &cie) < 0) return -1;
    uint64_t start = pointer(&c, cie.fde_enc, 0);
    uint64_t range = pointer(&c, cie.fde_enc & 0x0f, 0);
    if (cie.has_z) {
        uint64_t dlen = uleb(&c);
        if (!need(&c, dlen)) return -1;
        c.p += dlen;
    }
    if (c.bad || range == 0) return c.bad ? -1 : 1;
    start -= bias;
    uint64_t end = start + range;
    if (end > UINT32_MAX || end < start) return -1;
    state_t init = {.cfa_kind = SCRY__CFA_NONE, .fp_kind = SCRY__FPR_SAME, .ra_kind = 2};
    uint64_t loc = start;
    if (run(&cie, cie.insns, cie.insns_end, &init, &init, &loc, UINT64_MAX, NULL) < 0) return -1;
    if (cie.signal) init.cfa_kind = SCRY__CFA_SIGNAL;
    state_t s = init;
    size_t before = o->n;
    loc = start;
    if (run(&cie, c.p, c.end, &s, &init, &loc, end, o) < 0) {
        o->n = before; /* none of a half-understood function */
        o->found = 0;
        return -1;
    }
    if (cie.signal) s.cfa_kind = SCRY__CFA_SIGNAL;
    if (loc < end) emit(o, &s, loc);
    state_t none = {.cfa_kind = SCRY__CFA_NONE, .ra_kind = 2};
    emit(o, &none, end); /* the gap after it, unless the next FDE starts here */
    return 0;
}

/* Compiles every FDE of a section from p on, entry after entry, to its
 * end or zero terminator (no .eh_frame_hdr index to go by). */
static void compile_all(const uint8_t *p, const uint8_t *lo, const uint8_t *hi, int debug_frame,
                        uintptr_t bias, out_t *o, uint32_t *fdes, uint32_t *bad)
{
    cur_t e;
    int wide;
    while (!o->failed && open_entry(p, lo, hi, &e, &wide) == 0) {
        int rc = compile_fde(p, lo, hi, debug_frame, bias, o);
        *fdes += rc == 0;
        *bad += rc < 0;
        p = e.end;
    }
}

static int by_pc(const void *a, const void *b)
{
    const scry__cfi_row_t *x = a, *y = b;
    if (x->pc != y->pc) return x->pc < y->pc ? -1 : 1;
    /* At one address, a function's first row wins over the previous one's
     * end-of-function NONE. */
    return (x->cfa != SCRY__CFA_NONE) - (y->cfa != SCRY__CFA_NONE);
}

/* Sorts (FDEs need not come in address order), merges rows at one pc and
 * repeated rules, ends with a NONE row, and trims the mapping. */
static int finish(out_t *o, scry__cfi_table_t *t, uint32_t fdes, uint32_t bad)
{
    memset(t, 0, sizeof *t);
    if (o->failed || o->n == 0) {
        if (o->rows) munmap(o->rows, o->cap * sizeof *o->rows);
        return -1;
    }
    int sorted = 1;
    for (size_t i = 1; i < o->n && sorted; i++)
        sorted = o->rows[i - 1].pc <= o->rows[i].pc;
    if (!sorted) qsort(o->rows, o->n, sizeof *o->rows, by_pc);
    size_t k = 0;
    for (size_t i = 0; i < o->n; i++) {
        scry__cfi_row_t r = o->rows[i];
        if (k && o->rows[k - 1].pc == r.pc) {
            /* the later one wins: a start over an end marker */
            if (r.cfa == SCRY__CFA_NONE && o->rows[k - 1].cfa != SCRY__CFA_NONE) continue;
            k--;
        }
        if (k && same_rule(&o->rows[k - 1], &r)) continue;
        o->rows[k++] = r;
    }
    o->n = k;
    if (o->rows[k - 1].cfa != SCRY__CFA_NONE) {
        scry__cfi_row_t end = {.pc = UINT32_MAX};
        push(o, &end);
        if (o->failed) return finish(o, t, fdes, bad);
    }
    size_t bytes = (o->n * sizeof *o->rows + 4095) & ~(size_t)4095;
    size_t mapped = o->cap * sizeof *o->rows;
    if (bytes < mapped) {
        void *m = mremap(o->rows, mapped, bytes, 0);
        if (m != MAP_FAILED) mapped = bytes;
    }
    mprotect(o->rows, mapped, PROT_READ);
    t->rows = o->rows;
    t->n = o->n;
    t->mapped = mapped;
    /* The bucket index (cfi.h); without it, lookups search every row. */
    uint64_t span = (uint64_t)o->rows[o->n - 1].pc - o->rows[0].pc;
    if (o->n > 1 && o->rows[o->n - 1].pc == UINT32_MAX)
        span = (uint64_t)o->rows[o->n - 2].pc - o->rows[0].pc;
    uint64_t nb = (span >> SCRY__CFI_BUCKET_SHIFT) + 1;
    size_t bb = ((nb + 1) * sizeof *t->bucket + 4095) & ~(size_t)4095;
    uint32_t *bk = nb < (1u << 26)
                       ? mmap(NULL, bb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                       : MAP_FAILED;
    if (bk != MAP_FAILED) {
        size_t r = 0;
        for (uint64_t i = 0; i <= nb; i++) {
            uint64_t at = (uint64_t)o->rows[0].pc + (i << SCRY__CFI_BUCKET_SHIFT);
            while (r + 1 < o->n && o->rows[r + 1].pc <= at)
                r++;
            bk[i] = (uint32_t)r;
        }
        mprotect(bk, bb, PROT_READ);
        t->bucket = bk;
        t->nbuckets = (uint32_t)nb;
        t->bucket_mapped = bb;
    }
    t->fdes = fdes;
    t->bad_fdes = bad;
    return 0;
}

int scry__cfi_compile_eh_frame(const uint8_t *hdr, uintptr_t lo, uintptr_t hi, uintptr_t bias,
                               scry__cfi_table_t *t)
{
    memset(t, 0, sizeof *t);
#if !defined(__x86_64__)
    (void)hdr, (void)lo, (void)hi, (void)bias;
    return -1;
#else
    const uint8_t *L = (const uint8_t *)lo, *H = (const uint8_t *)hi;
    if (hdr < L || hdr + 4 > H) return -1;
    cur_t c = {hdr, H, 0};
    uint8_t version = (uint8_t)u(&c, 1), ptr_enc = (uint8_t)u(&c, 1), count_enc = (uint8_t)u(&c, 1),
            table_enc = (uint8_t)u(&c, 1);
    if (version != 1) return -1;
    const uint8_t *eh = (const uint8_t *)(uintptr_t)pointer(&c, ptr_enc, (uintptr_t)hdr);
    if (c.bad || eh < L || eh >= H) return -1;
    out_t o = {0};
    uint32_t fdes = 0, bad = 0;
    if (count_enc != PE_OMIT && table_enc == 0x3b) { /* datarel sdata4: the usual */
        uint64_t count = pointer(&c, count_enc, (uintptr_t)hdr);
        if (c.bad || count > (uint64_t)(H - c.p) / 8) return -1;
        for (uint64_t i = 0; i < count && !o.failed; i++) {
            (void)pointer(&c, table_enc, (uintptr_t)hdr); /* the function's start */
            const uint8_t *fde = (const uint8_t *)(uintptr_t)pointer(&c, table_enc, (uintptr_t)hdr);
            int rc = compile_fde(fde, L, H, 0, bias, &o);
            fdes += rc == 0;
            bad += rc < 0;
        }
    } else {
        /* No search table: walk .eh_frame to its zero terminator. */
        compile_all(eh, L, H, 0, bias, &o, &fdes, &bad);
    }
    return finish(&o, t, fdes, bad);
#endif
}

int scry__cfi_compile_debug_frame(const uint8_t *sec, size_t size, scry__cfi_table_t *t)
{
    memset(t, 0, sizeof *t);
#if !defined(__x86_64__)
    (void)sec, (void)size;
    return -1;
#else
    out_t o = {0};
    uint32_t fdes = 0, bad = 0;
    compile_all(sec, sec, sec + size, 1, 0, &o, &fdes, &bad);
    return finish(&o, t, fdes, bad);
#endif
}

int scry__cfi_row_at_as_safe(const uint8_t *hdr, uintptr_t lo, uintptr_t hi, uintptr_t bias,
                             uintptr_t pc, scry__cfi_row_t *row)
{
#if !defined(__x86_64__)
    (void)hdr, (void)lo, (void)hi, (void)bias, (void)pc, (void)row;
    return -1;
#else
    const uint8_t *L = (const uint8_t *)lo, *H = (const uint8_t *)hi;
    if (hdr < L || hdr + 4 > H || pc < bias || pc - bias > UINT32_MAX) return -1;
    cur_t c = {hdr, H, 0};
    uint8_t version = (uint8_t)u(&c, 1), ptr_enc = (uint8_t)u(&c, 1), count_enc = (uint8_t)u(&c, 1),
            table_enc = (uint8_t)u(&c, 1);
    if (version != 1 || count_enc == PE_OMIT || table_enc != 0x3b) return -1;
    (void)pointer(&c, ptr_enc, (uintptr_t)hdr);
    uint64_t count = pointer(&c, count_enc, (uintptr_t)hdr);
    if (c.bad || count == 0 || count > (uint64_t)(H - c.p) / 8) return -1;
    /* The last entry whose function starts at or below pc: entries are
     * pairs of 4-byte offsets from the header, sorted by start. */
    const uint8_t *table = c.p;
    uint64_t a = 0, b = count;
    while (b - a > 1) {
        uint64_t mid = a + (b - a) / 2;
        int32_t start;
        memcpy(&start, table + mid * 8, 4);
        if ((uintptr_t)hdr + (intptr_t)start <= pc)
            a = mid;
        else
            b = mid;
    }
    int32_t fde_off;
    memcpy(&fde_off, table + a * 8 + 4, 4);
    out_t o = {.probe = 1, .target = (uint32_t)(pc - bias)};
    if (compile_fde(hdr + fde_off, L, H, 0, bias, &o) != 0 || !o.found ||
        o.row.cfa == SCRY__CFA_NONE)
        return -1;
    *row = o.row;
    return 0;
#endif
}

void scry__cfi_free(scry__cfi_table_t *t)
{
    if (t->rows) munmap(t->rows, t->mapped);
    if (t->bucket) munmap(t->bucket, t->bucket_mapped);
    memset(t, 0, sizeof *t);
}
