#!/usr/bin/env bash
# Ground truth (heap_truth.c): churn allocates and frees 1 GiB in 1 KiB
# blocks, keep_small keeps 64 MiB in 64-byte blocks, keep_big 128 MiB in
# 1 MiB blocks.
#   - rate 1: every value exact, in heap.pb.gz and allocs.pb.gz; scry's exact
#     totals equal the program's own sums of malloc_usable_size; the leak
#     view printed by `scry run` lists keep_big then keep_small exactly.
#   - default rate (524288), RUNS runs (sampling is random): every run within
#     5 standard deviations of the truth, and the median of the runs within
#     the acceptance bounds: churn's alloc_space 5%, its in-use < 4 MiB,
#     keep_small's in-use space and objects 15%, keep_big's in-use 8%. A
#     single run of keep_small rests on ~128 samples (sd 8.8%), so single
#     runs are reported, not required, to be within 15%.
#   - go tool pprof -sample_index=alloc_space and scry top read both files.
source "$SCRY_TESTS/lib.sh"
PROG="$SCRY_BIN/tests/heap_truth"
GiB=1073741824

"$SCRY" run -p heap,allocs --heap-rate 1 -o "$WORK/r1" -- "$PROG" >"$WORK/out" 2>"$WORK/err" ||
  fail "rate 1 run failed: $(cat "$WORK/err")"
grep -q "^totals_delta_ok 1$" "$WORK/out" || fail "exact totals differ: $(cat "$WORK/out")"
h="$WORK/r1/heap.pb.gz"
a="$WORK/r1/allocs.pb.gz"
eq "rate 1: churn alloc_space" "$(cum_at "$a" churn alloc_space)" $GiB
eq "rate 1: churn alloc_objects" "$(cum_at "$a" churn alloc_objects)" 1048576
eq "rate 1: churn inuse_space" "$(cum_at "$h" churn inuse_space)" 0
eq "rate 1: keep_small inuse_space" "$(cum_at "$h" keep_small inuse_space)" 67108864
eq "rate 1: keep_small inuse_objects" "$(cum_at "$h" keep_small inuse_objects)" 1048576
eq "rate 1: keep_big inuse_space" "$(cum_at "$h" keep_big inuse_space)" 134217728
eq "rate 1: keep_big inuse_objects" "$(cum_at "$h" keep_big inuse_objects)" 128
eq "rate 1: keep_big alloc_space" "$(cum_at "$a" keep_big alloc_space)" 134217728
"$DUMP" "$h" | grep "^default_sample_type inuse_space$" >/dev/null || fail "heap: default type is not inuse_space"
"$DUMP" "$a" | grep "^default_sample_type alloc_space$" >/dev/null || fail "allocs: default type is not alloc_space"
"$DUMP" "$h" | grep "^period_type space/bytes$" >/dev/null || fail "heap: period type is not space/bytes"
grep -E "^ +128.00 MiB +128 objects +take heap_truth.c:[0-9]+ <- keep_big" "$WORK/err" >/dev/null ||
  fail "leak view lacks keep_big: $(cat "$WORK/err")"
grep -E "^ +64.00 MiB +1048576 objects +take heap_truth.c:[0-9]+ <- keep_small" "$WORK/err" >/dev/null ||
  fail "leak view lacks keep_small: $(cat "$WORK/err")"
grep -E "^scry: heap totals \(exact\): allocated " "$WORK/err" >/dev/null || fail "no totals line"
first=$(grep -A1 "largest sites" "$WORK/err" | tail -1)
grep -q keep_big <<<"$first" || fail "largest leak is not keep_big: $first"
go_reads "$h" take
go_reads "$a" take
for f in "$h" "$a"; do
  out=$(go tool pprof -sample_index=alloc_space -top "$f" 2>&1) || fail "go tool pprof -sample_index=alloc_space $f: $out"
  grep -q "churn" <<<"$out" || fail "go tool pprof -sample_index=alloc_space -top $f does not show churn: $out"
  out=$("$SCRY" top --sample-index alloc_space -n 0 "$f") || fail "scry top --sample-index alloc_space $f"
  grep -q "churn" <<<"$out" || fail "scry top --sample-index alloc_space $f does not show churn: $out"
done
echo "rate 1: exact (1 GiB churned, 64 MiB and 128 MiB kept), totals exact, leak view right"

RUNS=${RUNS:-9}
for i in $(seq 1 "$RUNS"); do
  "$SCRY" run -p heap,allocs -o "$WORK/d$i" -- "$PROG" >/dev/null 2>&1 || fail "run $i failed"
  h="$WORK/d$i/heap.pb.gz"
  a="$WORK/d$i/allocs.pb.gz"
  echo "$(cum_at "$a" churn alloc_space) $(cum_at "$h" churn inuse_space) $(cum_at "$h" keep_small inuse_space)" \
    "$(cum_at "$h" keep_small inuse_objects) $(cum_at "$h" keep_big inuse_space)" >>"$WORK/runs"
done
# Ratios to the truth, one line per run: churn alloc, small space, small objects, big space.
awk -v G=$GiB '{ print $1 / G, $3 / 67108864, $4 / 1048576, $5 / 134217728, $2 }' "$WORK/runs" >"$WORK/ratios"
cat "$WORK/ratios" | awk '{ printf "run %d: churn alloc %.4f  small space %.4f  small objects %.4f  big %.4f  churn inuse %d\n", NR, $1, $2, $3, $4, $5 }'
# 5 sd per run: churn 2.2% -> 11%, small 8.8% -> 44%, big 3.5% -> 18%.
awk '$1 < 0.89 || $1 > 1.11 || $2 < 0.56 || $2 > 1.44 || $3 < 0.56 || $3 > 1.44 || $4 < 0.82 || $4 > 1.18 || $5 >= 4194304 { bad = 1; print "run " NR " off by more than 5 sd: " $0 } END { exit bad }' "$WORK/ratios" >&2 ||
  fail "a run is off by more than 5 standard deviations"
med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mc=$(awk '{ print $1 }' "$WORK/ratios" | med)
ms=$(awk '{ print $2 }' "$WORK/ratios" | med)
mo=$(awk '{ print $3 }' "$WORK/ratios" | med)
mb=$(awk '{ print $4 }' "$WORK/ratios" | med)
inside=$(awk '$1 >= 0.95 && $1 <= 1.05 && $2 >= 0.85 && $2 <= 1.15 && $3 >= 0.85 && $3 <= 1.15 && $4 >= 0.92 && $4 <= 1.08 && $5 < 4194304 { n++ } END { print n + 0 }' "$WORK/ratios")
echo "median ratios: churn alloc $mc, small space $ms, small objects $mo, big $mb; runs inside every bound: $inside of $RUNS"
within "$mc" 1 0.95 1.05 || fail "median churn alloc_space ratio $mc, want 1 +/- 5%"
within "$ms" 1 0.85 1.15 || fail "median keep_small inuse_space ratio $ms, want 1 +/- 15%"
within "$mo" 1 0.85 1.15 || fail "median keep_small inuse_objects ratio $mo, want 1 +/- 15%"
within "$mb" 1 0.92 1.08 || fail "median keep_big inuse_space ratio $mb, want 1 +/- 8%"
pass "heap ground truth: exact at rate 1; medians of $RUNS runs at 524288 within bounds"
