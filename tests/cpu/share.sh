#!/usr/bin/env bash
# Ground truth: first_function does 3/4 of identical work on one thread,
# second_function 1/4 on another. Checks, at $CPU_HZ (and $UNWIND):
#   - first_function's share of CPU time is 75% +/- 2 points;
#   - the profile's total is within 5% of the process's own CPU time;
#   - both functions are symbolized with file cpu_share.c and a line;
#   - go tool pprof and scry top read the file.
source "$SCRY_TESTS/lib.sh"
hz=${CPU_HZ:-100}
args=(--cpu-hz "$hz")
[ -n "${UNWIND:-}" ] && args+=(--unwind "$UNWIND")
CPU_REPORT="$WORK/rusage" "$SCRY" run -o "$WORK/out" "${args[@]}" -- "$SCRY_BIN/tests/cpu_share" 120000000
p="$WORK/out/cpu.pb.gz"
a=$(flat "$p" first_function)
b=$(flat "$p" second_function)
t=$(total "$p")
ru=$(cat "$WORK/rusage")
share=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", 100 * a / (a + b) }')
echo "hz=$hz unwind=${UNWIND:-fp}: first=${a}ns second=${b}ns share=${share}% profile_total=${t}ns rusage=${ru}ns"
awk -v s="$share" 'BEGIN { exit !(s >= 73 && s <= 77) }' || fail "first_function share $share%, want 75 +/- 2"
within "$t" "$ru" 0.95 1.05 || fail "profile total $t ns is not within 5% of rusage $ru ns"
"$DUMP" "$p" | grep -E '^loc .*\| first_function [^ ]*cpu_share\.c:[0-9]+' >/dev/null ||
  fail "first_function not symbolized with cpu_share.c:line"
go_reads "$p" first_function
pass "share $share% (75 +/- 2), total/rusage $(awk -v a="$t" -v b="$ru" 'BEGIN{printf "%.4f", a/b}')"
