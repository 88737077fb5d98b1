scry_shell_test(bench_quick bench/quick.sh)
