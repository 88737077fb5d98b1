/*
 * check.h - the W3C tests' checks: each CHECK counts, a failing one prints
 * one line with its place and what was wrong, and the program's exit code
 * is the number of failures (capped). section() prints how many checks
 * the part just finished made.
 */
#ifndef SCRY_TESTS_W3C_CHECK_H
#define SCRY_TESTS_W3C_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int checks, failures, section_checks, section_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            putchar('\n');                                                                         \
        }                                                                                          \
    } while (0)

/* Two integers equal. */
#define CHECK_EQ(got, want, what)                                                                  \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        CHECK(g_ == w_, "%s: got %lld, want %lld", what, g_, w_);                                  \
    } while (0)

/* Two strings equal (want is printed in full, so keep long ones short). */
#define CHECK_STR(got, want, what)                                                                 \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        CHECK(g_ &&strcmp(g_, w_) == 0, "%s: got \"%s\", want \"%s\"", what, g_ ? g_ : "(null)",   \
              w_);                                                                                 \
    } while (0)

/* printf into a ring of buffers. */
static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
    static char ring[8][2048];
    static int next;
    char *b = ring[next++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof ring[0], f, ap);
    va_end(ap);
    return b;
}

static void section(const char *name)
{
    printf("%-28s %4d checks, %d failed\n", name, checks - section_checks,
           failures - section_failures);
    section_checks = checks;
    section_failures = failures;
}

static int finish(const char *prog)
{
    if (failures) {
        printf("%s: %d of %d checks FAILED\n", prog, failures, checks);
        return failures > 100 ? 100 : failures;
    }
    printf("%s: all %d checks passed\n", prog, checks);
    return 0;
}

#endif
