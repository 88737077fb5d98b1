#!/usr/bin/env bash
# Ground truth (lock_truth.c, mutex mode): a holder sleeps 300 us at a time
# with the lock held, inside hold_lock; a waiter measures its own time in
# pthread_mutex_lock, 1500 times, in wait_for_lock. Every wait recorded
# (rate 1, fraction 1):
#   - block: the delay at wait_for_lock within 10% of the waiter's own sum;
#   - mutex: at least 90% of the delay charged to hold_lock, and the total
#     within 20% of the waiter's own sum;
#   - both carry the lock's address as a label; wake-up latencies were timed;
#   - go tool pprof and scry top read both files.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -p mutex,block -o "$WORK/o" -- "$SCRY_BIN/tests/lock_truth" mutex 1500 >"$WORK/out" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
own=$(awk '/^waiter_wait_ns/ { print $2 }' "$WORK/out")
b="$WORK/o/block.pb.gz"
m="$WORK/o/mutex.pb.gz"
bw=$(cum_at "$b" wait_for_lock delay)
mh=$(cum_at "$m" hold_lock delay)
mt=$(total "$m")
echo "waiter's own wait ${own} ns; block at wait_for_lock ${bw} ns; mutex total ${mt} ns, at hold_lock ${mh} ns"
[ "$own" -gt 100000000 ] || fail "the waiter hardly waited ($own ns): the test did not contend"
within "$bw" "$own" 0.90 1.10 || fail "block delay at wait_for_lock $bw ns is not within 10% of $own ns"
within "$mh" "$mt" 0.90 1.0001 || fail "hold_lock has $mh of the mutex profile's $mt ns, under 90%"
within "$mt" "$own" 0.80 1.20 || fail "mutex total $mt ns is not within 20% of $own ns"
for f in "$b" "$m"; do
  "$DUMP" "$f" | grep -E '^sample .*lock=0x[0-9a-f]+' >/dev/null || fail "$f: no lock address label"
done
n=$("$DUMP" "$b" | sed -n 's/^comment .*wake-ups timed: \([0-9]*\)$/\1/p')
[ "${n:-0}" -gt 100 ] || fail "wake-up latencies were not timed ($n)"
"$DUMP" "$b" | grep -q "^default_sample_type delay$" || fail "block: default type is not delay"
go_reads "$b" wait_for_lock
go_reads "$m" hold_lock
pass "block $(awk -v a="$bw" -v b="$own" 'BEGIN{printf "%.3f", a/b}') x own wait; mutex total $(awk -v a="$mt" -v b="$own" 'BEGIN{printf "%.3f", a/b}') x, $(awk -v a="$mh" -v b="$mt" 'BEGIN{printf "%.1f", 100*a/b}')% at hold_lock; $n wake-ups timed"
