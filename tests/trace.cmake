# Tests of the runtime event tracer (src/trace/, src/format/perfetto.c, scry trace).

# The Perfetto encoder alone (src/format/perfetto.c), on hand-made records:
# compiled into the driver, since libscry.so hides its internal functions.
add_executable(perfetto_gen trace/perfetto_gen.c ${CMAKE_SOURCE_DIR}/src/format/perfetto.c
               ${CMAKE_SOURCE_DIR}/src/format/symbolize.c ${CMAKE_SOURCE_DIR}/src/core/waits.c
               ${CMAKE_SOURCE_DIR}/src/core/unwind.c ${CMAKE_SOURCE_DIR}/src/core/cfi.c
               ${CMAKE_SOURCE_DIR}/src/core/unwind_tables.c ${CMAKE_SOURCE_DIR}/src/core/threads.c
               ${CMAKE_SOURCE_DIR}/src/core/codelog.c
               $<TARGET_OBJECTS:scry_proto>)
target_include_directories(perfetto_gen PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include
                           ${CMAKE_BINARY_DIR}/gen)
target_compile_options(perfetto_gen PRIVATE -O1 -g)
target_link_libraries(perfetto_gen PRIVATE PkgConfig::PROTOBUFC PkgConfig::LIBDW PkgConfig::LIBUNWIND Threads::Threads)
add_dependencies(perfetto_gen scry_proto)
scry_shell_test(trace_perfetto_encode trace/perfetto_decode.sh)

# Threads blocked in I/O (interpose/io.c): in "IO wait" on their own stacks,
# never signalled while blocked, their blocked time in the wall profile; and
# every interposed call's results and errno, on the fast and slow paths.
# Built like a user's program; left uninstrumented in the sanitizer build
# (the sanitizer's own read/write interceptors then still come first).
add_executable(io_truth trace/io_truth.c)
target_compile_options(io_truth PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(io_truth PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
if(SCRY_SANITIZE)
  target_compile_options(io_truth PRIVATE -fno-sanitize=all)
  target_link_options(io_truth PRIVATE -fno-sanitize=all)
endif()
scry_shell_test(trace_io_wait trace/io_wait.sh pprof)
# Measures blocked time on both cores: keep it apart.
set_tests_properties(trace_io_wait PROPERTIES RUN_SERIAL TRUE)

# The flight recorder, /debug/pprof/trace and a crash with the recorder on,
# against flight_truth (known regions, logs and lock hand-offs; its own
# clock and RSS once a second). Built like a user's program and left
# uninstrumented in the sanitizer build, as the crash and RSS checks need.
add_executable(flight_truth trace/flight_truth.c)
target_compile_options(flight_truth PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(flight_truth PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
if(SCRY_SANITIZE)
  target_compile_options(flight_truth PRIVATE -fno-sanitize=all)
  target_link_options(flight_truth PRIVATE -fno-sanitize=all)
endif()
scry_shell_test(trace_flight trace/flight.sh)
scry_shell_test(trace_http trace/http_trace.sh)
scry_shell_test(trace_crash_flight trace/crash_flight.sh)
# As the traceback test: the sanitizer must leave SIGSEGV to scry.
if(SCRY_SANITIZE)
  set_property(TEST trace_crash_flight APPEND PROPERTY ENVIRONMENT
               "ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0:handle_sigill=0")
endif()
set_property(TEST trace_crash_flight APPEND PROPERTY ENVIRONMENT "SCRY_PRELOAD_FIRST=")

# The acceptance test of the tracer and `scry trace`: trace_truth makes
# tasks, regions, logs, sleeps, a mutex hand-off and a condition variable
# ping-pong, measures each itself, and summary.sh finds every one in the
# trace (protoc-decoded) and in `scry trace`'s summary. Linked with scry
# for the API, like api_linked (instrumented with it in the sanitizer build).
add_executable(trace_truth trace/trace_truth.c)
target_compile_options(trace_truth PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(trace_truth PRIVATE scry Threads::Threads)
scry_shell_test(trace_summary trace/summary.sh)
# It times waits and sleeps on both cores: keep it apart.
set_tests_properties(trace_summary PROPERTIES RUN_SERIAL TRUE)
