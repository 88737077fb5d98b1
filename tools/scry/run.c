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
 *
 * When no profile can come out of the run, scry says why in one line, and
 * only once, from what it knows rather than a list of guesses:
 *   - before the run, from the program's file: a statically linked program
 *     (no PT_INTERP: no loader, so no LD_PRELOAD) and a program the loader
 *     runs in secure mode (setuid or setgid to someone else, or with file
 *     capabilities: AT_SECURE, where LD_PRELOAD paths are ignored). The
 *     program still runs, as it would without scry;
 *   - at the exec, from its errno (sent back on a close-on-exec pipe): not
 *     found, permission denied, a missing interpreter; exit 127 or 126, as
 *     a shell does, and nothing after it;
 *   - after the run, from the child's wait status and the run-status file
 *     (SCRY_RUN_STATUS) that the library appends "load" to when it starts in
 *     the root process and "exit" to when its exit writer has run: never
 *     loaded, killed by a signal, or ended through _exit or an exec into a
 *     program without scry. Once the exit writer has run, any profile still
 *     missing was refused by the library, which has said why itself.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
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

/* ---- Can the preload reach the program? ---- */

#if defined(__x86_64__)
#define OWN_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define OWN_MACHINE EM_AARCH64
#endif

/* The file execvp would run for `file` into out: `file` itself when it
 * names a path, else the first executable regular file of that name in
 * PATH (glibc's default when PATH is unset). 0, or -1 when there is none
 * (the exec then fails and says why). */
static int resolve(const char *file, char *out, size_t size)
{
    if (strchr(file, '/')) {
        snprintf(out, size, "%s", file);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/bin:/usr/bin";
    for (const char *s = path;;) {
        size_t len = strcspn(s, ":");
        snprintf(out, size, "%.*s/%s", (int)(len ? len : 1), len ? s : ".", file);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return 0;
        if (!s[len]) return -1;
        s += len + 1;
    }
}

enum { NOT_ELF, SCRIPT, DYNAMIC, STATIC, WRONG_CLASS, WRONG_MACHINE };

/* What the kernel will start for the file open on fd: a script ("#!", its
 * interpreter into interp), an ELF file of this machine that names its
 * loader (DYNAMIC, PT_INTERP into interp) or does not (STATIC: nothing but
 * the kernel loads it), or something else. */
static int exec_kind(int fd, char *interp, size_t size)
{
    interp[0] = 0;
    unsigned char head[256];
    ssize_t got = pread(fd, head, sizeof head - 1, 0);
    if (got >= 2 && head[0] == '#' && head[1] == '!') {
        head[got] = 0;
        const char *s = (const char *)head + 2;
        s += strspn(s, " \t");
        size_t len = strcspn(s, " \t\n");
        if (!len) return NOT_ELF;
        snprintf(interp, size, "%.*s", (int)len, s);
        return SCRIPT;
    }
    Elf64_Ehdr eh;
    if (got < (ssize_t)sizeof eh || memcmp(head, ELFMAG, SELFMAG)) return NOT_ELF;
    if (head[EI_CLASS] != ELFCLASS64) return WRONG_CLASS;
    memcpy(&eh, head, sizeof eh);
#ifdef OWN_MACHINE
    if (eh.e_machine != OWN_MACHINE) return WRONG_MACHINE;
#endif
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 512) return NOT_ELF;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (Elf64_Off)i * sizeof ph)) !=
            (ssize_t)sizeof ph)
            return NOT_ELF;
        if (ph.p_type != PT_INTERP) continue;
        size_t n = ph.p_filesz < size ? ph.p_filesz : size - 1;
        if (pread(fd, interp, n, (off_t)ph.p_offset) != (ssize_t)n) return NOT_ELF;
        interp[n] = 0;
        return DYNAMIC;
    }
    return STATIC;
}

static int file_kind(const char *path, char *interp, size_t size, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NOT_ELF;
    int kind = fstat(fd, st) == 0 && S_ISREG(st->st_mode) ? exec_kind(fd, interp, size) : NOT_ELF;
    close(fd);
    return kind;
}

/* The dynamic loader itself has no PT_INTERP either, but honours
 * LD_PRELOAD: `scry run -- /lib64/ld-linux-x86-64.so.2 ./app` works. It is
 * recognised as the file this scry binary's own PT_INTERP names. */
static int is_own_loader(const struct stat *st)
{
    char interp[PATH_MAX];
    struct stat self, own;
    return file_kind("/proc/self/exe", interp, sizeof interp, &self) == DYNAMIC &&
           stat(interp, &own) == 0 && own.st_dev == st->st_dev && own.st_ino == st->st_ino;
}

/* Whether the kernel will run the file with AT_SECURE for this user (its
 * real uid and gid): set-user-ID to another user, set-group-ID to another
 * group, or file capabilities for a user who is not root. Not when set-ID
 * bits are ignored (no_new_privs, a nosuid mount). 1 with what the file is
 * and the way out. */
static int secure_exec(const char *path, const struct stat *st, char *what, char *way, size_t size)
{
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1) return 0;
    struct statvfs fs;
    if (statvfs(path, &fs) == 0 && (fs.f_flag & ST_NOSUID)) return 0;
    char name[64];
    if ((st->st_mode & S_ISUID) && st->st_uid != getuid()) {
        struct passwd *pw = getpwuid(st->st_uid);
        if (pw)
            snprintf(name, sizeof name, "%s", pw->pw_name);
        else
            snprintf(name, sizeof name, "uid %d", (int)st->st_uid);
        snprintf(what, size, "setuid %s", name);
        snprintf(way, size, "run scry as %s, or profile a copy without the setuid bit", name);
        return 1;
    }
    /* Set-group-ID without group execute is mandatory locking, not set-ID. */
    if ((st->st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && st->st_gid != getgid()) {
        struct group *gr = getgrgid(st->st_gid);
        if (gr)
            snprintf(name, sizeof name, "%s", gr->gr_name);
        else
            snprintf(name, sizeof name, "gid %d", (int)st->st_gid);
        snprintf(what, size, "setgid %s", name);
        snprintf(way, size,
                 "run scry with %s as its group (sg %s), or profile a copy without the "
                 "setgid bit",
                 name, name);
        return 1;
    }
    if (getuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0) {
        snprintf(what, size, "given file capabilities");
        snprintf(way, size, "run scry as root, or profile a copy without them");
        return 1;
    }
    return 0;
}

/* Checks, before the run, that LD_PRELOAD can bring libscry.so into the
 * program at path (as resolved for the exec): 0 when it can, or when this
 * cannot tell (a file it cannot read is left to the exec); 1 after saying
 * in one line why it cannot. A script is judged by its interpreter, as the
 * kernel runs it (4 levels at most, the kernel's limit). */
static int preload_blocked(const char *path)
{
    char file[PATH_MAX], interp[PATH_MAX], who[2 * PATH_MAX + 32], what[128], way[256];
    snprintf(file, sizeof file, "%s", path);
    snprintf(who, sizeof who, "%s", path);
    for (int depth = 0;; depth++) {
        struct stat st;
        int kind = file_kind(file, interp, sizeof interp, &st);
        switch (kind) {
        case SCRIPT:
            if (depth == 4) return 0;
            snprintf(who, sizeof who, "%s (the interpreter of %s)", interp, path);
            snprintf(file, sizeof file, "%s", interp);
            continue;
        case DYNAMIC:
            if (!secure_exec(file, &st, what, way, sizeof way)) return 0;
            fprintf(stderr,
                    "scry: %s is %s: the loader ignores LD_PRELOAD in a program that gains "
                    "privileges, so libscry.so cannot load into it; %s\n",
                    who, what, way);
            return 1;
        case STATIC:
            if (is_own_loader(&st)) return 0;
            fprintf(stderr,
                    "scry: %s is statically linked: LD_PRELOAD cannot load libscry.so into it; "
                    "build it dynamically linked, or profile it with perf\n",
                    who);
            return 1;
        case WRONG_CLASS:
        case WRONG_MACHINE:
            fprintf(stderr,
                    "scry: %s is %s: libscry.so cannot load into it; profile it with a scry built "
                    "for it, or with perf\n",
                    who, kind == WRONG_CLASS ? "a 32-bit program" : "built for another machine");
            return 1;
        default:
            return 0;
        }
    }
}

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0) kill(child_pid, sig);
}

/* ---- What became of the run ---- */

/* The exec of `file` failed with errno e: says so in one line and returns
 * the status a shell would (127 not found, 126 found but not runnable). */
static int exec_failed(const char *file, int e)
{
    char path[PATH_MAX], interp[PATH_MAX];
    struct stat st;
    int found = resolve(file, path, sizeof path) == 0 && stat(path, &st) == 0;
    if (e == ENOENT && found) {
        /* The file is there: what is missing is the program that runs it. */
        int kind = file_kind(path, interp, sizeof interp, &st);
        if ((kind == SCRIPT || kind == DYNAMIC) && stat(interp, &st) != 0) {
            fprintf(stderr, "scry: cannot run '%s': its interpreter %s does not exist\n", file,
                    interp);
            return 126;
        }
    }
    if (e == ENOENT) {
        fprintf(stderr, "scry: cannot run '%s': %s\n", file,
                strchr(file, '/') ? "no such file" : "not found in PATH");
        return 127;
    }
    fprintf(stderr, "scry: cannot run '%s': %s\n", file,
            e == EACCES ? "permission denied" : strerror(e));
    return 126;
}

enum { LIB_STARTED = 1, LIB_EXIT_RAN = 2 };

/* What the run-status file says (see the top of this file): LIB_STARTED,
 * LIB_EXIT_RAN, or -1 when there is no such file to go by. */
static int library_status(const char *path)
{
    FILE *f = path[0] ? fopen(path, "re") : NULL;
    if (!f) return -1;
    int st = 0;
    char line[64];
    while (fgets(line, sizeof line, f)) {
        if (!strcmp(line, "load\n")) st |= LIB_STARTED;
        if (!strcmp(line, "exit\n")) st |= LIB_EXIT_RAN;
    }
    fclose(f);
    return st;
}

static void signal_name(int sig, char *buf, size_t size)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, size, "SIG%s", abbrev);
    else
        snprintf(buf, size, "signal %d", sig);
}

/* The signals --traceback turns into a written profile. */
static int is_crash(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGABRT;
}

/* After the run: a line for each file written; then, if something is
 * missing and scry has not already said why (blocked: before the run; the
 * library: once its exit writer ran), one line with what happened to the
 * program, from its wait status and the run-status file. */
static void report(const char *dir, const char *profiles, const char *trace, const char *trace_arg,
                   const char *prog, int status, int blocked, const char *status_file,
                   int traceback)
{
    int missing = 0;
    for (const char *s = profiles; *s;) {
        size_t len = strcspn(s, ",");
        char path[PATH_MAX + 80];
        snprintf(path, sizeof path, "%s/%.*s.pb.gz", dir, (int)len, s);
        struct stat st;
        if (stat(path, &st) == 0)
            fprintf(stderr, "scry: wrote %s (%lld bytes)\n", path, (long long)st.st_size);
        else
            missing++;
        s += len;
        if (*s == ',') s++;
    }
    if (trace) {
        struct stat st;
        /* Created empty when the tracer starts: empty is not written. */
        if (stat(trace, &st) == 0 && st.st_size > 0)
            fprintf(stderr,
                    "scry: wrote %s (%lld bytes; open it in https://ui.perfetto.dev or run "
                    "'scry trace %s')\n",
                    trace, (long long)st.st_size, trace_arg);
        else
            missing++;
    }
    int lib = library_status(status_file);
    if (!missing || blocked || (lib >= 0 && (lib & LIB_EXIT_RAN))) return;

    const char *none = trace ? "no profile or trace was written" : "no profile was written";
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        char name[32];
        signal_name(sig, name, sizeof name);
        if (lib == 0)
            fprintf(stderr, "scry: %s: '%s' was killed by %s before libscry.so started in it\n",
                    none, prog, name);
        else if (sig == SIGKILL)
            fprintf(stderr,
                    "scry: %s: '%s' was killed by SIGKILL, which no program can catch; --http ADDR "
                    "serves the profiles while it runs\n",
                    none, prog);
        else if (is_crash(sig) && !traceback)
            fprintf(stderr,
                    "scry: %s: '%s' was killed by %s; --traceback writes the profiles on a crash\n",
                    none, prog, name);
        else
            fprintf(stderr,
                    "scry: %s: '%s' was killed by %s before it reached exit; --http ADDR serves "
                    "the profiles while it runs\n",
                    none, prog, name);
    } else if (lib == 0) {
        fprintf(stderr,
                "scry: %s: libscry.so never started in '%s' (the loader did not preload it; its "
                "reason, if it gave one, is above)\n",
                none, prog);
    } else if (lib > 0) {
        fprintf(stderr,
                "scry: %s: '%s' ended (status %d) through _exit() or an exec() into a program "
                "without scry, so scry's exit code never ran; end it with exit(), or call "
                "scry_profile_write (include/scry.h) first\n",
                none, prog, WEXITSTATUS(status));
    } else {
        fprintf(stderr, "scry: %s to %s\n", none, dir);
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

    /* The run-status file the library notes its start and exit in (see the
     * top of this file): created here, so the library never creates files;
     * writable by all, for a program that drops its privileges. */
    char status_file[PATH_MAX + 64];
    snprintf(status_file, sizeof status_file, "%s/.scry-run.%d", absdir, (int)getpid());
    unlink(status_file);
    int sfd = open(status_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (sfd >= 0) {
        fchmod(sfd, 0666);
        close(sfd);
    } else {
        status_file[0] = 0;
    }
    char resolved[PATH_MAX];
    int blocked = resolve(argv[optind], resolved, sizeof resolved) == 0 && preload_blocked(resolved);
    /* The child's exec error comes back on a pipe that the exec closes. */
    int errpipe[2] = {-1, -1};
    if (pipe2(errpipe, O_CLOEXEC) < 0) errpipe[0] = errpipe[1] = -1;

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "scry run: fork: %s\n", strerror(errno));
        if (status_file[0]) unlink(status_file);
        return 1;
    }
    if (pid == 0) {
        if (errpipe[0] >= 0) close(errpipe[0]);
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
        if (status_file[0])
            setenv("SCRY_RUN_STATUS", status_file, 1);
        else
            unsetenv("SCRY_RUN_STATUS");
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
        if (errpipe[1] < 0 || write(errpipe[1], &e, sizeof e) != (ssize_t)sizeof e)
            fprintf(stderr, "scry: cannot run '%s': %s\n", argv[optind], strerror(e));
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

    int exec_errno = 0;
    ssize_t got = 0;
    if (errpipe[0] >= 0) {
        close(errpipe[1]);
        while ((got = read(errpipe[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
        }
        close(errpipe[0]);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "scry run: waitpid: %s\n", strerror(errno));
            return 1;
        }
    }
    if (got == (ssize_t)sizeof exec_errno) {
        if (status_file[0]) unlink(status_file);
        return exec_failed(argv[optind], exec_errno);
    }
    report(absdir, profiles, trace ? abstrace : NULL, trace, argv[optind], status, blocked,
           status_file, traceback != NULL);
    if (status_file[0]) unlink(status_file);
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
