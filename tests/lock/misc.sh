#!/usr/bin/env bash
# The other primitives (lock_truth.c, misc mode, 300 rounds, every round
# contended by construction): rwlock, C11 mtx_t, semaphore, barrier and
# pthread_join waits are each counted in the block profile at the waiting
# function within 5% of the rounds; the rwlock's and the mtx_t's holders
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
check rw_wait 300
check c11_wait 300
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
