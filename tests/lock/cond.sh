#!/usr/bin/env bash
# Condition-variable ping-pong (lock_truth.c, cond mode), 3000 turns: the
# block profile's contentions in ping_wait and pong_wait are within 5% of
# the waits each side counted itself.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -p block -o "$WORK/o" -- "$SCRY_BIN/tests/lock_truth" cond 3000 >"$WORK/out" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
read -r _ pi _ po <"$WORK/out"
b="$WORK/o/block.pb.gz"
ci=$(cum_at "$b" ping_wait contentions)
co=$(cum_at "$b" pong_wait contentions)
echo "ping waited $pi times, profile $ci; pong waited $po times, profile $co"
[ "$pi" -gt 1000 ] && [ "$po" -gt 1000 ] || fail "too few waits to judge ($pi, $po)"
within "$ci" "$pi" 0.95 1.05 || fail "ping_wait contentions $ci, want $pi +/- 5%"
within "$co" "$po" 0.95 1.05 || fail "pong_wait contentions $co, want $po +/- 5%"
pass "cond ping-pong counted: $ci/$pi and $co/$po"
