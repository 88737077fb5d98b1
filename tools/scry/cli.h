/*
 * cli.h - the subcommands of the scry CLI. Each takes the arguments after its
 * own name (argv[0] is the subcommand) and returns the process exit status:
 * 0 on success, 1 when the work failed (one line on stderr says why), 2 for
 * a usage error (unknown flag or bad value: one line, then the usage).
 */
#ifndef SCRY_CLI_H
#define SCRY_CLI_H

int scry_cmd_run(int argc, char **argv);
/* Prints "scry CMD: <message>", a blank line and the usage on stderr, and
 * returns 2: the one way every subcommand refuses its arguments. */
int scry_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The usage error for what getopt_long returned as ':' (a missing value)
 * or '?' (an unknown option), worded the same by every subcommand. */
int scry_cli_option_error(const char *cmd, const char *usage, int c, char **argv);
/* -n's value (rows of a table, 0 for all) into *rows: 0, or 2 after the
 * usage error. */
int scry_cli_rows(const char *cmd, const char *usage, const char *arg, long *rows);
/* After the options: exactly one profile file (argv[optind]), loaded into
 * *out. 0; 2 after a usage error; 1 after "<prefix><path>: <what>". */
struct scry_pprof;
int scry_cli_load_profile(const char *cmd, const char *usage, const char *prefix, int argc,
                          char **argv, struct scry_pprof **out);
int scry_cmd_top(int argc, char **argv);
int scry_cmd_threads(int argc, char **argv);
int scry_cmd_trace(int argc, char **argv);
/* After `scry run`: the exact heap totals of the heap or allocs profile at
 * path, and with leaks, the largest sites still in use (rows of them).
 * 0, or -1 after saying why. */
#include <stdio.h>
int scry_print_heap_summary(const char *path, int leaks, int rows, FILE *out);

#endif
