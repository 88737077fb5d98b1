#!/usr/bin/env bash
# The program's own SIGPROF handler and ITIMER_PROF keep working beside scry.
source "$SCRY_TESTS/lib.sh"
out=$("$SCRY" run -o "$WORK/out" -- "$SCRY_BIN/tests/own_sigprof")
echo "$out"
calls=$(awk '/^own_handler_calls/ { print $2 }' <<<"$out")
expected=$(awk '/^expected_calls/ { print $2 }' <<<"$out")
sees=$(awk '/^sees_own_handler/ { print $2 }' <<<"$out")
[ "$sees" = 1 ] || fail "sigaction query did not return the program's own handler"
# ITIMER_PROF at 50 Hz of process CPU time: every one of the program's own
# signals must reach its handler (80% allows for the timer's granularity).
within "$calls" "$expected" 0.8 1.2 || fail "the program's handler ran $calls times, want about $expected"
p="$WORK/out/cpu.pb.gz"
w=$(cum "$p" busy_with_own_profiler)
[ "$w" -gt 0 ] || fail "scry's profile is empty"
go_reads "$p" busy_with_own_profiler
pass "own handler called $calls times (expected $expected); scry saw ${w}ns"
