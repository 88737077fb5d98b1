/*
 * log.h - the one way scry talks to the user of the host program.
 *
 * Every message is one line on stderr, prefixed "scry: ", written with a
 * single write(2) so it is never interleaved with the program's output.
 * scry__warn_once() says a thing at most once per process per call site, as
 * the brief asks: when scry cannot do its job it says so once and the
 * program carries on. Not for signal handlers (they count, they do not talk).
 */
#ifndef SCRY_CORE_LOG_H
#define SCRY_CORE_LOG_H

#include <stdatomic.h>

void scry__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define scry__warn_once(...)                                                                       \
    do {                                                                                           \
        static atomic_flag said_ = ATOMIC_FLAG_INIT;                                               \
        if (!atomic_flag_test_and_set(&said_)) scry__log(__VA_ARGS__);                             \
    } while (0)

#endif
