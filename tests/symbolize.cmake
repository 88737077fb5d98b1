# Symbolization of real samples: inlined frames and a dlopen'ed library.
add_executable(symbolize_target symbolize/target.c)
target_compile_options(symbolize_target PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(symbolize_target PRIVATE ${CMAKE_DL_LIBS})
add_library(symbolize_dlib MODULE symbolize/dlib.c)
target_compile_options(symbolize_dlib PRIVATE -O2 -g -fno-omit-frame-pointer)
set_target_properties(symbolize_dlib PROPERTIES PREFIX "lib" LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
set_target_properties(symbolize_target PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
scry_shell_test(symbolize_real_samples symbolize/symbolize.sh pprof)
