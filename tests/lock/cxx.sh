#!/usr/bin/env bash
# C++ (lock_cxx.cc): std::mutex contention shows take_cpp waiting (block)
# and hold_cpp holding (mutex: at least 80% of the delay); the waits inside
# std::condition_variable::wait are counted for consume_cpp within 5%. With
# frame pointers, libstdc++'s condition_variable::wait (built without them)
# hides its caller, so that part runs with --unwind dwarf.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -p mutex,block -o "$WORK/fp" -- "$SCRY_BIN/tests/lock_cxx" >"$WORK/out" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
b="$WORK/fp/block.pb.gz"
m="$WORK/fp/mutex.pb.gz"
tw=$(cum_at "$b" "take_cpp()" delay)
mh=$(cum_at "$m" "hold_cpp()" delay)
mt=$(total "$m")
echo "fp: take_cpp waited ${tw} ns; hold_cpp made others wait ${mh} of ${mt} ns"
[ "$tw" -gt 10000000 ] || fail "take_cpp shows no std::mutex wait ($tw ns)"
within "$mh" "$mt" 0.80 1.0001 || fail "hold_cpp has $mh of $mt ns of the mutex profile, under 80%"
go_reads "$m" hold_cpp

"$SCRY" run -p block --unwind dwarf -o "$WORK/dw" -- "$SCRY_BIN/tests/lock_cxx" >"$WORK/out" 2>"$WORK/err" ||
  fail "dwarf run failed: $(cat "$WORK/err")"
own=$(awk '/^consumer_waits/ { print $2 }' "$WORK/out")
cw=$(cum_at "$WORK/dw/block.pb.gz" "consume_cpp()" contentions)
echo "dwarf: consume_cpp waited $own times on the condition variable; profile $cw contentions"
[ "$own" -gt 50 ] || fail "the consumer hardly waited ($own)"
# consume_cpp also waits for its std::mutex now and then: at least its own
# condition waits, at most 5% more.
within "$cw" "$own" 0.95 1.05 || fail "consume_cpp contentions $cw, want $own +/- 5%"
pass "std::mutex and std::condition_variable seen"
