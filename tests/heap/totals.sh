#!/usr/bin/env bash
# When the exact heap totals are kept, and that they are the program's own
# count when they are (heap_totals.c, linked with scry; the program counts
# its calls and their usable sizes itself):
#   - nothing asks for them: scry_heap_totals says -ENODATA (zeros), and the
#     heap metrics read NaN, not 0; SCRY_HEAP_TOTALS=yes is refused in one
#     line and changes nothing;
#   - SCRY_HEAP_TOTALS=1: 5 threads started before any counting and a forked
#     child: scry's deltas equal the program's to the byte and block; the
#     in-use metrics are there (counting began at load);
#   - the heap profile started mid-run by the API (rate 1): the deltas
#     equal the program's, the frees of 100 blocks from before the start
#     included; in-use is NaN (counting began mid-run); a block sampled while
#     the profile ran and freed after it stopped is not in use in the
#     profile written after, while a block kept is; after the stop the
#     totals are not kept (-ENODATA).
source "$SCRY_TESTS/lib.sh"
PROG="$SCRY_BIN/tests/heap_totals"
ENODATA=61

metric() { awk -v n="$2" '$1 == "metric" && $2 == n { print $3 }' "$1"; }

# 1. Nobody wants them.
env -u SCRY_HEAP_TOTALS -u SCRY_PROFILES -u SCRY_HTTP "$PROG" off >"$WORK/off" 2>"$WORK/off.err" ||
  fail "off: exit $?: $(cat "$WORK/off.err")"
cat "$WORK/off"
grep -q "^totals_rc -$ENODATA " "$WORK/off" || fail "off: scry_heap_totals did not say -ENODATA: $(grep totals_rc "$WORK/off")"
grep -q "^totals_zero 1$" "$WORK/off" || fail "off: scry_heap_totals left non-zero counts"
for m in /gc/heap/allocs:bytes /gc/heap/allocs:objects /gc/heap/frees:bytes /gc/heap/frees:objects \
  /memory/classes/heap/objects:bytes /gc/heap/objects:objects; do
  eq "off: $m" "$(metric "$WORK/off" $m)" nan
done
eq "off: /gc/heap/totals/since:seconds" "$(metric "$WORK/off" /gc/heap/totals/since:seconds)" 0
SCRY_HEAP_TOTALS=yes "$PROG" off >"$WORK/bad" 2>"$WORK/bad.err" || fail "bad value: exit $?"
eq "SCRY_HEAP_TOTALS=yes: lines said" "$(grep -c 'SCRY_HEAP_TOTALS="yes" is not 0 or 1' "$WORK/bad.err")" 1
grep -q "^totals_rc -$ENODATA " "$WORK/bad" || fail "SCRY_HEAP_TOTALS=yes turned the totals on"

# 2. SCRY_HEAP_TOTALS=1: from load to exit.
SCRY_HEAP_TOTALS=1 "$PROG" env >"$WORK/env" 2>"$WORK/env.err" || fail "env: exit $?: $(cat "$WORK/env.err")"
cat "$WORK/env"
grep -q "^threads_match 1$" "$WORK/env" || fail "SCRY_HEAP_TOTALS=1: scry's totals differ from the program's count"
grep -q "^fork_child_match 1$" "$WORK/env" || fail "SCRY_HEAP_TOTALS=1: the forked child's totals differ from its count"
for m in /gc/heap/allocs:bytes /memory/classes/heap/objects:bytes /gc/heap/objects:objects; do
  v=$(metric "$WORK/env" $m)
  [ -n "$v" ] && [ "$v" != nan ] || fail "SCRY_HEAP_TOTALS=1: $m is '$v', want a number"
done
since=$(metric "$WORK/env" /gc/heap/totals/since:seconds)
awk -v s="$since" 'BEGIN { exit !(s > 1e9) }' || fail "SCRY_HEAP_TOTALS=1: since is '$since', want a Unix time"

# 3. The heap profile started mid-run, stopped, written.
env -u SCRY_HEAP_TOTALS -u SCRY_PROFILES -u SCRY_HTTP "$PROG" midrun "$WORK/heap.pb.gz" >"$WORK/mid" 2>"$WORK/mid.err" ||
  fail "midrun: exit $?: $(cat "$WORK/mid.err")"
cat "$WORK/mid"
grep -q "^before_start_rc -$ENODATA$" "$WORK/mid" || fail "midrun: totals kept before the start"
grep -q "^start_rc 0$" "$WORK/mid" || fail "midrun: the heap profile did not start"
grep -q "^midrun_match 1$" "$WORK/mid" || fail "midrun: scry's totals differ from the program's count"
for m in /memory/classes/heap/objects:bytes /gc/heap/objects:objects; do
  eq "midrun: $m" "$(metric "$WORK/mid" $m)" nan
done
v=$(metric "$WORK/mid" /gc/heap/allocs:objects)
[ -n "$v" ] && [ "$v" != nan ] || fail "midrun: /gc/heap/allocs:objects is '$v', want a number"
grep -q "^stop_rc 0$" "$WORK/mid" || fail "midrun: stop failed"
grep -q "^write_rc 0$" "$WORK/mid" || fail "midrun: write failed"
grep -q "^after_stop_rc -$ENODATA$" "$WORK/mid" || fail "midrun: totals still kept after the stop"
h="$WORK/heap.pb.gz"
eq "sampled_then_freed alloc_space" "$(cum_at "$h" sampled_then_freed alloc_space)" 1000
eq "sampled_then_freed inuse_space (freed after the stop)" "$(cum_at "$h" sampled_then_freed inuse_space)" 0
eq "sampled_and_kept inuse_space" "$(cum_at "$h" sampled_and_kept inuse_space)" 2000
"$DUMP" "$h" | grep '^comment totals since [0-9T:-]*Z: allocated ' >/dev/null ||
  fail "midrun: the profile's totals comment does not say when counting began: $("$DUMP" "$h" | grep totals)"
"$DUMP" "$h" | grep '^comment totals: ' >/dev/null && fail "midrun: the profile's totals read as whole-run totals"
grep -E 'Sanitizer|runtime error' "$WORK"/*.err && fail "the sanitizer spoke (above)"
pass "totals: not kept unasked (NaN, -ENODATA); exact with SCRY_HEAP_TOTALS=1, in threads and a child, and from a mid-run start; a block freed after the stop is not in use"
