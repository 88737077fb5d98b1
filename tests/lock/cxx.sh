#!/usr/bin/env bash
# C++ (lock_cxx.cc): std::mutex contention shows take_cpp waiting (block,
# within 20% of the wait it measured around its lock_guard, at least 10 ms)
# and hold_cpp holding (its mutex delay within 20% of take_cpp's wait); std::shared_mutex
# shows read_shared waiting as often as it measured it found write_shared
# holding it (within 5%; at least 40 of its 200 asks) and write_shared
# holding; the waits inside
# std::condition_variable::wait are counted for consume_cpp within 5%, past
# libstdc++'s condition_variable::wait (built without frame pointers), all
# with the default unwinder.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -p mutex,block -o "$WORK/fp" -- "$SCRY_BIN/tests/lock_cxx" >"$WORK/out" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
b="$WORK/fp/block.pb.gz"
m="$WORK/fp/mutex.pb.gz"
tw=$(cum_at "$b" "take_cpp()" delay)
mh=$(cum_at "$m" "hold_cpp()" delay)
tm=$(awk '/^take_cpp_wait_ns/ { print $2 }' "$WORK/out")
echo "take_cpp waited ${tw} ns (its own clock: ${tm} ns); hold_cpp made others wait ${mh} ns"
[ "$tm" -gt 10000000 ] || fail "take_cpp hardly waited by its own clock ($tm ns)"
within "$tw" "$tm" 0.80 1.20 || fail "take_cpp's block delay $tw ns is not within 20% of its own $tm ns"
within "$mh" "$tw" 0.80 1.20 || fail "hold_cpp made others wait $mh ns, not within 20% of take_cpp's $tw ns"
go_reads "$m" hold_cpp
rs=$(cum_at "$b" "read_shared()" contentions)
ws=$(cum_at "$m" "write_shared()" delay)
held=$(awk '/^read_shared_found_held/ { print $2 }' "$WORK/out")
echo "read_shared waited $rs times for the std::shared_mutex (it found it held $held times); write_shared made it wait $ws ns"
[ "$held" -ge 40 ] || fail "read_shared found the std::shared_mutex held in only $held of 200 asks"
within "$rs" "$held" 0.95 1.05 || fail "read_shared: $rs contentions, want $held +/- 5%"
[ "$ws" -gt 20000000 ] || fail "write_shared shows too little mutex delay ($ws ns)"

own=$(awk '/^consumer_waits/ { print $2 }' "$WORK/out")
cw=$(cum_at "$b" "consume_cpp()" contentions)
echo "consume_cpp waited $own times on the condition variable; profile $cw contentions"
[ "$own" -gt 10 ] || fail "the consumer hardly waited ($own)"
# consume_cpp also waits for its std::mutex now and then: at least its own
# condition waits, at most 5% more.
within "$cw" "$own" 0.95 1.05 || fail "consume_cpp contentions $cw, want $own +/- 5%"
pass "std::mutex, std::shared_mutex and std::condition_variable seen"
