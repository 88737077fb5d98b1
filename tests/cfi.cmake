# The CFI compiler (src/core/cfi.c), compiled into its checker: the rows it
# makes from real objects' .eh_frame against elfutils' libdw reading the
# same tables, and damaged copies compiled without a fault (the sanitizer
# build checks every read).
add_executable(cfi_check cfi/cfi_check.c ${CMAKE_SOURCE_DIR}/src/core/cfi.c)
target_include_directories(cfi_check PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_options(cfi_check PRIVATE -O1 -g)
target_link_libraries(cfi_check PRIVATE PkgConfig::LIBDW)
scry_shell_test(cfi_libdw cfi/check.sh)

# A library described by .debug_frame only (no .eh_frame, no frame
# pointers), profiled at 1000 Hz.
add_library(debug_frame_lib SHARED cfi/debug_frame_lib.c)
target_compile_options(debug_frame_lib PRIVATE -O2 -g -fno-asynchronous-unwind-tables -fno-unwind-tables
                       -fomit-frame-pointer)
set_target_properties(debug_frame_lib PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_executable(debug_frame_main cfi/debug_frame_main.c)
target_compile_options(debug_frame_main PRIVATE -O2 -g)
target_link_libraries(debug_frame_main PRIVATE debug_frame_lib)
scry_shell_test(cfi_debug_frame cfi/debug_frame.sh)
