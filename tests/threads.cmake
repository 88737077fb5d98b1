# Thread profile, wall-clock profile and traceback tests: programs whose
# threads are where the tests say (built like a user's program: -O2, frame
# pointers, debug info).
add_executable(threads_truth threads/threads_truth.c)
target_compile_options(threads_truth PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(threads_truth PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
add_executable(crash threads/crash.c)
target_compile_options(crash PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(crash PRIVATE Threads::Threads)

scry_shell_test(threads_snapshot threads/snapshot.sh pprof)
scry_shell_test(threads_wall threads/wall.sh pprof)
scry_shell_test(threads_traceback threads/traceback.sh pprof)
# The wall test measures wall time on both cores: keep it apart.
set_tests_properties(threads_wall PROPERTIES RUN_SERIAL TRUE)
# In the sanitizer build the crashing program is not instrumented: the
# sanitizer's own SIGSEGV handler would come first, and scry, seeing the
# program (the sanitizer) handle the signal, rightly stands aside.
if(SCRY_SANITIZE)
  target_compile_options(crash PRIVATE -fno-sanitize=all)
  target_link_options(crash PRIVATE -fno-sanitize=all)
endif()
set_property(TEST threads_traceback APPEND PROPERTY ENVIRONMENT "SCRY_PRELOAD_FIRST=")
scry_shell_test(threads_exec threads/exec.sh)
