#!/usr/bin/env bash
# The wall profile of a loop that reads the clock on every turn
# (wall_clock.c): clock_loop spins for 1 s reading CLOCK_MONOTONIC (and
# about 10 ms more: a fixed number of reads), and the program measures the
# call with the same clock. With -p wall and the
# default unwinder ($UNWIND if set):
#   - the premise: most of the time (at least half) is inside clock_gettime
#     (libc's, then the vDSO's), where a frame-pointer walk skips
#     clock_loop and charges main;
#   - clock_loop's wall time in the profile is within 5% of the time the
#     program measured for it, about 1 s (100 samples at 100 Hz: one tick
#     more or less is 1%);
#   - with the hybrid unwinder, no walk ended early (walks_ok).
source "$SCRY_TESTS/lib.sh"
source "$SCRY_TESTS/unwind/truth_lib.sh"
args=(-p wall)
[ -n "${UNWIND:-}" ] && args+=(--unwind "$UNWIND")
"$SCRY" run "${args[@]}" -o "$WORK/out" -- "$SCRY_BIN/tests/wall_clock" "$WORK/own" >"$WORK/stdout" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
f="$WORK/out/wall.pb.gz"
own=$(awk '$1 == "clock_loop" { print $2 }' "$WORK/own")
turns=$(awk '$1 == "turns" { print $2 }' "$WORK/own")
w=$(where "$f" clock_loop 1)
all=$("$DUMP" "$f" | awk -F' [|] ' '$1 ~ /^sample / { split(substr($1, 8), v, ","); s += v[2] } END { printf "%.0f\n", s }')
inclock=$("$DUMP" "$f" | awk -F' [|] ' '$1 ~ /^sample / { split(substr($1, 8), v, ","); n = split($2, fr, " ; ")
  for (k = 1; k <= n; k++) if (fr[k] ~ /clock_gettime/) { s += v[2]; break } } END { printf "%.0f\n", s }')
echo "unwind=${UNWIND:-default}: clock_loop wall ${w} ns (own ${own} ns, $turns clock reads);" \
  "${inclock} of ${all} ns inside clock_gettime"
within "$inclock" "$all" 0.5 1.0001 || fail "the premise: only $inclock of $all ns are inside clock_gettime"
within "$own" 1000000000 1 1.10 || fail "the program measured $own ns for clock_loop, not 1 s and a few ms"
within "$w" "$own" 0.95 1.05 || fail "clock_loop has $w ns of wall time, not within 5% of its own $own ns"
sed -n 's/^comment unwinder: /unwinder: /p' <("$DUMP" "$f")
walks_ok "$f"
go_reads "$f" clock_loop
pass "clock_loop: $w ns of wall time, own $own ns"
