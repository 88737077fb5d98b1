#!/usr/bin/env bash
# libc in the hot loop (libc_loop.c, built as $VARIANT: fp, nofp or clang):
# every turn calls snprintf, strtod, memcpy, qsort (with a callback of
# ours) and clock_gettime, for 500 ms of the thread's CPU time and a fixed
# 20 ms or so more, which the program measures around the call. At
# 1000 Hz, with the default unwinder ($UNWIND if set):
#   - the premise: most of the profile's stacks end in libc or the vDSO,
#     not in libc_loop's or the callback's own code (counted as stacks, not
#     time: under load one timer signal can carry 100 ms and more of
#     expirations, wherever it lands; not checked with fewer than 20);
#   - libc_loop is charged, cumulatively, at least 95% of the CPU time the
#     program measured for it, and not more than 2% over (520 samples; the
#     kernel delivers a CPU timer's signal at a tick the thread runs in, so
#     the last few ms of the call are charged to what runs next);
#   - the callback's samples, taken inside libc's qsort, have libc_loop
#     among their callers;
#   - with the hybrid unwinder, no walk ended early (walks_ok).
# A frame-pointer walk stops or skips libc_loop wherever libc is running.
source "$SCRY_TESTS/lib.sh"
source "$SCRY_TESTS/unwind/truth_lib.sh"
variant=${VARIANT:?fp, nofp or clang}
prog="$SCRY_BIN/tests/libc_loop_$variant"
if [ ! -x "$prog" ]; then
  [ "$variant" = clang ] && { echo "SKIP: clang is not installed (the _clang build needs it)"; exit 0; }
  fail "$prog was not built"
fi
args=(--cpu-hz 1000)
[ -n "${UNWIND:-}" ] && args+=(--unwind "$UNWIND")
"$SCRY" run -o "$WORK/out" "${args[@]}" -- "$prog" 500 "$WORK/own" >"$WORK/stdout" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
p="$WORK/out/cpu.pb.gz"
"$DUMP" "$p" >"$WORK/dump"
own=$(awk '$1 == "libc_loop" { print $2 }' "$WORK/own")
turns=$(awk '$1 == "turns" { print $2 }' "$WORK/own")
c=$(cum "$p" libc_loop)
cb=$(cum "$p" by_value)
# by_value's time with libc_loop among its callers, and the premise: the
# stacks whose leaf is in libc or the vDSO, out of all.
cbin=$(awk -F' [|] ' '$1 ~ /^sample / { split(substr($1, 8), v, ","); n = split($2, fr, " ; ")
  hit = 0; loop = 0; for (k = 1; k <= n; k++) { if (fr[k] == "by_value") hit = 1; if (fr[k] == "libc_loop") loop = 1 }
  if (hit && loop) s += v[2] } END { printf "%.0f\n", s }' "$WORK/dump")
read -r inlibc stacks < <(awk -F' [|] ' '$1 ~ /^sample / { n++; split($2, fr, " ; ")
  if (fr[1] != "libc_loop" && fr[1] != "by_value") l++ } END { printf "%d %d\n", l, n }' "$WORK/dump")
echo "$variant unwind=${UNWIND:-default}: libc_loop cum ${c} ns of its own ${own} ns ($turns turns);" \
  "by_value ${cb} ns, ${cbin} ns of it under libc_loop; $inlibc of $stacks stacks end in libc or the vDSO"
sed -n 's/^comment unwinder: /unwinder: /p' "$WORK/dump"
[ "$c" -gt 0 ] || fail "libc_loop has no samples"
# Under load the timer's signals can come so late that a run has only a few
# stacks, too few to say where the time went.
if [ "$stacks" -ge 20 ]; then
  [ $((2 * inlibc)) -ge "$stacks" ] || fail "the premise: only $inlibc of $stacks stacks end in libc or the vDSO"
else
  echo "premise not checked: only $stacks stacks (the timer's signals came in lumps)"
fi
within "$c" "$own" 0.95 1.02 || fail "libc_loop has $c ns cumulative, not 95%..102% of its own $own ns"
[ "$cb" -gt 0 ] || fail "by_value (the qsort callback) has no samples"
within "$cbin" "$cb" 0.95 1.0001 || fail "only $cbin of by_value's $cb ns have libc_loop as a caller"
grep '^comment dropped samples: 0 (ring full), 0 (stack table full)$' "$WORK/dump" >/dev/null ||
  fail "samples were dropped: $(grep dropped "$WORK/dump")"
walks_ok "$p"
pass "$variant: libc_loop charged $(awk -v a="$c" -v b="$own" 'BEGIN { printf "%.1f", 100 * a / b }')% of its own CPU time through libc"
