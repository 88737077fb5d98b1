/*
 * w3c_sampler.c - the samplers of span/w3c.c (scry__sampler_*), compiled
 * into this driver since libscry.so hides them.
 *
 * Ground truth, from OpenTelemetry's "TraceState: Probability Sampling",
 * "TraceState Handling", the SDK's samplers and its environment variables:
 *   - OTEL_TRACES_SAMPLER's six names; OTEL_TRACES_SAMPLER_ARG a number in
 *     [0, 1], 1.0 when unset; anything else is an error.
 *   - T = (1 - p) * 2^56 at the recommended precision, encoded as hex with
 *     trailing zeros removed; the specification's table: 0.5 -> 8,
 *     0.1 -> e666, 0.01 -> fd70a, 1/3 -> aaab, 1e-6 -> ffffef39, 1 -> 0.
 *   - Kept iff R >= T, R = the ot member's rv, else the trace id's last 7
 *     bytes. Over 200000 random trace ids the kept fraction is within 5
 *     standard deviations of the threshold's probability (wrong by far if
 *     the comparison were reversed, the bytes misread or T miscomputed).
 *   - A kept ratio or AlwaysOn span records th; a parent-based child
 *     follows its parent and keeps its tracestate, minus a th that does not
 *     match the decision; a dropped span has no th; rv and other members
 *     are kept; every tracestate written is a valid one of <= 512 chars.
 * Exits non-zero with one line per failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "span/w3c.h"

#define ONE56 (1ULL << 56)

static const char *rep(char c, int n)
{
    static char ring[4][600];
    static int next;
    char *b = ring[next++ % 4];
    memset(b, c, (size_t)n);
    b[n] = 0;
    return b;
}
/* 14 hex digits of a 56-bit value (an rv), into buf. */
static const char *hex14(char buf[15], uint64_t v)
{
    snprintf(buf, 15, "%014llx", (unsigned long long)v);
    return buf;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
/* splitmix64: a fixed seed, so every run checks the same trace ids. */
static uint64_t next_random(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A trace id whose randomness (last 7 bytes) is r; the rest is noise,
 * byte 8 included, which is not part of R. */
static void trace_id_with(uint8_t id[16], uint64_t r)
{
    uint64_t hi = next_random() | 1, mid = next_random();
    for (int i = 0; i < 8; i++)
        id[i] = (uint8_t)(hi >> (8 * i));
    id[8] = (uint8_t)mid;
    for (int i = 15; i >= 9; i--, r >>= 8)
        id[i] = (uint8_t)r;
}

/* Every tracestate the sampler writes must be valid, normalized and fit. */
static void check_valid_tracestate(const char *ts, const char *what)
{
    char again[SCRY_TRACESTATE_MAX + 1];
    CHECK(strlen(ts) <= SCRY_TRACESTATE_MAX, "%s: %zu chars", what, strlen(ts));
    int rc = scry_tracestate_parse(ts, again, sizeof again);
    CHECK(rc == 0 && strcmp(again, ts) == 0, "%s: not a valid normalized tracestate: \"%s\"", what,
          ts);
}

typedef struct {
    int sampled;
    uint8_t flags;
    char ts[SCRY_TRACESTATE_MAX + 1];
} result_t;

/* Decides a root span (no parent) whose randomness is r. */
static result_t root(const scry__sampler_t *s, uint64_t r)
{
    result_t res;
    uint8_t id[16];
    trace_id_with(id, r);
    res.flags = SCRY_TRACE_FLAG_RANDOM;
    memset(res.ts, 'x', sizeof res.ts);
    res.sampled = scry__sampler_decide(s, NULL, id, &res.flags, res.ts);
    return res;
}

/* Decides a child of a parent with these flags and tracestate, in a trace
 * whose trace-id randomness is r. */
static result_t child(const scry__sampler_t *s, uint8_t pflags, int remote, const char *pts,
                      uint64_t r)
{
    scry_span_context_t p;
    result_t res;
    memset(&p, 0, sizeof p);
    trace_id_with(p.trace_id, r);
    p.span_id[7] = 1;
    p.flags = pflags;
    p.remote = (unsigned char)remote;
    snprintf(p.tracestate, sizeof p.tracestate, "%s", pts);
    res.flags = pflags & (SCRY_TRACE_FLAG_SAMPLED | SCRY_TRACE_FLAG_RANDOM);
    memset(res.ts, 'x', sizeof res.ts);
    res.sampled = scry__sampler_decide(s, &p, p.trace_id, &res.flags, res.ts);
    return res;
}

static scry__sampler_t named(const char *name, const char *arg)
{
    scry__sampler_t s;
    int rc = scry__sampler_parse(name, arg, &s);
    CHECK(rc == 0, "parse %s %s: %d", name, arg ? arg : "(null)", rc);
    return s;
}

/* ---- Configuration ------------------------------------------------------- */

static void test_parse(void)
{
    static const struct {
        const char *name;
        int root, parent_based;
    } names[] = {
        {"always_on", SCRY__SAMPLE_ALWAYS_ON, 0},
        {"always_off", SCRY__SAMPLE_ALWAYS_OFF, 0},
        {"traceidratio", SCRY__SAMPLE_RATIO, 0},
        {"parentbased_always_on", SCRY__SAMPLE_ALWAYS_ON, 1},
        {"parentbased_always_off", SCRY__SAMPLE_ALWAYS_OFF, 1},
        {"parentbased_traceidratio", SCRY__SAMPLE_RATIO, 1},
        {"ParentBased_TraceIdRatio", SCRY__SAMPLE_RATIO, 1},
        {"", SCRY__SAMPLE_ALWAYS_ON, 1},
    };
    scry__sampler_t s;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        memset(&s, 0x55, sizeof s);
        CHECK_EQ(scry__sampler_parse(names[i].name, NULL, &s), 0, names[i].name);
        CHECK(s.root == names[i].root && s.parent_based == names[i].parent_based,
              "%s: root %d pb %d", names[i].name, s.root, s.parent_based);
    }
    CHECK_EQ(scry__sampler_parse(NULL, NULL, &s), 0, "NULL name: the default");
    CHECK(s.root == SCRY__SAMPLE_ALWAYS_ON && s.parent_based,
          "the default is parentbased_always_on");

    /* Unknown names: -EINVAL, and the default to run instead. */
    static const char *bad_names[] = {"jaeger_remote", "xray",          "always",
                                      "always_on ",    "traceid_ratio", "parentbased"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        memset(&s, 0x55, sizeof s);
        CHECK_EQ(scry__sampler_parse(bad_names[i], "0.5", &s), -EINVAL, bad_names[i]);
        CHECK(s.root == SCRY__SAMPLE_ALWAYS_ON && s.parent_based, "%s: falls back to the default",
              bad_names[i]);
    }

    /* The argument. */
    static const struct {
        const char *arg;
        uint64_t threshold;
    } args[] = {
        {NULL, 0},
        {"", 0},
        {"1", 0},
        {"1.0", 0},
        {"0", ONE56},
        {"0.0", ONE56},
        {"0.5", 1ULL << 55},
        {" 0.25 ", 0xc0000000000000ULL},
        {"0.75", 0x40000000000000ULL},
        {"2.5e-1", 0xc0000000000000ULL},
    };
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        const char *what = fmt("traceidratio arg \"%s\"", args[i].arg ? args[i].arg : "(null)");
        CHECK_EQ(scry__sampler_parse("traceidratio", args[i].arg, &s), 0, what);
        CHECK(s.threshold == args[i].threshold, "%s: threshold %#llx, want %#llx", what,
              (unsigned long long)s.threshold, (unsigned long long)args[i].threshold);
    }
    static const char *bad_args[] = {"1.5", "-0.1", "1.0000001", "abc",    "0.5x", "nan",
                                     "inf", "-inf", "0,5",       "1e-400", "."};
    for (size_t i = 0; i < sizeof bad_args / sizeof bad_args[0]; i++) {
        memset(&s, 0x55, sizeof s);
        CHECK_EQ(scry__sampler_parse("parentbased_traceidratio", bad_args[i], &s), -EINVAL,
                 fmt("bad arg \"%s\"", bad_args[i]));
        CHECK(s.root == SCRY__SAMPLE_RATIO && s.parent_based && s.threshold == 0,
              "bad arg \"%s\": the named sampler at ratio 1.0 instead", bad_args[i]);
    }
    CHECK_EQ(scry__sampler_parse("always_on", "abc", &s), 0, "always_on ignores its argument");
    CHECK_EQ(scry__sampler_parse("parentbased_always_off", "7", &s), 0, "so does always_off");

    /* The program's locale does not change how the argument reads. */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        CHECK_EQ(scry__sampler_parse("traceidratio", "0.25", &s), 0, "0.25 under a comma locale");
        CHECK(s.threshold == 0xc0000000000000ULL, "0.25 under a comma locale: %#llx",
              (unsigned long long)s.threshold);
        setlocale(LC_NUMERIC, "C");
    } else {
        printf("SKIP the decimal-comma locale check: no de_DE or fr_FR locale installed\n");
    }

    /* Numeric: scry_span_set_sampler's path. */
    memset(&s, 0x55, sizeof s);
    CHECK_EQ(scry__sampler_make("traceidratio", 0.25, &s), 0, "make 0.25");
    CHECK(s.root == SCRY__SAMPLE_RATIO && !s.parent_based && s.threshold == 0xc0000000000000ULL,
          "make 0.25: %#llx", (unsigned long long)s.threshold);
    CHECK_EQ(scry__sampler_make("parentbased_traceidratio", 0, &s), 0, "make 0");
    CHECK(s.threshold == ONE56, "make 0: rejects all");
    CHECK_EQ(scry__sampler_make("parentbased_traceidratio", 1, &s), 0, "make 1");
    CHECK(s.threshold == 0, "make 1: keeps all");
    scry__sampler_t before = s;
    CHECK_EQ(scry__sampler_make("traceidratio", 1.0000001, &s), -EINVAL, "make 1.0000001");
    CHECK_EQ(scry__sampler_make("traceidratio", -1e-9, &s), -EINVAL, "make -1e-9");
    CHECK_EQ(scry__sampler_make("traceidratio", NAN, &s), -EINVAL, "make NaN");
    CHECK_EQ(scry__sampler_make("nope", 0.5, &s), -EINVAL, "make nope");
    CHECK_EQ(scry__sampler_make(NULL, 0.5, &s), -EINVAL, "make NULL");
    CHECK(memcmp(&before, &s, sizeof s) == 0, "make leaves out alone on errors");
    CHECK_EQ(scry__sampler_make("always_on", 7, &s), 0, "always_on takes no ratio");
    CHECK_EQ(scry__sampler_make("parentbased_always_off", NAN, &s), 0, "nor does always_off");
    section("sampler configuration");
}

/* ---- Thresholds ------------------------------------------------------------ */

static void test_thresholds(void)
{
    /* The specification's table (precision 4) and its edges. */
    static const struct {
        const char *arg, *th;
        uint64_t threshold;
    } cases[] = {
        {"1", "0", 0},
        {"0.5", "8", 0x80000000000000ULL},
        {"0.1", "e666", 0xe6660000000000ULL},
        {"1e-6", "ffffef39", 0xffffef39000000ULL},
        {"0", NULL, ONE56},
        {"0.25", "c", 0xc0000000000000ULL},
        {"0.125", "e", 0xe0000000000000ULL},
        {"0.0625", "f", 0xf0000000000000ULL},
        {"0.75", "4", 0x40000000000000ULL},
        {"0.3333333333333333", "aaab", 0xaaab0000000000ULL},
        {"0.2", "cccd", 0xcccd0000000000ULL},
        {"0.01", "fd70a", 0xfd70a000000000ULL},
        {"0.001", "ffbe77", 0xffbe7700000000ULL},
        {"0.0001", "fff9724", 0xfff97240000000ULL},
        {"0.00001", "ffff583a", 0xffff583a000000ULL},
        /* 2^-56, the smallest probability: all 14 digits. */
        {"1.387778780781445675529539585113525390625e-17", "ffffffffffffff", ONE56 - 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scry__sampler_t s = named("traceidratio", cases[i].arg);
        CHECK(s.threshold == cases[i].threshold, "p=%s: threshold %#llx, want %#llx", cases[i].arg,
              (unsigned long long)s.threshold, (unsigned long long)cases[i].threshold);
        /* Kept with the largest R, the th recorded is the threshold. */
        result_t r = root(&s, ONE56 - 1);
        if (cases[i].th) {
            CHECK(r.sampled, "p=%s: R = 2^56-1 must be kept", cases[i].arg);
            CHECK_STR(r.ts, fmt("ot=th:%s", cases[i].th), fmt("p=%s: th", cases[i].arg));
        } else {
            CHECK(!r.sampled, "p=%s: nothing is kept", cases[i].arg);
            CHECK_STR(r.ts, "", fmt("p=%s: no th", cases[i].arg));
        }
        /* R exactly at T is kept; T - 1 is not. */
        if (cases[i].threshold > 0 && cases[i].threshold < ONE56) {
            CHECK(root(&s, cases[i].threshold).sampled, "p=%s: R = T kept", cases[i].arg);
            result_t below = root(&s, cases[i].threshold - 1);
            CHECK(!below.sampled, "p=%s: R = T-1 dropped", cases[i].arg);
            CHECK_STR(below.ts, "", fmt("p=%s: dropped, no th", cases[i].arg));
        }
        CHECK(!root(&s, 0).sampled == (cases[i].threshold > 0), "p=%s: R = 0", cases[i].arg);
    }
    /* AlwaysOn: th:0; AlwaysOff: nothing. */
    scry__sampler_t on = named("always_on", NULL), off = named("parentbased_always_off", NULL);
    result_t r = root(&on, 0);
    CHECK(r.sampled, "always_on keeps R = 0");
    CHECK_STR(r.ts, "ot=th:0", "always_on records th:0");
    CHECK_EQ(r.flags, SCRY_TRACE_FLAG_RANDOM | SCRY_TRACE_FLAG_SAMPLED,
             "flags: sampled, random kept");
    r = root(&off, ONE56 - 1);
    CHECK(!r.sampled && r.ts[0] == 0, "always_off drops, no tracestate");
    CHECK_EQ(r.flags, SCRY_TRACE_FLAG_RANDOM, "flags: not sampled, random kept");
    section("thresholds and th");
}

/* ---- Statistics -------------------------------------------------------------- */

static void test_statistics(void)
{
    enum { N = 200000 };
    static const char *ps[] = {"0.5", "0.1", "0.01", "1e-6", "0.9", "0.3333333333333333"};
    enum { NP = sizeof ps / sizeof ps[0] };
    scry__sampler_t s[NP];
    long kept[NP] = {0}, inconsistent = 0, flag_mismatch = 0;
    for (int j = 0; j < NP; j++)
        s[j] = named("traceidratio", ps[j]);
    for (int i = 0; i < N; i++) {
        uint8_t id[16];
        for (int b = 0; b < 16; b += 8) {
            uint64_t v = next_random();
            memcpy(id + b, &v, 8);
        }
        int at[NP];
        for (int j = 0; j < NP; j++) {
            uint8_t flags = SCRY_TRACE_FLAG_RANDOM;
            char ts[SCRY_TRACESTATE_MAX + 1];
            at[j] = scry__sampler_decide(&s[j], NULL, id, &flags, ts);
            kept[j] += at[j];
            flag_mismatch += !!(flags & SCRY_TRACE_FLAG_SAMPLED) != at[j];
        }
        /* Consistency: kept at 0.01 => at 0.1 => at 0.5 => at 0.9. */
        inconsistent +=
            (at[2] && !at[1]) || (at[1] && !at[0]) || (at[0] && !at[4]) || (at[3] && !at[2]);
    }
    for (int j = 0; j < NP; j++) {
        double p = strtod(ps[j], NULL);
        double pe = (double)(ONE56 - s[j].threshold) / (double)ONE56; /* the threshold's own p */
        double mean = N * pe, sd = sqrt(N * pe * (1 - pe));
        CHECK(fabs(pe - p) <= 1e-4 * p, "p=%s: the threshold means %.9g", ps[j], pe);
        CHECK(fabs(kept[j] - mean) <= 5 * sd, "p=%s: kept %ld of %d, expected %.1f +- %.1f (5 sd)",
              ps[j], kept[j], N, mean, 5 * sd);
        printf("  p=%-18s kept %6ld of %d (expected %9.1f, 5 sd = %6.1f)\n", ps[j], kept[j], N,
               mean, 5 * sd);
    }
    CHECK_EQ(inconsistent, 0, "a trace kept at a lower p is kept at every higher p");
    CHECK_EQ(flag_mismatch, 0, "the sampled flag matches the return value");
    section("statistics (200000 trace ids)");
}

/* ---- Randomness from rv ----------------------------------------------------------- */

static void test_rv(void)
{
    scry__sampler_t s = named("traceidratio", "0.1"); /* T = 0xe666 << 40 */
    uint64_t t = s.threshold;
    char b1[15], b2[15];
    const char *rv_below = hex14(b1, t - 1), *rv_at = hex14(b2, t);

    result_t r = child(&s, 1, 1, fmt("ot=rv:%s", rv_below), ONE56 - 1);
    CHECK(!r.sampled, "rv = T-1 drops although the trace id would be kept");
    CHECK_STR(r.ts, fmt("ot=rv:%s", rv_below), "rv kept, no th");
    r = child(&s, 0, 1, fmt("ot=rv:%s", rv_at), 0);
    CHECK(r.sampled, "rv = T keeps although the trace id would drop");
    CHECK_STR(r.ts, fmt("ot=th:e666;rv:%s", rv_at), "th recorded beside rv");
    r = child(&s, 0, 1, fmt("a=1,ot=rv:%s;x:Y.z_-,b=2", rv_at), 0);
    CHECK_STR(r.ts, fmt("ot=th:e666;rv:%s;x:Y.z_-,a=1,b=2", rv_at),
              "ot moves first, its other sub-keys and the other members stay in order");
    r = child(&s, 1, 1, fmt("ot=th:8;rv:%s", rv_at), 0);
    CHECK_STR(r.ts, fmt("ot=th:e666;rv:%s", rv_at), "an old th is replaced");
    r = child(&s, 1, 1, fmt("ot=rv:%s;th:8", rv_at), 0);
    CHECK_STR(r.ts, fmt("ot=th:e666;rv:%s", rv_at), "an old th after rv is replaced");

    /* An invalid rv is not randomness: the trace id decides. */
    static const char *bad_rv[] = {"0123456789abc", "0123456789abcde", "0123456789ABCD", "",
                                   "0123456789abcg"};
    for (size_t i = 0; i < sizeof bad_rv / sizeof bad_rv[0]; i++) {
        r = child(&s, 0, 1, fmt("ot=rv:%s", bad_rv[i]), ONE56 - 1);
        CHECK(r.sampled, "rv \"%s\" ignored: kept by the trace id", bad_rv[i]);
        CHECK_STR(r.ts, fmt("ot=th:e666;rv:%s", bad_rv[i]), "the bad rv is carried, not erased");
    }
    section("randomness from rv");
}

/* ---- Parents -------------------------------------------------------------------- */

static void test_parent_based(void)
{
    scry__sampler_t pb_off = named("parentbased_always_off", NULL);
    scry__sampler_t pb_on = named("parentbased_always_on", NULL);
    scry__sampler_t pb_ratio = named("parentbased_traceidratio", "0.5");
    char b[15];
    const char *rv_hi = hex14(b, 0xc0000000000000ULL);
    result_t r;

    for (int remote = 0; remote <= 1; remote++) {
        const char *where = remote ? "remote" : "local";
        r = child(&pb_off, 1, remote, "congo=t61rcWkgMzE,ot=th:8", ONE56 - 1);
        CHECK(r.sampled, "%s sampled parent: sampled even under always_off", where);
        CHECK_STR(r.ts, "congo=t61rcWkgMzE,ot=th:8", fmt("%s: tracestate unchanged", where));
        r = child(&pb_on, 0, remote, "congo=t61rcWkgMzE", ONE56 - 1);
        CHECK(!r.sampled, "%s unsampled parent: dropped even under always_on", where);
        CHECK_STR(r.ts, "congo=t61rcWkgMzE", fmt("%s: tracestate unchanged", where));
        r = child(&pb_ratio, 1, remote, "", 0);
        CHECK(r.sampled && r.ts[0] == 0, "%s: sampled parent, no th: none added", where);
        r = child(&pb_ratio, 0, remote, "", ONE56 - 1);
        CHECK(!r.sampled && r.ts[0] == 0, "%s: unsampled parent, R high: still dropped", where);
    }
    r = child(&pb_on, 1, 1, "congo=x,ot=th:8", 0);
    CHECK(r.sampled, "sampled parent, th inconsistent with R");
    CHECK_STR(r.ts, "congo=x", "the inconsistent th is erased, and ot with it");
    r = child(&pb_on, 1, 1, fmt("congo=x,ot=th:8;rv:%s", rv_hi), 0);
    CHECK_STR(r.ts, fmt("congo=x,ot=th:8;rv:%s", rv_hi), "consistent by rv: unchanged");
    r = child(&pb_on, 1, 1, fmt("congo=x,ot=th:f;rv:%s", rv_hi), ONE56 - 1);
    CHECK_STR(r.ts, fmt("ot=rv:%s,congo=x", rv_hi), "inconsistent by rv: th erased, ot first");
    r = child(&pb_on, 1, 1, "ot=th:zz;x:1,congo=x", 0);
    CHECK_STR(r.ts, "ot=x:1,congo=x", "an invalid th is erased");
    r = child(&pb_on, 1, 1, "ot=th:;x:1", 0);
    CHECK_STR(r.ts, "ot=x:1", "an empty th is erased");
    r = child(&pb_on, 1, 1, "ot=th:123456789abcdef", 0);
    CHECK_STR(r.ts, "", "a 15-digit th is erased");
    r = child(&pb_on, 1, 1, "congo=x,ot=x:1", 0);
    CHECK_STR(r.ts, "congo=x,ot=x:1", "sampled parent without th: no th added");
    r = child(&pb_on, 0, 1, fmt("congo=x,ot=th:8;rv:%s", rv_hi), ONE56 - 1);
    CHECK(!r.sampled, "unsampled parent");
    CHECK_STR(r.ts, fmt("ot=rv:%s,congo=x", rv_hi), "unsampled: th erased, rv kept, ot first");
    r = child(&pb_on, 0, 1, "a=1,ot=th:8,b=2", ONE56 - 1);
    CHECK_STR(r.ts, "a=1,b=2", "unsampled: an ot left empty goes");
    r = child(&pb_on, 0, 1, "a=1,ot=th:8;;x,b=2", 0);
    CHECK_STR(r.ts, "a=1,ot=th:8;;x,b=2", "a malformed ot is left alone");
    r = child(&pb_on, 0, 1, "ot=th:8;th:8", 0);
    CHECK_STR(r.ts, "ot=th:8;th:8", "th twice is malformed: left alone");

    /* Roots. */
    r = root(&pb_on, 0);
    CHECK(r.sampled, "parentbased_always_on root");
    CHECK_STR(r.ts, "ot=th:0", "its th:0");
    r = root(&pb_off, ONE56 - 1);
    CHECK(!r.sampled && !r.ts[0], "parentbased_always_off root");
    r = root(&pb_ratio, 1ULL << 55);
    CHECK(r.sampled, "parentbased_traceidratio root, R = T");
    CHECK_STR(r.ts, "ot=th:8", "its th:8");
    CHECK(!root(&pb_ratio, (1ULL << 55) - 1).sampled, "parentbased_traceidratio root, R = T-1");

    /* An invalid parent is no parent: a new trace, its tracestate not kept. */
    scry_span_context_t p;
    memset(&p, 0, sizeof p);
    p.flags = 1;
    strcpy(p.tracestate, "congo=x,ot=th:8");
    uint8_t id[16], flags = SCRY_TRACE_FLAG_RANDOM;
    char ts[SCRY_TRACESTATE_MAX + 1];
    trace_id_with(id, 0);
    CHECK_EQ(scry__sampler_decide(&pb_off, &p, id, &flags, ts), 0, "zero trace id: a root");
    CHECK_STR(ts, "", "no tracestate inherited");
    trace_id_with(p.trace_id, 5); /* span id still zero */
    CHECK_EQ(scry__sampler_decide(&pb_on, &p, id, &flags, ts), 1, "zero span id: a root");
    CHECK_STR(ts, "ot=th:0", "a root's tracestate");
    section("parent-based");

    /* Samplers that are not parent-based decide children alone. */
    scry__sampler_t on = named("always_on", NULL), off = named("always_off", NULL);
    scry__sampler_t half = named("traceidratio", "0.5");
    r = child(&on, 0, 1, fmt("a=1,ot=rv:%s;x:y,b=2", rv_hi), 0);
    CHECK(r.sampled, "always_on under an unsampled parent");
    CHECK_STR(r.ts, fmt("ot=th:0;rv:%s;x:y,a=1,b=2", rv_hi), "th:0 first in ot, ot first");
    r = child(&on, 1, 1, "ot=th:8", 0);
    CHECK_STR(r.ts, "ot=th:0", "always_on replaces th");
    r = child(&off, 1, 1, "a=1,ot=th:0", ONE56 - 1);
    CHECK(!r.sampled, "always_off under a sampled parent");
    CHECK_STR(r.ts, "a=1", "its th erased");
    r = child(&half, 1, 1, "", (1ULL << 55) - 1);
    CHECK(!r.sampled, "traceidratio ignores a sampled parent's flag");
    r = child(&half, 0, 1, "a=1", 1ULL << 55);
    CHECK(r.sampled, "traceidratio ignores an unsampled parent's flag");
    CHECK_STR(r.ts, "ot=th:8,a=1", "and records its th");
    r = child(&on, 0, 1, "a=1,ot=th:8;;x,b=2", 0);
    CHECK_STR(r.ts, "ot=th:0,a=1,b=2", "a malformed ot is replaced when th is written");
    r = child(&on, 0, 1, "ot=TH:8", 0);
    CHECK_STR(r.ts, "ot=th:0", "an upper-case sub-key is malformed");
    section("samplers not parent-based");
}

/* ---- Limits ------------------------------------------------------------------------ */

static void test_limits(void)
{
    scry__sampler_t on = named("always_on", NULL), tenth = named("traceidratio", "0.1");
    result_t r;
    /* The ot value stays within 256: "th:0;" (5) fits beside 251 more. */
    char v251[260], v252[260], v300[310];
    snprintf(v251, sizeof v251, "x:%s", rep('a', 249));
    snprintf(v252, sizeof v252, "x:%s", rep('a', 250));
    snprintf(v300, sizeof v300, "th:8;x:%s", rep('a', 294));
    r = child(&on, 0, 1, fmt("ot=%s", v251), 0);
    CHECK_STR(r.ts, fmt("ot=th:0;%s", v251), "ot value of 256 with th");
    CHECK(r.sampled, "kept");
    r = child(&on, 0, 1, fmt("ot=%s", v252), 0);
    CHECK_STR(r.ts, fmt("ot=%s", v252), "257 would not fit: no th, ot unchanged");
    CHECK(r.sampled, "kept all the same");
    /* A hand-made context may hold an ot value past 256: not read, replaced. */
    r = child(&on, 0, 1, fmt("ot=%s", v300), 0);
    CHECK_STR(r.ts, "ot=th:0", "a 300-char ot is replaced");
    scry__sampler_t pb = named("parentbased_always_on", NULL);
    r = child(&pb, 0, 1, fmt("a=1,ot=%s", v300), 0);
    CHECK(!r.sampled && strcmp(r.ts, fmt("a=1,ot=%s", v300)) == 0,
          "a 300-char ot is left alone when th would be erased");
    r = child(&tenth, 0, 1, fmt("ot=th:8;%s", v251), ONE56 - 1); /* 256, th:e666 makes 259 */
    CHECK(r.sampled, "kept by 0.1");
    CHECK_STR(r.ts, fmt("ot=%s", v251), "no room for the new th: the old one is erased");

    /* 32 members and th: ot first, the last member goes. */
    char m[600];
    size_t len = 0;
    for (int i = 1; i <= 32; i++)
        len += (size_t)sprintf(m + len, "%sk%02d=%02d", len ? "," : "", i, i);
    r = child(&on, 1, 1, m, 0);
    const char *k31 = strstr(m, ",k32=");
    CHECK_STR(r.ts, fmt("ot=th:0,%.*s", (int)(k31 - m), m), "32 members: the 32nd goes");
    check_valid_tracestate(r.ts, "32 members and ot");
    /* 512 characters and th: members dropped from the end until it fits. */
    const char *full = fmt("%s=%s,%s=%s", rep('a', 200), rep('1', 55), rep('b', 200), rep('2', 54));
    r = child(&on, 1, 1, full, 0);
    CHECK_STR(r.ts, fmt("ot=th:0,%s=%s", rep('a', 200), rep('1', 55)), "512 chars: the tail goes");
    check_valid_tracestate(r.ts, "512 and ot");
    /* An ot replaced in a full tracestate drops nothing more than it must. */
    const char *full_ot = fmt("%s=%s,ot=th:8,%s=%s", rep('a', 200), rep('1', 55), rep('b', 200),
                              rep('2', 46)); /* 256 + 8 + 248 = 512 */
    CHECK_EQ(strlen(full_ot), 512, "a full tracestate with ot");
    r = child(&on, 1, 1, full_ot, 0);
    CHECK_STR(r.ts,
              fmt("ot=th:0,%s=%s,%s=%s", rep('a', 200), rep('1', 55), rep('b', 200), rep('2', 46)),
              "the replaced ot moves first, everything still fits");

    /* Whatever comes in, what goes out is a valid tracestate. */
    static const char *inputs[] = {"",
                                   "a=1",
                                   "ot=th:8",
                                   "ot=rv:00000000000001",
                                   "a=1,ot=x:1,b=2",
                                   "ot=th:8;;",
                                   "ot=TH:1,z=2",
                                   "k@v=1,ot=th:0;rv:ffffffffffffff"};
    scry__sampler_t all[] = {on,
                             tenth,
                             named("parentbased_always_on", NULL),
                             named("parentbased_always_off", NULL),
                             named("always_off", NULL),
                             named("parentbased_traceidratio", "0.1")};
    int n = 0;
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        for (size_t j = 0; j < sizeof all / sizeof all[0]; j++)
            for (int f = 0; f < 4; f++) {
                r = child(&all[j], (uint8_t)f, f & 1, inputs[i], next_random() >> 8);
                check_valid_tracestate(r.ts,
                                       fmt("input \"%s\", sampler %zu, flags %d", inputs[i], j, f));
                CHECK(!r.sampled || !strstr(r.ts, "th:") || strstr(r.ts, "ot=th:") ||
                          strstr(inputs[i], ";;"),
                      "a written th comes first in ot: \"%s\"", r.ts);
                CHECK(r.sampled || !strstr(r.ts, "ot=th:") || strstr(inputs[i], ";;"),
                      "a dropped span carries no th: \"%s\"", r.ts);
                CHECK_EQ(r.flags & SCRY_TRACE_FLAG_RANDOM, f & SCRY_TRACE_FLAG_RANDOM,
                         "random flag kept");
                n++;
            }
    printf("  %d sampler x tracestate x flags combinations checked\n", n);
    section("limits and invariants");
}

int main(void)
{
    test_parse();
    test_thresholds();
    test_statistics();
    test_rv();
    test_parent_based();
    test_limits();
    return finish("w3c_sampler");
}
