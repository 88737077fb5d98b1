# CPU profiler tests: ground truth, symbolization of real samples, and
# robustness. The programs are built -O2 -g with frame pointers.
set(CPU_TEST_PROGRAMS cpu_share fork_running fork_storm many_threads own_sigprof exit_thread sigterm exec_clean)
foreach(p ${CPU_TEST_PROGRAMS})
  add_executable(${p} cpu/${p}.c)
  target_compile_options(${p} PRIVATE -O2 -g -fno-omit-frame-pointer)
  target_link_libraries(${p} PRIVATE Threads::Threads)
endforeach()

add_executable(api_linked cpu/api_linked.c)
target_compile_options(api_linked PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(api_linked PRIVATE scry)

scry_shell_test(cpu_share_100hz cpu/share.sh pprof)
set_property(TEST cpu_share_100hz APPEND PROPERTY ENVIRONMENT "CPU_HZ=100")
scry_shell_test(cpu_share_1000hz cpu/share.sh pprof)
set_property(TEST cpu_share_1000hz APPEND PROPERTY ENVIRONMENT "CPU_HZ=1000")
scry_shell_test(cpu_share_fp cpu/share.sh pprof)
set_property(TEST cpu_share_fp APPEND PROPERTY ENVIRONMENT "CPU_HZ=250;UNWIND=fp")
scry_shell_test(cpu_fork_running cpu/fork_running.sh)
scry_shell_test(cpu_fork_storm cpu/fork_storm.sh)
scry_shell_test(cpu_many_threads cpu/many_threads.sh)
scry_shell_test(cpu_own_sigprof cpu/own_sigprof.sh)
scry_shell_test(cpu_exit_thread cpu/exit_thread.sh)
scry_shell_test(cpu_sigterm cpu/sigterm.sh)
scry_shell_test(cpu_exec_clean cpu/exec_clean.sh)
scry_shell_test(cpu_api_linked cpu/api_linked.sh pprof)
# The two share runs are CPU-bound on both cores: keep them apart.
set_tests_properties(cpu_share_100hz cpu_share_1000hz cpu_share_fp PROPERTIES RUN_SERIAL TRUE)

# A libcurl client that tears libcurl down before exit (curl_exit.c).
add_executable(curl_exit cpu/curl_exit.c)
target_compile_options(curl_exit PRIVATE -O1 -g -fno-omit-frame-pointer)
target_link_libraries(curl_exit PRIVATE PkgConfig::CURL)
if(SCRY_SANITIZE)
  target_compile_options(curl_exit PRIVATE -fno-sanitize=all)
  target_link_options(curl_exit PRIVATE -fno-sanitize=all)
endif()
scry_shell_test(cpu_curl_exit cpu/curl_exit.sh pprof)
