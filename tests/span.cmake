# Tests of the span API (src/span/span.c) and what spans tell the profiles
# and the runtime trace. W3C parsing, OTLP encoding and export, and the
# example services have their own files (w3c.cmake, otlp.cmake, otel.cmake).

# The program with the known ground truth; linked with scry for the API and
# compiled against src/ to read a span's counters (span/span.h).
add_executable(span_truth span/span_truth.c)
target_compile_options(span_truth PRIVATE -O2 -g -fno-omit-frame-pointer)
target_include_directories(span_truth PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(span_truth PRIVATE scry Threads::Threads)
# Left uninstrumented in the sanitizer build, so that libscry.so (which the
# program links first) interposes malloc ahead of the sanitizer's runtime
# and the heap profile sees the program's allocations; libscry.so itself
# is still instrumented.
if(SCRY_SANITIZE)
  target_compile_options(span_truth PRIVATE -fno-sanitize=all)
  target_link_options(span_truth PRIVATE -fno-sanitize=all)
endif()
scry_shell_test(span_api span/api.sh)
scry_shell_test(span_labels span/labels.sh pprof)
# Measures CPU shares: keep it apart.
set_tests_properties(span_labels PROPERTIES RUN_SERIAL TRUE)
scry_shell_test(span_trace_tasks span/trace_tasks.sh)
