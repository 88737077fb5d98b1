/*
 * threads.c - `scry threads`: the thread dump held in a threads.pb.gz, as
 * text a person reads while the program is stuck.
 *
 * The library writes the threads profile the way Go writes its goroutine
 * profile: one sample of value 1 per thread, its stack leaf first (no
 * locations when the thread did not answer), and labels saying who the
 * thread is and what it waits for: "tid", "thread_name", "state", and when
 * known "wait_object", "wait_ns" and, for a missing stack, "stack" (why).
 * So the text follows Go's /debug/pprof/goroutine, which Go users already
 * read without a manual:
 *
 *   --debug 1  threads grouped by stack (the sequence of location
 *              addresses), the biggest group first: "N @ addr...", one
 *              "#" line per frame, then the states of the group's threads.
 *              When a thousand workers park in one place, that is one
 *              group, and the thread that holds them up stands alone.
 *   --debug 2  every thread, by tid: "thread TID "NAME" [STATE on OBJECT,
 *              DURATION]:" and its frames, like Go's goroutine dump.
 *
 * Where scry differs from Go: columns are separated by one tab (Go passes
 * debug=1 through a tabwriter), frames show no "+0x offset" (pprof
 * locations carry no function entry), and wait durations below a minute
 * are shown ("2 ms", "3.2 s") where Go shows only whole minutes, because a
 * lock held for 3 s is already the story. Every duration is truncated, as
 * Go's minutes are, so that a dump never claims a wait longer than it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pprof_read.h"

static const char usage[] =
    "usage: scry threads [--debug 1|2] FILE\n"
    "\n"
    "Prints the thread dump in a threads profile (threads.pb.gz, written by\n"
    "scry run -p threads), in the layout of Go's /debug/pprof/goroutine.\n"
    "\n"
    "  --debug 2   every thread, by thread id: its name, its state (what it\n"
    "              waits for, on which object, for how long) and its stack\n"
    "              (the default)\n"
    "  --debug 1   threads grouped by stack, the largest group first, with\n"
    "              the states of each group's threads\n"
    "  -h, --help  this text\n";

#define bad(...) scry_cli_usage_error("threads", usage, __VA_ARGS__)

typedef Perftools__Profiles__Sample sample_t;

/* What the labels of one sample say. Strings point into the profile. */
typedef struct {
    const sample_t *s;
    size_t pos;    /* the sample's place in the file, to break ties */
    int64_t value; /* threads in the sample: 1 as scry writes it */
    int has_tid;
    int64_t tid;
    const char *name;        /* "" when the thread has none */
    const char *state;       /* "unknown" when the label is missing */
    const char *wait_object; /* NULL when not known */
    int has_wait;
    int64_t wait_ns;
    const char *stack_note; /* the "stack" label, NULL when absent */
} thread_t;

static void read_labels(const scry_pprof_t *p, size_t pos, int idx, thread_t *t)
{
    const sample_t *s = p->pb->sample[pos];
    memset(t, 0, sizeof *t);
    t->s = s;
    t->pos = pos;
    t->value = s->value[idx];
    t->name = "";
    t->state = "unknown";
    /* Backwards, so that a key given twice keeps its first value. */
    for (size_t i = s->n_label; i-- > 0;) {
        const Perftools__Profiles__Label *l = s->label[i];
        const char *key = scry_pprof_str(p, l->key);
        const char *str = scry_pprof_str(p, l->str);
        if (!strcmp(key, "tid")) {
            t->has_tid = 1, t->tid = l->num;
        } else if (!strcmp(key, "thread_name")) {
            t->name = str;
        } else if (!strcmp(key, "state")) {
            t->state = *str ? str : "unknown";
        } else if (!strcmp(key, "wait_object")) {
            t->wait_object = *str ? str : NULL;
        } else if (!strcmp(key, "wait_ns")) {
            t->has_wait = 1, t->wait_ns = l->num < 0 ? 0 : l->num;
        } else if (!strcmp(key, "stack")) {
            t->stack_note = str;
        }
    }
}

/* "2 ms", "3.2 s", "5 minutes": truncated, never rounded up. */
static void duration(char *buf, size_t len, int64_t ns)
{
    if (ns < 1000000000)
        snprintf(buf, len, "%" PRId64 " ms", ns / 1000000);
    else if (ns < 60 * (int64_t)1000000000)
        snprintf(buf, len, "%" PRId64 ".%" PRId64 " s", ns / 1000000000, ns / 100000000 % 10);
    else
        snprintf(buf, len, "%" PRId64 " minutes", ns / (60 * (int64_t)1000000000));
}

/* Where line k of location l is: "file:line", else "[binary]" from the
 * mapping, else "". The name column already says "[binary]" for a frame
 * without a function name, so it is not said twice. */
static void where(const scry_pprof_t *p, const scry_pb_location_t *l, size_t k, char *buf,
                  size_t len)
{
    buf[0] = 0;
    if (k < l->n_line) {
        const Perftools__Profiles__Line *ln = l->line[k];
        const scry_pb_function_t *f = scry_pprof_function(p, ln->function_id);
        const char *file = f ? scry_pprof_str(p, f->filename) : "";
        if (*file) {
            if (ln->line > 0)
                snprintf(buf, len, "%s:%" PRId64, file, ln->line);
            else
                snprintf(buf, len, "%s", file);
            return;
        }
    }
    const char *name = scry_pprof_frame_name(p, l, k);
    const scry_pb_mapping_t *m = scry_pprof_mapping(p, l->mapping_id);
    const char *file = m ? scry_pprof_str(p, m->filename) : "";
    if (!*file) return;
    const char *slash = strrchr(file, '/');
    snprintf(buf, len, "[%s]", slash && slash[1] ? slash + 1 : file);
    if (!strcmp(buf, name)) buf[0] = 0;
}

/* Every frame of a sample, leaf first and innermost inlined function
 * first, as pprof stores them: one per line, one for a location without
 * lines. grouped: debug=1's "#<tab>address<tab>" lines, else debug=2's. */
static void print_frames(const scry_pprof_t *p, const sample_t *s, int grouped)
{
    char at[4096];
    for (size_t i = 0; i < s->n_location_id; i++) {
        const scry_pb_location_t *l = scry_pprof_location(p, s->location_id[i]); /* validated */
        size_t n = l->n_line ? l->n_line : 1;
        for (size_t k = 0; k < n; k++) {
            const char *name = scry_pprof_frame_name(p, l, k);
            where(p, l, k, at, sizeof at);
            if (grouped)
                printf("#\t0x%" PRIx64 "\t%s%s%s\n", l->address, name, *at ? "\t" : "", at);
            else
                printf("\t%s%s%s\n", name, *at ? "\t" : "", at);
        }
    }
}

/* A thread name between quotes, with quotes, backslashes and bytes that
 * are not printable escaped: a name is whatever the program set (15 bytes
 * of prctl), and must not break the line it is on. */
static void print_quoted(const char *s)
{
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            printf("\\x%02x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

/* ---- debug=2: every thread --------------------------------------------- */

/* By tid; threads without one go last, in file order (qsort is not stable,
 * so the position in the file breaks ties). */
static int by_tid(const void *a, const void *b)
{
    const thread_t *x = a, *y = b;
    if (x->has_tid != y->has_tid) return x->has_tid ? -1 : 1;
    if (x->has_tid && x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void print_dump(const scry_pprof_t *p, thread_t *t, size_t n)
{
    qsort(t, n, sizeof *t, by_tid);
    for (size_t i = 0; i < n; i++) {
        if (t[i].has_tid)
            printf("thread %" PRId64 " ", t[i].tid);
        else
            printf("thread ? ");
        print_quoted(t[i].name);
        printf(" [%s", t[i].state);
        if (t[i].wait_object) printf(" on %s", t[i].wait_object);
        if (t[i].has_wait) {
            char d[64];
            duration(d, sizeof d, t[i].wait_ns);
            printf(", %s", d);
        }
        printf("]:\n");
        if (t[i].s->n_location_id) {
            print_frames(p, t[i].s, 0);
        } else {
            /* The library's label reads "unavailable: <why>"; the line
             * says "stack unavailable" itself. */
            const char *why = t[i].stack_note && *t[i].stack_note ? t[i].stack_note : "unknown";
            if (!strncmp(why, "unavailable: ", 13) && why[13]) why += 13;
            printf("\t(stack unavailable: %s)\n", why);
        }
        putchar('\n');
    }
}

/* ---- debug=1: threads grouped by stack ----------------------------------- */

typedef struct {
    const thread_t *t; /* the first thread of the group */
    size_t first, n;   /* its threads: by_stack order, [first, first + n) */
    int64_t count;     /* their values summed */
} group_t;

/* The location addresses of two stacks, compared as sequences: equal
 * sequences are one stack even when the locations differ (a writer may
 * repeat a location), a shorter prefix sorts first, no stack first of all. */
static int cmp_stacks(const scry_pprof_t *p, const sample_t *x, const sample_t *y)
{
    for (size_t i = 0; i < x->n_location_id && i < y->n_location_id; i++) {
        uint64_t a = scry_pprof_location(p, x->location_id[i])->address;
        uint64_t b = scry_pprof_location(p, y->location_id[i])->address;
        if (a != b) return a < b ? -1 : 1;
    }
    return x->n_location_id < y->n_location_id ? -1 : x->n_location_id > y->n_location_id;
}

/* Stacks, then file order: a group's first thread is its first in the file. */
static int by_stack(const void *a, const void *b, void *p)
{
    const thread_t *x = a, *y = b;
    int c = cmp_stacks(p, x->s, y->s);
    if (c) return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Most threads first; then by stack, except that threads without one come
 * after those with one: they are the least there is to read. */
static int by_count(const void *a, const void *b, void *p)
{
    const group_t *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    int xs = x->t->s->n_location_id != 0, ys = y->t->s->n_location_id != 0;
    if (xs != ys) return ys - xs;
    return cmp_stacks(p, x->t->s, y->t->s);
}

typedef struct {
    const char *state;
    int64_t count;
} state_count_t;

static int by_state_name(const void *a, const void *b)
{
    return strcmp(((const state_count_t *)a)->state, ((const state_count_t *)b)->state);
}

static int by_state_count(const void *a, const void *b)
{
    const state_count_t *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->state, y->state);
}

/* "# states: cond wait 3, running 1": the group's threads per state, most
 * first. sc has room for the group's threads. */
static void print_states(const thread_t *t, size_t n, state_count_t *sc)
{
    for (size_t i = 0; i < n; i++)
        sc[i] = (state_count_t){t[i].state, t[i].value};
    qsort(sc, n, sizeof *sc, by_state_name);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && !strcmp(sc[m - 1].state, sc[i].state))
            sc[m - 1].count += sc[i].count;
        else
            sc[m++] = sc[i];
    }
    qsort(sc, m, sizeof *sc, by_state_count);
    printf("# states:");
    for (size_t i = 0; i < m; i++)
        printf("%s %s %" PRId64, i ? "," : "", sc[i].state, sc[i].count);
    putchar('\n');
}

/* 0, or -1 when out of memory. */
static int print_groups(const scry_pprof_t *p, thread_t *t, size_t n)
{
    group_t *g = malloc((n ? n : 1) * sizeof *g);
    state_count_t *sc = malloc((n ? n : 1) * sizeof *sc);
    if (!g || !sc) {
        free(g);
        free(sc);
        return -1;
    }
    qsort_r(t, n, sizeof *t, by_stack, (void *)p);
    size_t ng = 0;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        /* Values are 1 per thread; a hostile file must not overflow. */
        if (__builtin_add_overflow(total, t[i].value, &total)) total = INT64_MAX;
        if (ng && !cmp_stacks(p, g[ng - 1].t->s, t[i].s)) {
            group_t *last = &g[ng - 1];
            last->n++;
            if (__builtin_add_overflow(last->count, t[i].value, &last->count))
                last->count = INT64_MAX;
        } else {
            g[ng++] = (group_t){&t[i], i, 1, t[i].value};
        }
    }
    qsort_r(g, ng, sizeof *g, by_count, (void *)p);

    printf("threads profile: total %" PRId64 "\n", total);
    for (size_t i = 0; i < ng; i++) {
        const sample_t *s = g[i].t->s;
        printf("%" PRId64 " @", g[i].count);
        for (size_t k = 0; k < s->n_location_id; k++)
            printf(" 0x%" PRIx64, scry_pprof_location(p, s->location_id[k])->address);
        putchar('\n');
        if (s->n_location_id)
            print_frames(p, s, 1);
        else
            printf("#\t(stack unavailable)\n");
        print_states(&t[g[i].first], g[i].n, sc);
        putchar('\n');
    }
    free(g);
    free(sc);
    return 0;
}

int scry_cmd_threads(int argc, char **argv)
{
    static const struct option opts[] = {
        {"debug", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int debug = 2;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'D':
            if (strcmp(optarg, "1") && strcmp(optarg, "2"))
                return bad("--debug is 1 (grouped by stack) or 2 (every thread), not '%s'", optarg);
            debug = optarg[0] - '0';
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default: return scry_cli_option_error("threads", usage, c, argv);
        }
    }
    scry_pprof_t *p;
    int loaded = scry_cli_load_profile("threads", usage, "scry threads: ", argc, argv, &p);
    if (loaded) return loaded;
    const char *path = argv[optind];
    const Perftools__Profiles__Profile *m = p->pb;
    int idx = -1;
    for (size_t i = 0; i < m->n_sample_type && idx < 0; i++)
        if (!strcmp(scry_pprof_str(p, m->sample_type[i]->type), "threads")) idx = (int)i;
    if (idx < 0) {
        char types[256] = "";
        size_t at = 0;
        for (size_t i = 0; i < m->n_sample_type && at < sizeof types; i++)
            at += (size_t)snprintf(types + at, sizeof types - at, "%s%s", i ? ", " : "",
                                   scry_pprof_str(p, m->sample_type[i]->type));
        fprintf(stderr,
                "scry threads: %s: not a threads profile (its sample types are: %s; "
                "scry top shows it)\n",
                path, m->n_sample_type ? types : "none");
        scry_pprof_free(p);
        return 1;
    }

    size_t n = m->n_sample;
    thread_t *t = malloc((n ? n : 1) * sizeof *t);
    int rc = t ? 0 : -1;
    for (size_t i = 0; t && i < n; i++)
        read_labels(p, i, idx, &t[i]);
    if (t && debug == 1)
        rc = print_groups(p, t, n);
    else if (t)
        print_dump(p, t, n);
    free(t);
    scry_pprof_free(p);
    if (rc < 0) {
        fprintf(stderr, "scry threads: %s: out of memory reading the threads\n", path);
        return 1;
    }
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "scry threads: writing the dump: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
