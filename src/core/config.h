/*
 * config.h - settings from the SCRY_* environment variables, read once when
 * the library loads. A bad value is reported in one line and replaced by
 * its default: the host program always runs.
 *
 *   SCRY_PROFILES   comma list of profiles to start at load (e.g. "cpu")
 *   SCRY_OUT        directory for profiles written at exit (./scry-out)
 *   SCRY_CPU_HZ     CPU sampling rate, 1..10000 (100)
 *   SCRY_UNWIND     hybrid | fp | libunwind (hybrid; dwarf is hybrid too)
 *   SCRY_HEAP_RATE  mean bytes between heap samples, 1..2^40 (524288, Go's)
 *   SCRY_HEAP_TOTALS 0 | 1: keep the exact heap totals from load to exit
 *                   (0: only while the heap or allocs profile runs or
 *                   /metrics is served; profile/heap.h)
 *   SCRY_BLOCK_RATE block profile rate in ns, 1..10^12 (1: every wait)
 *   SCRY_MUTEX_FRACTION  1 in N lock releases sampled, 1..10^9 (1)
 *   SCRY_WALL_HZ    wall-clock sampling rate, 1..1000 (100)
 *   SCRY_TRACEBACK  0 | 1 | continue | exit: print every thread's stack on
 *                   SIGQUIT (and carry on, or exit) and on fatal signals (0)
 *   SCRY_HTTP       serve /debug/pprof/ on this address (http/server.h)
 *   SCRY_HTTP_TOKEN bearer token the server requires (needed off loopback)
 *   SCRY_TRACE      write a runtime trace (Perfetto) to this file (trace/trace.h)
 *   SCRY_FLIGHT     SECONDS[,MAXBYTES]: keep the last SECONDS of trace in
 *                   memory, at most MAXBYTES (K, M, G suffixes; 32M)
 *   SCRY_TRACE_BUFFER    bytes of per-thread trace buffers (16M)
 *   SCRY_TRACE_ALLOC_MIN allocations traced from this size (1M)
 *   SCRY_TRACE_SYSCALL_NS  I/O calls and sleeps shorter than this are not
 *                   traced (10000: the ones that blocked, not every read)
 *   SCRY_TRACE_STACKS 1: lock waits and traced allocations carry stacks (0)
 *   SCRY_ROOT_PID   set by `scry run`: the process that writes <name>.pb.gz;
 *                   every other process writes <name>.<pid>.pb.gz
 */
#ifndef SCRY_CORE_CONFIG_H
#define SCRY_CORE_CONFIG_H

#include <limits.h>
#include <sys/types.h>

typedef struct {
    unsigned profiles; /* bit i: scry__profile_names[i] */
    int cpu_hz;
    long heap_rate;
    int heap_totals; /* SCRY_HEAP_TOTALS=1 */
    long block_rate;
    long mutex_fraction;
    int wall_hz;
    int traceback; /* SCRY__TRACEBACK_* */
    char http[128];       /* "" when no server is asked for */
    char http_token[256];
    int unwind;
    char trace_path[PATH_MAX]; /* "" when no trace is asked for */
    double flight_seconds;     /* 0: no flight recorder */
    size_t flight_max_bytes;
    size_t trace_buffer;
    size_t trace_alloc_min;
    long trace_syscall_ns;
    int trace_stacks;
    char out_dir[PATH_MAX];
    pid_t root_pid;
} scry__config_t;

extern scry__config_t scry__config;

void scry__config_load(void);

#endif
