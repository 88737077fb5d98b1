/*
 * main.c - the scry command line: dispatches to one subcommand per file
 * (run.c, top.c, threads.c, trace.c). Every subcommand answers --help and
 * exits 2 on a bad flag.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pprof_read.h"

static const char usage[] =
    "usage: scry <command> [arguments]\n"
    "\n"
    "commands:\n"
    "  run      run a program with profiling: scry run [-p PROFILES] [-o DIR] [--cpu-hz N] -- "
    "CMD...\n"
    "  top      print the top functions of a profile: scry top [-n N] [--cum] FILE\n"
    "  threads  print the thread dump of a threads profile: scry threads [--debug 1|2] FILE\n"
    "  trace    summarize a runtime trace: scry trace [-n N] FILE\n"
    "\n"
    "'scry <command> --help' describes a command.\n";

int scry_cli_usage_error(const char *cmd, const char *usage_text, const char *fmt, ...)
{
    fprintf(stderr, "scry %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n%s", usage_text);
    return 2;
}

int scry_cli_option_error(const char *cmd, const char *usage_text, int c, char **argv)
{
    if (c == ':') {
        if (!strncmp(argv[optind - 1], "--", 2))
            return scry_cli_usage_error(cmd, usage_text, "option '%s' needs a value", argv[optind - 1]);
        return scry_cli_usage_error(cmd, usage_text, "option '-%c' needs a value", optopt);
    }
    /* getopt's optopt is 0 for an unknown long option */
    if (optopt) return scry_cli_usage_error(cmd, usage_text, "unknown option '-%c'", optopt);
    return scry_cli_usage_error(cmd, usage_text, "unknown option '%s'", argv[optind - 1]);
}

int scry_cli_rows(const char *cmd, const char *usage_text, const char *arg, long *rows)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || errno || v < 0)
        return scry_cli_usage_error(cmd, usage_text, "-n needs a whole number of rows, 0 or more, not '%s'",
                                    arg);
    *rows = v;
    return 0;
}

int scry_cli_load_profile(const char *cmd, const char *usage_text, const char *prefix, int argc,
                          char **argv, scry_pprof_t **out)
{
    if (optind >= argc) return scry_cli_usage_error(cmd, usage_text, "no profile file given");
    if (optind + 1 < argc)
        return scry_cli_usage_error(cmd, usage_text, "one profile file at a time ('%s' is extra)",
                                    argv[optind + 1]);
    char err[512];
    if (scry_pprof_load(argv[optind], out, err, sizeof err) < 0) {
        fprintf(stderr, "%s%s\n", prefix, err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run")) return scry_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "top")) return scry_cmd_top(argc - 1, argv + 1);
    if (!strcmp(cmd, "threads")) return scry_cmd_threads(argc - 1, argv + 1);
    if (!strcmp(cmd, "trace")) return scry_cmd_trace(argc - 1, argv + 1);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        puts("scry 0.1.0");
        return 0;
    }
    fprintf(stderr, "scry: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
