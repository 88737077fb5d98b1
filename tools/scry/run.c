/*
 * run.c - `scry run`: run a program with libscry.so preloaded.
 *
 * The command is started in a child whose environment carries the preload
 * and the SCRY_* settings, including SCRY_ROOT_PID = the child's own pid, so
 * that the process scry started writes DIR/<profile>.pb.gz and its
 * descendants write DIR/<profile>.<pid>.pb.gz. scry waits for it, passes on
 * SIGTERM and SIGHUP, lets the terminal's SIGINT/SIGQUIT reach the child
 * alone (the profile is written by the child as it dies), then reports the
 * files and exits with the command's status (or dies of the same signal).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "core/profile_names.h"
#include "scry.h"

#ifndef SCRY_INSTALL_LIBDIR
#define SCRY_INSTALL_LIBDIR "/usr/local/lib"
#endif

static const char usage[] =
    "usage: scry run [-p PROFILES] [-o DIR] [--cpu-hz N] [--heap-rate N] [--block-rate NS]\n"
    "                [--mutex-fraction N] [--wall-hz N] [--traceback[=exit]] [--http ADDR]\n"
    "                [--trace FILE] [--flight SECONDS[,MAXBYTES]] [--unwind hybrid|fp|libunwind]\n"
    "                -- CMD [ARGS...]\n"
    "\n"
    "Runs CMD with libscry.so preloaded and writes DIR/<profile>.pb.gz for it\n"
    "(descendant processes write DIR/<profile>.<pid>.pb.gz). Exits with CMD's status.\n"
    "\n"
    "  -p, --profiles LIST  comma list of profiles (default: cpu). Known: cpu, heap\n"
    "                       (memory in use; prints the sites still holding memory at\n"
    "                       exit), allocs (all allocations), block (time spent\n"
    "                       waiting), mutex (lock holders that made others wait),\n"
    "                       threads (every thread's stack and state, at exit),\n"
    "                       wall (every thread on and off CPU, sampled in wall time)\n"
    "  -o, --output DIR     where profiles go (default: ./scry-out)\n"
    "      --cpu-hz N       CPU samples per second of CPU time, 1..10000 (default: 100)\n"
    "      --heap-rate N    heap sample every N bytes allocated on average (default:\n"
    "                       524288, as Go; 1 records every allocation)\n"
    "      --block-rate NS  record waits of NS nanoseconds or more, shorter ones with\n"
    "                       probability wait/NS (default: 1, every wait)\n"
    "      --mutex-fraction N  record 1 in N contended lock releases (default: 1)\n"
    "      --wall-hz N      wall-clock samples per second per thread, 1..1000 (default: 100)\n"
    "      --http ADDR      serve /debug/pprof/ live on ADDR (PORT or HOST:PORT; no host:\n"
    "                       loopback; another host needs SCRY_HTTP_TOKEN)\n"
    "      --traceback[=exit]  on SIGQUIT print every thread's stack and carry on (or\n"
    "                       exit); on a crash print the stacks and write the profiles\n"
    "      --trace FILE     write a runtime trace (Perfetto format: open it in\n"
    "                       https://ui.perfetto.dev, or read it with 'scry trace FILE')\n"
    "      --flight SECONDS[,MAXBYTES]  keep the last SECONDS of trace in memory (at\n"
    "                       most MAXBYTES, K/M/G suffixes, default 32M); SIGUSR2 or a\n"
    "                       crash writes it to DIR/flight.<pid>.<n>.pftrace\n"
    "      --unwind MODE    hybrid (default: .eh_frame tables, then frame pointers),\n"
    "                       fp (frame pointers only) or libunwind (for comparison);\n"
    "                       dwarf is hybrid\n"
    "  -h, --help           this text\n";

#define bad(...) scry_cli_usage_error("run", usage, __VA_ARGS__)

static int check_profiles(const char *list)
{
    const char *s = list;
    if (!*s) return bad("-p needs at least one profile name");
    while (*s) {
        size_t len = strcspn(s, ",");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), s);
        int i = scry__profile_index(s, len);
        if (len == 0) return bad("empty profile name in '%s'", list);
        if (i < 0) return bad("unknown profile '%s' (known: cpu, heap, allocs, mutex, block, threads, wall)", name);
        if (!scry__profile_names[i].available)
            return bad("the '%s' profile is not available in this version of scry (available: cpu, heap, allocs, block, mutex)", name);
        s += len;
        if (*s == ',') s++;
    }
    return 0;
}

static int find_library(char *out, size_t size)
{
    const char *env = getenv("SCRY_LIB");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return access(out, R_OK);
    }
    char exe[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, size, "%s/libscry.so", exe);
            if (access(out, R_OK) == 0) return 0;
            snprintf(out, size, "%s/../lib/libscry.so", exe);
            if (access(out, R_OK) == 0) return 0;
        }
    }
    snprintf(out, size, "%s/libscry.so", SCRY_INSTALL_LIBDIR);
    return access(out, R_OK);
}

static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *s = path + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(path, 0755) < 0 && errno != EEXIST) return -1;
        *s = '/';
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST) return -1;
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0) kill(child_pid, sig);
}

static void report(const char *dir, const char *profiles)
{
    const char *s = profiles;
    while (*s) {
        size_t len = strcspn(s, ",");
        char path[PATH_MAX + 80];
        snprintf(path, sizeof path, "%s/%.*s.pb.gz", dir, (int)len, s);
        struct stat st;
        if (stat(path, &st) == 0)
            fprintf(stderr, "scry: wrote %s (%lld bytes)\n", path, (long long)st.st_size);
        else
            fprintf(stderr, "scry: no %.*s profile was written to %s (did the program exit "
                            "through _exit, exec or a fatal signal?)\n",
                    (int)len, s, dir);
        s += len;
        if (*s == ',') s++;
    }
}

/* s is a whole number in [lo, hi]. */
static int whole(const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return !errno && end != s && !*end && v >= lo && v <= hi;
}

/* SECONDS[,MAXBYTES], as SCRY_FLIGHT takes it (core/config.c). */
static int flight_ok(const char *s)
{
    char *end;
    errno = 0;
    double secs = strtod(s, &end);
    if (errno || end == s || !(secs >= 0.1 && secs <= 3600)) return 0;
    if (!*end) return 1;
    if (*end != ',') return 0;
    const char *b = end + 1;
    unsigned long long v = strtoull(b, &end, 10);
    if (end == b || *b == '-') return 0;
    int shift = 0;
    if (*end && strchr("kK", *end)) shift = 10, end++;
    else if (*end && strchr("mM", *end)) shift = 20, end++;
    else if (*end && strchr("gG", *end)) shift = 30, end++;
    if (*end || v > (1ull << 40) >> shift) return 0;
    return (v << shift) >= (1ull << 20);
}

static int listed(const char *profiles, const char *name)
{
    for (const char *s = profiles; *s;) {
        size_t len = strcspn(s, ",");
        if (len == strlen(name) && !strncmp(s, name, len)) return 1;
        s += len;
        if (*s == ',') s++;
    }
    return 0;
}

/* With heap: the exact totals and the sites still holding memory (leaks);
 * with allocs alone: the totals. */
static void heap_summary(const char *dir, const char *profiles)
{
    int heap = listed(profiles, "heap");
    if (!heap && !listed(profiles, "allocs")) return;
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s.pb.gz", dir, heap ? "heap" : "allocs");
    struct stat st;
    if (stat(path, &st) == 0) scry_print_heap_summary(path, heap, 10, stderr);
}

int scry_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"profiles", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"cpu-hz", required_argument, NULL, 'H'},
        {"heap-rate", required_argument, NULL, 'R'},
        {"block-rate", required_argument, NULL, 'B'},
        {"mutex-fraction", required_argument, NULL, 'M'},
        {"unwind", required_argument, NULL, 'U'},
        {"wall-hz", required_argument, NULL, 'W'},
        {"traceback", optional_argument, NULL, 'T'},
        {"http", required_argument, NULL, 'S'},
        {"trace", required_argument, NULL, 'X'},
        {"flight", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *profiles = "cpu", *dir = "scry-out", *hz = NULL, *unwind = NULL,
               *heap_rate = NULL, *block_rate = NULL, *mutex_fraction = NULL, *wall_hz = NULL,
               *traceback = NULL, *http = NULL, *trace = NULL, *flight = NULL;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:p:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': profiles = optarg; break;
        case 'o': dir = optarg; break;
        case 'H': hz = optarg; break;
        case 'U': unwind = optarg; break;
        case 'R': heap_rate = optarg; break;
        case 'B': block_rate = optarg; break;
        case 'M': mutex_fraction = optarg; break;
        case 'W': wall_hz = optarg; break;
        case 'T': traceback = optarg ? optarg : "continue"; break;
        case 'S': http = optarg; break;
        case 'X': trace = optarg; break;
        case 'F': flight = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        case ':': return bad("option '%s' needs a value", argv[optind - 1]);
        default: return bad("unknown option '%s'", argv[optind - 1]);
        }
    }
    int rc = check_profiles(profiles);
    if (rc) return rc;
    if (hz) {
        char *end;
        errno = 0;
        long v = strtol(hz, &end, 10);
        if (errno || end == hz || *end || v < 1 || v > SCRY_CPU_HZ_MAX)
            return bad("--cpu-hz must be a whole number from 1 to 10000, not '%s'", hz);
    }
    if (heap_rate && !whole(heap_rate, 1, SCRY_HEAP_RATE_MAX))
        return bad("--heap-rate must be a whole number of bytes from 1 to %lld, not '%s'",
                   (long long)SCRY_HEAP_RATE_MAX, heap_rate);
    if (block_rate && !whole(block_rate, 1, SCRY_BLOCK_RATE_MAX))
        return bad("--block-rate must be a whole number of nanoseconds from 1 to %lld, not '%s'",
                   (long long)SCRY_BLOCK_RATE_MAX, block_rate);
    if (mutex_fraction && !whole(mutex_fraction, 1, SCRY_MUTEX_FRACTION_MAX))
        return bad("--mutex-fraction must be a whole number from 1 to %lld, not '%s'",
                   (long long)SCRY_MUTEX_FRACTION_MAX, mutex_fraction);
    if (wall_hz && !whole(wall_hz, 1, SCRY_WALL_HZ_MAX))
        return bad("--wall-hz must be a whole number from 1 to %d, not '%s'", SCRY_WALL_HZ_MAX,
                   wall_hz);
    if (traceback && strcmp(traceback, "continue") && strcmp(traceback, "exit"))
        return bad("--traceback takes continue or exit, not '%s'", traceback);
    if (http && !*http) return bad("--http needs an address (PORT or HOST:PORT)");
    if (trace && !*trace) return bad("--trace needs a file name");
    if (flight && !flight_ok(flight))
        return bad("--flight takes SECONDS[,MAXBYTES] (0.1 to 3600 seconds; bytes from 1M, with K, M "
                   "or G), not '%s'",
                   flight);
    if (unwind && strcmp(unwind, "hybrid") && strcmp(unwind, "dwarf") && strcmp(unwind, "fp") &&
        strcmp(unwind, "libunwind"))
        return bad("--unwind must be hybrid, fp or libunwind, not '%s'", unwind);
    if (optind >= argc) return bad("no command to run");
    if (!*dir) return bad("-o needs a directory");

    char lib[PATH_MAX];
    if (find_library(lib, sizeof lib) != 0) {
        fprintf(stderr, "scry run: cannot find libscry.so (looked next to the scry binary, in "
                        "../lib and in %s; set SCRY_LIB to its path)\n",
                SCRY_INSTALL_LIBDIR);
        return 1;
    }
    if (make_dirs(dir) < 0) {
        fprintf(stderr, "scry run: cannot create output directory %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char absdir[PATH_MAX];
    if (!realpath(dir, absdir)) snprintf(absdir, sizeof absdir, "%s", dir);
    char abslib[PATH_MAX];
    if (!realpath(lib, abslib)) snprintf(abslib, sizeof abslib, "%s", lib);
    /* The trace file, absolute: the program may change directory. */
    char abstrace[PATH_MAX + 256] = "";
    if (trace) {
        char cwd[PATH_MAX];
        if (trace[0] == '/' || !getcwd(cwd, sizeof cwd))
            snprintf(abstrace, sizeof abstrace, "%s", trace);
        else
            snprintf(abstrace, sizeof abstrace, "%s/%s", cwd, trace);
        unlink(abstrace);
    }

    /* Remove profiles a previous run left, so the report is about this run. */
    for (const char *s = profiles; *s;) {
        size_t len = strcspn(s, ",");
        char path[PATH_MAX + 80];
        snprintf(path, sizeof path, "%s/%.*s.pb.gz", absdir, (int)len, s);
        unlink(path);
        s += len;
        if (*s == ',') s++;
    }

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "scry run: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        /* scry goes first so that its interposers win; a sanitizer runtime
         * (tests only) must precede everything. */
        const char *first = getenv("SCRY_PRELOAD_FIRST");
        const char *old = getenv("LD_PRELOAD");
        size_t n = strlen(abslib) + (first ? strlen(first) : 0) + (old ? strlen(old) : 0) + 3;
        char *pre = malloc(n);
        if (!pre) _exit(127);
        snprintf(pre, n, "%s%s%s%s%s", first && *first ? first : "", first && *first ? ":" : "",
                 abslib, old && *old ? ":" : "", old && *old ? old : "");
        char pidbuf[16];
        snprintf(pidbuf, sizeof pidbuf, "%d", (int)getpid());
        setenv("LD_PRELOAD", pre, 1);
        setenv("SCRY_PROFILES", profiles, 1);
        setenv("SCRY_OUT", absdir, 1);
        setenv("SCRY_ROOT_PID", pidbuf, 1);
        if (hz) setenv("SCRY_CPU_HZ", hz, 1);
        if (unwind) setenv("SCRY_UNWIND", unwind, 1);
        if (heap_rate) setenv("SCRY_HEAP_RATE", heap_rate, 1);
        if (block_rate) setenv("SCRY_BLOCK_RATE", block_rate, 1);
        if (mutex_fraction) setenv("SCRY_MUTEX_FRACTION", mutex_fraction, 1);
        if (wall_hz) setenv("SCRY_WALL_HZ", wall_hz, 1);
        if (traceback) setenv("SCRY_TRACEBACK", traceback, 1);
        if (http) setenv("SCRY_HTTP", http, 1);
        if (trace) setenv("SCRY_TRACE", abstrace, 1);
        if (flight) setenv("SCRY_FLIGHT", flight, 1);
        execvp(argv[optind], argv + optind);
        int e = errno;
        fprintf(stderr, "scry run: cannot run '%s': %s\n", argv[optind], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "scry run: waitpid: %s\n", strerror(errno));
            return 1;
        }
    }
    report(absdir, profiles);
    if (trace) {
        struct stat st;
        if (stat(abstrace, &st) == 0)
            fprintf(stderr, "scry: wrote %s (%lld bytes; open it in https://ui.perfetto.dev or run "
                            "'scry trace %s')\n",
                    abstrace, (long long)st.st_size, trace);
        else
            fprintf(stderr, "scry: no trace was written to %s\n", abstrace);
    }
    heap_summary(absdir, profiles);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        /* Die the same way, without a core file of our own. */
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        return 128 + sig;
    }
    return 1;
}
