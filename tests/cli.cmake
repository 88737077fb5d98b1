# The CLI: scry top and the pprof reader against bad input and against a
# profile whose numbers are known (tests/cli/make_profile.c), compared with
# go tool pprof; scry top on a real profile; scry run's flag checking;
# scry threads on a threads profile of known threads.
add_executable(make_profile cli/make_profile.c $<TARGET_OBJECTS:scry_proto>)
target_include_directories(make_profile PRIVATE ${CMAKE_BINARY_DIR}/gen)
target_link_libraries(make_profile PRIVATE PkgConfig::PROTOBUFC ZLIB::ZLIB)
add_dependencies(make_profile scry_proto)

scry_shell_test(top_bad_input cli/top_bad_input.sh pprof)
scry_shell_test(top_known_values cli/top_known_values.sh pprof)
scry_shell_test(top_matches_pprof cli/top_matches_pprof.sh pprof)
scry_shell_test(run_bad_flags cli/run_bad_flags.sh)
scry_shell_test(threads_text cli/threads_text.sh pprof)
