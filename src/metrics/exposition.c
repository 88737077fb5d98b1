/*
 * exposition.c - metrics as Prometheus scrapes them: text format 0.0.4, or
 * OpenMetrics 1.0 when the scraper asks for it.
 *
 * Runtime metrics take Go's name mangled as Go's Prometheus collector does:
 * "/sched/latencies:seconds" is scry_sched_latencies_seconds ("/", ":" and
 * "-" become "_"), under a "scry_" prefix. Counters get "_total" (and in
 * OpenMetrics their family name is without it). Histograms give cumulative
 * _bucket{le="..."} lines up to +Inf, then _sum and _count. User metrics of
 * one name are one family, under one HELP and TYPE.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

static void mangle(const char *go, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, "scry_");
    for (const char *p = go[0] == '/' ? go + 1 : go; *p && n + 1 < len; p++)
        out[n++] = (*p == '/' || *p == ':' || *p == '-' || *p == '.') ? '_' : *p;
    out[n] = 0;
}

/* The family name: counters lose a "_total" suffix (added back on samples). */
static void family(const char *name, scry_metric_kind_t kind, char *out, size_t len)
{
    snprintf(out, len, "%s", name);
    size_t n = strlen(out);
    if (kind == SCRY_COUNTER && n > 6 && !strcmp(out + n - 6, "_total")) out[n - 6] = 0;
}

/* The shortest form that reads back as the same double. */
static void shortest(double v, char *buf, size_t len)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void number(FILE *f, double v)
{
    char b[32];
    if (v == (double)(long long)v && v < 9e15 && v > -9e15)
        fprintf(f, "%lld", (long long)v);
    else {
        shortest(v, b, sizeof b);
        fputs(b, f);
    }
}

static void help_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void header(FILE *f, const char *fam, const char *help, scry_metric_kind_t kind, int om)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    /* Prometheus 0.0.4 names the counter by its sample name; OpenMetrics by its family. */
    const char *suffix = kind == SCRY_COUNTER && !om ? "_total" : "";
    if (om) fprintf(f, "# TYPE %s %s\n", fam, types[kind]); /* OpenMetrics: TYPE first */
    fprintf(f, "# HELP %s%s ", fam, suffix);
    help_text(f, help);
    fputc('\n', f);
    if (!om) fprintf(f, "# TYPE %s%s %s\n", fam, suffix, types[kind]);
}

/* One family member's samples. labels: `k="v",...` or "". */
static void samples(FILE *f, const char *fam, const char *labels, const scry_metric_value_t *v)
{
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    if (v->kind == SCRY_COUNTER) {
        fprintf(f, "%s_total%s%s%s ", fam, open, labels, close);
        number(f, v->value);
        fputc('\n', f);
    } else if (v->kind == SCRY_GAUGE) {
        fprintf(f, "%s%s%s%s ", fam, open, labels, close);
        number(f, v->value);
        fputc('\n', f);
    } else {
        unsigned long long cum = 0;
        for (int b = 0; b <= v->nbuckets; b++) {
            cum += v->counts[b];
            fprintf(f, "%s_bucket{%s%sle=\"", fam, labels, *labels ? "," : "");
            char b_[32];
            shortest(v->bounds[b], b_, sizeof b_);
            /* OpenMetrics' canonical le has a decimal point: "1.0", not "1" */
            if (!strpbrk(b_, ".eEn")) strcat(b_, ".0");
            fputs(b < v->nbuckets ? b_ : "+Inf", f);
            fprintf(f, "\"} %llu\n", cum);
        }
        fprintf(f, "%s_sum%s%s%s ", fam, open, labels, close);
        number(f, v->sum);
        fprintf(f, "\n%s_count%s%s%s %llu\n", fam, open, labels, close, cum);
    }
}

typedef struct {
    char fam[256];
    char *help, *labels;
    scry_metric_value_t v;
} row_t;

typedef struct {
    row_t *rows;
    int n, cap;
} rows_t;

static void collect(const char *name, const char *help, const char *labels,
                    const scry_metric_value_t *v, void *arg)
{
    rows_t *r = arg;
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 32;
        row_t *a = realloc(r->rows, (size_t)cap * sizeof *a);
        if (!a) return;
        r->rows = a;
        r->cap = cap;
    }
    row_t *row = &r->rows[r->n];
    family(name, v->kind, row->fam, sizeof row->fam);
    row->help = strdup(help);
    row->labels = strdup(labels);
    row->v = *v;
    if (row->help && row->labels) r->n++;
}

void scry__metrics_expose(FILE *f, int om)
{
    const scry_metric_desc_t *d;
    int n = scry_metrics_all(&d);
    scry_metric_value_t *v = calloc((size_t)n, sizeof *v);
    if (v) {
        for (int i = 0; i < n; i++)
            v[i].name = d[i].name;
        scry_metrics_read(v, n);
        for (int i = 0; i < n; i++) {
            char fam[256];
            /* NaN: scry does not have it now (the heap totals while they
             * are not kept): left out, family and all. */
            if (d[i].kind != SCRY_HISTOGRAM && isnan(v[i].value)) continue;
            mangle(d[i].name, fam, sizeof fam);
            header(f, fam, d[i].description, d[i].kind, om);
            samples(f, fam, "", &v[i]);
        }
        free(v);
    }
    /* User metrics, a family at a time (one HELP and TYPE each), in the
     * order they were first declared. */
    rows_t r = {0};
    scry__user_metrics_each(collect, &r);
    for (int i = 0; i < r.n; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = !strcmp(r.rows[j].fam, r.rows[i].fam);
        if (seen) continue;
        header(f, r.rows[i].fam, r.rows[i].help, r.rows[i].v.kind, om);
        for (int j = i; j < r.n; j++)
            if (!strcmp(r.rows[j].fam, r.rows[i].fam))
                samples(f, r.rows[j].fam, r.rows[j].labels, &r.rows[j].v);
    }
    for (int i = 0; i < r.n; i++) {
        free(r.rows[i].help);
        free(r.rows[i].labels);
    }
    free(r.rows);
    if (om) fputs("# EOF\n", f);
}
