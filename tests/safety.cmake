# scry never harms the program: its descriptors, exit status and files.
add_executable(fd_reuse safety/fd_reuse.c)
target_link_libraries(fd_reuse PRIVATE Threads::Threads)
scry_shell_test(fd_reuse safety/fd_reuse.sh)
add_executable(no_unshare safety/no_unshare.c)
scry_shell_test(fd_reuse_shared_table safety/fd_reuse_shared.sh)
