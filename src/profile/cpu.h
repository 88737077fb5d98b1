/*
 * cpu.h - constants of the CPU profiler that tools outside the library
 * (the per-sample benchmark) need to produce a signal scry takes as its own.
 */
#ifndef SCRY_PROFILE_CPU_H
#define SCRY_PROFILE_CPU_H

#include <signal.h>

/* sigev_value of scry's timers: a SIGPROF with si_code SI_TIMER and this
 * value is a CPU sample; any other SIGPROF belongs to the program. */
#define SCRY__CPU_COOKIE ((void *)0x5c12f00d)
#define SCRY__CPU_SIGNAL SIGPROF

#endif
