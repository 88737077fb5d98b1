#!/usr/bin/env bash
# The other primitives (lock_truth.c, misc mode, 300 rounds): semaphore,
# barrier and pthread_join waits, against what the waiting side measured
# of its own calls: the sem_wait calls in which it slept, within 5%, and
# their time within 10%; the time of the barrier calls (both sides, the
# early one sleeping) within 10%; the join, when it slept, counted once and
# its time within 10%. (rwlocks and C11 mutexes: loop.sh.)
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -p mutex,block -o "$WORK/o" -- "$SCRY_BIN/tests/lock_truth" misc 300 >"$WORK/out" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
b="$WORK/o/block.pb.gz"
val() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/out"; }
sem_n=$(val sem_slept)
sem_ns=$(val sem_ns)
got_n=$(cum_at "$b" sem_wait_here contentions)
got_ns=$(cum_at "$b" sem_wait_here delay)
echo "sem_wait_here: slept $sem_n times, $sem_ns ns by its own clock; profile $got_n contentions, $got_ns ns"
[ "$sem_n" -ge 30 ] || fail "sem_wait_here slept only $sem_n times of 300: the test did not contend"
within "$got_n" "$sem_n" 0.95 1.05 || fail "sem_wait_here: $got_n contentions, want $sem_n +/- 5%"
within "$got_ns" "$sem_ns" 0.90 1.10 || fail "sem_wait_here: $got_ns ns, want $sem_ns +/- 10%"
bar_ns=$(val barrier_ns)
got=$(cum_at "$b" barrier_here delay)
echo "barrier_here: $bar_ns ns by its own clock, profile $got ns"
[ "$(val barrier_slept)" -ge 30 ] || fail "barrier_here slept only $(val barrier_slept) times"
within "$got" "$bar_ns" 0.90 1.10 || fail "barrier_here: $got ns, want $bar_ns +/- 10%"
if [ "$(val join_slept)" = 1 ]; then
  jn=$(cum_at "$b" join_here contentions)
  jd=$(cum_at "$b" join_here delay)
  echo "join_here: $(val join_ns) ns by its own clock, profile $jn contentions, $jd ns"
  eq "join_here contentions" "$jn" 1
  within "$jd" "$(val join_ns)" 0.90 1.10 || fail "join_here: $jd ns, want $(val join_ns) +/- 10%"
else
  echo "join_here did not sleep (the 5 ms thread was done first): not checked"
fi
pass "semaphore, barrier and join waits counted as the program measured them"
