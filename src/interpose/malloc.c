/*
 * malloc.c - the malloc family, interposed, for the heap profile.
 *
 * Every function forwards to the next allocator in lookup order
 * (dlsym(RTLD_NEXT)): glibc's, or jemalloc or tcmalloc when the program
 * links or preloads one after scry, so the program keeps its allocator and
 * its behaviour. Around the call, the fast path is a few instructions on
 * initial-exec TLS: count the block in the thread's exact totals, subtract
 * its size from the sampling countdown, and branch (see profile/heap.h).
 * free() adds one load from the sampled-block filter.
 *
 * Bootstrap: the next allocator's addresses are looked up on the first call,
 * and dlsym may itself allocate. Until the lookup is done, allocations come
 * from a small static arena; blocks from it are never freed (free ignores
 * them) and realloc moves them to the real allocator.
 *
 * Sizes for the totals: the allocator's usable size of the block
 * (malloc_usable_size), the memory the program really holds. With glibc
 * it is read from the chunk header in place rather than by a call: the
 * size word just before the block, whose low bits are flags (bit 1: the
 * chunk was mmap'ed, whose header is 16 bytes instead of 8); this is
 * glibc's documented chunk layout and the value malloc_usable_size returns.
 *
 * C++: operator new is interposed too, so that the function calling `new`
 * is the leaf of the sample's stack. libstdc++'s operator new calls malloc
 * from code built without frame pointers, which would hide that caller from
 * the frame-pointer unwinder; ours calls the allocator itself and, when the
 * allocation fails, hands over to the real operator new, which runs the
 * new_handler and throws std::bad_alloc as the program expects. operator
 * delete is left alone: it reaches free().
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile/heap.h"
#include "trace/trace.h"

#define SCRY_EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

typedef struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*usable_size)(void *);
} allocator_t;

/* ---- Bootstrap --------------------------------------------------------- */

#define ARENA_SIZE (256 * 1024)
static _Alignas(64) unsigned char arena[ARENA_SIZE];
static _Atomic size_t arena_used;
static _Atomic int resolving;
static int next_is_glibc;
static char shadowed_by[256];
/* Set once scry's constructor has run: before it, the slow paths only
 * count, since the heap profile's code (and, in the sanitizer build, the
 * sanitizer's runtime) may not be ready for a call from the loader. */
static _Atomic int ready;

void scry__malloc_ready(void)
{
    atomic_store(&ready, 1);
}

static int in_arena(const void *p)
{
    return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + ARENA_SIZE;
}

/* A 16-byte header holds the size, for realloc and malloc_usable_size. */
static void *arena_alloc(size_t align, size_t n)
{
    if (align < 16) align = 16;
    size_t need = n + align + 16;
    size_t at = atomic_fetch_add(&arena_used, need);
    if (at + need > ARENA_SIZE || need < n) return NULL;
    uintptr_t p = ((uintptr_t)arena + at + 16 + align - 1) & ~(uintptr_t)(align - 1);
    ((size_t *)p)[-1] = n;
    return (void *)p;
}

static size_t arena_size(const void *p)
{
    return ((const size_t *)p)[-1];
}

static void resolve(void);

static void *boot_malloc(size_t n);
static void boot_free(void *p);
static void *boot_calloc(size_t a, size_t b);
static void *boot_realloc(void *p, size_t n);
static int boot_posix_memalign(void **out, size_t align, size_t n);
static void *boot_aligned_alloc(size_t align, size_t n);
static void *boot_memalign(size_t align, size_t n);
static void *boot_valloc(size_t n);
static void *boot_pvalloc(size_t n);
static size_t boot_usable_size(void *p);

static allocator_t next = {
    boot_malloc,   boot_free,     boot_calloc,  boot_realloc, boot_posix_memalign,
    boot_aligned_alloc, boot_memalign, boot_valloc, boot_pvalloc, boot_usable_size,
};

/* While resolving (dlsym allocating on this or another thread), boot_*
 * serve from the arena; afterwards `next` holds the real functions. */
static void *boot_malloc(size_t n)
{
    resolve();
    return next.malloc == boot_malloc ? arena_alloc(16, n) : next.malloc(n);
}
static void boot_free(void *p)
{
    resolve();
    if (next.free != boot_free && p && !in_arena(p)) next.free(p);
}
static void *boot_calloc(size_t a, size_t b)
{
    resolve();
    if (next.calloc != boot_calloc) return next.calloc(a, b);
    size_t n;
    if (__builtin_mul_overflow(a, b, &n)) return NULL;
    return arena_alloc(16, n); /* static memory is zeroed */
}
static void *boot_realloc(void *p, size_t n)
{
    resolve();
    if (next.realloc != boot_realloc) return next.realloc(p, n);
    void *q = arena_alloc(16, n);
    if (q && p) memcpy(q, p, arena_size(p) < n ? arena_size(p) : n);
    return q;
}
static int boot_posix_memalign(void **out, size_t align, size_t n)
{
    resolve();
    if (next.posix_memalign != boot_posix_memalign) return next.posix_memalign(out, align, n);
    *out = arena_alloc(align, n);
    return *out ? 0 : ENOMEM;
}
static void *boot_aligned_alloc(size_t align, size_t n)
{
    resolve();
    return next.aligned_alloc != boot_aligned_alloc ? next.aligned_alloc(align, n)
                                                    : arena_alloc(align, n);
}
static void *boot_memalign(size_t align, size_t n)
{
    resolve();
    return next.memalign != boot_memalign ? next.memalign(align, n) : arena_alloc(align, n);
}
static void *boot_valloc(size_t n)
{
    resolve();
    return next.valloc != boot_valloc ? next.valloc(n) : arena_alloc(4096, n);
}
static void *boot_pvalloc(size_t n)
{
    resolve();
    return next.pvalloc != boot_pvalloc ? next.pvalloc(n) : arena_alloc(4096, (n + 4095) & ~(size_t)4095);
}
static size_t boot_usable_size(void *p)
{
    resolve();
    return next.usable_size != boot_usable_size ? next.usable_size(p) : 0;
}

/* Where an allocator function comes from must be where malloc comes from:
 * glibc's pvalloc on a jemalloc block would corrupt both heaps. Functions
 * the allocator lacks are made from its memalign. */
static void *emulated_valloc(size_t n)
{
    return next.memalign((size_t)sysconf(_SC_PAGESIZE), n);
}
static void *emulated_pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - page) return NULL;
    return next.memalign(page, n ? (n + page - 1) & ~(page - 1) : page);
}

static void *same_object(const char *name, void *fallback)
{
    void *f = dlsym(RTLD_NEXT, name);
    Dl_info a, b;
    if (!f || !dladdr(f, &a) || !dladdr((void *)next.malloc, &b) || a.dli_fbase != b.dli_fbase)
        return fallback;
    return f;
}

extern void *scry__malloc_self(size_t) __attribute__((alias("malloc"), visibility("hidden"), malloc, nothrow, leaf, alloc_size(1)));

/* ---- Who owns malloc --------------------------------------------------- */

/* The program's malloc calls reach scry only when libscry.so defines the
 * first malloc in lookup order. dlsym(RTLD_DEFAULT) answers with that
 * definition, except in a non-PIE executable that takes malloc's address
 * (Debian's python3): there the answer is the executable's canonical PLT
 * entry, an undefined symbol with an address, whose calls go on to the
 * first definition after it. So an undefined symbol is not an allocator:
 * call through it once and see whether the call arrives here. */

static void *(*probe_next)(size_t);
/* Initial-exec, as all of the interposer's TLS: the general model's
 * __tls_get_addr may allocate, and sanitizers intercept it. */
static __thread int probing __attribute__((tls_model("initial-exec")));
static __thread int probe_arrived __attribute__((tls_model("initial-exec")));

/* next.malloc during the probe. On the probing thread the call came
 * through scry's malloc: say so and allocate nothing (malloc's paths count
 * nothing for NULL). Other threads are served as usual. */
static void *probe_malloc(size_t n)
{
    if (probing) {
        probe_arrived = 1;
        return NULL;
    }
    return probe_next(n);
}

/* 1 when a call through f (the program's malloc) reaches scry's malloc. */
static int reaches_scry(void *(*f)(size_t))
{
    int saved = errno;
    probe_next = next.malloc;
    __atomic_thread_fence(__ATOMIC_RELEASE); /* other threads may call it at once */
    next.malloc = probe_malloc;
    probing = 1;
    probe_arrived = 0;
    void *p = f(1);
    probing = 0;
    next.malloc = probe_next;
    if (p) { /* another allocator made it: its free, as the program's */
        void (*f_free)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "free");
        if (f_free) f_free(p);
    }
    errno = saved;
    return probe_arrived;
}

static void set_owner(const char *name)
{
    size_t len = strlen(name);
    if (len >= sizeof shadowed_by) len = sizeof shadowed_by - 1;
    memcpy(shadowed_by, name, len);
    shadowed_by[len] = 0;
}

/* The objects before libscry.so in load order (what was preloaded before
 * it; the executable's malloc is the PLT entry), for naming the allocator
 * behind that entry. */
typedef struct {
    const char *names[32];
    int n, done;
    uintptr_t self;
} before_t;

static int collect_before(struct dl_phdr_info *i, size_t size, void *arg)
{
    (void)size;
    before_t *b = arg;
    if (b->done) return 0;
    if ((uintptr_t)i->dlpi_addr == b->self)
        b->done = 1;
    else if (i->dlpi_name && i->dlpi_name[0] && b->n < 32)
        b->names[b->n++] = i->dlpi_name;
    return 0;
}

/* The first object before libscry.so that defines malloc itself. */
static const char *first_definer(void)
{
    Dl_info self;
    before_t b = {.n = 0};
    if (!dladdr((void *)resolve, &self)) return NULL;
    b.self = (uintptr_t)self.dli_fbase;
    dl_iterate_phdr(collect_before, &b); /* dlopen below: not under its lock */
    for (int k = 0; k < b.n; k++) {
        void *h = dlopen(b.names[k], RTLD_NOLOAD | RTLD_LAZY);
        if (!h) continue;
        void *f = dlsym(h, "malloc"); /* the object first, then its dependencies */
        Dl_info info;
        int own = f && dladdr(f, &info) && info.dli_fname && !strcmp(info.dli_fname, b.names[k]);
        dlclose(h);
        if (own) return b.names[k];
    }
    return NULL;
}

/* Sets shadowed_by when the program's malloc calls do not reach scry. */
static void find_owner(void)
{
    /* Our own definition, compared through its hidden alias. */
    void *first = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!first || first == (void *)scry__malloc_self) return;
    if (!dladdr1(first, &info, (void **)&sym, RTLD_DL_SYMENT) || !info.dli_fname) return;
    if (!sym || sym->st_shndx != SHN_UNDEF) { /* a definition: another allocator */
        set_owner(info.dli_fname);
        return;
    }
    if (reaches_scry((void *(*)(size_t))first)) return; /* a PLT entry that leads here */
    const char *owner = first_definer();
    set_owner(owner ? owner : info.dli_fname);
}

static void resolve(void)
{
    static _Atomic int done;
    if (atomic_load_explicit(&done, memory_order_acquire)) return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&resolving, &expected, 1)) return; /* the arena serves */

    allocator_t a;
    a.malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    a.free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    a.calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    a.realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    if (!a.malloc || !a.free || !a.calloc || !a.realloc) {
        /* Nothing to forward to: there is no allocator after us. */
        static const char msg[] = "scry: cannot find the next malloc (dlsym RTLD_NEXT); aborting\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    next.malloc = a.malloc; /* same_object() compares against it */
    a.memalign = (void *(*)(size_t, size_t))same_object("memalign", NULL);
    a.posix_memalign = (int (*)(void **, size_t, size_t))same_object("posix_memalign", NULL);
    a.aligned_alloc = (void *(*)(size_t, size_t))same_object("aligned_alloc", NULL);
    a.usable_size = (size_t(*)(void *))same_object("malloc_usable_size", NULL);
    a.valloc = (void *(*)(size_t))same_object("valloc", (void *)emulated_valloc);
    a.pvalloc = (void *(*)(size_t))same_object("pvalloc", (void *)emulated_pvalloc);
    if (!a.memalign || !a.posix_memalign || !a.aligned_alloc || !a.usable_size) {
        static const char msg[] = "scry: the next allocator lacks memalign, posix_memalign, "
                                  "aligned_alloc or malloc_usable_size; aborting\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }

    Dl_info info;
    if (dladdr((void *)a.malloc, &info) && info.dli_fname) {
        const char *base = strrchr(info.dli_fname, '/');
        base = base ? base + 1 : info.dli_fname;
        next_is_glibc = !strncmp(base, "libc.so", 7);
    }
    find_owner();

    /* free() sends NULL and arena blocks to its slow path through the
     * filter, which it reads anyway (see free). */
    for (uintptr_t g = (uintptr_t)arena; g < (uintptr_t)arena + ARENA_SIZE; g += 1u << SCRY__HEAP_GRANULE_SHIFT)
        atomic_store(&scry__heap_filter[scry__heap_filter_index((void *)g)], 255);
    atomic_store(&scry__heap_filter[scry__heap_filter_index(NULL)], 255);

    next.memalign = a.memalign;
    next.posix_memalign = a.posix_memalign;
    next.aligned_alloc = a.aligned_alloc;
    next.usable_size = a.usable_size;
    next.valloc = a.valloc;
    next.pvalloc = a.pvalloc;
    next.realloc = a.realloc;
    next.calloc = a.calloc;
    next.free = a.free;
    atomic_store_explicit(&done, 1, memory_order_release);
    /* A lookup that failed (valloc in an allocator without it, the probe's
     * dlopen of the vDSO) left its message with glibc until the thread's
     * next dl call, maybe the program's: drop it now (see heap.c's
     * find_new_ranges). */
    while (dlerror() != NULL) {
    }
}

const char *scry__malloc_shadowed_by(void)
{
    resolve();
    return shadowed_by;
}

/* ---- The fast path ----------------------------------------------------- */

/* Usable size of a live glibc block: its chunk size less the header (see
 * the top of this file). */
static inline size_t glibc_usable(const void *p)
{
    size_t head = ((const size_t *)p)[-1];
    return (head & ~(size_t)7) - 8 - ((head & 2) << 2); /* mmap'ed: 16 */
}

static inline size_t usable(void *p)
{
    return LIKELY(next_is_glibc) ? glibc_usable(p) : next.usable_size(p);
}

/* The owner's update of its own counter; other threads read it with
 * relaxed loads. */
static inline void count(uint64_t *field, uint64_t add)
{
    __atomic_store_n(field, *field + add, __ATOMIC_RELAXED);
}

/* Exact totals of threads whose TLS destructor has run (heap.c folds their
 * own counters then): what later destructors and glibc's thread exit (a
 * detached thread's DTV) allocate and free. Rare: atomics. */
_Atomic uint64_t scry__heap_late[4];

/* Off the fast paths, whether the thread's blocks are counted here (1), in
 * scry__heap_late (2), or not at all (0): before scry's constructor (the
 * loader and the constructors of the libraries loaded with scry: GnuTLS,
 * p11-kit, ... make about 1300 allocations there) and while the thread
 * runs scry's own code (diverted, core/busy.h). Both keep the countdown
 * below zero, so that every block of theirs comes here. */
static inline int counted(const scry__heap_tls_t *t)
{
    if (UNLIKELY(!atomic_load_explicit(&ready, memory_order_relaxed))) return 0;
    if (UNLIKELY(t->state >= SCRY__HEAP_EXITED)) return t->state == SCRY__HEAP_EXITED ? 2 : 0;
    return 1;
}

static void count_late(int field, uint64_t add)
{
    atomic_fetch_add_explicit(&scry__heap_late[field], add, memory_order_relaxed);
}

/* A new block, off the fast paths (p != NULL); the countdown was charged. */
static void note_alloc_counted(scry__heap_tls_t *t, void *p, size_t n, uintptr_t caller)
{
    switch (counted(t)) {
    case 0: /* not the program's */
        return;
    case 2: /* after the thread's TLS destructor: counted, never sampled */
        count_late(0, 1);
        count_late(1, usable(p));
        return;
    }
    count(&t->alloc_objects, 1);
    count(&t->alloc_bytes, usable(p));
    if (t->countdown <= 0) scry__heap_sampled_alloc(p, n, caller, next_is_glibc);
    if (n >= scry__trace_alloc_min) scry__trace_alloc(n, p, caller);
}

/* A freed block of `size` usable bytes, off the fast paths. */
static void note_free_counted(scry__heap_tls_t *t, uint64_t size)
{
    switch (counted(t)) {
    case 0:
        return;
    case 2:
        count_late(2, 1);
        count_late(3, size);
        return;
    }
    count(&t->free_objects, 1);
    count(&t->free_bytes, size);
}

/* note_alloc's slow path: the countdown ran out, or the thread's blocks
 * are not counted in its TLS (see counted()). */
__attribute__((noinline)) static void note_alloc_slow(scry__heap_tls_t *t, void *p, size_t n,
                                                      uintptr_t caller)
{
    note_alloc_counted(t, p, n, caller);
}

/* Counts a new block and samples it when the countdown runs out. */
static inline void note_alloc(void *p, size_t n, uintptr_t caller)
{
    if (UNLIKELY(!p)) return;
    scry__heap_tls_t *t = &scry__heap_tls;
    if (UNLIKELY((t->countdown -= (int64_t)n) <= 0)) {
        note_alloc_slow(t, p, n, caller);
        return;
    }
    count(&t->alloc_objects, 1);
    count(&t->alloc_bytes, usable(p));
    if (UNLIKELY(n >= scry__trace_alloc_min)) scry__trace_alloc(n, p, caller);
}

#define CALLER ((uintptr_t)__builtin_return_address(0))

/* malloc off the fast path: the countdown ran out (this block is sampled),
 * the allocator is not glibc, or a trace wants this block. The countdown was already charged. */
__attribute__((noinline)) static void *malloc_slow(size_t n, uintptr_t caller)
{
    void *p = next.malloc(n);
    if (LIKELY(p != NULL)) note_alloc_counted(&scry__heap_tls, p, n, caller);
    return p;
}

/* malloc and free are built without a frame of their own: their fast paths
 * are a few instructions, and their slow paths are tail calls, so a slow
 * path's frame links straight to the program's (the heap profile's
 * frame-pointer walk needs that). */
#define FRAMELESS __attribute__((optimize("omit-frame-pointer")))

/* The fast path: charge the countdown first, so that after the allocator
 * returns only the totals are left to count. */
FRAMELESS SCRY_EXPORT void *malloc(size_t n)
{
    scry__heap_tls_t *t = &scry__heap_tls;
    int64_t left = t->countdown - (int64_t)n;
    t->countdown = left;
    /* A large block while a trace records is traced (SIZE_MAX otherwise). */
    if (UNLIKELY(left <= 0 || !next_is_glibc || n >= scry__trace_alloc_min)) return malloc_slow(n, CALLER);
    void *p = next.malloc(n);
    if (LIKELY(p != NULL)) {
        t = &scry__heap_tls;
        size_t size = glibc_usable(p);
        count(&t->alloc_objects, 1);
        count(&t->alloc_bytes, size);
    }
    return p;
}

/* free off the fast path: a block that may have been sampled, or an
 * allocator that may not keep errno (glibc's free has since 2.33). */
__attribute__((noinline)) static void free_slow(void *p)
{
    if (!p || in_arena(p)) return;
    int saved = errno;
    scry__heap_tls_t *t = &scry__heap_tls;
    note_free_counted(t, usable(p));
    if ((scry__heap_maybe_sampled(p) || t->state == 0) && atomic_load_explicit(&ready, memory_order_relaxed))
        scry__heap_sampled_free(p, next_is_glibc);
    next.free(p);
    errno = saved;
}

/* Only tail calls, so the fast path needs no stack frame at all. Two
 * checks: the thread is registered with glibc as the allocator (state 1,
 * see scry__heap_sampled_free), and the filter says p was not sampled. NULL
 * and the bootstrap arena are marked "maybe" in the filter for good, so
 * they need no test of their own here. */
FRAMELESS SCRY_EXPORT void free(void *p)
{
    scry__heap_tls_t *t = &scry__heap_tls;
    if (UNLIKELY(t->state != 1 || scry__heap_maybe_sampled(p))) return free_slow(p);
    size_t size = glibc_usable(p);
    count(&t->free_objects, 1);
    count(&t->free_bytes, size);
    next.free(p);
}

SCRY_EXPORT void *calloc(size_t a, size_t b)
{
    void *p = next.calloc(a, b);
    note_alloc(p, a * b, CALLER); /* a * b cannot overflow when p != NULL */
    return p;
}

static void *realloc_from(void *p, size_t n, uintptr_t caller)
{
    if (!p) {
        void *q = next.malloc(n);
        note_alloc(q, n, caller);
        return q;
    }
    if (in_arena(p)) {
        void *q = next.malloc(n);
        if (q) memcpy(q, p, arena_size(p) < n ? arena_size(p) : n);
        note_alloc(q, n, caller);
        return q;
    }
    size_t old = usable(p);
    uint64_t token = scry__heap_maybe_sampled(p) && atomic_load_explicit(&ready, memory_order_relaxed)
                         ? scry__heap_detach(p)
                         : 0;
    void *q = next.realloc(p, n);
    if (!q && n != 0) { /* failed: p is untouched and still the program's */
        if (token) scry__heap_detach_undo(p, token);
        return NULL;
    }
    if (token) scry__heap_detach_commit(token);
    note_free_counted(&scry__heap_tls, old);
    note_alloc(q, n, caller); /* NULL: realloc(p, 0) freed p */
    return q;
}

SCRY_EXPORT void *realloc(void *p, size_t n)
{
    return realloc_from(p, n, CALLER);
}

SCRY_EXPORT void *reallocarray(void *p, size_t a, size_t b)
{
    size_t n;
    if (__builtin_mul_overflow(a, b, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc_from(p, n, CALLER);
}

SCRY_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    int rc = next.posix_memalign(out, align, n);
    if (rc == 0) note_alloc(*out, n, CALLER);
    return rc;
}

SCRY_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    void *p = next.aligned_alloc(align, n);
    note_alloc(p, n, CALLER);
    return p;
}

SCRY_EXPORT void *memalign(size_t align, size_t n)
{
    void *p = next.memalign(align, n);
    note_alloc(p, n, CALLER);
    return p;
}

SCRY_EXPORT void *valloc(size_t n)
{
    void *p = next.valloc(n);
    note_alloc(p, n, CALLER);
    return p;
}

SCRY_EXPORT void *pvalloc(size_t n)
{
    void *p = next.pvalloc(n);
    note_alloc(p, n, CALLER);
    return p;
}

SCRY_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p) return 0;
    if (in_arena(p)) return arena_size(p);
    return next.usable_size(p);
}

/* ---- C++ operator new (64-bit size_t: mangled 'm') --------------------- */

typedef void *(*new_fn)(size_t);
typedef void *(*new_nothrow_fn)(size_t, const void *);
typedef void *(*new_aligned_fn)(size_t, size_t);
typedef void *(*new_aligned_nothrow_fn)(size_t, size_t, const void *);

/* The real operator new, for the failure path only. */
static void *real_new(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

static void *aligned(size_t align, size_t n)
{
    /* As libstdc++ does: aligned_alloc wants a multiple of the alignment. */
    size_t size = (n + align - 1) & ~(align - 1);
    if (size < n) return NULL;
    return next.aligned_alloc(align, size ? size : align);
}

#define NEW_PLAIN(mangled)                                                                        \
    SCRY_EXPORT void *mangled(size_t n)                                                           \
    {                                                                                             \
        void *p = next.malloc(n ? n : 1);                                                         \
        if (UNLIKELY(!p)) return ((new_fn)real_new(#mangled))(n);                                 \
        note_alloc(p, n, CALLER);                                                                 \
        return p;                                                                                 \
    }
#define NEW_NOTHROW(mangled)                                                                      \
    SCRY_EXPORT void *mangled(size_t n, const void *nothrow)                                      \
    {                                                                                             \
        void *p = next.malloc(n ? n : 1);                                                         \
        if (UNLIKELY(!p)) {                                                                       \
            new_nothrow_fn f = (new_nothrow_fn)real_new(#mangled);                                \
            return f ? f(n, nothrow) : NULL;                                                      \
        }                                                                                         \
        note_alloc(p, n, CALLER);                                                                 \
        return p;                                                                                 \
    }
#define NEW_ALIGNED(mangled)                                                                      \
    SCRY_EXPORT void *mangled(size_t n, size_t align)                                             \
    {                                                                                             \
        void *p = aligned(align, n);                                                              \
        if (UNLIKELY(!p)) return ((new_aligned_fn)real_new(#mangled))(n, align);                  \
        note_alloc(p, n, CALLER);                                                                 \
        return p;                                                                                 \
    }
#define NEW_ALIGNED_NOTHROW(mangled)                                                              \
    SCRY_EXPORT void *mangled(size_t n, size_t align, const void *nothrow)                        \
    {                                                                                             \
        void *p = aligned(align, n);                                                              \
        if (UNLIKELY(!p)) {                                                                       \
            new_aligned_nothrow_fn f = (new_aligned_nothrow_fn)real_new(#mangled);                \
            return f ? f(n, align, nothrow) : NULL;                                               \
        }                                                                                         \
        note_alloc(p, n, CALLER);                                                                 \
        return p;                                                                                 \
    }

NEW_PLAIN(_Znwm)                                        /* operator new(size_t) */
NEW_PLAIN(_Znam)                                        /* operator new[](size_t) */
NEW_NOTHROW(_ZnwmRKSt9nothrow_t)                        /* new(size_t, nothrow_t) */
NEW_NOTHROW(_ZnamRKSt9nothrow_t)                        /* new[](size_t, nothrow_t) */
NEW_ALIGNED(_ZnwmSt11align_val_t)                       /* new(size_t, align_val_t) */
NEW_ALIGNED(_ZnamSt11align_val_t)                       /* new[](size_t, align_val_t) */
NEW_ALIGNED_NOTHROW(_ZnwmSt11align_val_tRKSt9nothrow_t) /* new(size_t, align, nothrow) */
NEW_ALIGNED_NOTHROW(_ZnamSt11align_val_tRKSt9nothrow_t) /* new[](size_t, align, nothrow) */
