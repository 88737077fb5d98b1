/*
 * user.c - counters, gauges and histograms a program declares; see scry.h.
 *
 * Counters and histograms live in cells: 64-bit slots numbered when the
 * metric is declared (a counter takes one, a histogram one per bucket plus
 * one for the sum). Every thread has its own cells, in chunks of 1024 that
 * it allocates the first time it touches one, reached through an
 * initial-exec TLS array: an update is one TLS load, a test and an add,
 * with no lock and no atomic read-modify-write (the owner is the only
 * writer; readers load with relaxed atomics). A read sums a cell over every
 * live thread's chunks and the cells of threads that exited (folded in by a
 * TLS-key destructor). Gauges are one atomic double each: a gauge is "the
 * value now", which per-thread parts cannot give.
 *
 * Lock: `lock` guards the metric table, the list of threads' cell arrays
 * and the exited threads' cells. Never taken on an update's fast path.
 */
#define _GNU_SOURCE
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define MAX_METRICS 4096
#define CHUNK_CELLS 1024
#define MAX_CHUNKS 64 /* 65536 cells */
#define LIKELY(x) __builtin_expect(!!(x), 1)

struct scry_metric {
    /* Where scry_counter_add adds: the counter's cell, or for any other
     * kind the sink, a cell nobody reads (so the hot path tests no kind). */
    uint32_t add_cell;
    scry_metric_kind_t kind;
    uint32_t cell; /* first cell (counters, histograms) */
    int nbounds;
    double bounds[SCRY_METRIC_MAX_BUCKETS];
    _Atomic uint64_t gauge; /* the double's bits */
    char *name, *help, *labels;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct scry_metric *table[MAX_METRICS];
static int nmetrics;
#define SINK_CELL 0
static uint32_t ncells = 1; /* cell 0 is the sink */

/* Each thread's cells. */
static __thread uint64_t *cells[MAX_CHUNKS] __attribute__((tls_model("initial-exec")));
typedef struct holder {
    uint64_t **cells; /* that thread's TLS array */
    struct holder *next;
} holder_t;
static holder_t *holders;
static uint64_t *retired[MAX_CHUNKS]; /* exited threads' sums */
/* Cells that hold a double (histogram sums): summed as doubles. */
static uint8_t is_double[CHUNK_CELLS * MAX_CHUNKS / 8];
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* ---- declaring ---- */

static int name_ok(const char *s)
{
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':';
        if (!alpha && !(p > s && *p >= '0' && *p <= '9')) return 0;
    }
    return 1;
}

/* "k=v,k2=v2" into `k="v",k2="v2"` (escaped), or NULL with why. */
static char *labels_form(const char *in, const char **why)
{
    size_t cap = 2 * (in ? strlen(in) : 0) + 16, n = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    out[0] = 0;
    for (const char *p = in; p && *p;) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end || eq == p) {
            *why = "labels must read key=value,key=value";
            free(out);
            return NULL;
        }
        for (const char *k = p; k < eq; k++) {
            int ok = (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_' ||
                     (k > p && *k >= '0' && *k <= '9');
            if (!ok || (eq - p >= 2 && p[0] == '_' && p[1] == '_')) {
                *why = "a label key must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __";
                free(out);
                return NULL;
            }
        }
        if (n) out[n++] = ',';
        memcpy(out + n, p, (size_t)(eq - p));
        n += (size_t)(eq - p);
        out[n++] = '=';
        out[n++] = '"';
        for (const char *v = eq + 1; v < end; v++) {
            if (*v == '"' || *v == '\\') out[n++] = '\\';
            if (*v == '\n') {
                out[n++] = '\\';
                out[n++] = 'n';
                continue;
            }
            out[n++] = *v;
        }
        out[n++] = '"';
        out[n] = 0;
        p = *end ? end + 1 : end;
    }
    return out;
}

static scry_metric_t *declare(scry_metric_kind_t kind, const char *name, const char *help,
                              const char *labels, const double *bounds, int nbounds)
{
    const char *why = NULL;
    if (!name_ok(name)) why = "the name must match [a-zA-Z_:][a-zA-Z0-9_:]*";
    if (!why && kind == SCRY_HISTOGRAM) {
        if (!bounds || nbounds < 1 || nbounds > SCRY_METRIC_MAX_BUCKETS)
            why = "a histogram needs 1 to 64 bucket bounds";
        for (int i = 1; !why && i < nbounds; i++)
            if (!(bounds[i] > bounds[i - 1])) why = "histogram bounds must increase";
    }
    char *form = why ? NULL : labels_form(labels, &why);
    if (!form) {
        scry__log("metric '%s': %s; not declared", name ? name : "(null)",
                  why ? why : "out of memory");
        return NULL;
    }
    scry_metric_t *m = NULL;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nmetrics; i++) {
        if (strcmp(table[i]->name, name)) continue;
        if (table[i]->kind != kind) {
            why = "the name is declared already as another kind of metric";
            break;
        }
        if (!strcmp(table[i]->labels, form)) {
            m = table[i];
            break;
        }
    }
    uint32_t need = kind == SCRY_COUNTER ? 1 : kind == SCRY_HISTOGRAM ? (uint32_t)nbounds + 2 : 0;
    if (!m && !why) {
        if (nmetrics == MAX_METRICS || ncells + need > CHUNK_CELLS * MAX_CHUNKS)
            why = "too many metrics (4096 at most)";
        else if ((m = calloc(1, sizeof *m))) {
            m->kind = kind;
            m->cell = ncells;
            m->add_cell = kind == SCRY_COUNTER ? ncells : SINK_CELL;
            m->nbounds = kind == SCRY_HISTOGRAM ? nbounds : 0;
            if (m->nbounds) memcpy(m->bounds, bounds, (size_t)nbounds * sizeof *bounds);
            m->name = strdup(name);
            m->help = strdup(help && *help ? help : name);
            m->labels = form;
            form = NULL;
            if (kind == SCRY_HISTOGRAM) {
                uint32_t d = ncells + need - 1;
                is_double[d / 8] |= (uint8_t)(1u << (d % 8));
            }
            ncells += need;
            table[nmetrics++] = m;
        }
    }
    pthread_mutex_unlock(&lock);
    free(form);
    if (why) scry__log("metric '%s': %s; not declared", name, why);
    return why ? NULL : m;
}

scry_metric_t *scry_counter(const char *name, const char *help, const char *labels)
{
    return declare(SCRY_COUNTER, name, help, labels, NULL, 0);
}

scry_metric_t *scry_gauge(const char *name, const char *help, const char *labels)
{
    return declare(SCRY_GAUGE, name, help, labels, NULL, 0);
}

scry_metric_t *scry_histogram(const char *name, const char *help, const char *labels,
                              const double *bounds, int nbounds)
{
    return declare(SCRY_HISTOGRAM, name, help, labels, bounds, nbounds);
}

/* ---- updating ---- */

static double bits_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t double_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Lock held: adds a thread's cells to the exited threads' sums. */
static void retire_locked(uint64_t *const *from)
{
    for (int c = 0; c < MAX_CHUNKS; c++) {
        if (!from[c]) continue;
        if (!retired[c]) retired[c] = calloc(CHUNK_CELLS, sizeof(uint64_t));
        for (int i = 0; retired[c] && i < CHUNK_CELLS; i++) {
            uint32_t cell = (uint32_t)(c * CHUNK_CELLS + i);
            if (is_double[cell / 8] & (1u << (cell % 8)))
                retired[c][i] = double_bits(bits_double(retired[c][i]) + bits_double(from[c][i]));
            else
                retired[c][i] += from[c][i];
        }
    }
}

/* TLS destructor: the thread's cells join the exited threads'. */
static void thread_gone(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&lock);
    for (holder_t **h = &holders; *h; h = &(*h)->next) {
        if ((*h)->cells != cells) continue;
        holder_t *dead = *h;
        *h = dead->next;
        free(dead);
        break;
    }
    retire_locked(cells);
    for (int c = 0; c < MAX_CHUNKS; c++) {
        free(cells[c]);
        cells[c] = NULL;
    }
    pthread_mutex_unlock(&lock);
}

static void make_key(void)
{
    pthread_key_create(&key, thread_gone);
}

/* The calling thread's chunk c, made on first use; NULL without memory. */
__attribute__((noinline)) static uint64_t *chunk_slow(uint32_t c)
{
    pthread_once(&key_once, make_key);
    uint64_t *chunk = calloc(CHUNK_CELLS, sizeof(uint64_t));
    if (!chunk) return NULL;
    pthread_mutex_lock(&lock);
    int known = 0;
    for (int i = 0; i < MAX_CHUNKS; i++)
        known |= cells[i] != NULL;
    holder_t *h = known ? NULL : malloc(sizeof *h);
    if (!known && h) {
        h->cells = cells;
        h->next = holders;
        holders = h;
        pthread_setspecific(key, (void *)1);
    }
    if (known || h) __atomic_store_n(&cells[c], chunk, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
    if (!known && !h) {
        free(chunk);
        return NULL;
    }
    return chunk;
}

static inline uint64_t *cell_of(uint32_t cell)
{
    uint64_t *chunk = cells[cell / CHUNK_CELLS];
    if (!LIKELY(chunk) && !(chunk = chunk_slow(cell / CHUNK_CELLS))) return NULL;
    return &chunk[cell % CHUNK_CELLS];
}

__attribute__((noinline)) static void counter_add_slow(uint32_t cell, unsigned long long n)
{
    uint64_t *c = cell_of(cell);
    if (c) __atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

/* The hot one: no frame of its own, the first touch of a chunk a tail call. */
__attribute__((optimize("omit-frame-pointer"))) void scry_counter_add(scry_metric_t *m,
                                                                      unsigned long long n)
{
    if (!m) return;
    uint32_t cell = m->add_cell;
    uint64_t *chunk = cells[cell / CHUNK_CELLS];
    if (!LIKELY(chunk)) {
        counter_add_slow(cell, n);
        return;
    }
    uint64_t *c = &chunk[cell % CHUNK_CELLS];
    __atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

void scry_gauge_set(scry_metric_t *m, double v)
{
    if (m && m->kind == SCRY_GAUGE)
        atomic_store_explicit(&m->gauge, double_bits(v), memory_order_relaxed);
}

void scry_gauge_add(scry_metric_t *m, double d)
{
    if (!m || m->kind != SCRY_GAUGE) return;
    uint64_t old = atomic_load_explicit(&m->gauge, memory_order_relaxed);
    while (!atomic_compare_exchange_weak(&m->gauge, &old, double_bits(bits_double(old) + d))) {
    }
}

void scry_histogram_observe(scry_metric_t *m, double v)
{
    if (!m || m->kind != SCRY_HISTOGRAM) return;
    int lo = 0, hi = m->nbounds; /* first bound >= v, or nbounds */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    uint64_t *c = cell_of(m->cell + (uint32_t)lo), *s = cell_of(m->cell + (uint32_t)m->nbounds + 1);
    if (!c || !s) return;
    __atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
    __atomic_store_n(s, double_bits(bits_double(*s) + v), __ATOMIC_RELAXED);
}

/* ---- fork ---- */

void scry__user_metrics_prefork(void)
{
    pthread_mutex_lock(&lock);
}

void scry__user_metrics_postfork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

/* Only the forking thread crossed: the other threads' cells (their TLS,
 * still mapped) become the child's exited threads' sums. */
void scry__user_metrics_postfork_child(void)
{
    for (holder_t **h = &holders; *h;) {
        holder_t *x = *h;
        if (x->cells == cells) {
            h = &x->next;
            continue;
        }
        retire_locked(x->cells);
        *h = x->next;
        free(x);
    }
    pthread_mutex_unlock(&lock);
}

/* ---- reading ---- */

/* Lock held. */
static uint64_t sum_cell(uint32_t cell)
{
    uint32_t c = cell / CHUNK_CELLS, i = cell % CHUNK_CELLS;
    uint64_t s = retired[c] ? retired[c][i] : 0;
    for (holder_t *h = holders; h; h = h->next) {
        uint64_t *chunk = __atomic_load_n(&h->cells[c], __ATOMIC_ACQUIRE);
        if (chunk) s += __atomic_load_n(&chunk[i], __ATOMIC_RELAXED);
    }
    return s;
}

/* Lock held: histogram sums are doubles, one per thread. */
static double sum_double_cell(uint32_t cell)
{
    uint32_t c = cell / CHUNK_CELLS, i = cell % CHUNK_CELLS;
    double s = retired[c] ? bits_double(retired[c][i]) : 0;
    for (holder_t *h = holders; h; h = h->next) {
        uint64_t *chunk = __atomic_load_n(&h->cells[c], __ATOMIC_ACQUIRE);
        if (chunk) s += bits_double(__atomic_load_n(&chunk[i], __ATOMIC_RELAXED));
    }
    return s;
}

void scry__user_metrics_each(scry__user_metric_fn fn, void *arg)
{
    scry_metric_value_t *v = malloc(sizeof *v);
    if (!v) return;
    pthread_mutex_lock(&lock);
    for (int k = 0; k < nmetrics; k++) {
        scry_metric_t *m = table[k];
        memset(v, 0, sizeof *v);
        v->name = m->name;
        v->kind = m->kind;
        v->known = 1;
        if (m->kind == SCRY_COUNTER) v->value = (double)sum_cell(m->cell);
        if (m->kind == SCRY_GAUGE) v->value = bits_double(atomic_load(&m->gauge));
        if (m->kind == SCRY_HISTOGRAM) {
            v->nbuckets = m->nbounds;
            memcpy(v->bounds, m->bounds, (size_t)m->nbounds * sizeof *m->bounds);
            for (int b = 0; b <= m->nbounds; b++) {
                v->counts[b] = sum_cell(m->cell + (uint32_t)b);
                v->count += v->counts[b];
            }
            v->sum = sum_double_cell(m->cell + (uint32_t)m->nbounds + 1);
        }
        fn(m->name, m->help, m->labels, v, arg);
    }
    pthread_mutex_unlock(&lock);
    free(v);
}
