/*
 * leaks.c - the summary `scry run -p heap` prints when the program ends:
 * the exact allocation totals (from the profile's comment) and the sites
 * whose memory is still in use, by size: the program's leaks, if it was
 * meant to free everything.
 *
 * A site is the leaf location of a sample: one call to an allocation
 * function, named by the innermost function at that address and its
 * file:line, with its caller for context.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pprof_read.h"

typedef struct {
    uint64_t loc, caller;
    int64_t bytes, objects;
} site_t;

static void human(char *buf, size_t len, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
}

static int by_site(const void *a, const void *b)
{
    const site_t *x = a, *y = b;
    if (x->loc != y->loc) return x->loc < y->loc ? -1 : 1;
    return x->caller < y->caller ? -1 : x->caller > y->caller;
}

static int by_bytes(const void *a, const void *b)
{
    const site_t *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->loc < y->loc ? -1 : x->loc > y->loc;
}

/* "func file:line" of the innermost line of location id. */
static void where(const scry_pprof_t *p, uint64_t id, char *buf, size_t len)
{
    const scry_pb_location_t *l = scry_pprof_location(p, id);
    if (!l) {
        snprintf(buf, len, "<unknown>");
        return;
    }
    const char *name = scry_pprof_frame_name(p, l, 0);
    if (l->n_line == 0) {
        snprintf(buf, len, "%s", name);
        return;
    }
    const scry_pb_function_t *f = scry_pprof_function(p, l->line[0]->function_id);
    const char *file = f ? scry_pprof_str(p, f->filename) : "";
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (*base)
        snprintf(buf, len, "%s %s:%" PRId64, name, base, l->line[0]->line);
    else
        snprintf(buf, len, "%s", name);
}

/* Prints the exact totals the library recorded, if the profile has them. */
static void print_totals(const scry_pprof_t *p, FILE *out)
{
    const Perftools__Profiles__Profile *pb = p->pb;
    for (size_t i = 0; i < pb->n_comment; i++) {
        unsigned long long ab, ao, fb, fo;
        if (sscanf(scry_pprof_str(p, pb->comment[i]),
                   "totals: allocated %llu bytes in %llu blocks, freed %llu bytes in %llu blocks",
                   &ab, &ao, &fb, &fo) != 4)
            continue;
        char a[32], f[32], u[32];
        human(a, sizeof a, (double)ab);
        human(f, sizeof f, (double)fb);
        if (ao >= fo) {
            human(u, sizeof u, ab >= fb ? (double)(ab - fb) : 0);
            fprintf(out,
                    "scry: heap totals (exact): allocated %s in %llu blocks, freed %s in %llu "
                    "blocks, %s in %llu blocks still allocated\n",
                    a, ao, f, fo, u, ao - fo);
        } else {
            /* Not clamped to 0: frees scry saw without their allocation
             * (docs/heap.md, "What is the program's" and RTLD_DEEPBIND). */
            fprintf(out,
                    "scry: heap totals (exact): allocated %s in %llu blocks, freed %s in %llu "
                    "blocks: %llu more freed than allocated (blocks allocated where scry could "
                    "not count them, see docs/heap.md)\n",
                    a, ao, f, fo, fo - ao);
        }
        return;
    }
}

int scry_print_heap_summary(const char *path, int leaks, int rows, FILE *out)
{
    scry_pprof_t *p;
    char err[512];
    if (scry_pprof_load(path, &p, err, sizeof err) < 0) {
        fprintf(out, "scry: %s\n", err);
        return -1;
    }
    print_totals(p, out);
    int ib = scry_pprof_sample_index(p, "inuse_space");
    int io = scry_pprof_sample_index(p, "inuse_objects");
    if (!leaks || ib < 0 || io < 0) {
        scry_pprof_free(p);
        return 0;
    }
    const Perftools__Profiles__Profile *pb = p->pb;
    site_t *sites = calloc(pb->n_sample ? pb->n_sample : 1, sizeof *sites);
    if (!sites) {
        scry_pprof_free(p);
        return -1;
    }
    size_t n = 0;
    int64_t total = 0, objects = 0;
    for (size_t i = 0; i < pb->n_sample; i++) {
        const Perftools__Profiles__Sample *s = pb->sample[i];
        if (s->n_location_id == 0 || s->value[ib] <= 0) continue;
        total += s->value[ib];
        objects += s->value[io];
        uint64_t caller = s->n_location_id > 1 ? s->location_id[1] : 0;
        sites[n++] = (site_t){s->location_id[0], caller, s->value[ib], s->value[io]};
    }
    /* Merge samples of the same site (they differ in deeper frames or size). */
    qsort(sites, n, sizeof *sites, by_site);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && !by_site(&sites[m - 1], &sites[i])) {
            sites[m - 1].bytes += sites[i].bytes;
            sites[m - 1].objects += sites[i].objects;
        } else {
            sites[m++] = sites[i];
        }
    }
    n = m;
    qsort(sites, n, sizeof *sites, by_bytes);
    char t[32];
    human(t, sizeof t, (double)total);
    if (n == 0) {
        fprintf(out, "scry: no sampled heap memory was still in use at exit\n");
    } else {
        fprintf(out, "scry: heap in use at exit: %s in %" PRId64
                     " objects (estimated from samples); largest sites:\n",
                t, objects);
        for (size_t k = 0; k < n && (rows <= 0 || k < (size_t)rows); k++) {
            char b[32], site[512], from[512] = "";
            human(b, sizeof b, (double)sites[k].bytes);
            where(p, sites[k].loc, site, sizeof site);
            if (sites[k].caller) {
                char c[500];
                where(p, sites[k].caller, c, sizeof c);
                snprintf(from, sizeof from, " <- %s", c);
            }
            fprintf(out, "  %12s %10" PRId64 " objects  %s%s\n", b, sites[k].objects, site, from);
        }
    }
    free(sites);
    scry_pprof_free(p);
    return 0;
}
