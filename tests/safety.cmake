# scry never harms the program: its descriptors, exit status and files.
add_executable(fd_reuse safety/fd_reuse.c)
target_link_libraries(fd_reuse PRIVATE Threads::Threads)
scry_shell_test(fd_reuse safety/fd_reuse.sh)
add_executable(no_unshare safety/no_unshare.c)
scry_shell_test(fd_reuse_shared_table safety/fd_reuse_shared.sh)
# About 125 runs of a program under every profile at 1000 Hz: more load than
# the two busy loops the other tests are built to bear, so run alone (their
# CPU ground truths were off by 5% beside it once in CI).
set_tests_properties(fd_reuse fd_reuse_shared_table PROPERTIES RUN_SERIAL TRUE)
