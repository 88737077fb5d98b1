#!/usr/bin/env bash
# C++ (lock_cxx.cc), against what the waiting threads measured of their
# own lock calls (those in which they slept): std::mutex contention shows
# take_cpp waiting (block delay within 10% of its own) and hold_cpp holding
# (mutex delay within 10% of it); std::shared_mutex shows read_shared
# waiting (within 10%) and write_shared holding (within 20%); the waits
# inside std::condition_variable::wait are counted for consume_cpp within
# 5%, past libstdc++'s condition_variable::wait (built without frame
# pointers), all with the default unwinder.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -p mutex,block -o "$WORK/fp" -- "$SCRY_BIN/tests/lock_cxx" >"$WORK/out" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
b="$WORK/fp/block.pb.gz"
m="$WORK/fp/mutex.pb.gz"
val() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/out"; }
tw=$(cum_at "$b" "take_cpp()" delay)
mh=$(cum_at "$m" "hold_cpp()" delay)
tm=$(val take_cpp_wait_ns)
echo "take_cpp waited ${tw} ns (its own clock: ${tm} ns in $(val take_cpp_slept) sleeps); hold_cpp made others wait ${mh} ns"
[ "$(val take_cpp_slept)" -ge 10 ] || fail "take_cpp slept only $(val take_cpp_slept) times: the test did not contend"
within "$tw" "$tm" 0.90 1.10 || fail "take_cpp's block delay $tw ns is not within 10% of its own $tm ns"
within "$mh" "$tm" 0.90 1.10 || fail "hold_cpp made others wait $mh ns, not within 10% of take_cpp's own $tm ns"
go_reads "$m" hold_cpp
rs=$(cum_at "$b" "read_shared()" delay)
ws=$(cum_at "$m" "write_shared()" delay)
rm=$(val read_shared_wait_ns)
echo "read_shared waited $rs ns for the std::shared_mutex (its own clock: $rm ns in $(val read_shared_slept) sleeps); write_shared made it wait $ws ns"
[ "$(val read_shared_slept)" -ge 10 ] || fail "read_shared slept only $(val read_shared_slept) times: the test did not contend"
within "$rs" "$rm" 0.90 1.10 || fail "read_shared: $rs ns, want its own $rm ns +/- 10%"
within "$ws" "$rm" 0.80 1.20 || fail "write_shared made read_shared wait $ws ns, not within 20% of its own $rm ns"

own=$(awk '/^consumer_waits/ { print $2 }' "$WORK/out")
cw=$(cum_at "$b" "consume_cpp()" contentions)
echo "consume_cpp waited $own times on the condition variable; profile $cw contentions"
[ "$own" -gt 10 ] || fail "the consumer hardly waited ($own)"
# consume_cpp also waits for its std::mutex now and then: at least its own
# condition waits, at most 5% more.
within "$cw" "$own" 0.95 1.05 || fail "consume_cpp contentions $cw, want $own +/- 5%"
pass "std::mutex, std::shared_mutex and std::condition_variable seen"
