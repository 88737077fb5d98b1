# Tests of the OTLP encoder (src/span/otlp.c) and the span exporter
# (src/span/export.c).

# The encoder alone on spans built by hand in span.h's layout: compiled into
# the driver (libscry.so hides its internal functions), decoded by protoc
# (scry's proto and --decode_raw against the official field numbers) and by
# Python's json.
add_executable(otlp_gen otlp/otlp_gen.c ${CMAKE_SOURCE_DIR}/src/span/otlp.c
               ${CMAKE_SOURCE_DIR}/src/core/log.c $<TARGET_OBJECTS:scry_proto>)
target_include_directories(otlp_gen PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include
                           ${CMAKE_BINARY_DIR}/gen)
target_compile_options(otlp_gen PRIVATE -O1 -g)
target_link_libraries(otlp_gen PRIVATE PkgConfig::PROTOBUFC m)
add_dependencies(otlp_gen scry_proto)
scry_shell_test(otlp_encode otlp/encode.sh)

# The exporter against a test collector that answers at once, slowly, 503
# with Retry-After, 400, a partial success, or closes the connection, and
# against no collector at all: every span accounted for, the collector's
# own count equal to what scry calls exported, and no request waiting on
# the network. export_load uses the public span API, linked with scry.
add_executable(export_load otlp/export_load.c)
target_compile_options(export_load PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(export_load PRIVATE scry Threads::Threads)
scry_shell_test(otlp_export_faults otlp/export_faults.sh)
# Times each request against a 1 s bound while exports run: keep it apart.
set_tests_properties(otlp_export_faults PROPERTIES RUN_SERIAL TRUE)
