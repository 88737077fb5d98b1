# Heap profile tests: ground truth at the default rate and at rate 1, C++,
# jemalloc, the whole malloc family with the API, fork and threads.
add_executable(heap_truth heap/heap_truth.c)
target_compile_options(heap_truth PRIVATE -O2 -g -fno-omit-frame-pointer)
target_include_directories(heap_truth PRIVATE ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(heap_truth PRIVATE ${CMAKE_DL_LIBS})

add_executable(heap_cxx heap/heap_cxx.cc)
target_compile_options(heap_cxx PRIVATE -O2 -g -fno-omit-frame-pointer)

add_executable(heap_jemalloc heap/heap_jemalloc.c)
target_compile_options(heap_jemalloc PRIVATE -O2 -g -fno-omit-frame-pointer)
target_include_directories(heap_jemalloc PRIVATE ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(heap_jemalloc PRIVATE jemalloc ${CMAKE_DL_LIBS})

# Linked with scry, which must come before libc (it does: libc is last).
add_executable(heap_robust heap/heap_robust.c)
target_compile_options(heap_robust PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(heap_robust PRIVATE scry Threads::Threads)

# In the sanitizer build the library is instrumented but these programs are
# not: an instrumented program loads the sanitizer's allocator first, which
# would hide every allocation from scry (scry then says so and stands
# aside). A plain program preloads libscry.so alone, and the sanitizer's
# runtime comes in as the library's dependency, after libc, so the
# allocator scry forwards to is glibc's (or jemalloc's).
set(HEAP_TEST_PROGRAMS heap_truth heap_cxx heap_jemalloc heap_robust)
if(SCRY_SANITIZE)
  foreach(p ${HEAP_TEST_PROGRAMS})
    target_compile_options(${p} PRIVATE -fno-sanitize=all)
    target_link_options(${p} PRIVATE -fno-sanitize=all)
  endforeach()
endif()

scry_shell_test(heap_truth heap/truth.sh pprof)
scry_shell_test(heap_cxx heap/cxx.sh)
scry_shell_test(heap_cxx_fp heap/cxx.sh)
set_property(TEST heap_cxx_fp APPEND PROPERTY ENVIRONMENT "UNWIND=fp")
scry_shell_test(heap_jemalloc heap/jemalloc.sh)
scry_shell_test(heap_robust heap/robust.sh)
set_property(TEST heap_truth heap_cxx heap_cxx_fp heap_jemalloc heap_robust
             APPEND PROPERTY ENVIRONMENT "SCRY_PRELOAD_FIRST=")

# The exact totals are the program's, not scry's (heap_leaks.c), with the
# heap profile alone and with every profile, the HTTP endpoint and a trace.
add_executable(heap_leaks heap/heap_leaks.c)
target_compile_options(heap_leaks PRIVATE -O2 -g -fno-omit-frame-pointer)
if(SCRY_SANITIZE)
  target_compile_options(heap_leaks PRIVATE -fno-sanitize=all)
  target_link_options(heap_leaks PRIVATE -fno-sanitize=all)
endif()
scry_shell_test(heap_leaks heap/leaks.sh)
# A non-PIE program whose malloc is a canonical PLT entry, as python3's.
add_executable(heap_plt heap/heap_plt.c)
target_compile_options(heap_plt PRIVATE -O2 -g -fno-omit-frame-pointer -fno-pie)
target_link_options(heap_plt PRIVATE -no-pie)
set_target_properties(heap_plt PROPERTIES POSITION_INDEPENDENT_CODE OFF)
if(SCRY_SANITIZE)
  target_compile_options(heap_plt PRIVATE -fno-sanitize=all)
  target_link_options(heap_plt PRIVATE -fno-sanitize=all)
endif()
scry_shell_test(heap_plt heap/plt.sh)
# Debian's python3 (non-PIE, takes malloc's address) against heaptrack.
scry_shell_test(heap_python heap/python.sh)
# As the other heap tests, the sanitizer build preloads the instrumented
# library alone (its runtime comes in after libc). With the runtime
# preloaded first, python3 hangs at start in the sanitizer build, scry or
# not: the ASan runtime preloaded with libp11-kit (which libscry.so links
# through libmicrohttpd and GnuTLS) deadlocks glibc's setlocale lock in
# python3's first mbstowcs; `LD_PRELOAD=libasan.so:libp11-kit.so.0` shows it
# on any program that calls setlocale and mbstowcs.
set_property(TEST heap_leaks heap_plt heap_python APPEND PROPERTY ENVIRONMENT "SCRY_PRELOAD_FIRST=")
set_tests_properties(heap_leaks heap_python PROPERTIES RUN_SERIAL TRUE)

# When the exact totals are kept (nothing asked: not at all; SCRY_HEAP_TOTALS=1;
# the heap profile started mid-run) and that they are the program's count.
add_executable(heap_totals heap/heap_totals.c)
target_compile_options(heap_totals PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(heap_totals PRIVATE scry Threads::Threads m)
if(SCRY_SANITIZE)
  target_compile_options(heap_totals PRIVATE -fno-sanitize=all)
  target_link_options(heap_totals PRIVATE -fno-sanitize=all)
endif()
scry_shell_test(heap_totals heap/totals.sh)
