/*
 * scry.h - the whole public C API of scry.
 *
 * scry profiles native Linux programs the way Go's runtime profiles Go
 * programs, and writes pprof files that `go tool pprof` reads.
 *
 * Two ways to use it:
 *   - Unmodified binaries: `scry run -p cpu -- ./app` preloads libscry.so,
 *     which reads the SCRY_* environment variables in a constructor, starts
 *     the profiles they name and writes them when the process ends.
 *   - Linked programs: link with -lscry and drive the profiles with the
 *     functions below. They may be combined with the environment variables.
 *
 * Profiles are named as in Go: "cpu", "heap", "allocs", "block" and "mutex"
 * (this release); "threads" and "wall" are reserved and return -ENOTSUP
 * until they are implemented. "block" is time threads spent waiting (on
 * locks, condition variables, semaphores, joins, barriers) on the waiter's
 * stack; "mutex" is the same waits charged to the stack that released the
 * lock. "heap" and "allocs" are one set of samples
 * of every malloc-family allocation (and C++ new), shown by default as
 * memory in use (heap) or allocated since the start (allocs).
 *
 * Every function returns 0 on success or a negative errno value; pass it to
 * scry_strerror() for a message. No function here may be called from a
 * signal handler.
 */
#ifndef SCRY_H
#define SCRY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SCRY_BUILDING_LIBRARY)
#define SCRY_API __attribute__((visibility("default")))
#else
#define SCRY_API
#endif

#define SCRY_VERSION_MAJOR 0
#define SCRY_VERSION_MINOR 1
#define SCRY_VERSION_PATCH 0
#define SCRY_VERSION "0.1.0"

/* Default CPU sampling rate, as Go's runtime/pprof. */
#define SCRY_CPU_HZ_DEFAULT 100
/* Highest CPU sampling rate accepted. */
#define SCRY_CPU_HZ_MAX 10000

/* Sets the CPU sampling rate in samples per second of CPU time per thread.
 * Takes effect at the next scry_profile_start("cpu"); -EBUSY while the CPU
 * profile runs, -EINVAL outside 1..SCRY_CPU_HZ_MAX. */
SCRY_API int scry_cpu_set_hz(int hz);

/* Default heap sampling rate: one sample per 512 KiB allocated on average,
 * as Go's runtime.MemProfileRate. */
#define SCRY_HEAP_RATE_DEFAULT 524288
#define SCRY_HEAP_RATE_MAX (1LL << 40)

/* Sets the mean number of bytes allocated between heap samples (1 samples
 * every allocation). -EBUSY while "heap" or "allocs" runs, -EINVAL below 1
 * or above SCRY_HEAP_RATE_MAX. */
SCRY_API int scry_heap_set_rate(long bytes);

/* Go's runtime.SetBlockProfileRate: a wait of at least `ns` nanoseconds is
 * always recorded, a shorter one with probability wait/ns (and scaled, so
 * totals stay unbiased). 1 records every wait (the default). */
#define SCRY_BLOCK_RATE_MAX 1000000000000LL
SCRY_API int scry_block_set_rate(long ns);

/* Go's runtime.SetMutexProfileFraction: 1 in n lock releases that ended a
 * wait is recorded, scaled by n. 1 records every one (the default). */
#define SCRY_MUTEX_FRACTION_MAX 1000000000LL
SCRY_API int scry_mutex_set_fraction(long n);

/* The wall-clock profile ("wall", fgprof's model) samples every thread, on
 * and off CPU, this many times a second. -EBUSY while it runs, -EINVAL
 * outside 1..SCRY_WALL_HZ_MAX. */
#define SCRY_WALL_HZ_DEFAULT 100
#define SCRY_WALL_HZ_MAX 1000
SCRY_API int scry_wall_set_hz(int hz);

/* Serves /debug/pprof/ (as Go's net/http/pprof) on addr ("PORT",
 * "HOST:PORT", "[V6]:PORT"; no host means loopback; port 0 picks one) from
 * threads of scry's own. A non-loopback address needs a token, which every
 * request must then send as "Authorization: Bearer TOKEN" (NULL or "":
 * none). 0, -EALREADY, or a negative errno after one line on stderr. */
SCRY_API int scry_http_start(const char *addr, const char *token);
/* The port being served, 0 when no server runs. */
SCRY_API int scry_http_port(void);
SCRY_API void scry_http_stop(void);

/* Exact counts of every allocation and free the process made since scry
 * loaded, all threads, in the allocator's usable sizes
 * (malloc_usable_size). Kept whether or not a heap profile runs. */
typedef struct {
    unsigned long long alloc_objects, alloc_bytes;
    unsigned long long free_objects, free_bytes;
} scry_heap_totals_t;
SCRY_API int scry_heap_totals(scry_heap_totals_t *out);

/* Starts the named profile. Samples accumulate until scry_profile_stop().
 * -EINVAL for an unknown name, -ENOTSUP for a profile not built yet,
 * -EALREADY if it runs already. */
SCRY_API int scry_profile_start(const char *name);

/* Stops the named profile. What it collected stays readable by
 * scry_profile_write() until the next start. -EINVAL if not running. */
SCRY_API int scry_profile_stop(const char *name);

/* Writes the named profile, gzipped pprof, to path: atomically, through a
 * temporary file in the same directory that is renamed over path. May be
 * called while the profile runs (a snapshot) or after it stopped. */
SCRY_API int scry_profile_write(const char *name, const char *path);

/* The same, to an open file descriptor, which is not closed. */
SCRY_API int scry_profile_write_fd(const char *name, int fd);

/* A message for a value returned by any function above. */
SCRY_API const char *scry_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* SCRY_H */
