/*
 * unwind_tables.c - per-object unwind tables and their snapshots; see
 * unwind_tables.h.
 *
 * Memory: tables, objects and snapshots are mmap'ed, never malloc'ed, so
 * that building them never reenters scry's allocator interposer or shows
 * in the program's heap totals. libc's is about 40k rows (480 KB); the
 * whole set for python3 is measured by bench/unwind.sh.
 */
#define _GNU_SOURCE
#include "core/unwind_tables.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/codelog.h"
#include "core/threads.h"
#include "core/busy.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* writers */
static scry__utab_snap_t *_Atomic current;
static _Atomic unsigned generation;
static _Atomic unsigned readers[2];
static _Atomic int built;
static _Atomic int any_wanted;
static _Atomic uint64_t probes; /* rows read from .eh_frame in a walk, with no table */
static unsigned long long seen_adds, seen_subs;
static uint64_t leaked;

static void *map(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

const scry__utab_snap_t *scry__utab_enter_as_safe(unsigned *parity)
{
    unsigned p = atomic_load(&generation) & 1;
    atomic_fetch_add(&readers[p], 1);
    *parity = p;
    /* seq_cst with the writer's publish, flip and count check: a reader
     * whose increment the writer did not see loads the new snapshot. */
    return atomic_load(&current);
}

void scry__utab_leave_as_safe(unsigned parity)
{
    atomic_fetch_sub(&readers[parity], 1);
}

int scry__utab_ready(void)
{
    return atomic_load(&built);
}

/* ---- rows by pc, cached ------------------------------------------------------ */

/* The rows of the pcs walks met, shared by all threads: one 64-bit word an
 * entry, so that a reader sees a whole entry or none, whoever wrote it. A
 * profile's stacks repeat the same call sites over and over; a hit costs
 * one load instead of the object and row searches (bench/unwind.sh: about
 * 35 ns a frame without it).
 *
 *   bits  0..46  the pc looked up (user space is below 2^47)
 *   bits 47..48  1: CFA = sp + off, 2: CFA = fp + off (0: empty)
 *   bits 49..57  the CFA offset / 8
 *   bits 58..59  0: fp unchanged, 1: fp saved at CFA - 8 * n, 2: unknown
 *   bits 60..63  n
 * Rows that do not fit (expressions, odd offsets) are simply not cached.
 * Cleared when a snapshot replaces another, once no walk reads the old. */
#define CACHE_BITS SCRY__UTAB_CACHE_BITS
_Atomic uint64_t scry__utab_cache[1u << CACHE_BITS];
#define row_cache scry__utab_cache

static inline uint32_t cache_slot(uintptr_t pc)
{
    return (uint32_t)(((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> (64 - CACHE_BITS));
}

static inline uint64_t cache_pack(uintptr_t pc, const scry__cfi_row_t *r)
{
#if defined(__x86_64__)
    if (pc >> 47) return 0;
    uint64_t kind = r->cfa == SCRY__CFA_SP ? 1 : r->cfa == SCRY__CFA_FP ? 2 : 0;
    if (!kind || r->cfa_off < 0 || (r->cfa_off & 7) || (r->cfa_off >> 3) > 511) return 0;
    uint64_t fk, n = 0;
    switch (r->fp) {
    case SCRY__FPR_SAME:
        fk = 0;
        break;
    case SCRY__FPR_CFA:
        if (r->fp_off > 0 || (-r->fp_off & 7) || (-r->fp_off >> 3) > 15) return 0;
        fk = 1;
        n = (uint64_t)(-r->fp_off >> 3);
        break;
    case SCRY__FPR_UNDEF:
        fk = 2;
        break;
    default:
        return 0;
    }
    return (uint64_t)pc | kind << 47 | (uint64_t)(r->cfa_off >> 3) << 49 | fk << 58 | n << 60;
#else
    (void)pc, (void)r;
    return 0;
#endif
}

static inline int cache_unpack(uint64_t e, uintptr_t pc, scry__cfi_row_t *r)
{
    if ((e & (((uint64_t)1 << 47) - 1)) != pc || !(e >> 47 & 3)) return 0;
    r->cfa = (e >> 47 & 3) == 1 ? SCRY__CFA_SP : SCRY__CFA_FP;
    r->cfa_off = (int32_t)((e >> 49 & 511) << 3);
    uint64_t fk = e >> 58 & 3;
    r->fp = fk == 0 ? SCRY__FPR_SAME : fk == 1 ? SCRY__FPR_CFA : SCRY__FPR_UNDEF;
    r->fp_off = (int16_t) - (int)((e >> 60) << 3);
    return 1;
}

static void cache_clear(void)
{
    for (size_t i = 0; i < sizeof row_cache / sizeof row_cache[0]; i++)
        atomic_store_explicit(&row_cache[i], 0, memory_order_relaxed);
}

/* Code no table covers yet (an object loaded since the last snapshot, or
 * one whose table is not built): its row straight from its .eh_frame. The
 * loader's _dl_find_object finds the object without a lock (glibc 2.35;
 * libgcc's unwinder uses it the same way); the code is on the walked
 * thread's stack, so the object stays mapped while it is read. Reads stay
 * in the loaded segment holding .eh_frame_hdr, found from the object's own
 * ELF and program headers. */
static int probe(const struct dl_find_object *f, uintptr_t pc, scry__cfi_row_t *row)
{
    const struct dl_find_object fo = *f;
    if (!fo.dlfo_eh_frame || !fo.dlfo_link_map) return -1;
    uintptr_t ms = (uintptr_t)fo.dlfo_map_start, me = (uintptr_t)fo.dlfo_map_end;
    uintptr_t bias = fo.dlfo_link_map->l_addr, hdr = (uintptr_t)fo.dlfo_eh_frame;
    /* The ELF header is at the start of the first segment (offset 0, at
     * vaddr 0 in a shared object): the map's start. */
    if (me - ms < sizeof(ElfW(Ehdr))) return -1;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)ms;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_phentsize != sizeof(ElfW(Phdr)) ||
        eh->e_phoff > me - ms || (me - ms - eh->e_phoff) / sizeof(ElfW(Phdr)) < eh->e_phnum)
        return -1;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(ms + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD) continue;
        uintptr_t lo = bias + ph[i].p_vaddr, hi = lo + ph[i].p_filesz;
        if (hdr < lo || hdr >= hi || lo < ms || hi > me) continue;
        return scry__cfi_row_at_as_safe((const uint8_t *)hdr, lo, hi, bias, pc, row);
    }
    return -1;
}

int scry__utab_known_as_safe(uintptr_t pc)
{
    struct dl_find_object fo;
    return _dl_find_object((void *)pc, &fo) == 0;
}

/* Whether the loader's object is the snapshot's: same load address and
 * file name. */
static int same_object(const scry__utab_obj_t *o, const struct link_map *lm)
{
    const char *path = lm->l_name ? lm->l_name : "";
    const char *base = strrchr(path, '/');
    return o->bias == lm->l_addr && !strcmp(o->name, base ? base + 1 : path);
}

const scry__cfi_row_t *scry__utab_row_as_safe(const scry__utab_snap_t *s, uintptr_t pc,
                                              const scry__utab_range_t **hint, scry__cfi_row_t *buf,
                                              uintptr_t *frame)
{
    *frame = pc;
    _Atomic uint64_t *slot = &row_cache[cache_slot(pc)];
    if (cache_unpack(atomic_load_explicit(slot, memory_order_relaxed), pc, buf)) return buf;
    const scry__utab_range_t *rg = *hint;
    if (!rg || pc < rg->lo || pc >= rg->hi) *hint = rg = scry__utab_range_as_safe(s, pc);
    const scry__cfi_table_t *t = rg ? scry__utab_table_as_safe(rg->obj) : NULL;
    if (!rg || rg->obj->late) {
        /* Code that may be unloaded, or loaded since the snapshot: ask the
         * loader which object it is now (another may have taken the
         * address of one the snapshot knows), tag the frame with it, and
         * read its row from its table if the snapshot's object is the
         * same, else from its .eh_frame. Rows found here are not cached:
         * the object may go and another come at its address before the
         * next snapshot clears the cache. */
        struct dl_find_object fo;
        if (_dl_find_object((void *)pc, &fo) != 0 || !fo.dlfo_link_map) return NULL;
        *frame =
            scry__codelog_tag_as_safe(pc, (uintptr_t)fo.dlfo_map_start, (uintptr_t)fo.dlfo_map_end,
                                      fo.dlfo_link_map->l_addr, fo.dlfo_link_map->l_name);
        if (t && same_object(rg->obj, fo.dlfo_link_map))
            return scry__cfi_find_as_safe(t, (uint32_t)(pc - rg->obj->bias));
        atomic_fetch_add_explicit(&probes, 1, memory_order_relaxed);
        return probe(&fo, pc, buf) == 0 ? buf : NULL;
    }
    if (!t) {
        /* The program's own object, its table not built yet. */
        struct dl_find_object fo;
        atomic_fetch_add_explicit(&probes, 1, memory_order_relaxed);
        return _dl_find_object((void *)pc, &fo) == 0 && probe(&fo, pc, buf) == 0 ? buf : NULL;
    }
    const scry__cfi_row_t *row = scry__cfi_find_as_safe(t, (uint32_t)(pc - rg->obj->bias));
    uint64_t e = row ? cache_pack(pc, row) : 0;
    if (e) atomic_store_explicit(slot, e, memory_order_relaxed);
    return row;
}

/* ---- building one object's table ---------------------------------------- */

/* .debug_frame from the object's file, for an object without .eh_frame. */
static int from_file(const char *path, scry__cfi_table_t *t)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = -1;
    elf_version(EV_CURRENT);
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    size_t shstrndx;
    if (e && elf_getshdrstrndx(e, &shstrndx) == 0) {
        for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e, scn));) {
            GElf_Shdr sh;
            if (!gelf_getshdr(scn, &sh)) continue;
            const char *name = elf_strptr(e, shstrndx, sh.sh_name);
            if (!name || strcmp(name, ".debug_frame")) continue;
            if (sh.sh_flags & SHF_COMPRESSED) elf_compress(scn, 0, 0);
            Elf_Data *d = elf_getdata(scn, NULL);
            if (d && d->d_buf && d->d_size)
                rc = scry__cfi_compile_debug_frame(d->d_buf, d->d_size, t);
            break;
        }
    }
    if (e) elf_end(e);
    close(fd);
    return rc;
}

const scry__cfi_table_t *scry__utab_table_as_safe(scry__utab_obj_t *o)
{
    const scry__cfi_table_t *t = atomic_load_explicit(&o->table, memory_order_acquire);
    if (!t && !atomic_load_explicit(&o->wanted, memory_order_relaxed)) {
        atomic_store_explicit(&o->wanted, 1, memory_order_relaxed);
        atomic_store_explicit(&any_wanted, 1, memory_order_relaxed);
    }
    return t;
}

static void base_name(const struct dl_phdr_info *info, char *out, size_t size);

static scry__utab_obj_t *new_obj(const struct dl_phdr_info *info)
{
    scry__utab_obj_t *o = map(sizeof *o);
    if (!o) return NULL;
    o->bias = info->dlpi_addr;
    o->phdr = info->dlpi_phdr;
    base_name(info, o->name, sizeof o->name);
    return o;
}

/* Builds the table of a loaded object and publishes it. Runs inside
 * dl_iterate_phdr, whose lock keeps the object mapped while its .eh_frame
 * is read. */
static void build(scry__utab_obj_t *o, const struct dl_phdr_info *info)
{
    const char *name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "";
    const ElfW(Phdr) *hdr = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME) hdr = &info->dlpi_phdr[i];
    int rc = -1;
    if (hdr) {
        /* Reads stay in the loaded segment that holds the header (and, with
         * every linker scry knows, .eh_frame itself). */
        for (int i = 0; i < info->dlpi_phnum && rc < 0; i++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
            if (ph->p_type != PT_LOAD || hdr->p_vaddr < ph->p_vaddr ||
                hdr->p_vaddr >= ph->p_vaddr + ph->p_filesz)
                continue;
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_filesz;
            rc = scry__cfi_compile_eh_frame((const uint8_t *)(info->dlpi_addr + hdr->p_vaddr), lo,
                                            hi, info->dlpi_addr, &o->cfi);
        }
    }
    if (rc < 0 && strcmp(name, "linux-vdso.so.1") != 0) {
        rc = from_file(*name ? name : "/proc/self/exe", &o->cfi);
        o->from_debug_frame = rc == 0;
    }
    atomic_store_explicit(&o->table, &o->cfi, memory_order_release);
}

static void drop_obj(scry__utab_obj_t *o)
{
    scry__cfi_free(&o->cfi);
    munmap(o, sizeof *o);
}

/* ---- snapshots ------------------------------------------------------------ */

typedef struct {
    scry__utab_snap_t *snap; /* being filled */
    const scry__utab_snap_t *old;
    int eager; /* build every new object's table now (the first snapshot) */
    uint32_t cap_objs, cap_ranges;
    uint32_t want_objs, want_ranges; /* counted, when they did not fit */
    unsigned long long adds, subs;
} fill_t;

static void base_name(const struct dl_phdr_info *info, char *out, size_t size)
{
    const char *name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "";
    const char *base = strrchr(name, '/');
    snprintf(out, size, "%s", *name ? (base ? base + 1 : name) : "(main program)");
}

/* The old snapshot's object for this one: the same address, headers and
 * name (a library unloaded and another loaded at its address between two
 * polls is a new object). */
static scry__utab_obj_t *reuse(const scry__utab_snap_t *old, const struct dl_phdr_info *info)
{
    char name[sizeof old->objs[0]->name];
    base_name(info, name, sizeof name);
    for (uint32_t i = 0; old && i < old->nobjs; i++)
        if (old->objs[i]->bias == info->dlpi_addr && old->objs[i]->phdr == info->dlpi_phdr &&
            !strcmp(old->objs[i]->name, name))
            return old->objs[i];
    return NULL;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    fill_t *f = arg;
    if (f->want_objs == 0 &&
        size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        f->adds = info->dlpi_adds;
        f->subs = info->dlpi_subs;
    }
    uint32_t nx = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        nx += info->dlpi_phdr[i].p_type == PT_LOAD && (info->dlpi_phdr[i].p_flags & PF_X);
    f->want_objs++;
    f->want_ranges += nx;
    scry__utab_snap_t *s = f->snap;
    if (!s || !nx || s->nobjs == f->cap_objs || s->nranges + nx > f->cap_ranges) return 0;
    scry__utab_obj_t *o = reuse(f->old, info);
    if (!o && (o = new_obj(info))) {
        if (f->eager)
            build(o, info);
        else
            o->late = 1;
    }
    if (!o) return 0;
    s->objs[s->nobjs++] = o;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        scry__utab_range_t *r = &s->ranges[s->nranges++];
        r->lo = info->dlpi_addr + ph->p_vaddr;
        r->hi = r->lo + ph->p_memsz;
        r->obj = o;
    }
    return 0;
}

static int by_lo(const void *a, const void *b)
{
    const scry__utab_range_t *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

static int in_snap(const scry__utab_snap_t *s, const scry__utab_obj_t *o)
{
    for (uint32_t i = 0; s && i < s->nobjs; i++)
        if (s->objs[i] == o) return 1;
    return 0;
}

/* Waits for the readers of parity p to leave: 1 when they did. */
static int drained(unsigned p)
{
    for (int i = 0; i < 10000; i++) { /* 1 s */
        if (atomic_load(&readers[p]) == 0) return 1;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void refresh_locked(void)
{
    scry__busy_enter(); /* libelf, qsort: scry's allocations, not the program's */
    const scry__utab_snap_t *old = atomic_load(&current);
    fill_t f = {.old = old, .eager = old == NULL};
    dl_iterate_phdr(add_object, &f); /* counts only: f.snap is NULL */
    for (int tries = 0; tries < 4; tries++) {
        f.cap_objs = f.want_objs + 16;
        f.cap_ranges = f.want_ranges + 32;
        size_t bytes = sizeof *f.snap + f.cap_ranges * sizeof *f.snap->ranges +
                       f.cap_objs * sizeof *f.snap->objs;
        bytes = (bytes + 4095) & ~(size_t)4095;
        scry__utab_snap_t *s = map(bytes);
        if (!s) break;
        s->mapped = bytes;
        s->ranges = (scry__utab_range_t *)(s + 1);
        s->objs = (scry__utab_obj_t **)(s->ranges + f.cap_ranges);
        f.snap = s;
        f.want_objs = f.want_ranges = 0;
        dl_iterate_phdr(add_object, &f);
        if (f.want_objs <= f.cap_objs && f.want_ranges <= f.cap_ranges) break;
        /* More objects than counted (loaded meanwhile): keep what was built
         * for reuse, and go again with room for all. */
        for (uint32_t i = 0; i < s->nobjs; i++)
            if (!in_snap(old, s->objs[i])) drop_obj(s->objs[i]);
        munmap(s, s->mapped);
        f.snap = NULL;
    }
    scry__utab_snap_t *s = f.snap;
    if (s) {
        qsort(s->ranges, s->nranges, sizeof *s->ranges, by_lo);
        seen_adds = f.adds;
        seen_subs = f.subs;
        atomic_store(&current, s);
        unsigned p = atomic_fetch_add(&generation, 1) & 1;
        if (old) {
            if (drained(p)) {
                cache_clear(); /* no walk reads the old snapshot: none refills it */
                for (uint32_t i = 0; i < old->nobjs; i++)
                    if (!in_snap(s, old->objs[i])) drop_obj(old->objs[i]);
                munmap((void *)old, old->mapped);
            } else {
                cache_clear();
                leaked++;
            }
        }
        atomic_store(&built, 1);
    }
    scry__busy_leave();
}

void scry__utab_refresh(void)
{
    pthread_mutex_lock(&lock);
    refresh_locked();
    pthread_mutex_unlock(&lock);
}

static int counts(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1;
}

/* Builds the tables of the current snapshot's wanted objects. */
static int build_wanted(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    const scry__utab_snap_t *s = arg;
    for (uint32_t i = 0; i < s->nobjs; i++) {
        scry__utab_obj_t *o = s->objs[i];
        if (o->bias == info->dlpi_addr && o->phdr == info->dlpi_phdr && atomic_load(&o->wanted) &&
            !atomic_load(&o->table))
            build(o, info);
    }
    return 0;
}

void scry__utab_poll(void)
{
    if (!atomic_load(&built)) return;
    unsigned long long c[2] = {0, 0};
    dl_iterate_phdr(counts, c);
    pthread_mutex_lock(&lock);
    if (c[0] != seen_adds || c[1] != seen_subs) refresh_locked();
    if (atomic_exchange(&any_wanted, 0)) {
        scry__busy_enter();
        dl_iterate_phdr(build_wanted, (void *)atomic_load(&current));
        scry__busy_leave();
    }
    pthread_mutex_unlock(&lock);
}

void scry__utab_stats(scry__utab_stats_t *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&lock);
    unsigned p;
    const scry__utab_snap_t *s = scry__utab_enter_as_safe(&p);
    for (uint32_t i = 0; s && i < s->nobjs; i++) {
        const scry__utab_obj_t *o = s->objs[i];
        st->objects++;
        if (!atomic_load(&o->table)) {
            st->pending++;
            continue;
        }
        st->with_table += o->cfi.n != 0;
        st->rows += o->cfi.n;
        st->bytes += o->cfi.mapped;
    }
    scry__utab_leave_as_safe(p);
    st->probes = atomic_load(&probes);
    st->leaked = leaked;
    pthread_mutex_unlock(&lock);
}

void scry__utab_prefork(void)
{
    pthread_mutex_lock(&lock);
}

void scry__utab_postfork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void scry__utab_postfork_child(void)
{
    /* Only the forking thread crossed, and it was not inside a walk. */
    atomic_store(&readers[0], 0);
    atomic_store(&readers[1], 0);
    pthread_mutex_unlock(&lock);
}
