/*
 * chain.c - the call chain of chain.h, compiled twice (bench/CMakeLists.txt):
 * with CHAIN_FP and -fno-omit-frame-pointer as chain_fp (functions fp_*), and
 * with -fomit-frame-pointer as chain_nofp (functions nofp_*), so a profile
 * of the benchmark tells the two apart.
 *
 * 64 distinct functions rather than one recursive one: every frame has its
 * own return address and its own unwind row, as in a real stack (a
 * recursive chain would hand a cache keyed by pc, such as libunwind's, the
 * same address 63 times).
 */
#include "chain.h"

#if defined(CHAIN_FP)
#define F(n) fp_##n
#define ENTRY chain_fp
#else
#define F(n) nofp_##n
#define ENTRY chain_nofp
#endif

static volatile long sink;

/* noinline, noclone: one frame per call, no specialised copies; the store
 * after each call keeps it from being a tail call. */
__attribute__((noinline, noclone)) static void F(bottom)(ucontext_t *uc, void (*at_bottom)(void))
{
    if (uc) getcontext(uc);
    at_bottom();
    sink++;
}

/* One function per STEP, several to a line. */
/* clang-format off */
#define STEP(n, next)                                                                              \
    __attribute__((noinline, noclone)) static void F(n)(ucontext_t *uc, void (*at_bottom)(void))   \
    {                                                                                              \
        F(next)(uc, at_bottom);                                                                    \
        sink++;                                                                                    \
    }
STEP(1, bottom) STEP(2, 1) STEP(3, 2) STEP(4, 3) STEP(5, 4) STEP(6, 5) STEP(7, 6) STEP(8, 7)
STEP(9, 8) STEP(10, 9) STEP(11, 10) STEP(12, 11) STEP(13, 12) STEP(14, 13) STEP(15, 14)
STEP(16, 15) STEP(17, 16) STEP(18, 17) STEP(19, 18) STEP(20, 19) STEP(21, 20) STEP(22, 21)
STEP(23, 22) STEP(24, 23) STEP(25, 24) STEP(26, 25) STEP(27, 26) STEP(28, 27) STEP(29, 28)
STEP(30, 29) STEP(31, 30) STEP(32, 31) STEP(33, 32) STEP(34, 33) STEP(35, 34) STEP(36, 35)
STEP(37, 36) STEP(38, 37) STEP(39, 38) STEP(40, 39) STEP(41, 40) STEP(42, 41) STEP(43, 42)
STEP(44, 43) STEP(45, 44) STEP(46, 45) STEP(47, 46) STEP(48, 47) STEP(49, 48) STEP(50, 49)
STEP(51, 50) STEP(52, 51) STEP(53, 52) STEP(54, 53) STEP(55, 54) STEP(56, 55) STEP(57, 56)
STEP(58, 57) STEP(59, 58) STEP(60, 59) STEP(61, 60) STEP(62, 61) STEP(63, 62)

void ENTRY(ucontext_t *uc, void (*at_bottom)(void))
{
    F(63)(uc, at_bottom);
    sink++;
}
/* clang-format on */
