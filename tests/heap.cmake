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

scry_shell_test(heap_truth heap/truth.sh pprof)
scry_shell_test(heap_cxx_fp heap/cxx.sh)
scry_shell_test(heap_cxx_dwarf heap/cxx.sh)
set_property(TEST heap_cxx_dwarf APPEND PROPERTY ENVIRONMENT "UNWIND=dwarf")
scry_shell_test(heap_jemalloc heap/jemalloc.sh)
scry_shell_test(heap_robust heap/robust.sh)
