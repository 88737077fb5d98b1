#!/usr/bin/env bash
# Every wait measured (lock_truth.c, MODE: loop, c11loop, rwloop or eight,
# argument 1 or LOCK_MODE). The waiting threads time each of their own
# lock calls and add up those in which they slept (own_wait_ns); the block
# profile at
# their function must be within 10% of that. In loop and c11loop a waiter
# locks and unlocks in a tight loop against a holder taking the lock 1 ms
# at a time: the waits that start on a lock that looked free are the ones a
# look-then-lock interposer loses; the mutex profile must charge at least
# 90% (and at most 110%) of the waiter's wait to the holder's critical
# section. rwloop: two readers in a tight loop against a writer
# (writer-preferring rwlock). eight: 8 threads on one mutex, their waits
# summed.
source "$SCRY_TESTS/lib.sh"
mode=${1:-$LOCK_MODE}
case $mode in
loop) n=1500 wait_fn=spin_waiter hold_fn=hold_section ;;
c11loop) n=1500 wait_fn=c11_spin_waiter hold_fn=c11_hold_section ;;
rwloop) n=1500 wait_fn=rw_read_loop hold_fn= ;;
eight) n=400 wait_fn=eight_wait hold_fn= ;;
*) fail "unknown mode $mode" ;;
esac
"$SCRY" run -p mutex,block -o "$WORK/o" -- "$SCRY_BIN/tests/lock_truth" "$mode" "$n" >"$WORK/out" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
own=$(awk '$1 == "own_wait_ns" { print $2 }' "$WORK/out")
waits=$(awk '$1 == "own_waits" { print $2 }' "$WORK/out")
b="$WORK/o/block.pb.gz"
m="$WORK/o/mutex.pb.gz"
bw=$(cum_at "$b" "$wait_fn" delay)
echo "$mode: the waiters slept $waits times, ${own} ns by their own clock; block profile at $wait_fn: ${bw} ns"
[ "${waits:-0}" -ge 10 ] && [ "${own:-0}" -ge 20000000 ] ||
  fail "the waiters slept only ${waits:-0} times, ${own:-0} ns: the test did not contend"
within "$bw" "$own" 0.90 1.10 || fail "block delay at $wait_fn $bw ns is not within 10% of the waiters' own $own ns"
msg="block $(awk -v a="$bw" -v b="$own" 'BEGIN{printf "%.3f", a/b}') x own wait"
if [ -n "$hold_fn" ]; then
  mh=$(cum_at "$m" "$hold_fn" delay)
  echo "mutex profile at $hold_fn: ${mh} ns"
  within "$mh" "$own" 0.90 1.10 || fail "$hold_fn is charged $mh ns in the mutex profile, not within 10% of the waiter's own $own ns"
  msg="$msg; mutex at $hold_fn $(awk -v a="$mh" -v b="$own" 'BEGIN{printf "%.3f", a/b}') x"
  go_reads "$m" "$hold_fn"
fi
pass "$msg"
