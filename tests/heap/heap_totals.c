/*
 * heap_totals - when scry keeps the exact heap totals, and that they are
 * the program's own count when it does (tests/heap/totals.sh).
 *
 * The ground truth is the program's own count of its calls: every block it
 * allocates adds 1 and malloc_usable_size(p) to its "allocated", every block
 * it frees the same to its "freed" (realloc is a free and an allocation).
 * The work is done by THREADS threads started before scry's totals begin
 * (they wait on a barrier), with malloc, calloc, realloc, posix_memalign,
 * aligned_alloc and free, and nothing else allocates between the two reads
 * of scry_heap_totals (no stdio, no thread start or exit in between).
 *
 *   heap_totals off
 *       nothing wants the totals: scry_heap_totals says -ENODATA, the heap
 *       metrics read NaN and /gc/heap/totals/since:seconds 0.
 *   heap_totals env
 *       run with SCRY_HEAP_TOTALS=1: the deltas equal the program's count;
 *       the in-use metrics are there (counting began at load); a child
 *       forked from a thread with the totals on counts its own work exactly.
 *   heap_totals midrun PROFILE
 *       the heap profile started by the API at rate 1 after the threads and
 *       some blocks exist: the deltas equal the program's count, the frees
 *       of blocks allocated before the start included (documented); the
 *       in-use metrics are NaN (counting began mid-run). Then a block is
 *       sampled, the profile stopped, the block freed, and the profile
 *       written to PROFILE: sampled_then_freed must show 0 in use (and 1000
 *       bytes allocated), sampled_and_kept 2000 in use. After the stop the
 *       totals are no longer kept: -ENODATA again.
 *
 * Prints "name value" lines; the script compares.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <scry.h>

#define THREADS 4
#define STEPS 20000
#define OLD_BLOCKS 100

typedef struct {
    unsigned long long alloc_objects, alloc_bytes, free_objects, free_bytes;
} own_t;

static void took(own_t *o, void *p)
{
    if (!p) abort();
    o->alloc_objects++;
    o->alloc_bytes += malloc_usable_size(p);
}

static void give(own_t *o, void *p)
{
    o->free_objects++;
    o->free_bytes += malloc_usable_size(p);
    free(p);
}

/* A known mix over a ring of 64 live blocks, all freed at the end. */
static void work(own_t *o, unsigned seed)
{
    void *ring[64] = {0};
    for (int i = 0; i < STEPS; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned slot = (seed >> 8) & 63, size = 8 + (seed >> 16) % 3000;
        void *p = ring[slot];
        switch (i % 5) {
        case 0:
            if (p) give(o, p);
            p = malloc(size);
            took(o, p);
            break;
        case 1:
            if (p) give(o, p);
            p = calloc(1 + size % 7, 16);
            took(o, p);
            break;
        case 2:
            if (p) { /* a free of the old block and an allocation of the new */
                o->free_objects++;
                o->free_bytes += malloc_usable_size(p);
            }
            p = realloc(p, size);
            took(o, p);
            break;
        case 3:
            if (p) give(o, p);
            if (posix_memalign(&p, 64, size) != 0) abort();
            took(o, p);
            break;
        default:
            if (p) give(o, p);
            p = aligned_alloc(32, (size + 31) & ~31u);
            took(o, p);
            break;
        }
        ring[slot] = p;
    }
    for (int i = 0; i < 64; i++)
        if (ring[i]) give(o, ring[i]);
}

/* ---- threads started before the totals begin ---- */

static pthread_barrier_t go, done, leave;
static own_t counts[THREADS];

static void *worker(void *arg)
{
    long k = (long)arg;
    pthread_barrier_wait(&go);
    work(&counts[k], 17u + (unsigned)k);
    pthread_barrier_wait(&done);
    pthread_barrier_wait(&leave);
    return NULL;
}

static pthread_t tids[THREADS];

static void threads_start(void)
{
    pthread_barrier_init(&go, NULL, THREADS + 1);
    pthread_barrier_init(&done, NULL, THREADS + 1);
    pthread_barrier_init(&leave, NULL, THREADS + 1);
    for (long k = 0; k < THREADS; k++)
        if (pthread_create(&tids[k], NULL, worker, (void *)k) != 0) abort();
}

/* Main works too; returns the sum of everyone's counts. */
static own_t threads_work(own_t extra)
{
    own_t mine = extra;
    pthread_barrier_wait(&go);
    work(&mine, 5u);
    pthread_barrier_wait(&done);
    for (int k = 0; k < THREADS; k++) {
        mine.alloc_objects += counts[k].alloc_objects;
        mine.alloc_bytes += counts[k].alloc_bytes;
        mine.free_objects += counts[k].free_objects;
        mine.free_bytes += counts[k].free_bytes;
    }
    return mine;
}

static void threads_end(void)
{
    pthread_barrier_wait(&leave);
    for (int k = 0; k < THREADS; k++) pthread_join(tids[k], NULL);
}

/* ---- reading scry ---- */

static int same(const scry_heap_totals_t *a, const scry_heap_totals_t *b, const own_t *o)
{
    return b->alloc_objects - a->alloc_objects == o->alloc_objects &&
           b->alloc_bytes - a->alloc_bytes == o->alloc_bytes &&
           b->free_objects - a->free_objects == o->free_objects &&
           b->free_bytes - a->free_bytes == o->free_bytes;
}

static void show(const char *who, const scry_heap_totals_t *a, const scry_heap_totals_t *b,
                 const own_t *o)
{
    printf("%s program: allocated %llu bytes in %llu blocks, freed %llu bytes in %llu blocks\n",
           who, o->alloc_bytes, o->alloc_objects, o->free_bytes, o->free_objects);
    printf("%s scry:    allocated %llu bytes in %llu blocks, freed %llu bytes in %llu blocks\n",
           who, b->alloc_bytes - a->alloc_bytes, b->alloc_objects - a->alloc_objects,
           b->free_bytes - a->free_bytes, b->free_objects - a->free_objects);
}

static const char *const heap_metrics[] = {
    "/gc/heap/allocs:bytes", "/gc/heap/allocs:objects", "/gc/heap/frees:bytes",
    "/gc/heap/frees:objects", "/memory/classes/heap/objects:bytes", "/gc/heap/objects:objects",
    "/gc/heap/totals/since:seconds",
};
#define NMETRICS (sizeof heap_metrics / sizeof heap_metrics[0])

/* "metric NAME VALUE" lines: nan when not available. */
static void print_metrics(void)
{
    scry_metric_value_t v[NMETRICS];
    memset(v, 0, sizeof v);
    for (size_t i = 0; i < NMETRICS; i++) v[i].name = heap_metrics[i];
    int known = scry_metrics_read(v, (int)NMETRICS);
    printf("metrics_known %d of %zu\n", known, NMETRICS);
    for (size_t i = 0; i < NMETRICS; i++) {
        if (isnan(v[i].value))
            printf("metric %s nan\n", v[i].name);
        else
            printf("metric %s %.0f\n", v[i].name, v[i].value);
    }
}

/* The profile's sites (rate 1: each block sampled). */
__attribute__((noinline)) static void *sampled_then_freed(void)
{
    void *p = malloc(1000);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

__attribute__((noinline)) static void *sampled_and_kept(void)
{
    void *p = malloc(2000);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    scry_heap_totals_t a, b;
    own_t o;

    if (!strcmp(mode, "off")) {
        threads_start();
        int rc = scry_heap_totals(&a);
        printf("totals_rc %d (%s)\n", rc, scry_strerror(rc));
        printf("totals_zero %d\n", !a.alloc_objects && !a.alloc_bytes && !a.free_objects && !a.free_bytes);
        threads_work((own_t){0});
        print_metrics();
        threads_end();
        return 0;
    }

    if (!strcmp(mode, "env")) {
        threads_start();
        int rc = scry_heap_totals(&a);
        o = threads_work((own_t){0});
        int rc2 = scry_heap_totals(&b);
        printf("totals_rc %d %d\n", rc, rc2);
        show("threads", &a, &b, &o);
        printf("threads_match %d\n", rc == 0 && rc2 == 0 && same(&a, &b, &o));
        print_metrics();
        threads_end();
        fflush(stdout);
        /* A child of a process that counts: it counts its own work. */
        pid_t pid = fork();
        if (pid == 0) {
            own_t c = {0};
            scry_heap_totals_t ca, cb;
            int r1 = scry_heap_totals(&ca);
            work(&c, 99u);
            int r2 = scry_heap_totals(&cb);
            _exit(r1 == 0 && r2 == 0 && same(&ca, &cb, &c) ? 0 : 3);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        printf("fork_child_match %d\n", WIFEXITED(st) && WEXITSTATUS(st) == 0);
        return 0;
    }

    if (!strcmp(mode, "midrun") && argc > 2) {
        threads_start();
        /* Blocks from before the totals begin, freed after: counted as
         * frees (the program counts them too). */
        void *old[OLD_BLOCKS];
        for (int i = 0; i < OLD_BLOCKS; i++) old[i] = malloc(100 + i);
        int rc0 = scry_heap_totals(&a);
        printf("before_start_rc %d\n", rc0);
        int rc = scry_heap_set_rate(1);
        if (rc == 0) rc = scry_profile_start("heap");
        printf("start_rc %d\n", rc);
        fflush(stdout);
        own_t pre = {0};
        int r1 = scry_heap_totals(&a);
        for (int i = 0; i < OLD_BLOCKS; i++) give(&pre, old[i]);
        o = threads_work(pre);
        int r2 = scry_heap_totals(&b);
        printf("totals_rc %d %d\n", r1, r2);
        show("midrun", &a, &b, &o);
        printf("midrun_match %d\n", r1 == 0 && r2 == 0 && same(&a, &b, &o));
        print_metrics();
        threads_end();

        void *freed = sampled_then_freed();
        void *kept = sampled_and_kept();
        printf("stop_rc %d\n", scry_profile_stop("heap"));
        free(freed); /* sampled while the profile ran, freed after it stopped */
        printf("write_rc %d\n", scry_profile_write("heap", argv[2]));
        printf("after_stop_rc %d\n", scry_heap_totals(&b));
        printf("kept %p\n", kept);
        return 0;
    }

    fprintf(stderr, "usage: heap_totals off | env | midrun PROFILE\n");
    return 2;
}
