/*
 * heap_robust - every member of the malloc family, the awkward cases, and
 * their exact in-use values, with scry linked (not preloaded) and driven by
 * the API at rate 1. Each case runs in its own function so the profile can
 * be checked per function (the expected in-use bytes are in the names the
 * driver greps for: see heap_robust.sh).
 *
 *   before_start  100 blocks allocated before the profile starts and freed
 *                 after: no trace, no unmatched free, nothing negative
 *   grow_realloc  100 -> 1000 -> 10000 -> 100000 bytes: 100000 in use
 *   shrink_realloc 50000 -> 100: 100 in use
 *   realloc_zero  realloc(p, 0) frees p: 0 in use
 *   aligned_family memalign'd block freed with free (0), posix_memalign 5000,
 *                 aligned_alloc 512, valloc 3000, pvalloc 3000, calloc 10x100,
 *                 reallocarray 10x10: 12612 in use
 *   in_threads    4 threads keep 10 x 1000 bytes each and exit: 40000
 *   in_child      after a fork with threads busy allocating, the child keeps
 *                 5 x 1000 bytes and writes its own profile: 5000 there
 * It also checks that free() keeps errno, on a sampled block.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scry.h"

static void *early[100];
static void *keep[64];
static int nkeep;
static _Atomic int stop_churn;

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "heap_robust: %s failed (line %d)\n", #x, __LINE__);                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

__attribute__((noinline)) static void before_start(void)
{
    for (int i = 0; i < 100; i++) early[i] = malloc(1000);
}

__attribute__((noinline)) static void grow_realloc(void)
{
    char *p = malloc(100);
    p = realloc(p, 1000);
    p = realloc(p, 10000);
    p = realloc(p, 100000);
    CHECK(p);
    p[99999] = 1;
    keep[nkeep++] = p;
}

__attribute__((noinline)) static void shrink_realloc(void)
{
    char *p = malloc(50000);
    p = realloc(p, 100);
    CHECK(p);
    keep[nkeep++] = p;
}

__attribute__((noinline)) static void realloc_zero(void)
{
    char *p = malloc(777);
    CHECK(p);
    p = realloc(p, 0);
    free(p); /* glibc returned NULL; another allocator may return a block */
}

__attribute__((noinline)) static void aligned_family(void)
{
    void *p = memalign(64, 1000);
    CHECK(p && ((uintptr_t)p & 63) == 0);
    free(p);
    CHECK(posix_memalign(&p, 4096, 5000) == 0 && ((uintptr_t)p & 4095) == 0);
    keep[nkeep++] = p;
    p = aligned_alloc(256, 512);
    CHECK(p && ((uintptr_t)p & 255) == 0);
    keep[nkeep++] = p;
    keep[nkeep++] = valloc(3000);
    keep[nkeep++] = pvalloc(3000);
    char *z = calloc(10, 100);
    for (int i = 0; i < 1000; i++) CHECK(z[i] == 0);
    keep[nkeep++] = z;
    keep[nkeep++] = reallocarray(NULL, 10, 10);
    errno = 0;
    volatile size_t huge = SIZE_MAX / 2;
    CHECK(reallocarray(NULL, huge, 4) == NULL && errno == ENOMEM);
}

static void *thread_body(void *arg)
{
    void **out = arg;
    for (int i = 0; i < 10; i++) out[i] = malloc(1000);
    return NULL;
}

static void *thread_blocks[4][10];

__attribute__((noinline)) static void in_threads(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, thread_body, thread_blocks[i]) == 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
}

static void *churner(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_churn)) {
        void *p = malloc(64 + (size_t)rand() % 4096);
        __asm__ volatile("" : : "r"(p) : "memory"); /* the compiler may not drop the pair */
        free(p);
    }
    return NULL;
}

__attribute__((noinline)) static void in_child(const char *path)
{
    void *mine[5];
    for (int i = 0; i < 5; i++) {
        mine[i] = malloc(1000);
        __asm__ volatile("" : : "r"(mine[i]) : "memory");
    }
    int rc = scry_profile_write("heap", path);
    if (rc < 0) {
        fprintf(stderr, "child: %s\n", scry_strerror(rc));
        _exit(1);
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    before_start();
    CHECK(scry_heap_set_rate(1) == 0);
    CHECK(scry_profile_start("heap") == 0);
    CHECK(scry_heap_set_rate(2) == -EBUSY);
    for (int i = 0; i < 100; i++) free(early[i]);

    grow_realloc();
    shrink_realloc();
    realloc_zero();
    aligned_family();
    in_threads();

    /* errno survives free of a sampled block (every block is, at rate 1). */
    void *p = malloc(10);
    errno = 1234;
    free(p);
    CHECK(errno == 1234);

    pthread_t churn[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&churn[i], NULL, churner, NULL) == 0);
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) in_child(argv[2]);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&stop_churn, 1);
    for (int i = 0; i < 2; i++) pthread_join(churn[i], NULL);

    int rc = scry_profile_write("heap", argv[1]);
    if (rc < 0) {
        fprintf(stderr, "write: %s\n", scry_strerror(rc));
        return 1;
    }
    printf("heap_robust done\n");
    return 0;
}
