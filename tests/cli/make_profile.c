/*
 * make_profile.c - writes a small pprof profile whose every number is known,
 * the ground truth for the tests of `scry top`, pprof_dump and the reader.
 *
 * The stacks are built to hit each rule of pprof's per-function sums
 * (see tools/scry/pprof_read.h), leaf first, with samples/count and
 * cpu/nanoseconds values (cpu = count x the 10 ms period):
 *   S1 hash<-work<-main, hash inlined into work (one location)   123
 *   S2 work<-main, labels thread=main                              45
 *   S3 fib<-fib<-fib<-main, recursion: fib's cum counts once       61
 *   S4 [libfoo.so.1]<-work<-main, a location with no lines          4
 *   S5 helper<-helper<-main, two functions of one name (a.c, b.c)   1
 *   S6 crc<-work<-main, crc inlined into work                       3
 *   S7 crc<-main, crc called for real: "(partial-inline)"           2
 *   S8 work<-main, value 0: counted in no sum                       0
 *   S9 work<-main again, the same stack as S2                       5
 * so the total is 244 samples (2.44s) and
 *   function      flat  cum      function      flat  cum
 *   hash           123  123      crc              5    5
 *   fib             61   61      [libfoo.so.1]    4    4
 *   work            50  180      helper           1    1
 *   main             0  244
 * Variants: --heap (alloc_space/bytes = count x 10000, alloc_objects/count,
 * default_sample_type alloc_space though it is not the last type), --raw
 * (no gzip), --corrupt KIND (a gzipped profile pprof must refuse: values,
 * location, function, string, dup).
 *
 * --threads writes a threads profile instead, the thread dump the library
 * writes to threads.pb.gz (one sample of value 1 per thread, labels tid,
 * thread_name, state, wait_object, wait_ns, stack), for `scry threads`:
 *   tid  name        state       wait                  stack
 *   101  main        running                           [libfoo.so.1]<-main
 *   102  io          poll        150 ms                poll_loop<-main
 *   150  stuck "gc"  sleeping                          none: "unavailable: did
 *                                                      not answer within 100 ms"
 *   203  ""          cond wait   0x7f12a4c0, 3.2 s     A
 *   204  worker-2    cond wait   0x7f12a4c0, 5 minutes A
 *   205  worker-1    cond wait   0x7f12a4c0, 2 ms      A
 *   206  worker-4    running                           A
 * where A is pthread_cond_wait [libc.so.6] <- queue_pop inlined into worker
 * (one location, two lines) <- start_thread [libc.so.6], and the samples
 * are written out of tid order. [libfoo.so.1] is a location without lines.
 * Usage: make_profile OUT [--heap | --threads] [--raw] [--corrupt KIND]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile profile_t;

static char *strs[64];
static size_t nstrs;

/* Index of s in the string table, added if new. */
static int64_t S(const char *s)
{
    for (size_t i = 0; i < nstrs; i++)
        if (!strcmp(strs[i], s)) return (int64_t)i;
    strs[nstrs] = (char *)s;
    return (int64_t)nstrs++;
}

static Perftools__Profiles__Function fns[8];
static Perftools__Profiles__Function *fnp[8];
static size_t nfns;

static uint64_t fn(const char *name, const char *file)
{
    Perftools__Profiles__Function *f = &fns[nfns];
    perftools__profiles__function__init(f);
    f->id = nfns + 1;
    f->name = S(name);
    f->system_name = f->name;
    f->filename = S(file);
    f->start_line = 1;
    fnp[nfns] = f;
    return ++nfns;
}

static Perftools__Profiles__Location locs[16];
static Perftools__Profiles__Location *locp[16];
static Perftools__Profiles__Line lines[16][2];
static Perftools__Profiles__Line *linep[16][2];
static size_t nlocs;

/* A location with up to two lines, innermost first (f2 0: one line; f1 0:
 * none). */
static uint64_t loc(uint64_t mapping, uint64_t addr, uint64_t f1, int64_t l1, uint64_t f2,
                    int64_t l2)
{
    Perftools__Profiles__Location *l = &locs[nlocs];
    perftools__profiles__location__init(l);
    l->id = nlocs + 1;
    l->mapping_id = mapping;
    l->address = addr;
    uint64_t f[2] = {f1, f2};
    int64_t ln[2] = {l1, l2};
    for (int k = 0; k < 2 && f[k]; k++) {
        perftools__profiles__line__init(&lines[nlocs][k]);
        lines[nlocs][k].function_id = f[k];
        lines[nlocs][k].line = ln[k];
        linep[nlocs][k] = &lines[nlocs][k];
        l->n_line++;
    }
    l->line = linep[nlocs];
    locp[nlocs] = l;
    return ++nlocs;
}

static Perftools__Profiles__Sample samples[16];
static Perftools__Profiles__Sample *samplep[16];
static uint64_t stacks[16][4];
static int64_t values[16][2];
static size_t nsamples;

static Perftools__Profiles__Sample *sample(int64_t count, int64_t v2, uint64_t a, uint64_t b,
                                           uint64_t c, uint64_t d)
{
    Perftools__Profiles__Sample *s = &samples[nsamples];
    perftools__profiles__sample__init(s);
    uint64_t ids[4] = {a, b, c, d};
    for (int k = 0; k < 4 && ids[k]; k++)
        stacks[nsamples][s->n_location_id++] = ids[k];
    s->location_id = stacks[nsamples];
    values[nsamples][0] = count;
    values[nsamples][1] = v2;
    s->value = values[nsamples];
    s->n_value = 2;
    samplep[nsamples++] = s;
    return s;
}

/* ---- --threads ---------------------------------------------------------- */

static Perftools__Profiles__Label tlabs[16][6], *tlabp[16][6];

/* Labels one thread's sample (value 1) as the library does: obj NULL, wait
 * -1 and stack NULL leave their label out. */
static void thread(Perftools__Profiles__Sample *s, int64_t tid, const char *name, const char *state,
                   const char *obj, int64_t wait, const char *stack)
{
    size_t i = (size_t)(s - samples);
    Perftools__Profiles__Label *l = tlabs[i];
    for (int k = 0; k < 6; k++) {
        perftools__profiles__label__init(&l[k]);
        tlabp[i][k] = &l[k];
    }
    size_t n = 0;
    l[n].key = S("tid"), l[n++].num = tid;
    l[n].key = S("thread_name"), l[n++].str = S(name);
    l[n].key = S("state"), l[n++].str = S(state);
    if (obj) l[n].key = S("wait_object"), l[n++].str = S(obj);
    if (wait >= 0) l[n].key = S("wait_ns"), l[n].num = wait, l[n++].num_unit = S("nanoseconds");
    if (stack) l[n].key = S("stack"), l[n++].str = S(stack);
    s->label = tlabp[i];
    s->n_label = n;
    s->n_value = 1;
}

/* Fills p with the threads profile at the top of the file, the caller's
 * two mappings (app, libfoo) and a third, libc's. */
static void threads_profile(profile_t *p, Perftools__Profiles__Mapping *maps)
{
    static Perftools__Profiles__Mapping libc;
    static Perftools__Profiles__Mapping *mapp[3];
    perftools__profiles__mapping__init(&libc);
    libc.id = 3;
    libc.memory_start = 0x7f1000000000;
    libc.memory_limit = libc.memory_start + 0x200000;
    libc.filename = S("/lib/x86_64-linux-gnu/libc.so.6");
    libc.has_functions = 1;
    mapp[0] = &maps[0], mapp[1] = &maps[1], mapp[2] = &libc;

    /* libc's functions have no file: they are shown as "[libc.so.6]". */
    uint64_t f_main = fn("main", "src/main.c"), f_worker = fn("worker", "src/pool.c");
    uint64_t f_pop = fn("queue_pop", "src/queue.h"), f_poll = fn("poll_loop", "src/io.c");
    uint64_t f_cwait = fn("pthread_cond_wait", ""), f_start = fn("start_thread", "");

    uint64_t L_cwait = loc(3, 0x7f1000012340, f_cwait, 0, 0, 0);
    uint64_t L_pop = loc(1, 0x401a10, f_pop, 12, f_worker, 40);
    uint64_t L_start = loc(3, 0x7f1000094ac0, f_start, 0, 0, 0);
    uint64_t L_foo = loc(2, 0x7f0000001000, 0, 0, 0, 0);
    uint64_t L_main = loc(1, 0x401b00, f_main, 10, 0, 0);
    uint64_t L_poll = loc(1, 0x401c00, f_poll, 7, 0, 0);

    const char *obj = "0x7f12a4c0";
    thread(sample(1, 0, L_cwait, L_pop, L_start, 0), 205, "worker-1", "cond wait", obj, 2500000,
           NULL);
    thread(sample(1, 0, L_foo, L_main, 0, 0), 101, "main", "running", NULL, -1, NULL);
    thread(sample(1, 0, L_cwait, L_pop, L_start, 0), 203, "", "cond wait", obj, 3200000000, NULL);
    thread(sample(1, 0, 0, 0, 0, 0), 150, "stuck \"gc\"", "sleeping", NULL, -1,
           "unavailable: did not answer within 100 ms");
    thread(sample(1, 0, L_cwait, L_pop, L_start, 0), 204, "worker-2", "cond wait", obj,
           300000000000, NULL);
    thread(sample(1, 0, L_poll, L_main, 0, 0), 102, "io", "poll", NULL, 150000000, NULL);
    thread(sample(1, 0, L_cwait, L_pop, L_start, 0), 206, "worker-4", "running", NULL, -1, NULL);

    static Perftools__Profiles__ValueType vt, *vtp[1] = {&vt};
    perftools__profiles__value_type__init(&vt);
    vt.type = S("threads"), vt.unit = S("count");
    p->sample_type = vtp;
    p->n_sample_type = 1;
    p->period_type = &vt;
    p->period = 1;
    p->default_sample_type = vt.type;
    p->time_nanos = 1700000000LL * 1000000000LL;
    static int64_t comment;
    comment = S("made by tests/cli/make_profile --threads");
    p->comment = &comment;
    p->n_comment = 1;
    p->mapping = mapp;
    p->n_mapping = 3;
    p->function = fnp;
    p->n_function = nfns;
    p->location = locp;
    p->n_location = nlocs;
    p->sample = samplep;
    p->n_sample = nsamples;
}

/* Packs p, with the string table, into out: gzipped unless raw. 0, or 1
 * after saying why. */
static int write_profile(profile_t *p, const char *out, int raw)
{
    p->string_table = strs;
    p->n_string_table = nstrs;
    size_t len = perftools__profiles__profile__get_packed_size(p);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return 1;
    perftools__profiles__profile__pack(p, buf);
    int ok;
    if (raw) {
        FILE *f = fopen(out, "wb");
        ok = f && fwrite(buf, 1, len, f) == len;
        ok = f && fclose(f) == 0 && ok;
    } else {
        gzFile gz = gzopen(out, "wb");
        ok = gz && gzwrite(gz, buf, (unsigned)len) == (int)len;
        ok = gz && gzclose(gz) == Z_OK && ok;
    }
    free(buf);
    if (!ok) {
        perror(out);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *corrupt = NULL;
    int heap = 0, raw = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--heap"))
            heap = 1;
        else if (!strcmp(argv[i], "--threads"))
            threads = 1;
        else if (!strcmp(argv[i], "--raw"))
            raw = 1;
        else if (!strcmp(argv[i], "--corrupt") && i + 1 < argc)
            corrupt = argv[++i];
        else if (!out && argv[i][0] != '-')
            out = argv[i];
        else
            out = NULL, i = argc;
    }
    if (!out || (threads && (heap || corrupt))) {
        fprintf(stderr, "usage: make_profile OUT [--heap | --threads] [--raw] [--corrupt KIND]\n");
        return 2;
    }

    S("");
    Perftools__Profiles__Mapping maps[2], *mapp[2] = {&maps[0], &maps[1]};
    const char *mfile[2] = {"/usr/bin/app", "/usr/lib/libfoo.so.1"};
    const char *mbuild[2] = {"b1d0a11ce0ffee", "f00dfeed"};
    uint64_t mstart[2] = {0x400000, 0x7f0000000000};
    for (int i = 0; i < 2; i++) {
        perftools__profiles__mapping__init(&maps[i]);
        maps[i].id = (uint64_t)i + 1;
        maps[i].memory_start = mstart[i];
        maps[i].memory_limit = mstart[i] + 0x100000;
        maps[i].filename = S(mfile[i]);
        maps[i].build_id = S(mbuild[i]);
        maps[i].has_functions = maps[i].has_filenames = maps[i].has_line_numbers = i == 0;
        maps[i].has_inline_frames = i == 0;
    }
    if (threads) {
        profile_t p;
        perftools__profiles__profile__init(&p);
        threads_profile(&p, maps);
        return write_profile(&p, out, raw);
    }

    uint64_t f_main = fn("main", "src/main.c"), f_work = fn("work", "src/work.c");
    uint64_t f_hash = fn("hash", "src/hash.h"), f_fib = fn("fib", "src/fib.c");
    uint64_t f_help_a = fn("helper", "src/a.c"), f_help_b = fn("helper", "src/b.c");
    uint64_t f_crc = fn("crc", "src/crc.c");

    uint64_t L_main = loc(1, 0x401000, f_main, 10, 0, 0);
    uint64_t L_work = loc(1, 0x401100, f_work, 20, 0, 0);
    uint64_t L_hash = loc(1, 0x401200, f_hash, 5, f_work, 25);
    uint64_t L_fib1 = loc(1, 0x401300, f_fib, 3, 0, 0);
    uint64_t L_fib2 = loc(1, 0x401310, f_fib, 4, 0, 0);
    uint64_t L_foo = loc(2, 0x7f0000001000, 0, 0, 0, 0);
    uint64_t L_help_a = loc(1, 0x401400, f_help_a, 1, 0, 0);
    uint64_t L_help_b = loc(1, 0x401500, f_help_b, 2, 0, 0);
    uint64_t L_crc_inl = loc(1, 0x401600, f_crc, 3, f_work, 27);
    uint64_t L_crc = loc(1, 0x401700, f_crc, 4, 0, 0);

    /* Second value: cpu ns, or heap bytes; see the top of the file. */
    int64_t unit2 = heap ? 10000 : 10000000;
    static const int64_t count[] = {123, 45, 61, 4, 1, 3, 2, 0, 5};
    Perftools__Profiles__Sample *s1 = sample(count[0], 0, L_hash, L_main, 0, 0);
    Perftools__Profiles__Sample *s2 = sample(count[1], 0, L_work, L_main, 0, 0);
    sample(count[2], 0, L_fib1, L_fib2, L_fib1, L_main);
    sample(count[3], 0, L_foo, L_work, L_main, 0);
    sample(count[4], 0, L_help_a, L_help_b, L_main, 0);
    sample(count[5], 0, L_crc_inl, L_main, 0, 0);
    sample(count[6], 0, L_crc, L_main, 0, 0);
    sample(count[7], 0, L_work, L_main, 0, 0);
    sample(count[8], 0, L_work, L_main, 0, 0);
    for (size_t i = 0; i < nsamples; i++) {
        values[i][1] = values[i][0] * unit2;
        if (heap) { /* bytes first, so that the default is not the last type */
            values[i][0] = values[i][1];
            values[i][1] = count[i];
        }
    }

    Perftools__Profiles__Label lab[3], *lab1[2] = {&lab[0], &lab[1]}, *lab2[1] = {&lab[2]};
    for (int i = 0; i < 3; i++)
        perftools__profiles__label__init(&lab[i]);
    lab[0].key = S("thread");
    lab[0].str = S("worker");
    lab[1].key = S("tid");
    lab[1].num = 7;
    lab[2].key = S("thread");
    lab[2].str = S("main");
    s1->label = lab1;
    s1->n_label = 2;
    s2->label = lab2;
    s2->n_label = 1;

    Perftools__Profiles__ValueType vt[3], *vtp[2] = {&vt[0], &vt[1]};
    for (int i = 0; i < 3; i++)
        perftools__profiles__value_type__init(&vt[i]);
    profile_t p;
    perftools__profiles__profile__init(&p);
    if (heap) {
        vt[0].type = S("alloc_space"), vt[0].unit = S("bytes");
        vt[1].type = S("alloc_objects"), vt[1].unit = S("count");
        vt[2].type = S("space"), vt[2].unit = S("bytes");
        p.default_sample_type = S("alloc_space");
        p.period = 524288;
    } else {
        vt[0].type = S("samples"), vt[0].unit = S("count");
        vt[1].type = S("cpu"), vt[1].unit = S("nanoseconds");
        vt[2].type = S("cpu"), vt[2].unit = S("nanoseconds");
        p.period = 10000000;
        p.duration_nanos = 2500000000;
    }
    p.sample_type = vtp;
    p.n_sample_type = 2;
    p.period_type = &vt[2];
    p.time_nanos = 1700000000LL * 1000000000LL;
    int64_t comments[2] = {S("made by tests/cli/make_profile"), S("# pprof hides this comment")};
    p.comment = comments;
    p.n_comment = 2;
    p.mapping = mapp;
    p.n_mapping = 2;
    p.function = fnp;
    p.n_function = nfns;
    p.location = locp;
    p.n_location = nlocs;
    p.sample = samplep;
    p.n_sample = nsamples;

    if (corrupt) {
        if (!strcmp(corrupt, "values"))
            samples[1].n_value = 1; /* one value for two sample types */
        else if (!strcmp(corrupt, "location"))
            stacks[2][1] = 99; /* a location that does not exist */
        else if (!strcmp(corrupt, "function"))
            lines[L_hash - 1][1].function_id = 77;
        else if (!strcmp(corrupt, "string"))
            fns[f_fib - 1].name = 1000; /* past the string table */
        else if (!strcmp(corrupt, "dup"))
            fns[f_work - 1].id = f_main; /* two functions with id 1 */
        else {
            fprintf(stderr, "make_profile: unknown corruption '%s'\n", corrupt);
            return 2;
        }
    }
    return write_profile(&p, out, raw);
}
