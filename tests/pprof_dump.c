/*
 * pprof_dump.c - prints a pprof file in a line-oriented form with raw
 * integers, for test scripts to check against their ground truth:
 *   total, sample_type, default_sample_type, period_type, period, time_nanos,
 *   duration_nanos, comment, samples, func <flat> <cum> <name>,
 *   loc 0x<addr> <mapping basename> build_id=<hex> | <func> <file>:<line> ; ...
 *   sample <v0>,<v1> | <leaf func> ; ... | <key>=<value> ...
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
    return s ? s + 1 : path;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "--sample-index"))) {
        fprintf(stderr, "usage: pprof_dump FILE [--sample-index NAME]\n");
        return 2;
    }
    char err[512];
    scry_profile_t *p;
    if (scry_pprof_load(argv[1], &p, err, sizeof err) < 0) {
        fprintf(stderr, "pprof_dump: %s\n", err);
        return 1;
    }
    int idx = scry_pprof_sample_index(p, argc == 4 ? argv[3] : NULL);
    if (idx < 0) {
        fprintf(stderr, "pprof_dump: no such sample type\n");
        return 2;
    }
    scry_func_stat_t *st;
    int64_t total;
    long n = scry_pprof_func_stats(p, idx, &st, &total);
    if (n < 0) return 1;
    qsort(st, (size_t)n, sizeof *st, by_flat);
    printf("total %lld\n", (long long)total);
    for (size_t i = 0; i < p->n_sample_type; i++)
        printf("sample_type %s/%s\n", scry_pprof_str(p, p->sample_type[i]->type),
               scry_pprof_str(p, p->sample_type[i]->unit));
    printf("default_sample_type %s\n", scry_pprof_str(p, p->default_sample_type));
    if (p->period_type)
        printf("period_type %s/%s\n", scry_pprof_str(p, p->period_type->type),
               scry_pprof_str(p, p->period_type->unit));
    printf("period %lld\ntime_nanos %lld\nduration_nanos %lld\n", (long long)p->period,
           (long long)p->time_nanos, (long long)p->duration_nanos);
    for (size_t i = 0; i < p->n_comment; i++) printf("comment %s\n", scry_pprof_str(p, p->comment[i]));
    printf("samples %zu\n", p->n_sample);
    for (long i = 0; i < n; i++)
        printf("func %lld %lld %s\n", (long long)st[i].flat, (long long)st[i].cum, st[i].name);
    for (size_t i = 0; i < p->n_location; i++) {
        const Perftools__Profiles__Location *l = p->location[i];
        const Perftools__Profiles__Mapping *m = l->mapping_id ? scry_pprof_mapping(p, l->mapping_id) : NULL;
        printf("loc 0x%llx %s build_id=%s |", (unsigned long long)l->address,
               m ? base(scry_pprof_str(p, m->filename)) : "?",
               m ? scry_pprof_str(p, m->build_id) : "");
        for (size_t k = 0; k < l->n_line; k++) {
            const Perftools__Profiles__Function *f = scry_pprof_function(p, l->line[k]->function_id);
            printf("%s %s %s:%lld", k ? " ;" : "", scry_pprof_str(p, f->name),
                   base(scry_pprof_str(p, f->filename)), (long long)l->line[k]->line);
        }
        printf("\n");
    }
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];
        printf("sample ");
        for (size_t k = 0; k < s->n_value; k++) printf("%s%lld", k ? "," : "", (long long)s->value[k]);
        printf(" |");
        for (size_t k = 0; k < s->n_location_id; k++) {
            const Perftools__Profiles__Location *l = scry_pprof_location(p, s->location_id[k]);
            const char *name = "?";
            if (l && l->n_line) name = scry_pprof_str(p, scry_pprof_function(p, l->line[l->n_line - 1]->function_id)->name);
            printf("%s %s", k ? " ;" : "", name);
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
