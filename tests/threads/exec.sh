#!/usr/bin/env bash
# A program that keeps exec'ing itself while the wall sampler signals it at
# 1000 Hz (threads_truth exec): 100 images in a row, each spinning 20 ms,
# must all run, the last exiting 7. A stack request (SIGVTALRM) left pending
# across an exec would kill the new image before scry's handler is back.
source "$SCRY_TESTS/lib.sh"
for i in 1 2 3; do
  set +e
  "$SCRY" run -p wall --wall-hz 1000 -o "$WORK/o" -- "$SCRY_BIN/tests/threads_truth" exec 100 2>"$WORK/err"
  st=$?
  set -e
  [ "$st" = 7 ] || fail "run $i: exit status $st, want 7 (a new image was killed?): $(tail -3 "$WORK/err")"
done
pass "3 x 100 execs under the wall sampler at 1000 Hz, all ran to the end"
