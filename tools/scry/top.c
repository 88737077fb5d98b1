/*
 * top.c - `scry top`: the heaviest functions of a profile, in the layout of
 * `go tool pprof -top` (flat, flat%, sum%, cum, cum%, function), with
 * nanoseconds and bytes in readable units.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "pprof_read.h"

static const char usage[] =
    "usage: scry top [--sample-index NAME] [-n N] [--cum] FILE\n"
    "\n"
    "Prints the functions of a pprof profile with the most samples, like\n"
    "`go tool pprof -top`: flat (in the function itself), cum (in it and what it calls).\n"
    "\n"
    "  --sample-index NAME  which value to show (e.g. cpu, samples); default: the\n"
    "                       profile's default sample type\n"
    "  -n N                 show N functions (default 20; 0 for all)\n"
    "  --cum                sort by cum instead of flat\n"
    "  -h, --help           this text\n";

#define bad(...) scry_cli_usage_error("top", usage, __VA_ARGS__)

/* "%.2f" of x with trailing zeros dropped, then the suffix: 1.5s, 470ms. */
static void fmt_scaled(char *buf, size_t len, double x, const char *suffix)
{
    char num[32];
    snprintf(num, sizeof num, "%.2f", x);
    char *end = num + strlen(num);
    while (end[-1] == '0') *--end = 0;
    if (end[-1] == '.') *--end = 0;
    snprintf(buf, len, "%s%s", num, suffix);
}

/* Formats v in unit into buf: ns/us/ms/s, B/KiB/MiB/GiB, or a plain number. */
static void fmt_value(char *buf, size_t len, int64_t v, const char *unit)
{
    if (v == 0) {
        snprintf(buf, len, "0");
        return;
    }
    double a = v < 0 ? -(double)v : (double)v;
    if (!strcmp(unit, "nanoseconds")) {
        if (a < 1e3)
            snprintf(buf, len, "%lldns", (long long)v);
        else if (a < 1e6)
            fmt_scaled(buf, len, v / 1e3, "us");
        else if (a < 1e9)
            fmt_scaled(buf, len, v / 1e6, "ms");
        else
            fmt_scaled(buf, len, v / 1e9, "s");
    } else if (!strcmp(unit, "bytes")) {
        if (a < 1024)
            snprintf(buf, len, "%lldB", (long long)v);
        else if (a < 1024.0 * 1024)
            fmt_scaled(buf, len, v / 1024.0, "KiB");
        else if (a < 1024.0 * 1024 * 1024)
            fmt_scaled(buf, len, v / (1024.0 * 1024), "MiB");
        else
            fmt_scaled(buf, len, v / (1024.0 * 1024 * 1024), "GiB");
    } else {
        snprintf(buf, len, "%lld", (long long)v);
    }
}

static int sort_cum;

static int cmp(const void *a, const void *b)
{
    const scry_func_stat_t *x = a, *y = b;
    int64_t kx = sort_cum ? x->cum : x->flat, ky = sort_cum ? y->cum : y->flat;
    if (kx != ky) return kx < ky ? 1 : -1;
    int64_t sx = sort_cum ? x->flat : x->cum, sy = sort_cum ? y->flat : y->cum;
    if (sx != sy) return sx < sy ? 1 : -1;
    return strcmp(x->name, y->name);
}

static double pct(int64_t v, int64_t total)
{
    return total ? 100.0 * (double)v / (double)total : 0.0;
}

int scry_cmd_top(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sample-index", required_argument, NULL, 'S'},
        {"cum", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *index_name = NULL;
    long rows = 20;
    sort_cum = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'S': index_name = optarg; break;
        case 'C': sort_cum = 1; break;
        case 'n': {
            char *end;
            rows = strtol(optarg, &end, 10);
            if (!*optarg || *end || rows < 0)
                return bad("-n needs a whole number, 0 or more, not '%s'", optarg);
            break;
        }
        case 'h': fputs(usage, stdout); return 0;
        case ':': return bad("option '%s' needs a value", argv[optind - 1]);
        default: return bad("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return bad("no profile file given");
    if (optind + 1 < argc) return bad("one profile file at a time ('%s' is extra)", argv[optind + 1]);
    const char *path = argv[optind];

    char err[512];
    scry_profile_t *p;
    if (scry_pprof_load(path, &p, err, sizeof err) < 0) {
        fprintf(stderr, "scry: %s\n", err);
        return 1;
    }
    int idx = scry_pprof_sample_index(p, index_name);
    if (idx < 0) {
        fprintf(stderr, "scry top: %s has no sample type '%s' (it has:", path,
                index_name ? index_name : "");
        for (size_t i = 0; i < p->n_sample_type; i++)
            fprintf(stderr, " %s", scry_pprof_str(p, p->sample_type[i]->type));
        fprintf(stderr, ")\n");
        scry_pprof_free(p);
        return 2;
    }
    const char *unit = scry_pprof_str(p, p->sample_type[idx]->unit);
    scry_func_stat_t *st;
    int64_t total;
    long n = scry_pprof_func_stats(p, idx, &st, &total);
    if (n < 0) {
        fprintf(stderr, "scry: %s: out of memory\n", path);
        scry_pprof_free(p);
        return 1;
    }
    qsort(st, (size_t)n, sizeof *st, cmp);

    char a[32], b[32];
    if (p->n_mapping) {
        const char *file = scry_pprof_str(p, p->mapping[0]->filename);
        const char *base = strrchr(file, '/');
        printf("File: %s\n", base ? base + 1 : file);
    }
    printf("Type: %s\n", scry_pprof_str(p, p->sample_type[idx]->type));
    if (p->time_nanos) {
        time_t t = (time_t)(p->time_nanos / 1000000000);
        struct tm tm;
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", localtime_r(&t, &tm));
        printf("Time: %s\n", when);
    }
    fmt_value(a, sizeof a, total, unit);
    if (p->duration_nanos) {
        fmt_value(b, sizeof b, p->duration_nanos, "nanoseconds");
        if (!strcmp(unit, "nanoseconds"))
            printf("Duration: %s, Total samples = %s (%.2f%%)\n", b, a, pct(total, p->duration_nanos));
        else
            printf("Duration: %s\n", b);
    }
    long shown = rows == 0 || rows > n ? n : rows;
    int64_t shown_flat = 0;
    for (long i = 0; i < shown; i++) shown_flat += st[i].flat;
    fmt_value(b, sizeof b, shown_flat, unit);
    printf("Showing nodes accounting for %s, %.2f%% of %s total\n", b, pct(shown_flat, total), a);
    if (shown < n) printf("Dropped %ld functions (-n 0 shows all)\n", n - shown);
    printf("%10s %6s %6s %10s %6s\n", "flat", "flat%", "sum%", "cum", "cum%");
    double sum = 0;
    for (long i = 0; i < shown; i++) {
        sum += pct(st[i].flat, total);
        fmt_value(a, sizeof a, st[i].flat, unit);
        fmt_value(b, sizeof b, st[i].cum, unit);
        printf("%10s %5.2f%% %5.2f%% %10s %5.2f%%  %s\n", a, pct(st[i].flat, total), sum, b,
               pct(st[i].cum, total), *st[i].name ? st[i].name : "<unknown>");
    }
    free(st);
    scry_pprof_free(p);
    return 0;
}
