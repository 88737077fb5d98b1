/*
 * symbolize.c - in-process symbolization with libdw; see symbolize.h.
 *
 * For an address, the DWARF scopes that contain it (dwarf_getscopes) run
 * from the innermost inlined subroutine out to the subprogram that holds the
 * code. The innermost frame's file:line is the line table's (getsrc); each
 * inlined subroutine's DW_AT_call_file/DW_AT_call_line is where its caller,
 * the next scope out, called it. Code without DWARF falls back to the ELF
 * symbol table (a name, no line).
 */
#define _GNU_SOURCE
#include "format/symbolize.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/codelog.h"

struct scry__symbolizer {
    Dwfl *dwfl;
    scry__mapping_t *maps; /* the process's, sorted; then one per code log entry */
    int nmaps, nreal;
    /* Per code log entry (core/codelog.h): a libdw session of its own for
     * the object's file at the address it had, opened on first use. */
    Dwfl **code_dwfl;
    int *code_live; /* the process's mapping that still holds the entry's object, or -1 */
    uint32_t ncode;
    char **strings; /* everything we handed out */
    size_t nstrings, capstrings;
    char *(*demangle)(const char *, char *, size_t *, int *);
};

static const char *keep(scry__symbolizer_t *s, char *str)
{
    if (!str) return NULL;
    if (s->nstrings == s->capstrings) {
        size_t cap = s->capstrings ? s->capstrings * 2 : 256;
        char **v = realloc(s->strings, cap * sizeof *v);
        if (!v) {
            free(str);
            return NULL;
        }
        s->strings = v;
        s->capstrings = cap;
    }
    s->strings[s->nstrings++] = str;
    return str;
}

static const char *keep_copy(scry__symbolizer_t *s, const char *str)
{
    return str ? keep(s, strdup(str)) : NULL;
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
};

static void read_maps(scry__symbolizer_t *s)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f) return;
    char line[4096 + 128];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end, off;
        char perms[8];
        int pathpos = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %n", &start, &end, perms, &off, &pathpos) < 4)
            continue;
        if (perms[2] != 'x' || !pathpos) continue;
        char *path = line + pathpos;
        path[strcspn(path, "\n")] = 0;
        if (!*path) continue; /* anonymous executable memory (JITs): no file */
        if (s->nmaps == cap) {
            cap = cap ? cap * 2 : 32;
            scry__mapping_t *m = realloc(s->maps, (size_t)cap * sizeof *m);
            if (!m) break;
            s->maps = m;
        }
        s->maps[s->nmaps++] = (scry__mapping_t){start, end, off, keep_copy(s, path), ""};
    }
    fclose(f);
}

static void read_build_ids(scry__symbolizer_t *s)
{
    for (int i = 0; i < s->nmaps; i++) {
        if (!s->dwfl) break;
        Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, s->maps[i].start);
        const unsigned char *bits;
        GElf_Addr vaddr, bias;
        /* The build ID is known once the module's ELF file is open. */
        if (mod) dwfl_module_getelf(mod, &bias);
        int n = mod ? dwfl_module_build_id(mod, &bits, &vaddr) : -1;
        if (n <= 0) continue;
        char *hex = malloc((size_t)n * 2 + 1);
        if (!hex) continue;
        for (int k = 0; k < n; k++)
            sprintf(hex + 2 * k, "%02x", bits[k]);
        const char *kept = keep(s, hex);
        if (kept) s->maps[i].build_id = kept;
    }
}

/* libdebuginfod's constructor initialises its libcurl, and through it
 * libssh2 and OpenSSL. Loaded at exit, after the program has torn its own
 * libcurl and OpenSSL down (curl_global_cleanup), that crashes the program
 * (seen with examples/otel/front). So it is loaded when a profile starts,
 * while the program is still setting up, not first at the exit-time write. */
static pthread_once_t debuginfod_once = PTHREAD_ONCE_INIT;

static void load_debuginfod(void)
{
    Dwfl *d = dwfl_begin(&callbacks);
    if (!d) return;
    dwfl_get_debuginfod_client(d);
    dwfl_end(d);
}

void scry__symbolizer_prepare(void)
{
    pthread_once(&debuginfod_once, load_debuginfod);
}

static const char *code_build_id(scry__symbolizer_t *s, uint32_t i);

scry__symbolizer_t *scry__symbolizer_new(void)
{
    scry__symbolizer_prepare();
    scry__symbolizer_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->demangle =
        (char *(*)(const char *, char *, size_t *, int *))dlsym(RTLD_DEFAULT, "__cxa_demangle");
    read_maps(s);
    s->dwfl = dwfl_begin(&callbacks);
    if (s->dwfl) {
        /* libdw loads libdebuginfod (and libcurl, libcrypto) the first time
         * a module has no local debug information, whatever DEBUGINFOD_URLS
         * says. Have it happen now, not at a random later moment: the load
         * changes dl_iterate_phdr's counters, which would make the shared
         * symbolizer be thrown away and built again (megabytes). */
        dwfl_get_debuginfod_client(s->dwfl);
        dwfl_report_begin(s->dwfl);
        if (dwfl_linux_proc_report(s->dwfl, getpid()) != 0 ||
            dwfl_report_end(s->dwfl, NULL, NULL) != 0) {
            dwfl_end(s->dwfl);
            s->dwfl = NULL;
        }
    }
    read_build_ids(s);
    s->nreal = s->nmaps;
    /* The objects walks met that may be unloaded by now: a mapping each,
     * after the process's own (their addresses may overlap them). */
    uint32_t nc = scry__codelog_count();
    scry__mapping_t *m = nc ? realloc(s->maps, (size_t)(s->nmaps + (int)nc) * sizeof *m) : NULL;
    if (m) s->maps = m;
    s->code_dwfl = nc ? calloc(nc, sizeof *s->code_dwfl) : NULL;
    s->code_live = nc ? calloc(nc, sizeof *s->code_live) : NULL;
    if (m && s->code_dwfl && s->code_live) {
        for (uint32_t i = 0; i < nc; i++) {
            scry__codelog_entry_t e;
            if (scry__codelog_get(i, &e) < 0) break;
            s->ncode = i + 1;
            /* Still loaded where it was: its frames are the process's. */
            s->code_live[i] = -1;
            for (int k = 0; k < s->nreal; k++)
                if (s->maps[k].start >= e.start && s->maps[k].start < e.end && !strcmp(s->maps[k].path, e.path))
                    s->code_live[i] = k;
            s->maps[s->nmaps++] = (scry__mapping_t){e.start, e.end, e.start - e.bias, keep_copy(s, e.path),
                                                    code_build_id(s, i)};
        }
    }
    return s;
}

/* libdw for code log entry i: the object's file reported at its load
 * bias, as it was when the walk met it. */
static Dwfl *code_dwfl(scry__symbolizer_t *s, uint32_t i);
static int first_module(Dwfl_Module *mod, void **user, const char *name, Dwarf_Addr start, void *arg)
{
    (void)user, (void)name, (void)start;
    *(Dwfl_Module **)arg = mod;
    return DWARF_CB_ABORT;
}

static Dwfl *code_dwfl(scry__symbolizer_t *s, uint32_t i)
{
    if (!s->code_dwfl || i >= s->ncode) return NULL;
    if (s->code_dwfl[i]) return s->code_dwfl[i];
    scry__codelog_entry_t e;
    if (scry__codelog_get(i, &e) < 0) return NULL;
    static const Dwfl_Callbacks offline = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
    };
    Dwfl *d = dwfl_begin(&offline);
    if (!d) return NULL;
    dwfl_report_begin(d);
    const char *base = strrchr(e.path, '/');
    if (!dwfl_report_elf(d, base ? base + 1 : e.path, e.path, -1, e.bias, false) ||
        dwfl_report_end(d, NULL, NULL) != 0) {
        dwfl_end(d);
        return NULL;
    }
    return s->code_dwfl[i] = d;
}

/* The build ID of code log entry i's file, lower-case hex, or "". */
static const char *code_build_id(scry__symbolizer_t *s, uint32_t i)
{
    Dwfl *d = code_dwfl(s, i);
    Dwfl_Module *mod = NULL;
    if (d) dwfl_getmodules(d, first_module, &mod, 0);
    const unsigned char *bits;
    GElf_Addr vaddr, bias;
    if (mod) dwfl_module_getelf(mod, &bias);
    int n = mod ? dwfl_module_build_id(mod, &bits, &vaddr) : -1;
    if (n <= 0) return "";
    char *hex = malloc((size_t)n * 2 + 1);
    if (!hex) return "";
    for (int k = 0; k < n; k++) sprintf(hex + 2 * k, "%02x", bits[k]);
    const char *kept = keep(s, hex);
    return kept ? kept : "";
}

uintptr_t scry__symbolizer_address(scry__symbolizer_t *s, uintptr_t addr)
{
    (void)s;
    uint32_t i;
    uintptr_t real;
    return scry__codelog_untag(addr, &i, &real) == 0 ? real : addr;
}

void scry__symbolizer_free(scry__symbolizer_t *s)
{
    if (!s) return;
    if (s->dwfl) dwfl_end(s->dwfl);
    for (uint32_t i = 0; i < s->ncode; i++)
        if (s->code_dwfl[i]) dwfl_end(s->code_dwfl[i]);
    free(s->code_dwfl);
    free(s->code_live);
    for (size_t i = 0; i < s->nstrings; i++)
        free(s->strings[i]);
    free(s->strings);
    free(s->maps);
    free(s);
}

int scry__symbolizer_mappings(scry__symbolizer_t *s, const scry__mapping_t **out)
{
    *out = s->maps;
    return s->nmaps;
}

int scry__symbolizer_find_mapping(scry__symbolizer_t *s, uintptr_t addr)
{
    uint32_t i;
    uintptr_t real;
    if (scry__codelog_untag(addr, &i, &real) == 0) {
        if (i >= s->ncode) return -1;
        return s->code_live[i] >= 0 ? s->code_live[i] : s->nreal + (int)i;
    }
    if (scry__code_tagged(addr)) return -1;
    int lo = 0, hi = s->nreal - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (addr < s->maps[mid].start)
            hi = mid - 1;
        else if (addr >= s->maps[mid].limit)
            lo = mid + 1;
        else
            return mid;
    }
    return -1;
}

/* Demangled copy of a C++ linkage name, or a plain copy. */
static const char *pretty(scry__symbolizer_t *s, const char *name)
{
    if (!name) return NULL;
    if (s->demangle && name[0] == '_' && name[1] == 'Z') {
        int status = -1;
        char *d = s->demangle(name, NULL, NULL, &status);
        if (d && status == 0) return keep(s, d);
        free(d);
    }
    return keep_copy(s, name);
}

static const char *die_linkage_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *n = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a)) n = dwarf_formstring(&a);
    if (!n && dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a)) n = dwarf_formstring(&a);
    return n;
}

static const char *die_plain_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    if (dwarf_attr_integrate(die, DW_AT_name, &a)) return dwarf_formstring(&a);
    return NULL;
}

static void name_frame(scry__symbolizer_t *s, Dwarf_Die *die, scry__frame_t *f)
{
    const char *linkage = die_linkage_name(die), *plain = die_plain_name(die);
    f->name = linkage ? pretty(s, linkage) : keep_copy(s, plain);
    f->system_name = linkage ? keep_copy(s, linkage) : f->name;
}

int scry__symbolize(scry__symbolizer_t *s, uintptr_t addr, scry__frame_t *out, int max)
{
    Dwfl *dwfl = s->dwfl;
    uint32_t ci;
    uintptr_t real;
    if (scry__codelog_untag(addr, &ci, &real) == 0) {
        if (ci < s->ncode && s->code_live[ci] < 0) dwfl = code_dwfl(s, ci);
        addr = real;
    } else if (scry__code_tagged(addr)) {
        return 0;
    }
    if (!dwfl || max <= 0) return 0;
    Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
    if (!mod) return 0;

    const char *file = NULL;
    int line = 0;
    Dwfl_Line *dl = dwfl_module_getsrc(mod, addr);
    if (dl) file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);

    int n = 0;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
    Dwarf_Die *scopes = NULL;
    int nscopes = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (cu && dwarf_getsrcfiles(cu, &files, &nfiles) != 0) files = NULL;

    /* The innermost function-like scope; then, one inlined call at a time,
     * the function-like scope that contains the call in the concrete DIE
     * tree (dwarf_getscopes_die). dwarf_getscopes' own tail past an inlined
     * instance describes the abstract definition, not the caller. */
    Dwarf_Die cur;
    int have = 0;
    for (int i = 0; i < nscopes && !have; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
            cur = scopes[i];
            have = 1;
        }
    }
    while (have && n < max) {
        scry__frame_t *f = &out[n++];
        name_frame(s, &cur, f);
        f->file = keep_copy(s, file);
        f->line = line;
        if (dwarf_tag(&cur) != DW_TAG_inlined_subroutine) break;
        /* Where this inlined call sits, in the next function out. */
        Dwarf_Attribute a;
        Dwarf_Word w;
        file = NULL;
        line = 0;
        if (dwarf_attr(&cur, DW_AT_call_file, &a) && dwarf_formudata(&a, &w) == 0 && files &&
            w < nfiles)
            file = dwarf_filesrc(files, w, NULL, NULL);
        if (dwarf_attr(&cur, DW_AT_call_line, &a) && dwarf_formudata(&a, &w) == 0) line = (int)w;
        Dwarf_Die *chain = NULL;
        int nchain = dwarf_getscopes_die(&cur, &chain);
        have = 0;
        for (int j = 1; j < nchain && !have; j++) {
            int tag = dwarf_tag(&chain[j]);
            if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
                cur = chain[j];
                have = 1;
            }
        }
        free(chain);
    }
    free(scopes);

    if (n == 0) {
        /* No DWARF for this code: the ELF symbol table still has names. */
        GElf_Sym sym;
        GElf_Off off;
        const char *sname = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
        if (!sname) return 0;
        out[0].name = pretty(s, sname);
        out[0].system_name = keep_copy(s, sname);
        out[0].file = keep_copy(s, file);
        out[0].line = line;
        n = out[0].name ? 1 : 0;
    }
    return n;
}

/* The start of the function holding vaddr (an address of the module's
 * ELF file), from the search table of .eh_frame_hdr, which strip keeps and
 * every object gcc or clang links has: the largest FDE start at or below
 * vaddr, when an FDE covers vaddr (libdw's CFI says). 0 when unknown. Only
 * the table layout GNU ld and lld write is read (pcrel sdata4 .eh_frame
 * pointer, udata4 count, datarel sdata4 entries). */
static uintptr_t fde_start(Dwfl_Module *mod, uintptr_t vaddr)
{
    Dwarf_Addr bias;
    Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
    Dwarf_Frame *frame = NULL;
    if (!cfi || dwarf_cfi_addrframe(cfi, vaddr, &frame) != 0) return 0;
    free(frame);
    /* The file's image as libelf holds it (mapped, or read once), rather
     * than elf_getdata_rawchunk, which copies the table at every call. */
    Elf *elf = dwfl_module_getelf(mod, &bias);
    size_t nph, size;
    const unsigned char *raw = elf ? (const unsigned char *)elf_rawfile(elf, &size) : NULL;
    if (!raw || elf_getphdrnum(elf, &nph) != 0) return 0;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_GNU_EH_FRAME) continue;
        if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset || ph.p_filesz < 12) return 0;
        const unsigned char *h = raw + ph.p_offset;
        if (h[0] != 1 || h[1] != 0x1b || h[2] != 0x03 || h[3] != 0x3b) return 0;
        uint32_t n;
        memcpy(&n, h + 8, 4);
        if (n == 0 || (ph.p_filesz - 12) / 8 < n) return 0;
        /* Entries: (start, FDE), each relative to the table's own address,
         * sorted by start. */
        uint32_t lo = 0, hi = n - 1;
        int32_t rel;
        memcpy(&rel, h + 12, 4);
        if ((uintptr_t)((int64_t)ph.p_vaddr + rel) > vaddr) return 0;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo + 1) / 2;
            memcpy(&rel, h + 12 + 8 * (size_t)mid, 4);
            if ((uintptr_t)((int64_t)ph.p_vaddr + rel) <= vaddr)
                lo = mid;
            else
                hi = mid - 1;
        }
        memcpy(&rel, h + 12 + 8 * (size_t)lo, 4);
        return (uintptr_t)((int64_t)ph.p_vaddr + rel);
    }
    return 0;
}

const char *scry__symbolize_unnamed(scry__symbolizer_t *s, uintptr_t addr)
{
    int m = scry__symbolizer_find_mapping(s, addr);
    if (m < 0) return NULL;
    const scry__mapping_t *map = &s->maps[m];
    Dwfl *dwfl = s->dwfl;
    uint32_t ci;
    uintptr_t real = addr;
    if (scry__codelog_untag(addr, &ci, &real) == 0 && ci < s->ncode && s->code_live[ci] < 0)
        dwfl = code_dwfl(s, ci);
    /* The ELF file's own address: the load bias off, which libdw knows;
     * without it, the offset in the file (the same for the code of shared
     * objects and executables as linkers lay them out). Then the start of
     * its function, so that a function is one name, as nm would list it. */
    uintptr_t in_file = real - map->start + map->offset;
    Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, real) : NULL;
    GElf_Addr bias;
    if (mod && dwfl_module_getelf(mod, &bias)) {
        in_file = real - (uintptr_t)bias;
        uintptr_t start = fde_start(mod, in_file);
        if (start) in_file = start;
    }
    const char *base = strrchr(map->path, '/');
    base = base && base[1] ? base + 1 : map->path;
    char *name;
    if (asprintf(&name, "%s+0x%lx", base, (unsigned long)in_file) < 0) return NULL;
    return keep(s, name);
}

/* ---- the shared symbolizer ----
 *
 * Building a symbolizer (libdw reading every module's debug information) is
 * most of what writing a profile costs: about 150 ms for a live
 * /debug/pprof/goroutine fetch. One is kept and reused while no library
 * was loaded or unloaded (glibc counts both, in dl_iterate_phdr), by one
 * user at a time; a second user meanwhile gets a private one. */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static scry__symbolizer_t *shared;
static unsigned long long shared_adds, shared_subs;
static uint32_t shared_code; /* code log entries it knows */

static int load_counts(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1; /* the counters are the same in every entry */
}

scry__symbolizer_t *scry__symbolizer_acquire(void)
{
    /* Busy (another write, or a crash report while one was going on):
     * a private one rather than a wait. */
    if (pthread_mutex_trylock(&shared_lock) != 0) return scry__symbolizer_new();
    unsigned long long c[2] = {0, 0};
    dl_iterate_phdr(load_counts, c);
    if (shared && (c[0] != shared_adds || c[1] != shared_subs || !c[0] ||
                   scry__codelog_count() != shared_code)) {
        scry__symbolizer_free(shared);
        shared = NULL;
    }
    if (!shared) {
        shared_code = scry__codelog_count();
        shared = scry__symbolizer_new();
        /* Counted after: building it may itself load libraries (above). */
        dl_iterate_phdr(load_counts, c);
        shared_adds = c[0];
        shared_subs = c[1];
    }
    if (!shared) pthread_mutex_unlock(&shared_lock);
    return shared;
}

void scry__symbolizer_release(scry__symbolizer_t *s)
{
    if (!s) return;
    if (s == shared)
        pthread_mutex_unlock(&shared_lock);
    else
        scry__symbolizer_free(s);
}
