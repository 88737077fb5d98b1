/*
 * cfi_cost.c - the cost of compiling an object's unwind table (core/cfi.h),
 * from the object's file rather than from memory, so that any ELF file can
 * be measured: a library this process has not loaded, or an executable that
 * cannot be loaded twice (python3 is not position-independent).
 *
 * The whole file is mapped read-only. Inside the PT_LOAD segment that holds
 * PT_GNU_EH_FRAME (found by file offset), buffer addresses and link-time
 * addresses differ by a constant, so passing that difference as the load
 * bias makes pc-relative pointers decode as they would in the loaded object
 * and the rows hold link-time offsets, as scry's own build would. Reads stay
 * in that segment's file extent, as unwind_tables.c's build keeps them in the
 * loaded segment.
 *
 * For each file: one untimed compile (it faults the file's pages in), then
 * REPS timed ones; prints the table's rows, bytes (mapped), FDEs compiled and
 * FDEs rejected, the median build time, and what a lookup in the table
 * costs (lookup_ns).
 *
 * Output: one line per file, "table NAME TEXT_BYTES EH_FRAME_BYTES FDES BAD
 * ROWS BYTES FIRST_MS MEDIAN_MS LOOKUP_NS" (FIRST_MS: the untimed compile,
 * timed after all), or "table NAME none REASON".
 *
 * Usage: cfi_cost FILE...
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cfi.h"

#define REPS 5

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The size of section `want`, from the section headers (0 if absent). */
static size_t section_size(const uint8_t *buf, size_t size, const Elf64_Ehdr *eh, const char *want)
{
    if (!eh->e_shoff || eh->e_shstrndx >= eh->e_shnum ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > size)
        return 0;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(buf + eh->e_shoff);
    const Elf64_Shdr *str = &sh[eh->e_shstrndx];
    for (int i = 0; i < eh->e_shnum; i++) {
        size_t at = str->sh_offset + sh[i].sh_name;
        if (at >= size) continue;
        const char *name = (const char *)buf + at;
        if (strnlen(name, size - at) < size - at && !strcmp(name, want)) return sh[i].sh_size;
    }
    return 0;
}

/* ns per row lookup (scry__cfi_find_as_safe) at pseudo-random offsets in
 * the table's range, each depending on the one before, as a walk's lookups
 * do: the latency of one frame's search when the rows it touches are not
 * all in cache. A walk whose stacks repeat pays less. */
static double lookup_ns(const scry__cfi_table_t *t)
{
    uint32_t lo = t->rows[0].pc, span = t->rows[t->n - 1].pc - lo;
    uint64_t x = 88172645463325252ull;
    long n = 2000000;
    double t0 = now_ms();
    for (long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift */
        uint32_t off = lo + (uint32_t)(((x >> 32) * span) >> 32);
        const scry__cfi_row_t *r = scry__cfi_find_as_safe(t, off);
        x += r ? r->pc : 1; /* the next lookup waits for this one */
    }
    return (now_ms() - t0) * 1e6 / (double)n;
}

static void one(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        printf("table %s none cannot-open\n", base);
        if (fd >= 0) close(fd);
        return;
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *buf = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (buf == MAP_FAILED) {
        printf("table %s none cannot-map\n", base);
        return;
    }
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) > size) {
        printf("table %s none not-elf64\n", base);
        munmap((void *)buf, size);
        return;
    }
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(buf + eh->e_phoff), *hdr = NULL, *load = NULL;
    size_t text = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_GNU_EH_FRAME) hdr = &ph[i];
        if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) text += ph[i].p_filesz;
    }
    for (int i = 0; hdr && i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && hdr->p_offset >= ph[i].p_offset &&
            hdr->p_offset < ph[i].p_offset + ph[i].p_filesz &&
            ph[i].p_offset + ph[i].p_filesz <= size)
            load = &ph[i];
    if (!hdr || !load) {
        printf("table %s none %s\n", base, hdr ? "no-segment" : "no-eh_frame_hdr");
        munmap((void *)buf, size);
        return;
    }
    uintptr_t lo = (uintptr_t)buf + load->p_offset, hi = lo + load->p_filesz;
    uintptr_t bias = lo - load->p_vaddr;
    scry__cfi_table_t t;
    double ms[REPS], t0 = now_ms();
    int rc = scry__cfi_compile_eh_frame(buf + hdr->p_offset, lo, hi, bias, &t);
    double first = now_ms() - t0;
    if (rc < 0) {
        printf("table %s none compile-failed\n", base);
        munmap((void *)buf, size);
        return;
    }
    scry__cfi_free(&t);
    for (int r = 0; r < REPS; r++) {
        t0 = now_ms();
        scry__cfi_compile_eh_frame(buf + hdr->p_offset, lo, hi, bias, &t);
        ms[r] = now_ms() - t0;
        if (r < REPS - 1) scry__cfi_free(&t);
    }
    qsort(ms, REPS, sizeof ms[0], by_value);
    printf("table %s %zu %zu %u %u %zu %zu %.2f %.2f %.1f\n", base, text,
           section_size(buf, size, eh, ".eh_frame"), t.fdes, t.bad_fdes, t.n, t.mapped, first,
           ms[REPS / 2], lookup_ns(&t));
    scry__cfi_free(&t);
    munmap((void *)buf, size);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cfi_cost FILE...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++)
        one(argv[i]);
    return 0;
}
