/*
 * profile_names.h - the profiles scry knows by name, shared by the library
 * and the CLI so both accept and refuse the same names. A profile whose
 * `available` is 0 is reserved: named so users get a clear "not yet".
 */
#ifndef SCRY_CORE_PROFILE_NAMES_H
#define SCRY_CORE_PROFILE_NAMES_H

#include <string.h>

typedef struct {
    const char *name;
    int available;
    const char *what;
} scry__profile_name_t;

static const scry__profile_name_t scry__profile_names[] = {
    {"cpu", 1, "CPU time, sampled per thread"},
    {"heap", 1, "live heap memory"},
    {"allocs", 1, "all heap allocations"},
    {"mutex", 1, "lock holders that made others wait"},
    {"block", 1, "time spent blocked"},
    {"threads", 1, "stacks of every thread"},
    {"wall", 1, "wall-clock time on and off CPU"},
};

#define SCRY__NPROFILES ((int)(sizeof scry__profile_names / sizeof scry__profile_names[0]))

/* Index of the profile named by the len bytes at name, or -1. */
static inline int scry__profile_index(const char *name, size_t len)
{
    for (int i = 0; i < SCRY__NPROFILES; i++)
        if (strlen(scry__profile_names[i].name) == len &&
            !memcmp(scry__profile_names[i].name, name, len))
            return i;
    return -1;
}

#endif
