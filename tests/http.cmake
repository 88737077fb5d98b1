# The live endpoint: a program to point it at, and the real clients.
add_executable(http_target http/http_target.c)
target_compile_options(http_target PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(http_target PRIVATE Threads::Threads)
scry_shell_test(http_pprof http/pprof.sh pprof)
# In the sanitizer build the target is not instrumented, as the heap tests'
# programs: the sanitizer's allocator would hide its allocations from scry.
if(SCRY_SANITIZE)
  target_compile_options(http_target PRIVATE -fno-sanitize=all)
  target_link_options(http_target PRIVATE -fno-sanitize=all)
endif()
set_property(TEST http_pprof APPEND PROPERTY ENVIRONMENT "SCRY_PRELOAD_FIRST=")
scry_shell_test(http_index_html http/index_html.sh)
set_property(TEST http_index_html APPEND PROPERTY ENVIRONMENT "SCRY_PRELOAD_FIRST=")
