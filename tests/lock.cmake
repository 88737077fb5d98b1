# Block and mutex profile tests: waits the programs measure themselves.
add_executable(lock_truth lock/lock_truth.c)
target_compile_options(lock_truth PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(lock_truth PRIVATE Threads::Threads)
add_executable(lock_cxx lock/lock_cxx.cc)
target_compile_options(lock_cxx PRIVATE -O2 -g -fno-omit-frame-pointer)
target_link_libraries(lock_cxx PRIVATE Threads::Threads)

scry_shell_test(lock_mutex lock/mutex.sh pprof)
scry_shell_test(lock_cond lock/cond.sh)
scry_shell_test(lock_sampled lock/sampled.sh)
scry_shell_test(lock_cxx lock/cxx.sh pprof)
scry_shell_test(lock_misc lock/misc.sh)
foreach(mode loop c11loop rwloop eight)
  scry_shell_test(lock_${mode} lock/loop.sh)
  set_property(TEST lock_${mode} APPEND PROPERTY ENVIRONMENT "LOCK_MODE=${mode}")
endforeach()
# They time waits on both cores: keep them apart from each other and the rest.
set_tests_properties(lock_mutex lock_cond lock_sampled lock_cxx lock_misc lock_loop lock_c11loop
                     lock_rwloop lock_eight PROPERTIES RUN_SERIAL TRUE)
