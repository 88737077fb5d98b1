#!/usr/bin/env bash
# exec after profiling at 1000 Hz: the new image runs to its own exit (7),
# ten times over, with no stray SIGPROF killing it.
source "$SCRY_TESTS/lib.sh"
for i in $(seq 1 10); do
  set +e
  "$SCRY" run -o "$WORK/out" --cpu-hz 1000 -- "$SCRY_BIN/tests/exec_clean" 2>"$WORK/err"
  st=$?
  set -e
  [ "$st" = 7 ] || fail "run $i: exit status $st, want 7: $(cat "$WORK/err")"
done
pass "10 execs, all exited 7"
