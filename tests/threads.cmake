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
# The sanitizer's runtime still comes in with the instrumented library and
# would install its own fatal-signal handlers: it is told not to.
if(SCRY_SANITIZE)
  target_compile_options(crash PRIVATE -fno-sanitize=all)
  target_link_options(crash PRIVATE -fno-sanitize=all)
  set_property(TEST threads_traceback APPEND PROPERTY ENVIRONMENT
               "ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0:handle_sigill=0")
endif()
set_property(TEST threads_traceback APPEND PROPERTY ENVIRONMENT "SCRY_PRELOAD_FIRST=")
scry_shell_test(threads_exec threads/exec.sh)
# The threads profile at exit: the exiting thread as it called exit(), the
# others as they are, with every unwinder.
scry_shell_test(threads_exit_stack threads/exit_stack.sh pprof)
# Every profile at once, heap included: a copy of threads_truth that the
# sanitizer build leaves uninstrumented (its allocator would hide malloc from
# scry, as in the heap tests).
add_executable(threads_truth_plain threads/threads_truth.c)
target_compile_options(threads_truth_plain PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(threads_truth_plain PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
if(SCRY_SANITIZE)
  target_compile_options(threads_truth_plain PRIVATE -fno-sanitize=all)
  target_link_options(threads_truth_plain PRIVATE -fno-sanitize=all)
endif()
scry_shell_test(threads_all_profiles threads/all_profiles.sh)
set_tests_properties(threads_all_profiles PROPERTIES RUN_SERIAL TRUE)
set_property(TEST threads_all_profiles APPEND PROPERTY ENVIRONMENT "SCRY_PRELOAD_FIRST=")
# The wall profile never charges scry's stack-request handshake to the
# program: threads entering short waits at a high rate (core/waits.c).
# In the sanitizer build the program is not instrumented and the sanitizer's
# runtime is not preloaded: its interceptors of write and pthread_sigmask
# would be frames of the program's stacks (libscry.so is instrumented).
add_executable(handshake_truth threads/handshake_truth.c)
target_compile_options(handshake_truth PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(handshake_truth PRIVATE Threads::Threads)
if(SCRY_SANITIZE)
  target_compile_options(handshake_truth PRIVATE -fno-sanitize=all)
  target_link_options(handshake_truth PRIVATE -fno-sanitize=all)
endif()
scry_shell_test(threads_wall_handshake threads/handshake.sh)
set_property(TEST threads_wall_handshake APPEND PROPERTY ENVIRONMENT "SCRY_PRELOAD_FIRST=")
# Four threads busy for 4 s: not beside the tests that measure time.
set_tests_properties(threads_wall_handshake PROPERTIES RUN_SERIAL TRUE)
