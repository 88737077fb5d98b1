/*
 * cfi_check.c - the CFI compiler (src/core/cfi.c) against an independent
 * reader of the same tables, elfutils' libdw, on real objects, and against
 * damaged input.
 *
 * For each ELF file given (Debian's libc, libstdc++, python3, ...):
 *   1. The file is read into a buffer of its exact size (so that the
 *      sanitizer build catches any read past it), and its .eh_frame is
 *      compiled through .eh_frame_hdr as a loaded object's would be (inside
 *      the segment that holds the header, buffer and link-time addresses
 *      differ by a constant).
 *   2. At every row's first address, at its last, and at random addresses
 *      of the executable segments, the row's rule is compared with what
 *      libdw's dwarf_cfi_addrframe says about the same address: the CFA
 *      (register and offset), where rbp was saved (or that it was not), an
 *      undefined return address; where libdw gives a CFA expression, the
 *      row must be one scry recognises (PLT, realignment, signal frame) or
 *      NONE. Every mismatch is printed; the check fails on any.
 *   3. Damage: a few hundred rounds of random bytes changed in the
 *      segment's copy, and of headers cut short; each compile must return
 *      without crashing or reading outside the buffer (run under ASan).
 *
 * Usage: cfi_check FILE... ; prints one summary line per file.
 */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cfi.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct {
    uint8_t *buf;
    size_t size;
    const Elf64_Phdr *hdr, *load;
} file_t;

static int load(const char *path, file_t *f)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) return -1;
    f->size = (size_t)st.st_size;
    f->buf = malloc(f->size);
    size_t got = 0;
    while (got < f->size) {
        ssize_t n = read(fd, f->buf + got, f->size - got);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    close(fd);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->buf;
    if (f->size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64)
        return -1;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(f->buf + eh->e_phoff);
    f->hdr = f->load = NULL;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_GNU_EH_FRAME) f->hdr = &ph[i];
    for (int i = 0; f->hdr && i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && f->hdr->p_offset >= ph[i].p_offset &&
            f->hdr->p_offset < ph[i].p_offset + ph[i].p_filesz)
            f->load = &ph[i];
    return f->hdr && f->load ? 0 : -1;
}

static int compile(const uint8_t *buf, const file_t *f, scry__cfi_table_t *t)
{
    uintptr_t lo = (uintptr_t)buf + f->load->p_offset;
    return scry__cfi_compile_eh_frame(buf + f->hdr->p_offset, lo, lo + f->load->p_filesz,
                                      lo - f->load->p_vaddr, t);
}

static const scry__cfi_row_t *row_at(const scry__cfi_table_t *t, uint64_t pc)
{
    if (pc > UINT32_MAX) return NULL;
    return scry__cfi_find_as_safe(t, (uint32_t)pc);
}

static long checked, mismatches, expressions;

static void mismatch(const char *what, uint64_t pc, const scry__cfi_row_t *r, const char *theirs)
{
    if (++mismatches <= 20)
        fprintf(stderr, "  %#lx: %s: scry cfa=%d%+d fp=%d%+d, libdw %s\n", (unsigned long)pc, what,
                r ? r->cfa : -1, r ? r->cfa_off : 0, r ? r->fp : -1, r ? r->fp_off : 0, theirs);
}

/* Compares the row for pc with libdw's frame for it. */
static void compare(Dwarf_CFI *cfi, const scry__cfi_table_t *t, uint64_t pc)
{
    const scry__cfi_row_t *r = row_at(t, pc);
    Dwarf_Frame *fr;
    if (dwarf_cfi_addrframe(cfi, pc, &fr) != 0) {
        checked++;
        if (r) mismatch("covered by scry only", pc, r, "none");
        return;
    }
    checked++;
    Dwarf_Op *ops, mem[3];
    size_t n;
    char theirs[160];
    /* The return address: undefined (libdw: no operations, but an
     * expression pointer) marks the outermost frame; anywhere but CFA - 8
     * (vfork keeps it in a register) is nothing scry's rows can say. */
    if (dwarf_frame_register(fr, 16, mem, &ops, &n) != 0) {
        free(fr);
        return;
    }
    if (n == 0 && ops != NULL) {
        if (!r || r->cfa != SCRY__CFA_END) mismatch("return address undefined", pc, r, "RA undefined");
        free(fr);
        return;
    }
    if (!(n == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst &&
          (int64_t)ops[1].number == -8)) {
        expressions++;
        if (r && r->cfa != SCRY__CFA_SIGNAL) mismatch("return address elsewhere", pc, r, "RA not at CFA-8");
        free(fr);
        return;
    }
    if (dwarf_frame_cfa(fr, &ops, &n) != 0) {
        free(fr);
        return;
    }
    if (n == 1 && ops[0].atom == DW_OP_bregx && (ops[0].number == 6 || ops[0].number == 7)) {
        int kind = ops[0].number == 7 ? SCRY__CFA_SP : SCRY__CFA_FP;
        snprintf(theirs, sizeof theirs, "cfa=r%d%+ld", (int)ops[0].number, (long)ops[0].number2);
        if (!r || r->cfa != kind || r->cfa_off != (int64_t)ops[0].number2) {
            /* A signal trampoline's rows say SIGNAL whatever the CFA. */
            if (!r || r->cfa != SCRY__CFA_SIGNAL) mismatch("CFA", pc, r, theirs);
            free(fr);
            return;
        }
    } else {
        expressions++;
        if (r && r->cfa != SCRY__CFA_PLT && r->cfa != SCRY__CFA_FP_DEREF && r->cfa != SCRY__CFA_SIGNAL &&
            r->cfa != SCRY__CFA_NONE)
            mismatch("CFA expression", pc, r, "an expression or another register");
        free(fr);
        return;
    }
    /* rbp: same value (libdw: no rule, no expression pointer), undefined
     * (no operations but a pointer), saved at CFA + N, or another rule scry
     * calls undefined. */
    if (dwarf_frame_register(fr, 6, mem, &ops, &n) == 0) {
        if (n == 0 && ops == NULL) {
            if (r->fp != SCRY__FPR_SAME) mismatch("rbp", pc, r, "same value");
        } else if (n == 0) {
            if (r->fp != SCRY__FPR_UNDEF) mismatch("rbp", pc, r, "undefined");
        } else if (n == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst) {
            snprintf(theirs, sizeof theirs, "rbp at cfa%+ld", (long)(int64_t)ops[1].number);
            if (r->fp != SCRY__FPR_CFA || r->fp_off != (int64_t)ops[1].number) mismatch("rbp", pc, r, theirs);
        } else if (r->fp == SCRY__FPR_SAME || r->fp == SCRY__FPR_CFA) {
            mismatch("rbp", pc, r, "another rule");
        }
    }
    free(fr);
}

static int check_file(const char *path)
{
    file_t f;
    if (load(path, &f) < 0) {
        printf("SKIP %s: not a 64-bit ELF file with .eh_frame_hdr\n", path);
        return 0;
    }
    scry__cfi_table_t t;
    if (compile(f.buf, &f, &t) < 0 || t.n < 100) {
        printf("FAIL %s: compiled to %zu rows\n", path, t.n);
        return 1;
    }
    int fd = open(path, O_RDONLY);
    elf_version(EV_CURRENT);
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    Dwarf_CFI *cfi = e ? dwarf_getcfi_elf(e) : NULL;
    if (!cfi) {
        printf("FAIL %s: libdw cannot read its CFI\n", path);
        return 1;
    }
    checked = mismatches = expressions = 0;
    for (size_t i = 0; i + 1 < t.n; i++) {
        compare(cfi, &t, t.rows[i].pc);
        if (t.rows[i + 1].pc > t.rows[i].pc + 1) compare(cfi, &t, t.rows[i + 1].pc - 1);
    }
    /* Random addresses in the executable segments. */
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f.buf;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(f.buf + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X) || !ph[i].p_memsz) continue;
        for (int k = 0; k < 20000; k++) compare(cfi, &t, ph[i].p_vaddr + next() % ph[i].p_memsz);
    }
    long bad_rows = mismatches;
    /* Damage: random bytes changed in the segment; headers cut short. */
    uint8_t *copy = malloc(f.size);
    int rounds = 300;
    for (int k = 0; k < rounds; k++) {
        memcpy(copy, f.buf, f.size);
        int flips = 1 + (int)(next() % 16);
        for (int j = 0; j < flips; j++) {
            size_t at = f.load->p_offset + next() % f.load->p_filesz;
            /* Mostly where the CFI is: the header and what follows it. */
            if (j % 2 == 0) at = f.hdr->p_offset + next() % (f.load->p_offset + f.load->p_filesz - f.hdr->p_offset);
            copy[at] = (uint8_t)next();
        }
        scry__cfi_table_t d;
        if (compile(copy, &f, &d) == 0) scry__cfi_free(&d);
    }
    for (size_t cut = 0; cut < 64; cut++) {
        file_t g = f;
        Elf64_Phdr load = *f.load;
        load.p_filesz = f.hdr->p_offset - f.load->p_offset + cut;
        g.load = &load;
        scry__cfi_table_t d;
        if (compile(f.buf, &g, &d) == 0) scry__cfi_free(&d);
    }
    free(copy);
    printf("%s %s: %zu rows, %u FDEs (%u not understood), %zu bytes; %ld addresses compared with "
           "libdw (%ld with CFA expressions): %ld mismatches; %d damaged copies and 64 cut headers "
           "compiled without a fault\n",
           bad_rows ? "FAIL" : "ok", path, t.n, t.fdes, t.bad_fdes, t.mapped, checked, expressions,
           bad_rows, rounds);
    scry__cfi_free(&t);
    elf_end(e);
    close(fd);
    free(f.buf);
    return bad_rows != 0;
}

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++) bad |= check_file(argv[i]);
    return bad;
}
