#!/usr/bin/env bash
# A program linked with jemalloc (heap_jemalloc.c), under scry at rate 1:
# jemalloc still serves every block (its own counters grow), scry's exact
# totals equal the program's own count of jemalloc's usable sizes to the byte
# (jemalloc's counters also hold scry's own blocks), and the profile is exact.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -p heap --heap-rate 1 -o "$WORK/o" -- "$SCRY_BIN/tests/heap_jemalloc" >"$WORK/out" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
cat "$WORK/out"
grep -q "^served_by_jemalloc 1$" "$WORK/out" || fail "jemalloc did not serve the allocations"
grep -q "^totals_match 1$" "$WORK/out" || fail "scry's totals differ from the program's own count"
h="$WORK/o/heap.pb.gz"
eq "keep_blocks inuse_space" "$(cum_at "$h" keep_blocks inuse_space)" 3000000
eq "keep_blocks inuse_objects" "$(cum_at "$h" keep_blocks inuse_objects)" 1000
eq "churn inuse_space" "$(cum_at "$h" churn inuse_space)" 0
echo "ok: jemalloc keeps its allocations; totals equal jemalloc's; profile exact"

# jemalloc preloaded before scry: the program's malloc is jemalloc's, which
# scry cannot see. It says so once, writes no heap profile, and the program
# runs as usual.
JE=$(ls /usr/lib/*/libjemalloc.so.2 | head -1)
SCRY_PRELOAD_FIRST="$JE" "$SCRY" run -p heap -o "$WORK/s" -- "$SCRY_BIN/tests/heap_jemalloc" >"$WORK/out2" 2>"$WORK/err2" ||
  fail "shadowed run failed: $(cat "$WORK/err2")"
grep "^served_by_jemalloc 1$" "$WORK/out2" >/dev/null || fail "shadowed: jemalloc did not serve the program"
[ "$(grep -c "the heap profile cannot see this program's allocations: its malloc is .*libjemalloc" "$WORK/err2")" = 1 ] ||
  fail "shadowed: not said exactly once: $(cat "$WORK/err2")"
[ ! -e "$WORK/s/heap.pb.gz" ] || fail "shadowed: a heap profile was written"
pass "jemalloc preloaded first: said once, program unchanged"
