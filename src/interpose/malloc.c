/*
 * malloc.c - the malloc family, interposed, for the heap profile.
 *
 * Every function forwards to the next allocator in lookup order
 * (dlsym(RTLD_NEXT)): glibc's, or jemalloc or tcmalloc when the program
 * links or preloads one after scry, so the program keeps its allocator and
 * its behaviour. What happens around the call depends on the mode
 * (profile/heap.h):
 *  - 0, nobody wants anything (no heap or allocs profile, no /metrics, no
 *    SCRY_HEAP_TOTALS): one predictable branch on globals and a tail jump
 *    to the next allocator. No TLS, no chunk-header read, no filter. free()
 *    also tests for the bootstrap arena (three instructions).
 *  - counting (SCRY__HEAP_COUNT): a few instructions on initial-exec TLS:
 *    subtract the size from the sampling countdown, count the block in the
 *    thread's exact totals, and branch. free() adds one load from the
 *    sampled-block filter.
 *  - matching only (SCRY__HEAP_MATCH, the profile stopped with sampled
 *    blocks still live): free() and realloc() consult the filter.
 * A trace that records large allocations (trace/trace.h) takes those out
 * of the pass-through too.
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
    scry__heap_at_load();
}

static inline int in_arena(const void *p)
{
    return (uintptr_t)p - (uintptr_t)arena < ARENA_SIZE; /* one compare */
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
    /* free's pass-through then never sees one of these (see free). */
    atomic_fetch_or(&scry__heap_mode, SCRY__HEAP_ARENA);
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

/* ---- Modes ------------------------------------------------------------- */

_Atomic int scry__heap_mode;

/* Allocation requests of at least this many bytes leave the pass-through:
 * scry__trace_alloc_min (SIZE_MAX while no trace records, otherwise the
 * size from which allocations are traced) while the totals are not kept, 0
 * while they are. So an allocation function decides with one load and one
 * compare, a single predictable branch, then a tail jump to the next
 * allocator. */
static size_t pass_below = SIZE_MAX;

/* The size from which the counting paths take their slow path:
 * scry__trace_alloc_min while the totals are kept and the allocator is
 * glibc (whose block sizes they read in place), otherwise 0: one compare
 * stands for "not glibc, or traced". */
static size_t slow_from;

static inline size_t relaxed(const size_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline int mode_now(void)
{
    return atomic_load_explicit(&scry__heap_mode, memory_order_relaxed);
}

/* pass_below and slow_from from their sources: the mode's COUNT bit and
 * scry__trace_alloc_min, which the heap profile and the tracer change
 * under locks of their own. A caller that stored from sources another
 * changed meanwhile sees the change and stores again, so the last store
 * is from the sources as they are. */
static void refresh_limits(void)
{
    for (;;) {
        size_t trace_min = relaxed(&scry__trace_alloc_min);
        int counting = mode_now() & SCRY__HEAP_COUNT;
        __atomic_store_n(&slow_from, counting && next_is_glibc ? trace_min : 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&pass_below, counting ? 0 : trace_min, __ATOMIC_SEQ_CST);
        if (relaxed(&scry__trace_alloc_min) == trace_min && (mode_now() & SCRY__HEAP_COUNT) == counting)
            return;
    }
}

void scry__malloc_trace_changed(void)
{
    refresh_limits();
}

/* Turning on, free counts before malloc does, and turning off the reverse:
 * a block allocated by a call that saw the old value is counted on at most
 * one side. Such calls, in flight on other threads at the switch, are the
 * only blocks the totals can be wrong about (heap.h, `whole`). */
void scry__malloc_counting(int on)
{
    resolve();
    if (on) {
        atomic_fetch_or(&scry__heap_mode, SCRY__HEAP_COUNT);
    } else {
        __atomic_store_n(&pass_below, relaxed(&scry__trace_alloc_min), __ATOMIC_SEQ_CST);
        atomic_fetch_and(&scry__heap_mode, ~SCRY__HEAP_COUNT);
    }
    refresh_limits();
}

/* ---- The counting paths ------------------------------------------------ */

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
 * relaxed loads. On x86-64 one add to memory (`addq $1, %fs:8(%rbx)`):
 * a store readers see whole, which a signal handler cannot split either
 * (the C form below, a load, an add and a relaxed atomic store, is three
 * instructions, which compilers do not fuse). With the chunk-size form
 * (heap.h) the counting paths are 9 instructions shorter per malloc/free
 * pair; bench/heap_work under the heap profile went from 1.28x to 1.22x
 * glibc's CPU time with both (7 paired rounds, with another engineer's two
 * busy loops on the 2-CPU machine: read as a direction, not a figure). */
static inline void count(uint64_t *field, uint64_t add)
{
#if defined(__x86_64__)
    __asm__ __volatile__("addq %1, %0" : "+m"(*field) : "er"(add));
#else
    __atomic_store_n(field, *field + add, __ATOMIC_RELEASE);
#endif
}

/* Counts a block of `size` usable bytes in the thread's totals. Bytes
 * first, then the block: a reader loads the block count first (heap.c's
 * read_tls), so it never sees a block without its bytes, which would make
 * bytes - 8 * blocks wrap below zero. The asm statements are volatile so
 * that the compiler keeps this order; x86 keeps stores in order. */
static inline void count_alloc(scry__heap_tls_t *t, size_t size)
{
    count(&t->alloc_chunk, size + 8);
    count(&t->alloc_objects, 1);
}

static inline void count_free(scry__heap_tls_t *t, size_t size)
{
    count(&t->free_chunk, size + 8);
    count(&t->free_objects, 1);
}

/* The fast paths' form: glibc's chunk size from the header, usable + 8
 * for a block from the heap; an mmap'ed chunk (bit 1; usable + 16) goes to
 * a slow path (alloc_mmapped, free_slow). */
static inline size_t chunk_head(const void *p)
{
    return ((const size_t *)p)[-1];
}
#define CHUNK_MMAPPED(head) ((head) & 2)
#define CHUNK_SIZE(head) ((head) & ~(size_t)7)

/* malloc's count of an mmap'ed chunk; returns p, for a tail call. */
__attribute__((noinline)) static void *alloc_mmapped(void *p)
{
    count_alloc(&scry__heap_tls, glibc_usable(p));
    return p;
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

/* A new block, off the fast paths (p != NULL). Counted and sampled while
 * the totals are kept (the countdown was charged); traced when large and a
 * trace records, whether or not the totals are kept. */
static void note_alloc_counted(scry__heap_tls_t *t, void *p, size_t n, uintptr_t caller)
{
    int c = counted(t);
    if (c == 0) return; /* not the program's */
    int counting = mode_now() & SCRY__HEAP_COUNT;
    if (c == 2) { /* after the thread's TLS destructor: counted, never sampled */
        if (counting) {
            count_late(0, 1);
            count_late(1, usable(p));
        }
        return;
    }
    if (counting) {
        count_alloc(t, usable(p));
        if (t->countdown <= 0) scry__heap_sampled_alloc(p, n, caller, next_is_glibc);
    }
    if (n >= relaxed(&scry__trace_alloc_min)) scry__trace_alloc(n, p, caller);
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
    count_free(t, size);
}

/* note_alloc's slow path: the countdown ran out, the thread's blocks are
 * not counted in its TLS (see counted()), the allocator is not glibc, or a
 * trace wants the block. */
__attribute__((noinline)) static void note_alloc_slow(scry__heap_tls_t *t, void *p, size_t n,
                                                      uintptr_t caller)
{
    note_alloc_counted(t, p, n, caller);
}

/* Counts a new block and samples it when the countdown runs out; for the
 * family's rarer members, called once the pass-through test failed. */
static inline void note_alloc(void *p, size_t n, uintptr_t caller)
{
    if (UNLIKELY(!p)) return;
    scry__heap_tls_t *t = &scry__heap_tls;
    int64_t left = t->countdown - (int64_t)n;
    t->countdown = left;
    if (UNLIKELY(left <= 0 || n >= relaxed(&slow_from))) {
        note_alloc_slow(t, p, n, caller);
        return;
    }
    count_alloc(t, glibc_usable(p));
}

#define CALLER ((uintptr_t)__builtin_return_address(0))

/* The pass-through test of the allocation functions (see pass_below). */
#define PASS(n) LIKELY((n) < relaxed(&pass_below))

/* malloc off the fast path: the countdown ran out (this block is sampled),
 * the thread is not counted in its TLS, the allocator is not glibc, the
 * totals are not kept, or a trace wants this block. The countdown was
 * already charged. */
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

/* While the totals are kept: charge the countdown first, so that after the
 * allocator returns only the totals are left to count. */
FRAMELESS SCRY_EXPORT void *malloc(size_t n)
{
    if (PASS(n)) return next.malloc(n);
    scry__heap_tls_t *t = &scry__heap_tls;
    int64_t left = t->countdown - (int64_t)n;
    t->countdown = left;
    if (UNLIKELY(left <= 0 || n >= relaxed(&slow_from)))
        return malloc_slow(n, CALLER);
    void *p = next.malloc(n);
    if (UNLIKELY(p == NULL)) return p;
    size_t head = chunk_head(p);
    if (UNLIKELY(CHUNK_MMAPPED(head))) return alloc_mmapped(p);
    t = &scry__heap_tls;
    count(&t->alloc_chunk, CHUNK_SIZE(head)); /* bytes first: see count_alloc */
    count(&t->alloc_objects, 1);
    return p;
}

/* free off the fast path: a block that may have been sampled (or NULL, or
 * from the bootstrap arena), a thread not registered with glibc as the
 * allocator, or an allocator that may not keep errno (glibc's free has
 * since 2.33). */
__attribute__((noinline)) static void free_slow(void *p)
{
    if (!p || in_arena(p)) return;
    int saved = errno;
    scry__heap_tls_t *t = &scry__heap_tls;
    int counting = mode_now() & SCRY__HEAP_COUNT;
    if (counting) note_free_counted(t, usable(p));
    if ((scry__heap_maybe_sampled(p) || (counting && t->state == 0)) &&
        atomic_load_explicit(&ready, memory_order_relaxed))
        scry__heap_sampled_free(p, next_is_glibc);
    next.free(p);
    errno = saved;
}

/* Only tail calls, so it needs no stack frame at all. Mode 0 is the one
 * test: once the bootstrap arena has served a block the mode is never 0
 * (SCRY__HEAP_ARENA), since its blocks must never reach the allocator; in
 * most processes it serves none. Otherwise, first the filter: p was not sampled (NULL and the bootstrap arena are marked "maybe"
 * in it for good, so they need no test of their own); then, while the
 * totals are kept, the thread is registered with glibc as the allocator
 * (state 1, see scry__heap_sampled_free) and the block is counted. */
FRAMELESS SCRY_EXPORT void free(void *p)
{
    int m = mode_now();
    if (LIKELY(m == 0)) return next.free(p);
    if (UNLIKELY(scry__heap_maybe_sampled(p))) return free_slow(p);
    if (UNLIKELY(!(m & SCRY__HEAP_COUNT))) return next.free(p); /* matching only */
    scry__heap_tls_t *t = &scry__heap_tls;
    if (UNLIKELY(t->state != 1)) return free_slow(p); /* before the header: glibc's blocks only */
    size_t head = chunk_head(p);
    if (UNLIKELY(CHUNK_MMAPPED(head))) return free_slow(p);
    count(&t->free_chunk, CHUNK_SIZE(head));
    count(&t->free_objects, 1);
    return next.free(p);
}

SCRY_EXPORT void *calloc(size_t a, size_t b)
{
    size_t n;
    if (__builtin_mul_overflow(a, b, &n)) n = SIZE_MAX; /* calloc fails; no pass-through */
    if (PASS(n)) return next.calloc(a, b);
    void *p = next.calloc(a, b);
    note_alloc(p, n, CALLER); /* a * b did not overflow when p != NULL */
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
    int counting = mode_now() & SCRY__HEAP_COUNT;
    size_t old = counting ? usable(p) : 0;
    uint64_t token = scry__heap_maybe_sampled(p) && atomic_load_explicit(&ready, memory_order_relaxed)
                         ? scry__heap_detach(p)
                         : 0;
    void *q = next.realloc(p, n);
    if (!q && n != 0) { /* failed: p is untouched and still the program's */
        if (token) scry__heap_detach_undo(p, token);
        return NULL;
    }
    if (token) scry__heap_detach_commit(token);
    if (counting) note_free_counted(&scry__heap_tls, old);
    note_alloc(q, n, caller); /* NULL: realloc(p, 0) freed p */
    return q;
}

/* Passes through in mode 0 unless p is from the arena or a trace wants the
 * new block; a sampled block must leave the live table (MATCH). */
SCRY_EXPORT void *realloc(void *p, size_t n)
{
    if (LIKELY(mode_now() == 0 && n < relaxed(&scry__trace_alloc_min))) return next.realloc(p, n);
    return realloc_from(p, n, CALLER);
}

SCRY_EXPORT void *reallocarray(void *p, size_t a, size_t b)
{
    size_t n;
    if (__builtin_mul_overflow(a, b, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (LIKELY(mode_now() == 0 && n < relaxed(&scry__trace_alloc_min))) return next.realloc(p, n);
    return realloc_from(p, n, CALLER);
}

SCRY_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (PASS(n)) return next.posix_memalign(out, align, n);
    int rc = next.posix_memalign(out, align, n);
    if (rc == 0) note_alloc(*out, n, CALLER);
    return rc;
}

SCRY_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (PASS(n)) return next.aligned_alloc(align, n);
    void *p = next.aligned_alloc(align, n);
    note_alloc(p, n, CALLER);
    return p;
}

SCRY_EXPORT void *memalign(size_t align, size_t n)
{
    if (PASS(n)) return next.memalign(align, n);
    void *p = next.memalign(align, n);
    note_alloc(p, n, CALLER);
    return p;
}

SCRY_EXPORT void *valloc(size_t n)
{
    if (PASS(n)) return next.valloc(n);
    void *p = next.valloc(n);
    note_alloc(p, n, CALLER);
    return p;
}

SCRY_EXPORT void *pvalloc(size_t n)
{
    if (PASS(n)) return next.pvalloc(n);
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
        if (!PASS(n)) note_alloc(p, n, CALLER);                                                   \
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
        if (!PASS(n)) note_alloc(p, n, CALLER);                                                   \
        return p;                                                                                 \
    }
#define NEW_ALIGNED(mangled)                                                                      \
    SCRY_EXPORT void *mangled(size_t n, size_t align)                                             \
    {                                                                                             \
        void *p = aligned(align, n);                                                              \
        if (UNLIKELY(!p)) return ((new_aligned_fn)real_new(#mangled))(n, align);                  \
        if (!PASS(n)) note_alloc(p, n, CALLER);                                                   \
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
        if (!PASS(n)) note_alloc(p, n, CALLER);                                                   \
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
