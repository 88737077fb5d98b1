/*
 * chain.h - a 64-deep call chain for the unwinding benchmark
 * (handler_cost.c), in two builds of chain.c: chain_fp keeps a frame pointer
 * in every frame, chain_nofp keeps none.
 *
 * chain_*(uc, at_bottom) calls through 63 functions to a 64th; there it saves
 * its context into *uc with getcontext (unless uc is NULL), then calls
 * at_bottom(), which may measure walks of the frames above it while they
 * exist. The context's pc and sp are the bottom frame's, so a walk from it
 * starts in code built with the chain's flags.
 */
#ifndef SCRY_BENCH_CHAIN_H
#define SCRY_BENCH_CHAIN_H

#include <ucontext.h>

void chain_fp(ucontext_t *uc, void (*at_bottom)(void));
void chain_nofp(ucontext_t *uc, void (*at_bottom)(void));

#endif
