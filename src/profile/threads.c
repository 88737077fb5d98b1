/*
 * threads.c - the thread profile ("threads", Go's goroutine profile) and the
 * snapshot behind it and behind tracebacks; see threads.h.
 *
 * Flow of a snapshot: hold the stack-request lock and the thread registry
 * lock; for each registered thread read its name and state from /proc, then
 * either copy the stack it published on entering a wait or signal it for its
 * stack; wait (at most 100 ms) for the answers; sort by tid. Every allocation
 * happens before the first signal, so a thread that answers writes only into
 * the pre-allocated slots of core/stacks.c.
 *
 * The thread taking the snapshot is not signalled: it walks its own stack
 * and keeps only the program's part of it. When that thread is the one
 * running exit() (the profile written at exit, from scry's destructor), the
 * part starts at the caller of libc's exit: the stack as it was when the
 * program called exit(), or __libc_start_call_main when main returned,
 * with state "exiting"; not exit's handlers, the loader's destructor loop
 * and scry's writer, which run inside exit. Otherwise (scry_profile_write
 * called by the program) it starts at the caller of scry's leaf-most run
 * of frames. The walk uses the hybrid tables, or libunwind where the mode
 * is fp: glibc keeps no frame pointers, so an fp walk from inside exit
 * stops in the loader (_dl_call_fini) and never reaches the program. Only
 * a registered thread walks itself (scry's own threads are not in the
 * snapshot; a foreign one is signalled as any other).
 *
 * The profile: one sample per thread, value 1 (threads/count), its stack,
 * and labels tid, thread_name, state, and for a wait scry's interposers
 * know, wait_object and wait_ns. Tools aggregate by stack; `scry threads`
 * prints Go's debug=1 and debug=2 texts from the file.
 */
#define _GNU_SOURCE
#include "core/unwind.h"
#include "profile/threads.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/lib-names.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/stacks.h"
#include "core/threads.h"
#include "core/waits.h"
#include "format/pprof.h"
#include "format/symbolize.h"
#include "profile/profile.h"
#include "scry.h"

/* How long a snapshot waits for threads to answer. */
#define ANSWER_TIMEOUT_NS 100000000

static _Atomic int running;

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The state of a thread that could not tell it itself, from
 * /proc/self/task/TID/stat: "TID (comm) S ...". */
static void read_state(pid_t tid, const char **state)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    char *open_ = strchr(buf, '('), *close_ = strrchr(buf, ')');
    if (!open_ || !close_ || close_ < open_ || close_[1] != ' ') return;
    switch (close_[2]) {
    case 'R':
        *state = "running";
        break;
    case 'S':
        *state = "sleeping";
        break;
    case 'D':
        *state = "disk";
        break;
    case 'T':
        *state = "stopped";
        break;
    case 't':
        *state = "traced";
        break;
    case 'Z':
        *state = "zombie";
        break;
    case 'X':
        *state = "dead";
        break;
    case 'I':
        *state = "idle";
        break;
    }
}

static int by_tid(const void *a, const void *b)
{
    pid_t x = ((const scry__tdump_thread_t *)a)->tid, y = ((const scry__tdump_thread_t *)b)->tid;
    return (x > y) - (x < y);
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void scry__tdump_free(scry__tdump_t *d)
{
    if (!d) return;
    free(d->t);
    free(d->arena);
    free(d);
}

/* libc's exit(), [exit_lo, exit_hi), both 0 when unknown. Found through
 * libc's own handle: the address of exit as seen from here may be a non-PIE
 * program's canonical PLT entry. Looked up once, when the profile starts
 * (or at the first snapshot), not first thing inside exit. */
static uintptr_t exit_lo, exit_hi;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void find_libc_exit(void)
{
    void *libc = dlopen(LIBC_SO, RTLD_LAZY | RTLD_NOLOAD);
    void *fn = libc ? dlsym(libc, "exit") : NULL;
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (fn && dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) {
        exit_lo = (uintptr_t)info.dli_saddr;
        exit_hi = exit_lo + sym->st_size;
    }
    if (libc) dlclose(libc);
}

static int in_libscry(uintptr_t pc)
{
    Dl_info own, at;
    return dladdr((void *)&in_libscry, &own) && dladdr((void *)pc, &at) &&
           at.dli_fbase == own.dli_fbase;
}

/* The calling thread's own stack, the program's part of it (see the top of
 * this file), into out; sets *exiting when the thread is inside exit(). */
static uint32_t own_stack(uintptr_t *out, int *exiting)
{
    int mode =
        scry__config.unwind == SCRY__UNWIND_FP ? SCRY__UNWIND_LIBUNWIND : scry__config.unwind;
    uint32_t n = scry__unwind_here(mode, out, SCRY__MAX_FRAMES);
    if (n == 0 && mode != SCRY__UNWIND_LIBUNWIND) /* no stack bounds for a hybrid walk */
        n = scry__unwind_here(SCRY__UNWIND_LIBUNWIND, out, SCRY__MAX_FRAMES);
    pthread_once(&exit_once, find_libc_exit);
    /* From the root: the first call into exit (frames are return
     * addresses minus one, so a call that ends exit's code is still inside
     * it). Else the run of scry's frames at the leaf, this walk's callers
     * up to scry_profile_write; not the outermost scry frame, as scry may
     * also sit near the root (its pthread_create wraps the thread's start,
     * below a sanitizer's). */
    uint32_t cut = 0;
    *exiting = 0;
    for (uint32_t i = n; i-- > 0;) {
        if (out[i] >= exit_lo && out[i] < exit_hi) {
            cut = i + 1;
            *exiting = 1;
            break;
        }
    }
    if (!*exiting)
        while (cut < n && in_libscry(out[cut]))
            cut++;
    memmove(out, out + cut, (n - cut) * sizeof *out);
    return n - cut;
}

scry__tdump_t *scry__tdump_take(pid_t skip)
{
    if (scry__stacks_init(scry__config.unwind) < 0) return NULL;
    int64_t t0 = clock_ns(CLOCK_MONOTONIC);
    /* Before any lock: libunwind's walk and dladdr take the loader's. */
    pid_t me = scry__tls.rec ? (pid_t)syscall(SYS_gettid) : 0;
    uintptr_t mine[SCRY__MAX_FRAMES];
    int exiting = 0;
    uint32_t nmine = me ? own_stack(mine, &exiting) : 0;
    scry__threads_scan(); /* threads scry did not see start */
    scry__tdump_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->when_ns = clock_ns(CLOCK_REALTIME);

    scry__stacks_lock();
    scry__threads_lock();
    int n;
    scry__thread_t *const *all = scry__threads_all(&n);
    d->t = calloc(n ? (size_t)n : 1, sizeof *d->t);
    d->arena = malloc((n ? (size_t)n : 1) * SCRY__MAX_FRAMES * sizeof *d->arena);
    scry__thread_t **recs = calloc(n ? (size_t)n : 1, sizeof *recs);
    if (!d->t || !d->arena || !recs || scry__stacks_begin(n, 0) < 0) {
        scry__threads_unlock();
        scry__stacks_unlock();
        free(recs);
        scry__tdump_free(d);
        return NULL;
    }
    int64_t now_coarse = scry__coarse_ns();
    int k = 0;
    for (int j = 0; j < n; j++) {
        scry__thread_t *t = all[j];
        if (t->tid == skip) continue;
        scry__tdump_thread_t *x = &d->t[k];
        x->tid = t->tid;
        x->frames = d->arena + (size_t)k * SCRY__MAX_FRAMES;
        x->pause_ns = -1;
        x->state = "unknown";
        snprintf(x->name, sizeof x->name, "%s", t->name);
        if (me && t->tid == me) {
            x->state = exiting ? "exiting" : "running";
            x->nframes = nmine;
            memcpy(x->frames, mine, nmine * sizeof *x->frames);
            if (!nmine) x->no_stack = "its own walk found no frame of the program";
            d->own++;
            recs[k++] = NULL;
            continue;
        }
        scry__thread_t *rec = t->foreign ? NULL : t;
        scry__wait_view_t v;
        if (rec) {
            scry__wait_read(rec, &v, x->frames);
            if (v.kind != SCRY__TW_NONE) {
                x->state = scry__wait_name(v.kind);
                x->waiting = 1;
                x->wait_obj = v.obj;
                x->wait_ns = now_coarse > v.since_ns ? now_coarse - v.since_ns : 0;
            }
            if (v.kind != SCRY__TW_NONE && v.nframes > 0) {
                x->nframes = v.nframes;
                d->published++;
                recs[k++] = NULL;
                continue;
            }
        }
        int rc = scry__stacks_ask(k, t->tid, rec);
        if (rc == -ESRCH) continue; /* gone: not in the snapshot */
        if (rc == -EAGAIN)
            x->no_stack = "in a wait a signal would cut short, entered before stacks were wanted";
        else if (rc < 0)
            x->no_stack = "could not be signalled";
        if (rc < 0 && !x->waiting) read_state(t->tid, &x->state);
        recs[k++] = rc == 0 ? t : NULL;
    }
    int64_t w0 = clock_ns(CLOCK_MONOTONIC);
    d->missing = scry__stacks_wait(ANSWER_TIMEOUT_NS);
    d->wait_ns = clock_ns(CLOCK_MONOTONIC) - w0;
    int64_t *pauses = malloc((k ? (size_t)k : 1) * sizeof *pauses);
    int np = 0;
    for (int i = 0; i < k; i++) {
        if (!recs[i]) continue;
        scry__tdump_thread_t *x = &d->t[i];
        const scry__stack_slot_t *s = scry__stacks_answer(i);
        if (!s) {
            x->no_stack = "did not answer within 100 ms";
            if (!x->waiting) read_state(x->tid, &x->state); /* stopped? in disk I/O? */
            continue;
        }
        /* Its handler saw whether it was blocked in a system call. */
        if (!x->waiting) x->state = s->in_syscall ? "sleeping" : "running";
        d->signalled++;
        x->nframes = s->nframes;
        memcpy(x->frames, s->frames, s->nframes * sizeof *x->frames);
        x->pause_ns = s->pause_ns;
        if (pauses) pauses[np++] = s->pause_ns;
    }
    scry__threads_unlock();
    scry__stacks_unlock();
    free(recs);
    d->n = k;
    d->exiting = d->own && exiting;
    d->total_ns = clock_ns(CLOCK_MONOTONIC) - t0;
    if (pauses && np) {
        qsort(pauses, (size_t)np, sizeof *pauses, by_value);
        d->pause_median_ns = pauses[np / 2];
        d->pause_max_ns = pauses[np - 1];
    }
    free(pauses);
    qsort(d->t, (size_t)d->n, sizeof *d->t, by_tid);
    return d;
}

/* Truncated, as Go's minutes and `scry threads` are: a dump never claims a
 * wait longer than it was. */
static void duration(int64_t ns, char *buf, size_t len)
{
    if (ns < 1000000000)
        snprintf(buf, len, "%lld ms", (long long)(ns / 1000000));
    else if (ns < 60 * 1000000000LL)
        snprintf(buf, len, "%lld.%lld s", (long long)(ns / 1000000000),
                 (long long)(ns / 100000000 % 10));
    else
        snprintf(buf, len, "%lld minutes", (long long)(ns / 60000000000LL));
}

void scry__tdump_describe(const scry__tdump_thread_t *t, char *buf, size_t len)
{
    char obj[40] = "", dur[32] = "";
    if (t->waiting && t->wait_obj)
        snprintf(obj, sizeof obj, " on %#lx", (unsigned long)t->wait_obj);
    if (t->waiting) {
        dur[0] = ',';
        dur[1] = ' ';
        duration(t->wait_ns, dur + 2, sizeof dur - 2);
    }
    snprintf(buf, len, "%s%s%s", t->state, obj, dur);
}

/* ---- text ---- */

static int own_mapping(scry__symbolizer_t *sym)
{
    return scry__symbolizer_find_mapping(sym, (uintptr_t)&own_mapping);
}

static int is_scry_frame(scry__symbolizer_t *sym, int self, uintptr_t addr)
{
    if (!sym || self < 0) return 0;
    const scry__mapping_t *maps;
    scry__symbolizer_mappings(sym, &maps);
    int m = scry__symbolizer_find_mapping(sym, addr);
    return m >= 0 && (m == self || !strcmp(maps[m].path, maps[self].path));
}

/* One line per frame (inlined ones included), scry's own left out: Go's
 * debug=2 form "\tfunction\tfile:line", or with with_addr its debug=1 form
 * "#\t0xADDR\tfunction\tfile:line". */
static void print_frames(FILE *f, scry__symbolizer_t *sym, const uintptr_t *frames, uint32_t n,
                         int with_addr)
{
    int self = sym ? own_mapping(sym) : -1;
    const scry__mapping_t *maps = NULL;
    if (sym) scry__symbolizer_mappings(sym, &maps);
    for (uint32_t i = 0; i < n; i++) {
        if (is_scry_frame(sym, self, frames[i])) continue;
        int m = sym ? scry__symbolizer_find_mapping(sym, frames[i]) : -1;
        char addr[32] = "";
        if (with_addr) snprintf(addr, sizeof addr, "#\t%#lx", (unsigned long)frames[i]);
        scry__frame_t fr[8];
        int k = sym ? scry__symbolize(sym, frames[i], fr, 8) : 0;
        if (k == 0) {
            const char *bin = m >= 0 ? strrchr(maps[m].path, '/') : NULL;
            fprintf(f, "%s\t%#lx\t[%s]\n", with_addr ? "#" : "", (unsigned long)frames[i],
                    bin      ? bin + 1
                    : m >= 0 ? maps[m].path
                             : "unknown");
            continue;
        }
        for (int j = 0; j < k; j++) {
            if (fr[j].file)
                fprintf(f, "%s\t%s\t%s:%d\n", addr, fr[j].name, fr[j].file, fr[j].line);
            else
                fprintf(f, "%s\t%s\n", addr, fr[j].name);
        }
    }
}

/* Closes the memory stream f (which sets buf and len) and writes it out. */
static void flush_to(FILE *f, char **bufp, size_t *lenp, int fd)
{
    fclose(f);
    char *buf = *bufp;
    size_t len = *lenp;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    free(buf);
}

void scry__tdump_print_stack(const uintptr_t *frames, uint32_t n, int fd)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return;
    scry__symbolizer_t *sym = scry__symbolizer_new();
    print_frames(f, sym, frames, n, 0);
    if (sym) scry__symbolizer_free(sym);
    flush_to(f, &buf, &len, fd);
}

void scry__tdump_print(const scry__tdump_t *d, int fd)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return;
    scry__symbolizer_t *sym = scry__symbolizer_acquire();
    for (int i = 0; i < d->n; i++) {
        const scry__tdump_thread_t *t = &d->t[i];
        char what[128];
        scry__tdump_describe(t, what, sizeof what);
        fprintf(f, "thread %d \"%s\" [%s]:\n", (int)t->tid, t->name, what);
        if (t->nframes)
            print_frames(f, sym, t->frames, t->nframes, 0);
        else
            fprintf(f, "\t(stack unavailable: %s)\n", t->no_stack ? t->no_stack : "unknown");
        fputc('\n', f);
    }
    scry__symbolizer_release(sym);
    flush_to(f, &buf, &len, fd);
}

static int by_stack(const void *a, const void *b)
{
    const scry__tdump_thread_t *x = *(scry__tdump_thread_t *const *)a,
                               *y = *(scry__tdump_thread_t *const *)b;
    if (x->nframes != y->nframes) return x->nframes < y->nframes ? -1 : 1;
    for (uint32_t i = 0; i < x->nframes; i++)
        if (x->frames[i] != y->frames[i]) return x->frames[i] < y->frames[i] ? -1 : 1;
    return 0;
}

typedef struct {
    int first, n; /* in the sorted order */
} group_t;

static int by_count(const void *a, const void *b)
{
    const group_t *x = a, *y = b;
    return (x->n < y->n) - (x->n > y->n);
}

void scry__tdump_print_grouped(const scry__tdump_t *d, int fd)
{
    const scry__tdump_thread_t **order = malloc((d->n ? (size_t)d->n : 1) * sizeof *order);
    group_t *groups = malloc((d->n ? (size_t)d->n : 1) * sizeof *groups);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = order && groups ? open_memstream(&buf, &len) : NULL;
    if (!f) {
        free(order);
        free(groups);
        return;
    }
    for (int i = 0; i < d->n; i++) order[i] = &d->t[i];
    qsort(order, (size_t)d->n, sizeof *order, by_stack);
    int ng = 0;
    for (int i = 0; i < d->n; i++) {
        if (i && !by_stack(&order[i - 1], &order[i])) {
            groups[ng - 1].n++;
        } else {
            groups[ng++] = (group_t){i, 1};
        }
    }
    qsort(groups, (size_t)ng, sizeof *groups, by_count); /* stable enough: ties keep stack order */
    scry__symbolizer_t *sym = scry__symbolizer_acquire();
    int self = sym ? own_mapping(sym) : -1;
    fprintf(f, "threads profile: total %d\n", d->n);
    for (int g = 0; g < ng; g++) {
        const scry__tdump_thread_t *t = order[groups[g].first];
        fprintf(f, "%d @", groups[g].n);
        for (uint32_t i = 0; i < t->nframes; i++)
            if (!is_scry_frame(sym, self, t->frames[i])) fprintf(f, " %#lx", (unsigned long)t->frames[i]);
        fputc('\n', f);
        if (t->nframes)
            print_frames(f, sym, t->frames, t->nframes, 1);
        else
            fprintf(f, "#\t(stack unavailable)\n");
        /* The states of the group's threads, most frequent first. */
        const char *names[16];
        int counts[16], nn = 0;
        for (int i = groups[g].first; i < groups[g].first + groups[g].n; i++) {
            int k = 0;
            while (k < nn && strcmp(names[k], order[i]->state)) k++;
            if (k == nn && nn < 16) {
                names[nn] = order[i]->state;
                counts[nn++] = 0;
            }
            if (k < nn) counts[k]++;
        }
        fprintf(f, "# states:");
        for (int printed = 0; printed < nn; printed++) {
            int best = -1;
            for (int k = 0; k < nn; k++)
                if (counts[k] >= 0 && (best < 0 || counts[k] > counts[best])) best = k;
            fprintf(f, "%s %s %d", printed ? "," : "", names[best], counts[best]);
            counts[best] = -1;
        }
        fprintf(f, "\n\n");
    }
    scry__symbolizer_release(sym);
    free(order);
    free(groups);
    flush_to(f, &buf, &len, fd);
}

/* ---- the profile ---- */

static int threads_start(void)
{
    if (atomic_exchange(&running, 1)) return -EALREADY;
    atomic_fetch_add(&scry__wait_stacks_wanted, 1);
    pthread_once(&exit_once, find_libc_exit);
    int rc = scry__stacks_init(scry__config.unwind);
    if (rc < 0) {
        atomic_fetch_sub(&scry__wait_stacks_wanted, 1);
        atomic_store(&running, 0);
    }
    return rc;
}

static int threads_stop(void)
{
    if (!atomic_exchange(&running, 0)) return -EINVAL;
    atomic_fetch_sub(&scry__wait_stacks_wanted, 1);
    return 0;
}

static int threads_running(void)
{
    return atomic_load(&running);
}

/* A snapshot taken now, whether the profile "runs" or not: running only
 * makes waiting threads publish their stacks. */
static int threads_write_fd(int fd)
{
    scry__tdump_t *d = scry__tdump_take(0);
    if (!d) return -ENOMEM;
    static const scry__value_type_t types[] = {{"threads", "count"}};
    scry__pprof_t *p = scry__pprof_new(types, 1, types[0], 1);
    if (!p) {
        scry__tdump_free(d);
        return -ENOMEM;
    }
    scry__pprof_set_time(p, d->when_ns, d->total_ns);
    scry__pprof_set_default_type(p, "threads");
    char c[512];
    snprintf(c, sizeof c, "scry %s: threads profile, %d threads", SCRY_VERSION, d->n);
    scry__pprof_add_comment(p, c);
    scry__pprof_add_comment(p, scry__unwind_describe(scry__config.unwind, c, sizeof c));
    snprintf(c, sizeof c,
             "stacks: %d by signal, %d published by waiting threads, %d walked by the writing "
             "thread itself%s, %d threads did not answer",
             d->signalled, d->published, d->own, d->own && d->exiting ? " (in exit)" : "",
             d->missing);
    scry__pprof_add_comment(p, c);
    snprintf(c, sizeof c,
             "dump took %.3f ms in all (%.3f ms waiting for answers); each signalled thread "
             "paused only for its own unwind: median %.1f us, max %.1f us",
             (double)d->total_ns / 1e6, (double)d->wait_ns / 1e6, (double)d->pause_median_ns / 1e3,
             (double)d->pause_max_ns / 1e3);
    scry__pprof_add_comment(p, c);
    int rc = 0;
    for (int i = 0; i < d->n && rc == 0; i++) {
        const scry__tdump_thread_t *t = &d->t[i];
        char obj[32];
        scry__label_t l[6];
        int nl = 0;
        l[nl++] = (scry__label_t){.key = "tid", .num = t->tid};
        l[nl++] = (scry__label_t){.key = "thread_name", .str = t->name};
        l[nl++] = (scry__label_t){.key = "state", .str = t->state};
        if (t->waiting && t->wait_obj) {
            snprintf(obj, sizeof obj, "%#lx", (unsigned long)t->wait_obj);
            l[nl++] = (scry__label_t){.key = "wait_object", .str = obj};
        }
        if (t->waiting)
            l[nl++] =
                (scry__label_t){.key = "wait_ns", .num = t->wait_ns, .num_unit = "nanoseconds"};
        char why[160];
        if (!t->nframes) {
            snprintf(why, sizeof why, "unavailable: %s", t->no_stack ? t->no_stack : "unknown");
            l[nl++] = (scry__label_t){.key = "stack", .str = why};
        }
        int64_t one = 1;
        rc = scry__pprof_add_sample(p, t->frames, t->nframes, &one, l, nl);
    }
    scry__tdump_free(d);
    if (rc == 0) rc = scry__pprof_write_fd(p, fd);
    scry__pprof_free(p);
    return rc;
}

static void nothing(void) {}

const scry__profile_t scry__threads_profile = {
    .name = "threads",
    .start = threads_start,
    .stop = threads_stop,
    .running = threads_running,
    .write_fd = threads_write_fd,
    .prefork = nothing,
    .postfork_parent = nothing,
    .postfork_child = nothing,
};
