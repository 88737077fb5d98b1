# The CFI compiler (src/core/cfi.c), compiled into its checker: the rows it
# makes from real objects' .eh_frame against elfutils' libdw reading the
# same tables, and damaged copies compiled without a fault (the sanitizer
# build checks every read).
add_executable(cfi_check cfi/cfi_check.c ${CMAKE_SOURCE_DIR}/src/core/cfi.c)
target_include_directories(cfi_check PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_options(cfi_check PRIVATE -O1 -g)
target_link_libraries(cfi_check PRIVATE PkgConfig::LIBDW)
scry_shell_test(cfi_libdw cfi/check.sh)
