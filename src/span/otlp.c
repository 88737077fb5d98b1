/*
 * otlp.c - the OTLP trace encoder: a batch of ended spans as one
 * ExportTraceServiceRequest, in protobuf or in OTLP/JSON; see otlp.h.
 *
 * A span as span.c keeps it is a header and an arena of entries where a key
 * set twice appears twice (the API appends and never searches). OTLP wants
 * each key once, so every span is first "collected": one walk of its arena
 * that keeps, per key, the position of its first appearance and the value of
 * its last, for the span's attributes and for each event's. Both encoders
 * render from that collection, so they cannot disagree on what a span holds.
 *
 * protobuf: the message tree protobuf-c packs is built in a scratch arena
 * (bump allocation, kept from batch to batch) that points into the spans
 * themselves for ids and strings, so nothing is copied but strings that are
 * not valid UTF-8 (protobuf's string fields must be; Go's decoder, hence the
 * OpenTelemetry Collector, rejects the whole request otherwise).
 *
 * JSON: written directly, as the OTLP specification defines OTLP/JSON:
 * proto3's JSON mapping with lowerCamelCase keys, ids as hex strings (not
 * base64), enums as integers, 64-bit integers as decimal strings.
 *
 * The resource (service.name, OTEL_RESOURCE_ATTRIBUTES, telemetry.sdk.*,
 * process.pid) is read from the environment once, reported on once, and kept
 * in both forms; only process.pid is renewed, in a fork child.
 */
#define _GNU_SOURCE
#include "span/otlp.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "otlp_trace.pb-c.h"

/* Span.flags bits above the W3C trace flags (trace.proto's SpanFlags). */
#define FLAG_HAS_IS_REMOTE 0x100u
#define FLAG_IS_REMOTE 0x200u

/* ---- Byte buffers ------------------------------------------------------ */

int scry__otlp_buf_reserve(scry__otlp_buf_t *b, size_t more)
{
    if (b->cap - b->len >= more) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) return -ENOMEM;
        cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

void scry__otlp_buf_free(scry__otlp_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- Scratch arena ------------------------------------------------------
 * Blocks chained and kept: a reset rewinds to the first, so after the
 * largest batch has been seen, encoding allocates nothing. */

typedef struct block {
    struct block *next;
    size_t size, used;
    max_align_t data[];
} block_t;

static block_t *blocks, *cur;

static void *salloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    while (cur && cur->size - cur->used < n) {
        if (!cur->next) break;
        cur = cur->next;
        cur->used = 0;
    }
    if (!cur || cur->size - cur->used < n) {
        size_t size = n > 65536 ? n : 65536;
        block_t *b = malloc(sizeof *b + size);
        if (!b) return NULL;
        b->next = NULL;
        b->size = size;
        b->used = 0;
        if (cur) {
            /* keep the chain: insert after cur */
            b->next = cur->next;
            cur->next = b;
        } else {
            blocks = b;
        }
        cur = b;
    }
    void *p = (char *)cur->data + cur->used;
    cur->used += n;
    return p;
}

static void scratch_reset(void)
{
    cur = blocks;
    if (cur) cur->used = 0;
}

/* ---- UTF-8 --------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static int utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(s + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

/* s as a protobuf string: itself when valid UTF-8, else a scratch copy with
 * each bad byte replaced by U+FFFD. NULL when out of memory. */
static char *pb_str(const char *s, size_t n)
{
    if (utf8_valid(s, n)) return (char *)s;
    char *o = salloc(n * 3 + 1);
    if (!o) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(u + i, n - i);
        if (l) {
            memcpy(o + j, s + i, l);
            j += l;
            i += l;
        } else {
            memcpy(o + j, "\xef\xbf\xbd", 3);
            j += 3;
            i++;
        }
    }
    o[j] = 0;
    return o;
}

/* ---- "k=v,k2=v2" lists -------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (n + 1 bytes). -1 on a bad escape or a
 * decoded NUL. */
static int pct_decode(const char *s, size_t n, char *out)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[j++] = s[i];
            continue;
        }
        if (n - i < 3) return -1;
        int a = hexval((unsigned char)s[i + 1]), b = hexval((unsigned char)s[i + 2]);
        if (a < 0 || b < 0 || (a == 0 && b == 0)) return -1;
        out[j++] = (char)(a * 16 + b);
        i += 2;
    }
    out[j] = 0;
    return 0;
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

void scry__otlp_parse_pairs(const char *var, const char *value, int secret, scry__otlp_pair_fn fn,
                            void *arg)
{
    size_t len = strlen(value);
    char *key = malloc(len + 1), *val = malloc(len + 1);
    if (!key || !val) {
        free(key);
        free(val);
        scry__log("%s: out of memory; ignored", var);
        return;
    }
    const char *p = value;
    for (int member = 1; *p; member++) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *s = p, *e = end;
        trim(&s, &e);
        if (s < e) { /* empty members (",,") are skipped silently */
            const char *eq = memchr(s, '=', (size_t)(e - s));
            const char *ks = s, *ke = eq ? eq : e, *vs = eq ? eq + 1 : e, *ve = e;
            trim(&ks, &ke);
            trim(&vs, &ve);
            /* A header's member may hold a credential: named by position. */
            char what[64];
            if (secret) snprintf(what, sizeof what, "member %d", member);
            if (!eq || ks == ke) {
                if (secret)
                    scry__log("%s: %s is not key=value; skipped", var, what);
                else
                    scry__log("%s: \"%.*s\" is not key=value; skipped", var, (int)(e - s), s);
            } else if (pct_decode(ks, (size_t)(ke - ks), key) < 0 ||
                       pct_decode(vs, (size_t)(ve - vs), val) < 0) {
                if (secret)
                    scry__log("%s: %s: bad percent-encoding (%%XX with two hex digits, not "
                              "%%00); skipped",
                              var, what);
                else
                    scry__log("%s: \"%.*s\": bad percent-encoding (%%XX with two hex digits, "
                              "not %%00); skipped",
                              var, (int)(e - s), s);
            } else {
                fn(key, val, arg);
            }
        }
        p = *end ? end + 1 : end;
    }
    free(key);
    free(val);
}

/* ---- The resource ------------------------------------------------------- */

typedef struct {
    char *key;
    char *str; /* NULL: an integer */
    int64_t num;
} rattr_t;

static struct {
    int parsed;
    pid_t pid; /* the pid the forms below were made for */
    rattr_t *a;
    size_t n, cap;
    /* protobuf form */
    Otlp__Resource pb;
    Otlp__KeyValue *kv;
    Otlp__AnyValue *av;
    Otlp__KeyValue **kvp;
    /* JSON form: {"attributes":[...]} */
    scry__otlp_buf_t json;
    int ok;
} res;

static Otlp__InstrumentationScope scope = OTLP__INSTRUMENTATION_SCOPE__INIT;

/* A later value of a key replaces the earlier one, in place. */
static void rset(const char *key, const char *str, int64_t num)
{
    for (size_t i = 0; i < res.n; i++) {
        if (strcmp(res.a[i].key, key) == 0) {
            free(res.a[i].str);
            res.a[i].str = str ? strdup(str) : NULL;
            res.a[i].num = num;
            return;
        }
    }
    if (res.n == res.cap) {
        size_t cap = res.cap ? res.cap * 2 : 16;
        rattr_t *a = realloc(res.a, cap * sizeof *a);
        if (!a) return;
        res.a = a;
        res.cap = cap;
    }
    char *k = strdup(key), *s = str ? strdup(str) : NULL;
    if (!k || (str && !s)) {
        free(k);
        free(s);
        return;
    }
    res.a[res.n++] = (rattr_t){k, s, num};
}

static void env_pair(const char *key, const char *value, void *arg)
{
    int *has_service = arg;
    if (strcmp(key, "service.name") == 0) {
        if (*has_service) return; /* OTEL_SERVICE_NAME takes precedence */
    }
    rset(key, value, 0);
}

static void exe_name(char *out, size_t cap)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    const char *name = program_invocation_short_name;
    if (n > 0) {
        path[n] = 0;
        const char *slash = strrchr(path, '/');
        name = slash ? slash + 1 : path;
    }
    snprintf(out, cap, "%.200s", name && *name ? name : "unknown");
}

/* Reads the environment: once per process (and its fork children). */
static void resource_parse(void)
{
    const char *svc = getenv("OTEL_SERVICE_NAME");
    int has_service = svc && *svc;
    /* Placed first so that service.name leads, whatever sets it. */
    if (has_service) {
        rset("service.name", svc, 0);
    } else {
        char name[256], v[300];
        exe_name(name, sizeof name);
        snprintf(v, sizeof v, "unknown_service:%s", name);
        rset("service.name", v, 0);
    }
    rset("telemetry.sdk.name", "scry", 0);
    rset("telemetry.sdk.language", "c", 0);
    rset("telemetry.sdk.version", SCRY_VERSION, 0);
    rset("process.pid", NULL, (int64_t)getpid());
    /* The user's attributes override scry's own (the environment's resource
     * is the updating one when merged with the SDK's). */
    const char *ra = getenv("OTEL_RESOURCE_ATTRIBUTES");
    if (ra && *ra)
        scry__otlp_parse_pairs("OTEL_RESOURCE_ATTRIBUTES", ra, 0, env_pair, &has_service);
    scope.name = "scry";
    scope.version = SCRY_VERSION;
    res.parsed = 1;
}

static void json_resource(void);

/* Makes both forms for the current pid. 0 or -ENOMEM. */
static int resource_ready(void)
{
    pid_t pid = getpid();
    if (res.ok && res.pid == pid) return 0;
    if (!res.parsed) resource_parse();
    for (size_t i = 0; i < res.n; i++)
        if (!res.a[i].str && strcmp(res.a[i].key, "process.pid") == 0) res.a[i].num = pid;
    if (!res.kv) {
        res.kv = calloc(res.n ? res.n : 1, sizeof *res.kv);
        res.av = calloc(res.n ? res.n : 1, sizeof *res.av);
        res.kvp = calloc(res.n ? res.n : 1, sizeof *res.kvp);
        if (!res.kv || !res.av || !res.kvp) {
            free(res.kv), free(res.av), free(res.kvp);
            res.kv = NULL, res.av = NULL, res.kvp = NULL;
            return -ENOMEM;
        }
    }
    otlp__resource__init(&res.pb);
    for (size_t i = 0; i < res.n; i++) {
        otlp__key_value__init(&res.kv[i]);
        otlp__any_value__init(&res.av[i]);
        res.kv[i].key = res.a[i].key;
        res.kv[i].value = &res.av[i];
        if (res.a[i].str) {
            res.av[i].value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
            /* Environment strings may be anything: sanitized once, here,
             * outside the per-batch scratch. */
            if (!utf8_valid(res.a[i].str, strlen(res.a[i].str))) {
                for (unsigned char *c = (unsigned char *)res.a[i].str; *c; c++)
                    if (*c >= 0x80) *c = '?';
            }
            res.av[i].string_value = res.a[i].str;
        } else {
            res.av[i].value_case = OTLP__ANY_VALUE__VALUE_INT_VALUE;
            res.av[i].int_value = res.a[i].num;
        }
        res.kvp[i] = &res.kv[i];
    }
    res.pb.n_attributes = res.n;
    res.pb.attributes = res.kvp;
    json_resource();
    if (!res.json.data) return -ENOMEM;
    res.pid = pid;
    res.ok = 1;
    return 0;
}

/* ---- Collecting a span --------------------------------------------------- */

typedef struct {
    const scry__span_entry_t *ev;
    uint32_t first, n; /* its attributes: col.evattrs[first .. first + n) */
} event_t;

/* Open-addressing table from a key to its index in the list being built;
 * a slot belongs to the current list only when its gen matches, so that
 * starting a list costs nothing. Lists of a few keys (the usual span) are
 * searched linearly instead: cheaper than hashing below about 16 keys. */
#define LINEAR_MAX 16
typedef struct {
    struct {
        uint32_t gen, idx;
    } * s;
    size_t cap;
    uint32_t gen;
    int linear;
} keytab_t;

static struct {
    const scry__span_entry_t **attrs, **evattrs;
    event_t *evs;
    size_t nattrs, nevattrs, nevs;
    size_t cap_attrs, cap_evattrs, cap_evs;
    keytab_t span_keys, ev_keys;
} col;

static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (*cap >= need) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *p = realloc(*(void **)pp, c * elem);
    if (!p) return -ENOMEM;
    *(void **)pp = p;
    *cap = c;
    return 0;
}

static int keytab_ready(keytab_t *t, size_t entries)
{
    t->linear = entries <= LINEAR_MAX;
    if (t->linear) return 0;
    size_t need = 16;
    while (need < entries * 2)
        need *= 2;
    if (t->cap < need) {
        free(t->s);
        t->s = calloc(need, sizeof *t->s);
        if (!t->s) {
            t->cap = 0;
            return -ENOMEM;
        }
        t->cap = need;
        t->gen = 0;
    }
    return 0;
}

static void keytab_new_list(keytab_t *t)
{
    if (t->linear) return;
    if (++t->gen == 0) {
        memset(t->s, 0, t->cap * sizeof *t->s);
        t->gen = 1;
    }
}

static uint32_t key_hash(const char *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

/* Adds e to list[0..*n): a key already there gets e's value in its place. */
static void dedup_add(keytab_t *t, const scry__span_entry_t **list, uint32_t *n,
                      const scry__span_entry_t *e)
{
    if (t->linear) {
        for (uint32_t i = 0; i < *n; i++) {
            if (list[i]->key_len == e->key_len && memcmp(list[i]->text, e->text, e->key_len) == 0) {
                list[i] = e;
                return;
            }
        }
        list[(*n)++] = e;
        return;
    }
    size_t mask = t->cap - 1;
    size_t h = key_hash(e->text, e->key_len) & mask;
    for (;;) {
        if (t->s[h].gen != t->gen) {
            t->s[h].gen = t->gen;
            t->s[h].idx = *n;
            list[(*n)++] = e;
            return;
        }
        const scry__span_entry_t *o = list[t->s[h].idx];
        if (o->key_len == e->key_len && memcmp(o->text, e->text, e->key_len) == 0) {
            list[t->s[h].idx] = e;
            return;
        }
        h = (h + 1) & mask;
    }
}

/* Fills col from s. 0 or -ENOMEM. */
static int collect(const scry__span_t *s)
{
    size_t na = 0, ne = 0, nea = 0;
    for (const scry__span_entry_t *e = scry__span_next_entry(s, NULL); e;
         e = scry__span_next_entry(s, e)) {
        if (e->what == SCRY__SE_ATTR)
            na++;
        else if (e->what == SCRY__SE_EVENT)
            ne++;
        else if (e->what == SCRY__SE_EVENT_ATTR)
            nea++;
    }
    if (grow(&col.attrs, &col.cap_attrs, na, sizeof *col.attrs) ||
        grow(&col.evattrs, &col.cap_evattrs, nea, sizeof *col.evattrs) ||
        grow(&col.evs, &col.cap_evs, ne, sizeof *col.evs) || keytab_ready(&col.span_keys, na) ||
        keytab_ready(&col.ev_keys, nea))
        return -ENOMEM;
    uint32_t nattrs = 0;
    col.nevs = col.nevattrs = 0;
    keytab_new_list(&col.span_keys);
    event_t *ev = NULL;
    for (const scry__span_entry_t *e = scry__span_next_entry(s, NULL); e;
         e = scry__span_next_entry(s, e)) {
        switch (e->what) {
        case SCRY__SE_ATTR:
            dedup_add(&col.span_keys, col.attrs, &nattrs, e);
            break;
        case SCRY__SE_EVENT:
            if (ev) col.nevattrs += ev->n;
            ev = &col.evs[col.nevs++];
            *ev = (event_t){e, (uint32_t)col.nevattrs, 0};
            keytab_new_list(&col.ev_keys);
            break;
        case SCRY__SE_EVENT_ATTR:
            if (ev) dedup_add(&col.ev_keys, col.evattrs + ev->first, &ev->n, e);
            break;
        }
    }
    if (ev) col.nevattrs += ev->n;
    col.nattrs = nattrs;
    return 0;
}

static int id_zero(const uint8_t *id, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (id[i]) return 0;
    return 1;
}

static uint32_t span_flags(const scry__span_t *s)
{
    /* The parent's is-remote is always known here: bit 8 always, bit 9 for
     * a parent extracted from another process (a root span's "parent" is
     * not remote), as the Java and Python SDKs write it. */
    return (uint32_t)s->flags | FLAG_HAS_IS_REMOTE | (s->parent_remote ? FLAG_IS_REMOTE : 0);
}

/* ---- protobuf -------------------------------------------------------------- */

static Otlp__KeyValue **pb_attrs(const scry__span_entry_t *const *list, size_t n)
{
    if (!n) return NULL;
    Otlp__KeyValue **p = salloc(n * sizeof *p);
    Otlp__KeyValue *kv = salloc(n * sizeof *kv);
    Otlp__AnyValue *av = salloc(n * sizeof *av);
    if (!p || !kv || !av) return NULL;
    for (size_t i = 0; i < n; i++) {
        const scry__span_entry_t *e = list[i];
        otlp__key_value__init(&kv[i]);
        otlp__any_value__init(&av[i]);
        kv[i].key = pb_str(e->text, e->key_len);
        if (!kv[i].key) return NULL;
        kv[i].value = &av[i];
        switch (e->type) {
        case SCRY_ATTR_STRING:
            av[i].value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
            av[i].string_value = pb_str(scry__span_entry_str(e), e->str_len);
            if (!av[i].string_value) return NULL;
            break;
        case SCRY_ATTR_BOOL:
            av[i].value_case = OTLP__ANY_VALUE__VALUE_BOOL_VALUE;
            av[i].bool_value = e->num.i != 0;
            break;
        case SCRY_ATTR_INT:
            av[i].value_case = OTLP__ANY_VALUE__VALUE_INT_VALUE;
            av[i].int_value = e->num.i;
            break;
        case SCRY_ATTR_DOUBLE:
            av[i].value_case = OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
            av[i].double_value = e->num.d;
            break;
        default: /* unknown type: an empty value rather than a wrong one */
            break;
        }
        p[i] = &kv[i];
    }
    return p;
}

static Otlp__Span *pb_span(const scry__span_t *s)
{
    if (collect(s) < 0) return NULL;
    Otlp__Span *p = salloc(sizeof *p);
    if (!p) return NULL;
    otlp__span__init(p);
    p->trace_id = (ProtobufCBinaryData){16, (uint8_t *)s->trace_id};
    p->span_id = (ProtobufCBinaryData){8, (uint8_t *)s->span_id};
    if (!id_zero(s->parent_span_id, 8))
        p->parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)s->parent_span_id};
    const char *ts = scry__span_str(s, s->tracestate_off);
    if (ts && *ts && !(p->trace_state = pb_str(ts, strlen(ts)))) return NULL;
    p->flags = span_flags(s);
    const char *name = scry__span_str(s, s->name_off);
    if (name && !(p->name = pb_str(name, strlen(name)))) return NULL;
    p->kind = s->kind <= SCRY_SPAN_CONSUMER ? (Otlp__Span__SpanKind)s->kind : 0;
    p->start_time_unix_nano = (uint64_t)s->start_ns;
    p->end_time_unix_nano = (uint64_t)s->end_ns;
    p->n_attributes = col.nattrs;
    if (col.nattrs && !(p->attributes = pb_attrs(col.attrs, col.nattrs))) return NULL;
    p->dropped_attributes_count = s->dropped_attrs;
    if (col.nevs) {
        Otlp__Span__Event **evp = salloc(col.nevs * sizeof *evp);
        Otlp__Span__Event *ev = salloc(col.nevs * sizeof *ev);
        if (!evp || !ev) return NULL;
        for (size_t i = 0; i < col.nevs; i++) {
            const event_t *c = &col.evs[i];
            otlp__span__event__init(&ev[i]);
            ev[i].time_unix_nano = (uint64_t)c->ev->num.i;
            ev[i].name = pb_str(scry__span_entry_str(c->ev), c->ev->str_len);
            if (!ev[i].name) return NULL;
            ev[i].n_attributes = c->n;
            if (c->n && !(ev[i].attributes = pb_attrs(col.evattrs + c->first, c->n))) return NULL;
            ev[i].dropped_attributes_count = c->ev->type; /* span.h: an event's drops */
            evp[i] = &ev[i];
        }
        p->n_events = col.nevs;
        p->events = evp;
    }
    p->dropped_events_count = s->dropped_events;
    const char *msg = scry__span_str(s, s->status_off);
    if (s->status != SCRY_STATUS_UNSET || (msg && *msg)) {
        Otlp__Status *st = salloc(sizeof *st);
        if (!st) return NULL;
        otlp__status__init(st);
        st->code = s->status <= SCRY_STATUS_ERROR ? (Otlp__Status__StatusCode)s->status : 0;
        if (msg && *msg && !(st->message = pb_str(msg, strlen(msg)))) return NULL;
        p->status = st;
    }
    return p;
}

int scry__otlp_encode_proto(scry__span_t *const *spans, size_t n, scry__otlp_buf_t *out)
{
    if (resource_ready() < 0) return -ENOMEM;
    scratch_reset();
    Otlp__Span **ps = salloc((n ? n : 1) * sizeof *ps);
    if (!ps) return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(ps[i] = pb_span(spans[i]))) return -ENOMEM;
    Otlp__ScopeSpans ss = OTLP__SCOPE_SPANS__INIT, *ssp = &ss;
    ss.scope = &scope;
    ss.n_spans = n;
    ss.spans = ps;
    Otlp__ResourceSpans rs = OTLP__RESOURCE_SPANS__INIT, *rsp = &rs;
    rs.resource = &res.pb;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    Otlp__ExportTraceServiceRequest req = OTLP__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;
    size_t size = otlp__export_trace_service_request__get_packed_size(&req);
    out->len = 0;
    if (scry__otlp_buf_reserve(out, size) < 0) return -ENOMEM;
    out->len = otlp__export_trace_service_request__pack(&req, out->data);
    return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

typedef struct {
    scry__otlp_buf_t *b;
    int oom;
} jw_t;

static void put(jw_t *w, const void *s, size_t n)
{
    if (w->oom || scry__otlp_buf_reserve(w->b, n) < 0) {
        w->oom = 1;
        return;
    }
    memcpy(w->b->data + w->b->len, s, n);
    w->b->len += n;
}

#define PUT(w, lit) put((w), (lit), sizeof(lit) - 1)

/* A JSON string: quoted, escaped, bad UTF-8 as U+FFFD. */
static void put_str(jw_t *w, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case 6 bytes out per byte in, reserved once. */
    if (w->oom || scry__otlp_buf_reserve(w->b, n * 6 + 2) < 0) {
        w->oom = 1;
        return;
    }
    const unsigned char *s = (const unsigned char *)str;
    uint8_t *o = w->b->data + w->b->len;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (uint8_t)c;
            i++;
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (uint8_t)c;
            i++;
        } else if (c < 0x20) {
            *o++ = '\\';
            switch (c) {
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            default:
                *o++ = 'u', *o++ = '0', *o++ = '0';
                *o++ = (uint8_t)hex[c >> 4], *o++ = (uint8_t)hex[c & 15];
            }
            i++;
        } else {
            size_t l = utf8_seq(s + i, n - i);
            if (l) {
                memcpy(o, s + i, l);
                o += l;
                i += l;
            } else {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                i++;
            }
        }
    }
    *o++ = '"';
    w->b->len = (size_t)(o - w->b->data);
}

static void put_cstr(jw_t *w, const char *s)
{
    put_str(w, s, strlen(s));
}

static void put_hex(jw_t *w, const uint8_t *id, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char buf[2 + 2 * 16];
    size_t j = 0;
    buf[j++] = '"';
    for (size_t i = 0; i < n && i < 16; i++) {
        buf[j++] = hex[id[i] >> 4];
        buf[j++] = hex[id[i] & 15];
    }
    buf[j++] = '"';
    put(w, buf, j);
}

static void put_u64(jw_t *w, uint64_t v, int quoted)
{
    char buf[24], *p = buf + sizeof buf;
    if (quoted) *--p = '"';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (quoted) *--p = '"';
    put(w, p, (size_t)(buf + sizeof buf - p));
}

static void put_i64(jw_t *w, int64_t v)
{
    /* int64 in proto3 JSON: a decimal string */
    if (v < 0) {
        PUT(w, "\"-");
        put_u64(w, (uint64_t)0 - (uint64_t)v, 0);
        PUT(w, "\"");
    } else {
        put_u64(w, (uint64_t)v, 1);
    }
}

static void put_double(jw_t *w, double d)
{
    /* proto3 JSON's names for what JSON numbers cannot be */
    if (isnan(d)) {
        PUT(w, "\"NaN\"");
    } else if (isinf(d)) {
        if (d > 0)
            PUT(w, "\"Infinity\"");
        else
            PUT(w, "\"-Infinity\"");
    } else {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%.17g", d);
        put(w, buf, (size_t)n);
    }
}

static void json_attrs(jw_t *w, const scry__span_entry_t *const *list, size_t n)
{
    PUT(w, "\"attributes\":[");
    for (size_t i = 0; i < n; i++) {
        const scry__span_entry_t *e = list[i];
        if (i) PUT(w, ",");
        PUT(w, "{\"key\":");
        put_str(w, e->text, e->key_len);
        PUT(w, ",\"value\":{");
        switch (e->type) {
        case SCRY_ATTR_STRING:
            PUT(w, "\"stringValue\":");
            put_str(w, scry__span_entry_str(e), e->str_len);
            break;
        case SCRY_ATTR_BOOL:
            if (e->num.i)
                PUT(w, "\"boolValue\":true");
            else
                PUT(w, "\"boolValue\":false");
            break;
        case SCRY_ATTR_INT:
            PUT(w, "\"intValue\":");
            put_i64(w, e->num.i);
            break;
        case SCRY_ATTR_DOUBLE:
            PUT(w, "\"doubleValue\":");
            put_double(w, e->num.d);
            break;
        }
        PUT(w, "}}");
    }
    PUT(w, "]");
}

static void json_span(jw_t *w, const scry__span_t *s)
{
    if (collect(s) < 0) {
        w->oom = 1;
        return;
    }
    PUT(w, "{\"traceId\":");
    put_hex(w, s->trace_id, 16);
    PUT(w, ",\"spanId\":");
    put_hex(w, s->span_id, 8);
    const char *ts = scry__span_str(s, s->tracestate_off);
    if (ts && *ts) {
        PUT(w, ",\"traceState\":");
        put_cstr(w, ts);
    }
    if (!id_zero(s->parent_span_id, 8)) {
        PUT(w, ",\"parentSpanId\":");
        put_hex(w, s->parent_span_id, 8);
    }
    PUT(w, ",\"flags\":");
    put_u64(w, span_flags(s), 0);
    PUT(w, ",\"name\":");
    const char *name = scry__span_str(s, s->name_off);
    put_cstr(w, name ? name : "");
    if (s->kind && s->kind <= SCRY_SPAN_CONSUMER) {
        PUT(w, ",\"kind\":");
        put_u64(w, s->kind, 0);
    }
    PUT(w, ",\"startTimeUnixNano\":");
    put_u64(w, (uint64_t)s->start_ns, 1);
    PUT(w, ",\"endTimeUnixNano\":");
    put_u64(w, (uint64_t)s->end_ns, 1);
    if (col.nattrs) {
        PUT(w, ",");
        json_attrs(w, col.attrs, col.nattrs);
    }
    if (s->dropped_attrs) {
        PUT(w, ",\"droppedAttributesCount\":");
        put_u64(w, s->dropped_attrs, 0);
    }
    if (col.nevs) {
        PUT(w, ",\"events\":[");
        for (size_t i = 0; i < col.nevs; i++) {
            const event_t *c = &col.evs[i];
            if (i) PUT(w, ",");
            PUT(w, "{\"timeUnixNano\":");
            put_u64(w, (uint64_t)c->ev->num.i, 1);
            PUT(w, ",\"name\":");
            put_str(w, scry__span_entry_str(c->ev), c->ev->str_len);
            if (c->n) {
                PUT(w, ",");
                json_attrs(w, col.evattrs + c->first, c->n);
            }
            if (c->ev->type) {
                PUT(w, ",\"droppedAttributesCount\":");
                put_u64(w, c->ev->type, 0);
            }
            PUT(w, "}");
        }
        PUT(w, "]");
    }
    if (s->dropped_events) {
        PUT(w, ",\"droppedEventsCount\":");
        put_u64(w, s->dropped_events, 0);
    }
    const char *msg = scry__span_str(s, s->status_off);
    if (s->status != SCRY_STATUS_UNSET || (msg && *msg)) {
        PUT(w, ",\"status\":{");
        if (msg && *msg) {
            PUT(w, "\"message\":");
            put_cstr(w, msg);
            if (s->status) PUT(w, ",");
        }
        if (s->status) {
            PUT(w, "\"code\":");
            put_u64(w, s->status <= SCRY_STATUS_ERROR ? s->status : 0, 0);
        }
        PUT(w, "}");
    }
    PUT(w, "}");
}

static void json_resource(void)
{
    res.json.len = 0;
    jw_t w = {&res.json, 0};
    PUT(&w, "{\"attributes\":[");
    for (size_t i = 0; i < res.n; i++) {
        if (i) PUT(&w, ",");
        PUT(&w, "{\"key\":");
        put_cstr(&w, res.a[i].key);
        if (res.a[i].str) {
            PUT(&w, ",\"value\":{\"stringValue\":");
            put_cstr(&w, res.a[i].str);
        } else {
            PUT(&w, ",\"value\":{\"intValue\":");
            put_i64(&w, res.a[i].num);
        }
        PUT(&w, "}}");
    }
    PUT(&w, "]}");
    if (w.oom) scry__otlp_buf_free(&res.json);
}

int scry__otlp_encode_json(scry__span_t *const *spans, size_t n, scry__otlp_buf_t *out)
{
    if (resource_ready() < 0) return -ENOMEM;
    out->len = 0;
    jw_t w = {out, 0};
    PUT(&w, "{\"resourceSpans\":[{\"resource\":");
    put(&w, res.json.data, res.json.len);
    PUT(&w, ",\"scopeSpans\":[{\"scope\":{\"name\":\"scry\",\"version\":");
    put_cstr(&w, SCRY_VERSION);
    PUT(&w, "},\"spans\":[");
    for (size_t i = 0; i < n && !w.oom; i++) {
        if (i) PUT(&w, ",");
        json_span(&w, spans[i]);
    }
    PUT(&w, "]}]}]}");
    return w.oom ? -ENOMEM : 0;
}

/* ---- Responses ----------------------------------------------------------- */

/* The value after "key": in a JSON body, as a number (bare or quoted). */
static int64_t json_int_after(const char *s, size_t n, const char *key)
{
    size_t kl = strlen(key);
    const char *p = memmem(s, n, key, kl);
    if (!p) return 0;
    p += kl;
    const char *end = s + n;
    while (p < end && (*p == ' ' || *p == ':' || *p == '"' || *p == '\t' || *p == '\n'))
        p++;
    int64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9' && v < INT64_MAX / 10)
        v = v * 10 + (*p++ - '0');
    return v;
}

static void json_str_after(const char *s, size_t n, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    const char *p = memmem(s, n, key, kl), *end = s + n;
    if (!p || !cap) return;
    p += kl;
    while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n'))
        p++;
    if (p >= end || *p != '"') return;
    p++;
    size_t j = 0;
    while (p < end && *p != '"' && j + 1 < cap) {
        if (*p == '\\' && p + 1 < end) p++;
        out[j++] = *p++;
    }
    out[j] = 0;
}

int64_t scry__otlp_rejected(const void *body, size_t len, int json, char *msg, size_t cap)
{
    if (cap) msg[0] = 0;
    if (!len) return 0;
    if (json) {
        json_str_after(body, len, "\"errorMessage\"", msg, cap);
        int64_t r = json_int_after(body, len, "\"rejectedSpans\"");
        return r > 0 ? r : 0;
    }
    Otlp__ExportTraceServiceResponse *r =
        otlp__export_trace_service_response__unpack(NULL, len, body);
    if (!r) return 0;
    int64_t n = 0;
    if (r->partial_success) {
        n = r->partial_success->rejected_spans;
        if (cap && r->partial_success->error_message)
            snprintf(msg, cap, "%s", r->partial_success->error_message);
    }
    otlp__export_trace_service_response__free_unpacked(r, NULL);
    return n > 0 ? n : 0;
}

/* ---- Teardown -------------------------------------------------------------- */

void scry__otlp_free(void)
{
    for (block_t *b = blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    blocks = cur = NULL;
    free(col.attrs), free(col.evattrs), free(col.evs);
    free(col.span_keys.s), free(col.ev_keys.s);
    memset(&col, 0, sizeof col);
    for (size_t i = 0; i < res.n; i++)
        free(res.a[i].key), free(res.a[i].str);
    free(res.a), free(res.kv), free(res.av), free(res.kvp);
    scry__otlp_buf_free(&res.json);
    memset(&res, 0, sizeof res);
}
