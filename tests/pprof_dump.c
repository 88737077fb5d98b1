/*
 * pprof_dump.c - prints a pprof file as lines of raw integers and names, for
 * test scripts to check against their ground truth with grep and awk.
 *
 * It reads through tools/scry/pprof_read.c, the reader `scry top` uses, so
 * a test that checks pprof_dump's numbers also checks scry top's sums; the
 * tests that matter compare both against `go tool pprof` as well. Lines:
 *   total <sum of |value| for the chosen sample type>
 *   sample_type <type>/<unit>            one per type, in order
 *   default_sample_type <name>
 *   period_type <type>/<unit>
 *   period <n>, time_nanos <n>, duration_nanos <n>
 *   comment <text>                        one per comment
 *   samples <number of Sample messages>
 *   func <flat> <cum> <name>              by flat, largest first, then name
 *   loc 0x<addr> <mapping basename or ?> build_id=<id> | <func> <file>:<line> ; ...
 *                                         lines innermost first, file as its
 *                                         basename (tests/symbolize matches
 *                                         "target.c:<line>")
 *   sample <v0>,<v1>,... | <leaf frame> ; <its caller> ; ... | <key>=<value> ...
 *                                         every frame, inlined ones too
 * Names are pprof's (pprof_read.h): "[libfoo.so]" for a frame without a
 * function name. Exit status as scry top: 1 for a bad file, 2 for bad usage.
 * Usage: pprof_dump FILE [--sample-index NAME]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pprof_read.h"

static int by_flat(const void *a, const void *b)
{
    const scry_func_stat_t *x = a, *y = b;
    if (x->flat != y->flat) return x->flat < y->flat ? 1 : -1;
    return strcmp(x->name, y->name);
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "--sample-index"))) {
        fprintf(stderr, "usage: pprof_dump FILE [--sample-index NAME]\n");
        return 2;
    }
    char err[512];
    scry_pprof_t *p;
    if (scry_pprof_load(argv[1], &p, err, sizeof err) < 0) {
        fprintf(stderr, "pprof_dump: %s\n", err);
        return 1;
    }
    const Perftools__Profiles__Profile *m = p->pb;
    int idx = scry_pprof_sample_index(p, argc == 4 ? argv[3] : NULL);
    if (idx < 0) {
        fprintf(stderr, "pprof_dump: %s: no sample type '%s'\n", argv[1], argc == 4 ? argv[3] : "");
        scry_pprof_free(p);
        return 2;
    }
    scry_func_stat_t *st;
    int64_t total;
    long n = scry_pprof_func_stats(p, idx, &st, &total);
    if (n < 0) {
        fprintf(stderr, "pprof_dump: %s: out of memory\n", argv[1]);
        scry_pprof_free(p);
        return 1;
    }
    qsort(st, (size_t)n, sizeof *st, by_flat);

    printf("total %lld\n", (long long)total);
    for (size_t i = 0; i < m->n_sample_type; i++)
        printf("sample_type %s/%s\n", scry_pprof_str(p, m->sample_type[i]->type),
               scry_pprof_str(p, m->sample_type[i]->unit));
    printf("default_sample_type %s\n", scry_pprof_str(p, m->default_sample_type));
    printf("period_type %s/%s\n", m->period_type ? scry_pprof_str(p, m->period_type->type) : "",
           m->period_type ? scry_pprof_str(p, m->period_type->unit) : "");
    printf("period %lld\ntime_nanos %lld\nduration_nanos %lld\n", (long long)m->period,
           (long long)m->time_nanos, (long long)m->duration_nanos);
    for (size_t i = 0; i < m->n_comment; i++)
        printf("comment %s\n", scry_pprof_str(p, m->comment[i]));
    printf("samples %zu\n", m->n_sample);
    for (long i = 0; i < n; i++)
        printf("func %lld %lld %s\n", (long long)st[i].flat, (long long)st[i].cum, st[i].name);

    for (size_t i = 0; i < m->n_location; i++) {
        const scry_pb_location_t *l = m->location[i];
        const scry_pb_mapping_t *mp = scry_pprof_mapping(p, l->mapping_id);
        const char *file = mp ? scry_pprof_str(p, mp->filename) : "";
        printf("loc 0x%llx %s build_id=%s |", (unsigned long long)l->address,
               *file ? base(file) : "?", mp ? scry_pprof_str(p, mp->build_id) : "");
        for (size_t k = 0; k < l->n_line; k++) {
            const scry_pb_function_t *f = scry_pprof_function(p, l->line[k]->function_id);
            printf("%s %s %s:%lld", k ? " ;" : "", scry_pprof_frame_name(p, l, k),
                   base(scry_pprof_str(p, f->filename)), (long long)l->line[k]->line);
        }
        printf("\n");
    }

    for (size_t i = 0; i < m->n_sample; i++) {
        const Perftools__Profiles__Sample *s = m->sample[i];
        printf("sample ");
        for (size_t k = 0; k < s->n_value; k++)
            printf("%s%lld", k ? "," : "", (long long)s->value[k]);
        printf(" |");
        int first = 1;
        for (size_t k = 0; k < s->n_location_id; k++) {
            const scry_pb_location_t *l = scry_pprof_location(p, s->location_id[k]);
            size_t lines = l->n_line ? l->n_line : 1;
            for (size_t j = 0; j < lines; j++, first = 0)
                printf("%s %s", first ? "" : " ;", scry_pprof_frame_name(p, l, l->n_line ? j : 0));
        }
        printf(" |");
        for (size_t k = 0; k < s->n_label; k++) {
            const Perftools__Profiles__Label *lb = s->label[k];
            if (lb->str)
                printf(" %s=%s", scry_pprof_str(p, lb->key), scry_pprof_str(p, lb->str));
            else
                printf(" %s=%lld", scry_pprof_str(p, lb->key), (long long)lb->num);
        }
        printf("\n");
    }
    free(st);
    scry_pprof_free(p);
    return 0;
}
