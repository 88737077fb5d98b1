/*
 * top.c - `scry top`: the heaviest functions of a profile, in the layout of
 * `go tool pprof -top` (flat, flat%, sum%, cum, cum%, function).
 *
 * The point is that a user can check a profile without Go installed and get
 * the numbers pprof would give, so the output follows pprof's report rather
 * than inventing one: the same header lines, the same sums (pprof_read.c
 * builds them as pprof's graph does), the same order (flat, then name), the
 * same "(inline)" marks, the same percentages ("100%", "0.43%", "0"), and
 * one unit for the whole table chosen as pprof chooses it (the unit of the
 * smallest value shown, or one step up when that is under 1/100 of the
 * total), with values printed "%.2f" less a ".00". The deliberate
 * differences: sizes are printed in KiB/MiB/GiB (pprof says kB/MB/GB for
 * the same powers of 1024); values in units scry does not know are plain
 * numbers (pprof glues the unit on: "12objects"); and instead of pprof's
 * "drop functions under 0.5% of the total" scry shows the first -n rows,
 * 20 unless told, so that the table fits a terminal and nothing is hidden
 * by a rule the user did not ask for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "pprof_read.h"

#define DEFAULT_ROWS 20

static const char usage[] =
    "usage: scry top [--sample-index NAME] [-n N] [--cum] FILE\n"
    "\n"
    "Prints the functions of a pprof profile (gzipped or not) that hold the most\n"
    "samples, like `go tool pprof -top`: flat is the value in the function itself,\n"
    "cum in it and everything it calls; sum% adds up flat% down the table.\n"
    "Inlined functions count as functions of their own, marked (inline).\n"
    "\n"
    "  --sample-index NAME  which value to show, by type name (cpu, samples) or\n"
    "                       number (0, 1); default: the profile's default sample\n"
    "                       type, else its last, as pprof picks\n"
    "  -n N                 show the first N functions (default 20; 0 shows all)\n"
    "  --cum                sort by cum instead of flat\n"
    "  -h, --help           this text\n"
    "\n"
    "Times are shown in ns/us/ms/s/hrs, sizes in B/KiB/MiB/GiB, counts as numbers.\n";

#define bad(...) scry_cli_usage_error("top", usage, __VA_ARGS__)

/* ---- Units ----------------------------------------------------------- */

typedef struct {
    const char *name;
    double factor; /* in the family's base unit: nanoseconds or bytes */
} unit_t;

static const unit_t time_units[] = {
    {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"hrs", 3600e9}, {NULL, 0},
};
static const unit_t byte_units[] = {
    {"B", 1},
    {"KiB", 1024.0},
    {"MiB", 1024.0 * 1024},
    {"GiB", 1024.0 * 1024 * 1024},
    {"TiB", 1024.0 * 1024 * 1024 * 1024},
    {"PiB", 1024.0 * 1024 * 1024 * 1024 * 1024},
    {NULL, 0},
};

/* How the profile's values are scaled: the family of the sample unit (NULL
 * for counts and units scry does not know, printed as plain numbers), the
 * sample unit's size in the family's base, and the unit chosen for output. */
typedef struct {
    const unit_t *family;
    double from;
    const unit_t *out;
} scale_t;

/* Finds the family and factor of a unit as pprof names them ("nanoseconds",
 * "ms", "bytes", "kilobyte"): case does not matter, nor a plural "s". */
static void sniff_unit(const char *unit, scale_t *sc)
{
    static const struct {
        const char *alias;
        const unit_t *family;
        double factor;
    } aliases[] = {
        {"ns", time_units, 1},
        {"nanosecond", time_units, 1},
        {"us", time_units, 1e3},
        {"microsecond", time_units, 1e3},
        {"ms", time_units, 1e6},
        {"millisecond", time_units, 1e6},
        {"s", time_units, 1e9},
        {"sec", time_units, 1e9},
        {"second", time_units, 1e9},
        {"hr", time_units, 3600e9},
        {"hour", time_units, 3600e9},
        {"b", byte_units, 1},
        {"byte", byte_units, 1},
        {"kb", byte_units, 1024.0},
        {"kbyte", byte_units, 1024.0},
        {"kilobyte", byte_units, 1024.0},
        {"mb", byte_units, 1048576.0},
        {"megabyte", byte_units, 1048576.0},
        {"gb", byte_units, 1073741824.0},
        {"gigabyte", byte_units, 1073741824.0},
    };
    char u[32];
    size_t n = strlen(unit);
    sc->family = NULL;
    sc->from = 1;
    sc->out = NULL;
    if (n >= sizeof u) return;
    for (size_t i = 0; i <= n; i++)
        u[i] = (char)((unit[i] >= 'A' && unit[i] <= 'Z') ? unit[i] + 32 : unit[i]);
    if (n > 2 && u[n - 1] == 's') u[n - 1] = 0;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(u, aliases[i].alias)) {
            sc->family = aliases[i].family;
            sc->from = aliases[i].factor;
            return;
        }
}

/* The largest unit in which v (in sample units) is at least 1; for 0, the
 * family's default (s for times, B for sizes) as pprof does. */
static const unit_t *auto_unit(const scale_t *sc, double v)
{
    const unit_t *best = NULL;
    double base = fabs(v) * sc->from;
    for (const unit_t *u = sc->family; u->name; u++)
        if (base / u->factor >= 1.0) best = u;
    if (best) return best;
    return sc->family == time_units ? &time_units[3] : &byte_units[0];
}

/* v in unit u (or plain): "%.2f", less a trailing ".00", "0" for zero. */
static void label(char *buf, size_t len, int64_t v, const scale_t *sc, const unit_t *u)
{
    double x = (double)v;
    if (sc->family && u) x = x * sc->from / u->factor;
    snprintf(buf, len, "%.2f", x);
    size_t n = strlen(buf);
    if (n > 3 && !strcmp(buf + n - 3, ".00")) buf[n -= 3] = 0;
    if (!strcmp(buf, "0") || !strcmp(buf, "-0")) return;
    if (sc->family && u) snprintf(buf + n, len - n, "%s", u->name);
}

/* pprof's percentage: "  100%" near 100, two decimals from 1, two
 * significant digits below ("0.43%", "    0%" for zero). */
static void percent(char *buf, size_t len, int64_t v, int64_t total)
{
    double r = total ? fabs((double)v / (double)total) * 100 : 0;
    if (r >= 99.95 && r <= 100.05)
        snprintf(buf, len, "  100%%");
    else if (r >= 1.0)
        snprintf(buf, len, "%5.2f%%", r);
    else
        snprintf(buf, len, "%5.2g%%", r);
}

static const char *trim(const char *s)
{
    while (*s == ' ')
        s++;
    return s;
}

static int64_t abs64(int64_t v)
{
    return v == INT64_MIN ? INT64_MAX : v < 0 ? -v : v;
}

/* Sums saturate, as pprof_read.c's do: a hostile file must not overflow. */
static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* ---- Ordering -------------------------------------------------------- */

/* pprof's FlatNameOrder and CumNameOrder: the key, then the name, then the
 * other value; names are unique, so the order is total. */
static int by_flat(const void *a, const void *b)
{
    const scry_func_stat_t *x = a, *y = b;
    if (abs64(x->flat) != abs64(y->flat)) return abs64(x->flat) < abs64(y->flat) ? 1 : -1;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return abs64(x->cum) < abs64(y->cum) ? 1 : abs64(x->cum) > abs64(y->cum) ? -1 : 0;
}

static int by_cum(const void *a, const void *b)
{
    const scry_func_stat_t *x = a, *y = b;
    if (abs64(x->cum) != abs64(y->cum)) return abs64(x->cum) < abs64(y->cum) ? 1 : -1;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return abs64(x->flat) < abs64(y->flat) ? 1 : abs64(x->flat) > abs64(y->flat) ? -1 : 0;
}

/* ---- The report -------------------------------------------------------- */

/* pprof's selectOutputUnit over the rows shown. */
static void choose_unit(scale_t *sc, const scry_func_stat_t *st, long shown, int64_t total)
{
    if (!sc->family) return;
    int64_t minv = 0;
    for (long i = 0; i < shown; i++) {
        int64_t v = st[i].flat ? abs64(st[i].flat) : abs64(st[i].cum);
        if (v > 0 && (minv == 0 || v < minv)) minv = v;
    }
    if (minv == 0) minv = total;
    const unit_t *lo = auto_unit(sc, (double)minv), *hi = auto_unit(sc, (double)total);
    sc->out = lo;
    if (lo != hi && (double)minv * 100 < (double)total) sc->out = auto_unit(sc, (double)minv * 100);
}

static void print_header(const scry_pprof_t *p, int idx, const scale_t *sc, int64_t total)
{
    const Perftools__Profiles__Profile *m = p->pb;
    if (m->n_mapping) {
        const char *file = scry_pprof_str(p, m->mapping[0]->filename);
        const char *id = scry_pprof_str(p, m->mapping[0]->build_id);
        const char *slash = strrchr(file, '/');
        if (*file) printf("File: %s\n", slash ? slash + 1 : file);
        if (*id) printf("Build ID: %s\n", id);
    }
    for (size_t i = 0; i < m->n_comment; i++) {
        const char *c = scry_pprof_str(p, m->comment[i]);
        if (c[0] != '#') printf("%s\n", c); /* pprof hides comments that start with '#' */
    }
    printf("Type: %s\n", scry_pprof_str(p, m->sample_type[idx]->type));
    if (m->time_nanos) {
        time_t t = (time_t)(m->time_nanos / 1000000000);
        struct tm tm;
        char when[64];
        if (localtime_r(&t, &tm) && strftime(when, sizeof when, "%b %-d, %Y at %-I:%M%P (%Z)", &tm))
            printf("Time: %s\n", when);
    }
    char a[48], b[48], c[16];
    if (m->duration_nanos) {
        scale_t ns = {time_units, 1, NULL};
        label(a, sizeof a, m->duration_nanos, &ns, auto_unit(&ns, (double)m->duration_nanos));
        label(b, sizeof b, total, sc, sc->out);
        if (sc->family == time_units) {
            /* total in nanoseconds against the duration: the share of wall
             * time that was sampled, over 100% when several threads ran */
            double tns = (double)total * sc->from;
            percent(c, sizeof c, tns > 9e18 ? INT64_MAX : (int64_t)tns, m->duration_nanos);
            printf("Duration: %s, Total samples = %s (%s)\n", a, b, trim(c));
        } else {
            printf("Duration: %s, Total samples = %s\n", a, b);
        }
    }
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
    long rows = DEFAULT_ROWS;
    int cum = 0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'S':
            if (!*optarg) return bad("--sample-index needs a sample type name or number");
            index_name = optarg;
            break;
        case 'C':
            cum = 1;
            break;
        case 'n':
            if (scry_cli_rows("top", usage, optarg, &rows)) return 2;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default: return scry_cli_option_error("top", usage, c, argv);
        }
    }
    scry_pprof_t *p;
    int rc = scry_cli_load_profile("top", usage, "scry: ", argc, argv, &p);
    if (rc) return rc;
    const char *path = argv[optind];
    const Perftools__Profiles__Profile *m = p->pb;
    if (m->n_sample_type == 0) {
        fprintf(stderr, "scry: %s: the profile has no sample types, so nothing to show\n", path);
        scry_pprof_free(p);
        return 1;
    }
    int idx = scry_pprof_sample_index(p, index_name);
    if (idx < 0) {
        char types[256] = "";
        size_t at = 0;
        for (size_t i = 0; i < m->n_sample_type && at < sizeof types; i++)
            at += (size_t)snprintf(types + at, sizeof types - at, "%s%s", i ? ", " : "",
                                   scry_pprof_str(p, m->sample_type[i]->type));
        int rc = bad("%s has no sample type '%s' (it has: %s; or a number 0 to %zu)", path,
                     index_name, types, m->n_sample_type - 1);
        scry_pprof_free(p);
        return rc;
    }

    scry_func_stat_t *st;
    int64_t total;
    long n = scry_pprof_func_stats(p, idx, &st, &total);
    if (n < 0) {
        fprintf(stderr, "scry: %s: out of memory summing the profile\n", path);
        scry_pprof_free(p);
        return 1;
    }
    qsort(st, (size_t)n, sizeof *st, cum ? by_cum : by_flat);
    long shown = rows == 0 || rows > n ? n : rows;

    scale_t sc;
    sniff_unit(scry_pprof_str(p, m->sample_type[idx]->unit), &sc);
    choose_unit(&sc, st, shown, total);
    print_header(p, idx, &sc, total);

    char a[48], b[48], pa[16], pb[16], pc[16];
    int64_t flat_sum = 0;
    for (long i = 0; i < shown; i++)
        flat_sum = sat_add(flat_sum, st[i].flat);
    label(a, sizeof a, flat_sum, &sc, sc.out);
    label(b, sizeof b, total, &sc, sc.out);
    percent(pa, sizeof pa, flat_sum, total);
    printf("Showing nodes accounting for %s, %s of %s total\n", a, trim(pa), b);
    if (shown < n) printf("Showing top %ld nodes out of %ld\n", shown, n);
    printf("%10s %5s%% %5s%% %10s %5s%%\n", "flat", "flat", "sum", "cum", "cum");
    flat_sum = 0;
    for (long i = 0; i < shown; i++) {
        flat_sum = sat_add(flat_sum, st[i].flat);
        label(a, sizeof a, st[i].flat, &sc, sc.out);
        label(b, sizeof b, st[i].cum, &sc, sc.out);
        percent(pa, sizeof pa, st[i].flat, total);
        percent(pb, sizeof pb, flat_sum, total);
        percent(pc, sizeof pc, st[i].cum, total);
        const char *mark = !st[i].inlined ? "" : st[i].called ? " (partial-inline)" : " (inline)";
        printf("%10s %s %s %10s %s  %s%s\n", a, pa, pb, b, pc, st[i].name, mark);
    }
    free(st);
    scry_pprof_free(p);
    return 0;
}
