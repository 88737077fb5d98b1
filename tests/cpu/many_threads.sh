#!/usr/bin/env bash
# 1000 short-lived threads under a 1000 Hz profile: no crash, every thread
# created, timers deleted as threads exit, samples in the threads' function.
source "$SCRY_TESTS/lib.sh"
out=$("$SCRY" run -o "$WORK/out" --cpu-hz 1000 -- "$SCRY_BIN/tests/many_threads")
echo "$out"
threads=$(awk '/^threads/ { print $2 }' <<<"$out")
timers=$(awk '/^timers/ { print $2 }' <<<"$out")
[ "$threads" = 1000 ] || fail "created $threads threads, want 1000"
[ "$timers" -le 2 ] || fail "$timers POSIX timers alive after the threads exited (leak)"
p="$WORK/out/cpu.pb.gz"
w=$(cum "$p" short_thread_work)
[ "$w" -gt 0 ] || fail "no samples in short_thread_work"
go_reads "$p" short_thread_work
pass "1000 threads, $timers timer(s) left, short_thread_work=${w}ns"
