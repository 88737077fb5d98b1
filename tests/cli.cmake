# The CLI against bad input, and scry top against go tool pprof.
scry_shell_test(top_bad_input cli/top_bad_input.sh)
scry_shell_test(top_matches_pprof cli/top_matches_pprof.sh pprof)
scry_shell_test(run_bad_flags cli/run_bad_flags.sh)
