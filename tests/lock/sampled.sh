#!/usr/bin/env bash
# Rate and fraction (lock_truth.c, mutex mode, 3000 waits): with
# --block-rate 1000000 (1 ms, longer than most waits here) and
# --mutex-fraction 10, the block delay at wait_for_lock and the mutex
# profile's total stay within 20% of the waiter's own sum: the sampling is
# unbiased. The median of 3 runs is
# checked; every run is printed.
source "$SCRY_TESTS/lib.sh"
for i in 1 2 3; do
  "$SCRY" run -p mutex,block --block-rate 1000000 --mutex-fraction 10 -o "$WORK/o$i" -- \
    "$SCRY_BIN/tests/lock_truth" mutex 3000 >"$WORK/out$i" 2>"$WORK/err" || fail "run $i failed: $(cat "$WORK/err")"
  own=$(awk '/^waiter_wait_ns/ { print $2 }' "$WORK/out$i")
  bt=$(cum_at "$WORK/o$i/block.pb.gz" wait_for_lock delay)
  mt=$(total "$WORK/o$i/mutex.pb.gz")
  "$DUMP" "$WORK/o$i/block.pb.gz" | grep "^period 1000000$" >/dev/null || fail "block period is not the rate"
  "$DUMP" "$WORK/o$i/mutex.pb.gz" | grep "^period 10$" >/dev/null || fail "mutex period is not the fraction"
  awk -v o="$own" -v b="$bt" -v m="$mt" -v i="$i" 'BEGIN { printf "run %d: block/own %.3f, mutex/own %.3f\n", i, b / o, m / o }' | tee -a "$WORK/ratios"
done
med() { sort -g | awk '{ v[NR] = $1 } END { print v[2] }'; }
mb=$(awk '{ print $4 }' "$WORK/ratios" | tr -d , | med)
mm=$(awk '{ print $6 }' "$WORK/ratios" | med)
within "$mb" 1 0.80 1.20 || fail "median block/own $mb, want 1 +/- 20%"
within "$mm" 1 0.80 1.20 || fail "median mutex/own $mm, want 1 +/- 20%"
pass "sampled totals: block $mb, mutex $mm of the exact wait"
