#!/usr/bin/env bash
# Ground truth: two threads run the same loop at once; first_function until
# its thread has used 3 x 560 ms of CPU, second_function until 560 ms (each
# by its own thread CPU clock), so the CPU split is 3:1 by construction.
# Shares use cumulative time (the loop is inlined). Checks, at $CPU_HZ (and
# $UNWIND):
#   - first_function's share of CPU time is 75% +/- 2 points;
#   - the profile's total is within 5% of the process's own CPU time, and
#     no sample was dropped;
#   - first_function is symbolized with cpu_share.c:line, and the inlined
#     spin() as an extra line of the same location;
#   - go tool pprof and scry top read the file.
source "$SCRY_TESTS/lib.sh"
hz=${CPU_HZ:-100}
args=(--cpu-hz "$hz")
[ -n "${UNWIND:-}" ] && args+=(--unwind "$UNWIND")
CPU_REPORT="$WORK/rusage" "$SCRY" run -o "$WORK/out" "${args[@]}" -- "$SCRY_BIN/tests/cpu_share" 560
p="$WORK/out/cpu.pb.gz"
a=$(cum "$p" first_function)
b=$(cum "$p" second_function)
t=$(total "$p")
ru=$(cat "$WORK/rusage")
share=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", 100 * a / (a + b) }')
echo "hz=$hz unwind=${UNWIND:-hybrid}: first=${a}ns second=${b}ns share=${share}% profile_total=${t}ns rusage=${ru}ns"
awk -v s="$share" 'BEGIN { exit !(s >= 73 && s <= 77) }' || fail "first_function share $share%, want 75 +/- 2"
within "$t" "$ru" 0.95 1.05 || fail "profile total $t ns is not within 5% of rusage $ru ns"
"$DUMP" "$p" | grep -E '^loc .*first_function [^ ]*cpu_share\.c:[0-9]+' >/dev/null ||
  fail "first_function not symbolized with cpu_share.c:line"
# spin() is inlined (through spin_for_cpu) into first_function: the same
# location must carry them all, the innermost first.
"$DUMP" "$p" | grep -E '^loc .*\| spin [^ ]*common\.h:[0-9]+ ; (spin_for_cpu [^ ]*cpu_share\.c:[0-9]+ ; )?first_function [^ ]*cpu_share\.c:[0-9]+' >/dev/null ||
  fail "inlined spin() not shown inside first_function"

# No loss at this rate: nothing dropped, by the ring or the stack table.
"$DUMP" "$p" | grep '^comment dropped samples: 0 (ring full), 0 (stack table full)$' >/dev/null ||
  fail "samples were dropped: $("$DUMP" "$p" | grep dropped)"
go_reads "$p" first_function
pass "share $share% (75 +/- 2), total/rusage $(awk -v a="$t" -v b="$ru" 'BEGIN{printf "%.4f", a/b}')"
