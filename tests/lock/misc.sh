#!/usr/bin/env bash
# The other primitives (lock_truth.c, misc mode, 300 rounds): rwlock, C11
# mtx_t, semaphore, barrier and pthread_join waits are each counted in the
# block profile at the waiting function within 5% of what the program
# measured (for the rwlock and the mtx_t, the rounds in which the waiter
# found the holder in its critical section as it asked: a waiter descheduled
# past the release waits for nothing); the rwlock's and the mtx_t's holders
# carry the mutex profile's delay.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -p mutex,block -o "$WORK/o" -- "$SCRY_BIN/tests/lock_truth" misc 300 >"$WORK/out" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
b="$WORK/o/block.pb.gz"
m="$WORK/o/mutex.pb.gz"
check() { # function expected
  local got
  got=$(cum_at "$b" "$1" contentions)
  echo "$1: $got contentions (want $2)"
  within "$got" "$2" 0.95 1.05 || fail "$1: $got contentions, want $2 +/- 5%"
}
rw=$(awk '$1 == "rw_found_held" { print $2 }' "$WORK/out")
c11=$(awk '$1 == "c11_found_held" { print $2 }' "$WORK/out")
# Most rounds must still be contended, or the test tests little.
[ "$rw" -ge 60 ] && [ "$c11" -ge 60 ] || fail "the waiters found the locks held in only $rw and $c11 of 300 rounds"
check rw_wait "$rw"
check c11_wait "$c11"
check sem_wait_here 300
check join_here 1
# Both threads pass the barrier 300 times; the early one waits each time,
# the late one almost never.
bw=$(cum_at "$b" barrier_here contentions)
echo "barrier_here: $bw contentions (want 300..600)"
[ "$bw" -ge 285 ] && [ "$bw" -le 600 ] || fail "barrier_here: $bw contentions, want 300..600"
for f in rw_hold c11_hold; do
  d=$(cum_at "$m" "$f" delay)
  echo "$f made others wait $d ns"
  [ "$d" -gt 30000000 ] || fail "$f shows too little mutex delay ($d ns; 300 waits of ~200 us expected)"
done
pass "rwlock, mtx_t, semaphore, barrier and join waits counted"
