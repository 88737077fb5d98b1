# The CLI: scry top and the pprof reader against bad input and against a
# profile whose numbers are known (tests/cli/make_profile.c), compared with
# go tool pprof; scry top on a real profile; scry run's flag checking;
# scry threads on a threads profile of known threads; scry run's one line
# for each way a run can end without a profile.
add_executable(make_profile cli/make_profile.c $<TARGET_OBJECTS:scry_proto>)
target_include_directories(make_profile PRIVATE ${CMAKE_BINARY_DIR}/gen)
target_link_libraries(make_profile PRIVATE PkgConfig::PROTOBUFC ZLIB::ZLIB)
add_dependencies(make_profile scry_proto)

scry_shell_test(top_bad_input cli/top_bad_input.sh pprof)
scry_shell_test(top_known_values cli/top_known_values.sh pprof)
scry_shell_test(top_matches_pprof cli/top_matches_pprof.sh pprof)
scry_shell_test(run_bad_flags cli/run_bad_flags.sh)
scry_shell_test(threads_text cli/threads_text.sh pprof)

# A program that ends as told (exit, _exit, SIGKILL), uninstrumented in the
# sanitizer build (it is copied setuid and run where the sanitizer's
# runtime cannot be preloaded), and the same statically linked where libc.a
# is installed (else run_messages reports SKIP).
add_executable(cli_ends cli/ends.c)
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fno-sanitize=all")
set(CMAKE_REQUIRED_LINK_OPTIONS "-static;-fno-sanitize=all")
check_c_source_compiles("int main(void) { return 0; }" SCRY_HAVE_STATIC_LIBC)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(SCRY_HAVE_STATIC_LIBC)
  add_executable(cli_ends_static cli/ends.c)
  target_link_options(cli_ends_static PRIVATE -static)
endif()
foreach(t cli_ends cli_ends_static)
  if(SCRY_SANITIZE AND TARGET ${t})
    target_compile_options(${t} PRIVATE -fno-sanitize=all)
    target_link_options(${t} PRIVATE -fno-sanitize=all)
  endif()
endforeach()
scry_shell_test(run_messages cli/run_messages.sh)
scry_shell_test(run_setuid cli/run_setuid.sh)
set_tests_properties(run_messages run_setuid PROPERTIES SKIP_REGULAR_EXPRESSION "SKIP: ")
