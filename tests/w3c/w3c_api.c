/*
 * w3c_api.c - the public W3C Trace Context functions of scry.h against the
 * specification's rules, as a program linked with libscry.so.
 *
 * Ground truth: the grammar of W3C Trace Context Level 1 (and Level 2's
 * random flag), written out below rule by rule, each limit checked on both
 * sides of its bound:
 *   traceparent  version "-" trace-id "-" parent-id "-" trace-flags, all
 *                lowercase hex (2, 32, 16, 2); version ff invalid; version
 *                00 exactly 55 characters; a higher version read by the
 *                00 layout if >= 55 characters and, when longer, a '-' at
 *                55; all-zero ids invalid; OWS around the value ignored.
 *   tracestate   up to 32 members key=value, OWS around members, empty
 *                members ignored, keys unique; simple key lcalpha then up
 *                to 255 keychars; tenant@system: tenant 1..241 starting
 *                lcalpha or digit, system 1..14 starting lcalpha; value
 *                1..256 of 0x20-0x7E without ',' '=', not ending in space.
 *                An invalid list is discarded whole.
 *   headers      names in any case; several tracestate lines combine in
 *                order; two traceparent lines are invalid.
 * Exits non-zero with one line per failed check.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "scry.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

static const unsigned char tid_bytes[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                            0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const unsigned char pid_bytes[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

/* A string made of n copies of c (several live at once: a ring). */
static const char *rep(char c, int n)
{
    static char ring[8][600];
    static int next;
    char *b = ring[next++ % 8];
    memset(b, c, (size_t)n);
    b[n] = 0;
    return b;
}


/* ---- traceparent ---------------------------------------------------------- */

static int tp_ok(const char *v)
{
    scry_span_context_t c;
    memset(&c, 0, sizeof c);
    return scry_traceparent_parse(v, &c) == 0;
}

/* A valid value with one part replaced: the same layout for every case. */
static const char *tp_with(const char *version, const char *trace, const char *parent,
                           const char *flags)
{
    return fmt("%s-%s-%s-%s", version, trace, parent, flags);
}

static void test_traceparent(void)
{
    scry_span_context_t c;
    memset(&c, 0, sizeof c);
    strcpy(c.tracestate, "keep=me");
    c.remote = 7;
    CHECK_EQ(scry_traceparent_parse(TP, &c), 0, "the specification's example");
    CHECK(memcmp(c.trace_id, tid_bytes, 16) == 0, "trace id bytes");
    CHECK(memcmp(c.span_id, pid_bytes, 8) == 0, "parent id bytes");
    CHECK_EQ(c.flags, SCRY_TRACE_FLAG_SAMPLED, "flags 01");
    CHECK_STR(c.tracestate, "keep=me", "parse leaves tracestate alone");
    CHECK_EQ(c.remote, 7, "parse leaves remote alone");

    /* Flags: sampled and random kept, reserved bits dropped. */
    static const struct {
        const char *f;
        int want;
    } flags[] = {{"00", 0}, {"01", 1}, {"02", 2}, {"03", 3},
                 {"ff", 3}, {"09", 1}, {"fc", 0}, {"06", 2}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        memset(&c, 0, sizeof c);
        CHECK_EQ(scry_traceparent_parse(tp_with("00", TID, PID, flags[i].f), &c), 0, flags[i].f);
        CHECK_EQ(c.flags, flags[i].want, fmt("flags %s kept", flags[i].f));
    }

    /* Version. */
    CHECK(!tp_ok(tp_with("ff", TID, PID, "01")), "version ff is forbidden");
    CHECK(tp_ok(tp_with("01", TID, PID, "01")), "version 01 (higher) read by the 00 layout");
    CHECK(tp_ok(tp_with("cc", TID, PID, "01")), "version cc");
    CHECK(tp_ok(tp_with("fe", TID, PID, "01")), "version fe, the highest allowed");
    CHECK(!tp_ok(tp_with("0A", TID, PID, "01")), "upper-case version");
    CHECK(!tp_ok(tp_with("FF", TID, PID, "01")), "upper-case version FF");
    CHECK(!tp_ok(tp_with("0", TID, PID, "01")), "1-digit version");
    CHECK(!tp_ok(tp_with("000", TID, PID, "01")), "3-digit version");
    CHECK(!tp_ok(tp_with(".0", TID, PID, "01")), "illegal char in version");
    CHECK(!tp_ok(tp_with("0g", TID, PID, "01")), "non-hex g in version");

    /* Version 00 is exactly 55 characters. */
    CHECK_EQ(strlen(TP), SCRY_TRACEPARENT_LEN, "example length");
    CHECK(!tp_ok(fmt("%.54s", TP)), "54 characters");
    CHECK(!tp_ok(fmt("%s0", TP)), "56 characters, version 00");
    CHECK(!tp_ok(fmt("%s.", TP)), "00 with trailing '.'");
    CHECK(!tp_ok(fmt("%s-", TP)), "00 with trailing '-'");
    CHECK(!tp_ok(fmt("%s-what-the-future-will-be-like", TP)), "00 with extra fields");

    /* Future versions: >= 55, and '-' at 55 when longer. */
    const char *cc = tp_with("cc", TID, PID, "01");
    CHECK(tp_ok(fmt("%s-what-the-future-will-be-like", cc)), "cc with extra fields");
    CHECK(tp_ok(fmt("%s-", cc)), "cc with an empty extra field");
    CHECK(!tp_ok(fmt("%s.what-the-future-will-be-like", cc)), "cc, '.' after the flags");
    CHECK(!tp_ok(fmt("%s0", cc)), "cc, 3-digit flags");
    CHECK(!tp_ok(fmt("%.54s", cc)), "cc, 54 characters");
    memset(&c, 0, sizeof c);
    CHECK_EQ(scry_traceparent_parse(fmt("%s-%s", tp_with("cc", TID, PID, "03"), "zz"), &c), 0,
             "cc with flags 03 and a field");
    CHECK(memcmp(c.trace_id, tid_bytes, 16) == 0 && c.flags == 3, "cc read by the 00 layout");

    /* trace-id: 32 lowercase hex, not all zero. */
    CHECK(!tp_ok(tp_with("00", rep('0', 32), PID, "01")), "all-zero trace id");
    CHECK(tp_ok(tp_with("00", fmt("%s1", rep('0', 31)), PID, "01")), "trace id 0...01");
    CHECK(tp_ok(tp_with("00", fmt("1%s", rep('0', 31)), PID, "01")), "trace id 10...0");
    CHECK(!tp_ok(tp_with("00", "4BF92F3577B34DA6A3CE929D0E0E4736", PID, "01")),
          "upper-case trace id");
    CHECK(!tp_ok(tp_with("00", "4bf92f3577b34da6a3ce929d0e0e473A", PID, "01")), "one upper-case A");
    CHECK(!tp_ok(tp_with("00", ".bf92f3577b34da6a3ce929d0e0e4736", PID, "01")),
          "illegal char first");
    CHECK(!tp_ok(tp_with("00", "4bf92f3577b34da6a3ce929d0e0e473.", PID, "01")),
          "illegal char last");
    CHECK(!tp_ok(tp_with("00", "4bf92f3577b34da6a3ce929d0e0e473", PID, "01")), "31-digit trace id");
    CHECK(!tp_ok(tp_with("00", "4bf92f3577b34da6a3ce929d0e0e47361", PID, "01")),
          "33-digit trace id");
    CHECK(!tp_ok(tp_with("00", "4bf92f3577b34da6a3ce929d0e0e473g", PID, "01")), "g in trace id");

    /* parent-id: 16 lowercase hex, not all zero. */
    CHECK(!tp_ok(tp_with("00", TID, rep('0', 16), "01")), "all-zero parent id");
    CHECK(tp_ok(tp_with("00", TID, "0000000000000001", "01")), "parent id 0...01");
    CHECK(!tp_ok(tp_with("00", TID, "00F067AA0BA902B7", "01")), "upper-case parent id");
    CHECK(!tp_ok(tp_with("00", TID, ".0f067aa0ba902b7", "01")), "illegal char in parent id");
    CHECK(!tp_ok(tp_with("00", TID, "00f067aa0ba902b", "01")), "15-digit parent id");
    CHECK(!tp_ok(tp_with("00", TID, "00f067aa0ba902b71", "01")), "17-digit parent id");

    /* trace-flags: 2 lowercase hex. */
    CHECK(!tp_ok(tp_with("00", TID, PID, "0A")), "upper-case flags");
    CHECK(!tp_ok(tp_with("00", TID, PID, ".0")), "illegal char in flags");
    CHECK(!tp_ok(tp_with("00", TID, PID, "0.")), "illegal char in flags (2)");
    CHECK(!tp_ok(tp_with("00", TID, PID, "1")), "1-digit flags");
    CHECK(!tp_ok(tp_with("00", TID, PID, "001")), "3-digit flags");

    /* Separators. */
    CHECK(!tp_ok("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "'_' after version");
    CHECK(!tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"), "'_' after trace id");
    CHECK(!tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"), "'_' after parent id");

    /* Whitespace: OWS around the value is not part of it; inside, invalid. */
    CHECK(tp_ok(" " TP), "leading space");
    CHECK(tp_ok("\t" TP), "leading tab");
    CHECK(tp_ok(TP " "), "trailing space");
    CHECK(tp_ok(TP "\t"), "trailing tab");
    CHECK(tp_ok("\t " TP " \t"), "both");
    CHECK(!tp_ok("00 -4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "space inside");
    CHECK(!tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7- 1"), "space in flags");
    CHECK(!tp_ok(TP "\n"), "a line end is not OWS");
    CHECK(!tp_ok(""), "empty");
    CHECK(!tp_ok("   "), "blank");

    /* A failed parse leaves out as it was. */
    memset(&c, 0xab, sizeof c);
    CHECK_EQ(scry_traceparent_parse(tp_with("ff", TID, PID, "01"), &c), -EINVAL,
             "ff returns -EINVAL");
    CHECK(c.trace_id[0] == 0xab && c.flags == 0xab, "out untouched on failure");
    CHECK_EQ(scry_traceparent_parse(NULL, &c), -EINVAL, "NULL value");
    CHECK_EQ(scry_traceparent_parse(TP, NULL), -EINVAL, "NULL out");

    /* Format. */
    char out[SCRY_TRACEPARENT_LEN + 1];
    memset(&c, 0, sizeof c);
    scry_traceparent_parse(TP, &c);
    memset(out, 'x', sizeof out);
    CHECK_EQ(scry_traceparent_format(&c, out), 0, "format");
    CHECK_STR(out, TP, "format round trip");
    c.flags = 0xff;
    scry_traceparent_format(&c, out);
    CHECK_STR(out, "00-" TID "-" PID "-03", "format keeps only sampled and random");
    scry_traceparent_parse(tp_with("cc", TID, PID, "02"), &c);
    scry_traceparent_format(&c, out);
    CHECK_STR(out, "00-" TID "-" PID "-02", "a higher version is sent as 00");
    memset(c.trace_id, 0, 16);
    CHECK_EQ(scry_traceparent_format(&c, out), -EINVAL, "format, zero trace id");
    scry_traceparent_parse(TP, &c);
    memset(c.span_id, 0, 8);
    CHECK_EQ(scry_traceparent_format(&c, out), -EINVAL, "format, zero span id");
    CHECK_EQ(scry_traceparent_format(NULL, out), -EINVAL, "format, NULL");
    section("traceparent");
}

/* ---- tracestate ------------------------------------------------------------ */

/* Parses v into a 513-byte buffer: the return code, *out the result. */
static int ts(const char *v, const char **out)
{
    static char buf[SCRY_TRACESTATE_MAX + 1];
    int rc = scry_tracestate_parse(v, buf, sizeof buf);
    *out = buf;
    return rc;
}
static void ts_valid(const char *v, const char *want, const char *what)
{
    const char *got;
    int rc = ts(v, &got);
    CHECK(rc == 0, "%s: rc %d, want 0", what, rc);
    CHECK_STR(got, want, what);
}
static void ts_invalid(const char *v, const char *what)
{
    const char *got;
    int rc = ts(v, &got);
    CHECK(rc == -EINVAL && got[0] == 0, "%s: rc %d, \"%.40s\", want -EINVAL and empty", what, rc,
          got);
}

/* "k01=01,k02=02,...": n members starting at first. */
static const char *members(int first, int n)
{
    static char ring[4][600];
    static int next;
    char *b = ring[next++ % 4];
    size_t len = 0;
    b[0] = 0;
    for (int i = first; i < first + n; i++)
        len += (size_t)sprintf(b + len, "%sk%02d=%02d", len ? "," : "", i, i);
    return b;
}

static void test_tracestate(void)
{
    const char *got;
    ts_valid("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
             "the specification's example");
    ts_valid("", "", "empty header");
    ts_valid(",", "", "one comma");
    ts_valid(" \t, ,\t", "", "blank members only");
    ts_valid("foo=1,,bar=2", "foo=1,bar=2", "empty member inside");
    ts_valid(",foo=1,", "foo=1", "empty members at both ends");

    /* OWS (the W3C test suite's cases). */
    ts_valid("foo=1 \t , \t bar=2, \t baz=3", "foo=1,bar=2,baz=3", "OWS around members");
    ts_valid("foo=1\t \t,\t \tbar=2,\t \tbaz=3", "foo=1,bar=2,baz=3", "tabs around members");
    ts_valid(" foo=1", "foo=1", "leading space");
    ts_valid("\tfoo=1", "foo=1", "leading tab");
    ts_valid("foo=1 ", "foo=1", "trailing space");
    ts_valid("foo=1\t", "foo=1", "trailing tab");
    ts_valid("\t foo=1 \t", "foo=1", "both");
    ts_valid("foo= 1", "foo= 1", "a value's leading space is kept");
    ts_valid("foo=a b", "foo=a b", "a space inside a value");
    ts_invalid("foo =1", "space before '='");
    ts_invalid("foo=\t1", "tab in a value");
    ts_invalid("foo=1\t2", "tab inside a value");

    /* Member syntax. */
    ts_invalid("foo", "no '='");
    ts_invalid("=1", "empty key");
    ts_invalid("foo=", "empty value");
    ts_invalid("foo= ", "value of one space");
    ts_invalid("foo=   ,bar=2", "value of spaces");
    ts_invalid("foo=bar=baz", "'=' in a value");
    ts_invalid("foo=,bar=3", "empty value, then a valid member");
    ts_invalid("foo=1,bar", "a bad member after a good one");

    /* Keys. */
    ts_invalid("FOO=1", "upper-case key");
    ts_invalid("fOo=1", "one upper-case letter");
    ts_invalid("foo.bar=1", "'.' in a key");
    ts_invalid("1foo=1", "simple key starting with a digit");
    ts_invalid("_foo=1", "simple key starting with '_'");
    ts_valid("f_-*/09=1", "f_-*/09=1", "every keychar");
    const char *all_keychars = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    ts_valid(fmt("%s=1", all_keychars), fmt("%s=1", all_keychars), "all keychars (simple)");
    ts_valid(fmt("%s@a-z0-9_-*/=1", all_keychars), fmt("%s@a-z0-9_-*/=1", all_keychars),
             "all keychars (multi-tenant)");
    ts_valid("1tenant@sys=1", "1tenant@sys=1", "tenant id may start with a digit");
    ts_invalid("tenant@1sys=1", "system id starting with a digit");
    ts_invalid("tenant@_sys=1", "system id starting with '_'");
    ts_invalid("_tenant@sys=1", "tenant id starting with '_'");
    ts_invalid("foo@=1,bar=2", "empty system id");
    ts_invalid("@foo=1,bar=2", "empty tenant id");
    ts_invalid("foo@@bar=1,bar=2", "two '@' together");
    ts_invalid("foo@bar@baz=1,bar=2", "two '@'");
    ts_invalid("Tenant@sys=1", "upper-case tenant");

    /* Key lengths: simple 256, tenant 241, system 14. */
    ts_valid(fmt("foo=1,%s=1", rep('z', 256)), fmt("foo=1,%s=1", rep('z', 256)), "256-char key");
    ts_invalid(fmt("foo=1,%s=1", rep('z', 257)), "257-char key");
    const char *mt = fmt("%s@%s", rep('t', 241), rep('v', 14));
    ts_valid(fmt("foo=1,%s=1", mt), fmt("foo=1,%s=1", mt), "241@14 key");
    ts_invalid(fmt("foo=1,%s@v=1", rep('t', 242)), "242-char tenant");
    ts_invalid(fmt("foo=1,t@%s=1", rep('v', 15)), "15-char system");
    ts_valid(fmt("t@%s=1", rep('v', 14)), fmt("t@%s=1", rep('v', 14)), "1@14 key");
    ts_valid(fmt("%s@v=1", rep('t', 241)), fmt("%s@v=1", rep('t', 241)), "241@1 key");

    /* Values: 0x20-0x7E but ',' and '=', 1..256 characters, no trailing space. */
    char all[128];
    size_t n = 0;
    for (int ch = 0x20; ch <= 0x7e; ch++)
        if (ch != ',' && ch != '=') all[n++] = (char)ch;
    all[n] = 0;
    ts_valid(fmt("foo=%s", all), fmt("foo=%s", all), "every value character");
    ts_valid(fmt("foo=%s", rep('v', 256)), fmt("foo=%s", rep('v', 256)), "256-char value");
    ts_invalid(fmt("foo=%s", rep('v', 257)), "257-char value");
    ts_valid(fmt("foo=%s   ", rep('v', 256)), fmt("foo=%s", rep('v', 256)),
             "256-char value and trailing OWS");
    ts_valid(fmt("foo= %s", rep('v', 255)), fmt("foo= %s", rep('v', 255)),
             "leading space counts: 256");
    ts_invalid(fmt("foo= %s", rep('v', 256)), "leading space counts: 257");
    ts_invalid("foo=a\x7f", "DEL in a value");
    ts_invalid("foo=a\x1f", "0x1f in a value");
    ts_invalid("foo=caf\xc3\xa9", "non-ASCII in a value");
    ts_invalid("foo=a\nb", "line feed in a value");

    /* 32 members, not 33; empty members do not count. */
    ts_valid(members(1, 32), members(1, 32), "32 members");
    ts_invalid(members(1, 33), "33 members");
    ts_valid(fmt(",%s,, ,", members(1, 32)), members(1, 32), "32 members and empty ones");

    /* Keys are unique. */
    ts_invalid("foo=1,foo=1", "a key twice, same value");
    ts_invalid("foo=1,bar=2,foo=2", "a key twice");
    ts_valid("foo=1,foo@x=2", "foo=1,foo@x=2", "foo and foo@x differ");

    /* Fitting: whole members are dropped from the end. */
    char small[16];
    CHECK_EQ(scry_tracestate_parse("aaa=1,bbb=2,ccc=3", small, 12), 0, "cap 12");
    CHECK_STR(small, "aaa=1,bbb=2", "cap 12 keeps two members");
    CHECK_EQ(scry_tracestate_parse("aaa=1,bbb=2,ccc=3", small, 11), 0, "cap 11");
    CHECK_STR(small, "aaa=1", "cap 11 keeps one member");
    CHECK_EQ(scry_tracestate_parse("aaa=1,bbb=2,ccc=3", small, 6), 0, "cap 6");
    CHECK_STR(small, "aaa=1", "cap 6 keeps the first member");
    CHECK_EQ(scry_tracestate_parse("aaa=1,bbb=2,ccc=3", small, 5), -E2BIG, "cap 5");
    CHECK_STR(small, "", "cap 5 leaves nothing");
    CHECK_EQ(scry_tracestate_parse("", small, 1), 0, "empty into 1 byte");
    CHECK_EQ(scry_tracestate_parse("aaa=1", small, 0), -EINVAL, "cap 0");
    CHECK_EQ(scry_tracestate_parse(NULL, small, 5), -EINVAL, "NULL value");
    /* A member of 513 characters cannot fit in 512: -E2BIG. */
    const char *big = fmt("%s=%s", rep('k', 256), rep('v', 256));
    CHECK_EQ(ts(big, &got), -E2BIG, "a 513-char member in 512");
    CHECK_STR(got, "", "nothing kept");
    /* 511 characters of members then more: the tail goes. */
    const char *fill = fmt("%s=%s,%s=%s", rep('a', 200), rep('1', 55), rep('b', 200),
                           rep('2', 53)); /* 256 + 1 + 254 = 511 */
    ts_valid(fmt("%s,c=3", fill), fill, "the member past 512 is dropped");
    ts_valid(fmt("%s,c=3", rep('z', 0)), "c=3", "sanity");

    /* In place. */
    char buf[64] = " foo=1 ,, bar=2\t";
    CHECK_EQ(scry_tracestate_parse(buf, buf, sizeof buf), 0, "in place");
    CHECK_STR(buf, "foo=1,bar=2", "in place result");
    section("tracestate parse");

    /* Get. */
    char v[300];
    const char *st = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,ot=th:8;rv:0123456789abcd";
    CHECK_EQ(scry_tracestate_get(st, "congo", v, sizeof v), 11, "get congo");
    CHECK_STR(v, "t61rcWkgMzE", "congo's value");
    CHECK_EQ(scry_tracestate_get(st, "ot", v, sizeof v), 22, "get ot");
    CHECK_STR(v, "th:8;rv:0123456789abcd", "ot's value");
    CHECK_EQ(scry_tracestate_get(st, "rojo", NULL, 0), 16, "length only");
    CHECK_EQ(scry_tracestate_get(st, "rojo", v, 16), -E2BIG, "no room for the NUL");
    CHECK_EQ(scry_tracestate_get(st, "rojo", v, 17), 16, "exactly room");
    CHECK_EQ(scry_tracestate_get(st, "roj", v, sizeof v), -ENOENT, "a prefix of a key");
    CHECK_EQ(scry_tracestate_get(st, "rojoo", v, sizeof v), -ENOENT, "longer than a key");
    CHECK_EQ(scry_tracestate_get(st, "o", v, sizeof v), -ENOENT, "o is not ot");
    CHECK_EQ(scry_tracestate_get("", "foo", v, sizeof v), -ENOENT, "empty tracestate");
    CHECK_EQ(scry_tracestate_get(NULL, "foo", v, sizeof v), -EINVAL, "NULL tracestate");
    section("tracestate get");

    /* Set: first, replacing, dropping from the end. */
    char s[SCRY_TRACESTATE_MAX + 1] = "";
    CHECK_EQ(scry_tracestate_set(s, sizeof s, "foo", "1"), 0, "set on empty");
    CHECK_STR(s, "foo=1", "set on empty");
    scry_tracestate_set(s, sizeof s, "bar", "2");
    CHECK_STR(s, "bar=2,foo=1", "a new key goes first");
    scry_tracestate_set(s, sizeof s, "foo", "3");
    CHECK_STR(s, "foo=3,bar=2", "a modified key moves first");
    scry_tracestate_set(s, sizeof s, "bar", "4");
    CHECK_STR(s, "bar=4,foo=3", "and again");
    scry_tracestate_set(s, sizeof s, "bar", "5");
    CHECK_STR(s, "bar=5,foo=3", "the first key modified");
    strcpy(s, "a=1,b=2,c=3");
    scry_tracestate_set(s, sizeof s, "b", "x");
    CHECK_STR(s, "b=x,a=1,c=3", "a middle key");
    strcpy(s, "a=1,b=2,c=3");
    scry_tracestate_set(s, sizeof s, "c", "x");
    CHECK_STR(s, "c=x,a=1,b=2", "the last key");
    strcpy(s, " a=1 ,, b=2\t");
    scry_tracestate_set(s, sizeof s, "c", "3");
    CHECK_STR(s, "c=3,a=1,b=2", "set normalizes what it keeps");
    CHECK_EQ(scry_tracestate_set(s, sizeof s, "C", "3"), -EINVAL, "bad key");
    CHECK_EQ(scry_tracestate_set(s, sizeof s, "c", "a,b"), -EINVAL, "bad value");
    CHECK_EQ(scry_tracestate_set(s, sizeof s, "c", ""), -EINVAL, "empty value");
    CHECK_EQ(scry_tracestate_set(s, sizeof s, "c", "x "), -EINVAL, "value ending in a space");
    CHECK_EQ(scry_tracestate_set(s, sizeof s, rep('k', 257), "1"), -EINVAL, "257-char key");
    CHECK_EQ(scry_tracestate_set(s, sizeof s, "c", rep('v', 257)), -EINVAL, "257-char value");
    CHECK_STR(s, "c=3,a=1,b=2", "unchanged after errors");

    /* 32 members: a new one drops the last; a replaced one drops nothing. */
    strcpy(s, members(1, 32));
    CHECK_EQ(scry_tracestate_set(s, sizeof s, "new", "1"), 0, "set on 32 members");
    CHECK_STR(s, fmt("new=1,%s", members(1, 31)), "the 32nd goes");
    strcpy(s, members(1, 32));
    scry_tracestate_set(s, sizeof s, "k05", "xx");
    CHECK_STR(s, fmt("k05=xx,%s,%s", members(1, 4), members(6, 27)), "32 members, one replaced");

    /* Past cap: members dropped from the end until it fits. */
    char s30[30];
    strcpy(s30, "aaa=1,bbb=2,ccc=3,ddd=4,e=5"); /* 27 */
    CHECK_EQ(scry_tracestate_set(s30, sizeof s30, "zz", "9"), 0, "set in 30 bytes");
    CHECK_STR(s30, "zz=9,aaa=1,bbb=2,ccc=3,ddd=4", "the last member goes (28 chars)");
    strcpy(s30, "aaa=1,bbb=2,ccc=3,ddd=4,e=5");
    scry_tracestate_set(s30, sizeof s30, "zzzzzzz", "9");
    CHECK_STR(s30, "zzzzzzz=9,aaa=1,bbb=2,ccc=3", "two members go");
    strcpy(s30, "aaa=1");
    CHECK_EQ(scry_tracestate_set(s30, sizeof s30, "k", rep('v', 28)), -E2BIG,
             "member alone too big");
    CHECK_STR(s30, "aaa=1", "unchanged");
    CHECK_EQ(scry_tracestate_set(s30, sizeof s30, "k", rep('v', 27)), 0, "member exactly fits");
    CHECK_EQ(strlen(s30), 29, "29 characters and the NUL");
    /* The full 512. */
    strcpy(s, fill); /* 511 */
    scry_tracestate_set(s, sizeof s, "x", "1");
    CHECK_STR(s, fmt("x=1,%s=%s", rep('a', 200), rep('1', 55)), "512: the last member goes");
    section("tracestate set");
}

/* ---- Carriers ---------------------------------------------------------------- */

/* A header list: get matches names without case and joins repeated ones
 * with ","; set replaces. */
typedef struct {
    const char *name[16];
    char value[16][1200];
    int n;
    int sets;
} carrier_t;

static const char *carrier_get(void *p, const char *name)
{
    carrier_t *c = p;
    static char joined[4096];
    size_t len = 0;
    int found = 0;
    for (int i = 0; i < c->n; i++) {
        if (strcasecmp(c->name[i], name)) continue;
        len += (size_t)snprintf(joined + len, sizeof joined - len, "%s%s", found ? "," : "",
                                c->value[i]);
        found++;
    }
    return found ? joined : NULL;
}
static void carrier_set(void *p, const char *name, const char *value)
{
    carrier_t *c = p;
    c->sets++;
    for (int i = 0; i < c->n; i++)
        if (strcasecmp(c->name[i], name) == 0) {
            snprintf(c->value[i], sizeof c->value[i], "%s", value);
            return;
        }
    c->name[c->n] = name;
    snprintf(c->value[c->n++], sizeof c->value[0], "%s", value);
}
static void carrier_add(carrier_t *c, const char *name, const char *value)
{
    c->name[c->n] = name;
    snprintf(c->value[c->n++], sizeof c->value[0], "%s", value);
}
static int zeroed(const scry_span_context_t *c)
{
    static const scry_span_context_t z;
    return memcmp(c, &z, sizeof z) == 0;
}

static void test_carriers(void)
{
    carrier_t car;
    scry_span_context_t c;

    memset(&car, 0, sizeof car);
    carrier_add(&car, "TraceParent", TP);
    carrier_add(&car, "TRACESTATE", "foo=1 , bar=2");
    carrier_add(&car, "tracestate", "baz=3");
    memset(&c, 0xee, sizeof c);
    CHECK_EQ(scry_context_extract(carrier_get, &car, &c), 0, "extract");
    CHECK(memcmp(c.trace_id, tid_bytes, 16) == 0 && memcmp(c.span_id, pid_bytes, 8) == 0, "ids");
    CHECK_EQ(c.flags, 1, "flags");
    CHECK_EQ(c.remote, 1, "remote");
    CHECK_STR(c.tracestate, "foo=1,bar=2,baz=3", "joined tracestate, normalized");

    /* No or a bad traceparent: out zeroed, whatever tracestate says. */
    memset(&car, 0, sizeof car);
    carrier_add(&car, "tracestate", "foo=1");
    memset(&c, 0xee, sizeof c);
    CHECK_EQ(scry_context_extract(carrier_get, &car, &c), -EINVAL, "no traceparent");
    CHECK(zeroed(&c), "zeroed without traceparent");
    carrier_add(&car, "traceparent", tp_with("00", rep('0', 32), PID, "01"));
    memset(&c, 0xee, sizeof c);
    CHECK_EQ(scry_context_extract(carrier_get, &car, &c), -EINVAL, "zero trace id");
    CHECK(zeroed(&c), "zeroed with a bad traceparent");
    /* Two traceparents joined by the carrier: invalid. */
    memset(&car, 0, sizeof car);
    carrier_add(&car, "traceparent", TP);
    carrier_add(&car, "traceparent", TP);
    CHECK_EQ(scry_context_extract(carrier_get, &car, &c), -EINVAL, "two traceparents joined");
    memset(&car, 0, sizeof car);
    carrier_add(&car, "traceparent", tp_with("cc", TID, PID, "01"));
    carrier_add(&car, "traceparent", tp_with("cc", TID, PID, "01"));
    CHECK_EQ(scry_context_extract(carrier_get, &car, &c), -EINVAL, "two cc traceparents joined");

    /* A bad tracestate does not spoil the traceparent. */
    static const char *bad_states[] = {"foo=1,foo=2", "FOO=1", "foo@=1,bar=2", "foo=bar=baz"};
    for (size_t i = 0; i < sizeof bad_states / sizeof bad_states[0]; i++) {
        memset(&car, 0, sizeof car);
        carrier_add(&car, "traceparent", TP);
        carrier_add(&car, "tracestate", bad_states[i]);
        CHECK_EQ(scry_context_extract(carrier_get, &car, &c), 0, bad_states[i]);
        CHECK_STR(c.tracestate, "", fmt("tracestate %s discarded", bad_states[i]));
    }
    memset(&car, 0, sizeof car);
    carrier_add(&car, "traceparent", TP);
    carrier_add(&car, "tracestate", "foo=1");
    carrier_add(&car, "tracestate", "foo=2");
    scry_context_extract(carrier_get, &car, &c);
    CHECK_STR(c.tracestate, "", "a key repeated across lines");
    CHECK_EQ(scry_context_extract(NULL, &car, &c), -EINVAL, "NULL get");
    CHECK_EQ(scry_context_extract(carrier_get, &car, NULL), -EINVAL, "NULL out");

    /* Inject, and back. */
    scry_span_context_t in;
    memset(&in, 0, sizeof in);
    scry_traceparent_parse("00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-03", &in);
    strcpy(in.tracestate, "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
    memset(&car, 0, sizeof car);
    CHECK_EQ(scry_context_inject(&in, carrier_set, &car), 0, "inject");
    CHECK_EQ(car.n, 2, "two headers");
    CHECK_STR(carrier_get(&car, "traceparent"),
              "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-03", "traceparent sent");
    CHECK_STR(carrier_get(&car, "tracestate"), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7",
              "tracestate sent");
    CHECK_EQ(scry_context_extract(carrier_get, &car, &c), 0, "extract what was injected");
    CHECK(memcmp(c.trace_id, in.trace_id, 16) == 0 && memcmp(c.span_id, in.span_id, 8) == 0 &&
              c.flags == in.flags && strcmp(c.tracestate, in.tracestate) == 0 && c.remote == 1,
          "round trip");
    in.tracestate[0] = 0;
    memset(&car, 0, sizeof car);
    scry_context_inject(&in, carrier_set, &car);
    CHECK(car.n == 1 && carrier_get(&car, "tracestate") == NULL, "no tracestate when empty");
    strcpy(in.tracestate, "BAD=1");
    memset(&car, 0, sizeof car);
    scry_context_inject(&in, carrier_set, &car);
    CHECK(car.n == 1, "an invalid tracestate is not sent");
    strcpy(in.tracestate, "a=1 ,, b=2");
    memset(&car, 0, sizeof car);
    scry_context_inject(&in, carrier_set, &car);
    CHECK_STR(carrier_get(&car, "tracestate"), "a=1,b=2", "sent normalized");
    memset(in.trace_id, 0, 16);
    memset(&car, 0, sizeof car);
    CHECK_EQ(scry_context_inject(&in, carrier_set, &car), -EINVAL, "inject an invalid context");
    CHECK_EQ(car.sets, 0, "nothing set");
    section("extract/inject (callbacks)");

    /* Header lines. */
    const char *lines1[] = {"GET /x HTTP/1.1\r\n",
                            "Host: example\r\n",
                            "TrAcEpArEnT:" TP "\r\n",
                            "TRACESTATE:   foo=1 , bar=2  \r\n",
                            "Tracestate:baz=3",
                            "X-Tracestate: no=1",
                            "tracestate-x: no=2",
                            NULL,
                            "tracestate:"};
    memset(&c, 0xee, sizeof c);
    CHECK_EQ(scry_context_extract_lines(lines1, 9, &c), 0, "extract lines");
    CHECK(memcmp(c.trace_id, tid_bytes, 16) == 0 && c.flags == 1 && c.remote == 1,
          "ids from lines");
    CHECK_STR(c.tracestate, "foo=1,bar=2,baz=3", "lines combined in order");

    const char *two_tp[] = {"traceparent: " TP, "tracestate: foo=1", "Traceparent: " TP};
    memset(&c, 0xee, sizeof c);
    CHECK_EQ(scry_context_extract_lines(two_tp, 3, &c), -EINVAL, "two traceparent lines");
    CHECK(zeroed(&c), "zeroed");
    const char *space_colon[] = {"traceparent : " TP};
    CHECK_EQ(scry_context_extract_lines(space_colon, 1, &c), -EINVAL, "blank before the colon");
    const char *no_tp[] = {"tracestate: foo=1"};
    CHECK_EQ(scry_context_extract_lines(no_tp, 1, &c), -EINVAL, "no traceparent line");
    const char *tabs[] = {"traceparent:\t " TP " \t", "tracestate:\tfoo=1\t"};
    CHECK_EQ(scry_context_extract_lines(tabs, 2, &c), 0, "OWS around values");
    CHECK_STR(c.tracestate, "foo=1", "tabs trimmed");
    const char *empty_ts[] = {"tracestate: ", "traceparent: " TP, "tracestate: foo=1",
                              "tracestate:"};
    CHECK_EQ(scry_context_extract_lines(empty_ts, 4, &c), 0, "empty tracestate lines");
    CHECK_STR(c.tracestate, "foo=1", "empty lines ignored");
    const char *dup[] = {"traceparent: " TP, "tracestate: foo=1", "tracestate: foo=1"};
    scry_context_extract_lines(dup, 3, &c);
    CHECK_STR(c.tracestate, "", "a key on two lines: discarded");
    const char *bad_ts[] = {"traceparent: " TP, "tracestate: foo=1", "tracestate: Bar=2"};
    CHECK_EQ(scry_context_extract_lines(bad_ts, 3, &c), 0, "bad tracestate line");
    CHECK(memcmp(c.trace_id, tid_bytes, 16) == 0, "traceparent kept");
    CHECK_STR(c.tracestate, "", "every tracestate line discarded");
    /* The W3C suite's 32 and 33 members over four lines. */
    const char *m32[] = {"traceparent: " TP, fmt("tracestate: %s", members(1, 10)),
                         fmt("tracestate: %s", members(11, 10)),
                         fmt("tracestate: %s", members(21, 10)),
                         fmt("tracestate: %s", members(31, 2))};
    CHECK_EQ(scry_context_extract_lines(m32, 5, &c), 0, "32 members on 4 lines");
    CHECK_STR(c.tracestate, members(1, 32), "32 kept");
    const char *m33[] = {"traceparent: " TP, fmt("tracestate: %s", members(1, 10)),
                         fmt("tracestate: %s", members(11, 10)),
                         fmt("tracestate: %s", members(21, 10)),
                         fmt("tracestate: %s", members(31, 3))};
    scry_context_extract_lines(m33, 5, &c);
    CHECK_STR(c.tracestate, "", "33 on 4 lines: discarded");
    /* 256-char key plus foo (the suite's key-length case). */
    const char *k256[] = {"traceparent: " TP, "tracestate: foo=1",
                          fmt("tracestate: %s=1", rep('z', 256))};
    scry_context_extract_lines(k256, 3, &c);
    CHECK_STR(c.tracestate, fmt("foo=1,%s=1", rep('z', 256)), "256-char key kept");
    const char *k257[] = {"traceparent: " TP, "tracestate: foo=1",
                          fmt("tracestate: %s=1", rep('z', 257))};
    scry_context_extract_lines(k257, 3, &c);
    CHECK_STR(c.tracestate, "", "257-char key: all discarded");
    CHECK_EQ(scry_context_extract_lines(NULL, 1, &c), -EINVAL, "NULL lines");
    CHECK_EQ(scry_context_extract_lines(lines1, -1, &c), -EINVAL, "n < 0");
    CHECK_EQ(scry_context_extract_lines(lines1, 0, &c), -EINVAL, "no lines");

    /* inject_lines, and back. */
    char line[2][SCRY_TRACESTATE_MAX + 16];
    memset(&in, 0, sizeof in);
    scry_traceparent_parse(TP, &in);
    strcpy(in.tracestate, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    CHECK_EQ(scry_context_inject_lines(&in, line), 2, "inject lines");
    CHECK_STR(line[0], "traceparent: " TP, "traceparent line");
    CHECK_STR(line[1], "tracestate: rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "tracestate line");
    const char *back[] = {line[0], line[1]};
    CHECK_EQ(scry_context_extract_lines(back, 2, &c), 0, "extract injected lines");
    CHECK(memcmp(&c.trace_id, &in.trace_id, 16) == 0 && memcmp(c.span_id, in.span_id, 8) == 0 &&
              c.flags == in.flags && strcmp(c.tracestate, in.tracestate) == 0,
          "lines round trip");
    /* A full 512-character tracestate fits its line. */
    strcpy(in.tracestate,
           fmt("%s=%s,%s=%s", rep('a', 200), rep('1', 55), rep('b', 200), rep('2', 54)));
    CHECK_EQ(strlen(in.tracestate), 512, "512-char tracestate");
    CHECK_EQ(scry_context_inject_lines(&in, line), 2, "inject 512");
    CHECK_EQ(strlen(line[1]), 12 + 512, "its line");
    back[0] = line[0], back[1] = line[1];
    scry_context_extract_lines(back, 2, &c);
    CHECK_STR(c.tracestate, in.tracestate, "512 round trip");
    in.tracestate[0] = 0;
    CHECK_EQ(scry_context_inject_lines(&in, line), 1, "one line without tracestate");
    memset(in.span_id, 0, 8);
    CHECK_EQ(scry_context_inject_lines(&in, line), -EINVAL, "invalid context");
    section("extract/inject (lines)");
}

int main(void)
{
    test_traceparent();
    test_tracestate();
    test_carriers();
    return finish("w3c_api");
}
