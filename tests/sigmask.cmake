# Signal-blocking threads: profiled, and the program's own signal handling unchanged.
# (interpose/sigmask.c; profile/cpu.c's not-sampled and capture lines.)
add_executable(blockall sigmask/blockall.c)
target_compile_options(blockall PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(blockall PRIVATE Threads::Threads)

scry_shell_test(sigmask_masks sigmask/masks.sh)
scry_shell_test(sigmask_split sigmask/split.sh pprof)
scry_shell_test(sigmask_named sigmask/named.sh)
scry_shell_test(sigmask_xz sigmask/xz.sh)
# CPU-bound on both cores, and they measure shares and rates: keep them apart.
set_tests_properties(sigmask_split sigmask_named sigmask_xz PROPERTIES RUN_SERIAL TRUE)
# Not in the sanitizer build (no "sanitize" label): xz, like ls and python3
# (tests/unwind_real.cmake), waits forever on glibc's setlocale lock at exit
# with the sanitizer's runtime and the instrumented libscry.so preloaded,
# whatever the profile (-p heap too) and with scry's mask interposers
# bypassed. sigmask_split runs the same workers there.
set_tests_properties(sigmask_xz PROPERTIES LABELS "")
