#!/usr/bin/env bash
# A frameless leaf shared by two callers (leaf_share.c, built as $VARIANT:
# fp, nofp or clang): first_function's thread calls leaf_work until it has
# used 3T of CPU, second_function's until 1T, both at once (each then a
# fixed number of calls more, 3:1 too); the program writes the thread CPU
# time each call took. At $CPU_HZ, with the default
# unwinder ($UNWIND if set):
#   - the premise, shown with objdump: leaf_work sets up no frame (no
#     push %rbp; mov %rsp,%rbp), in every build, the frame-pointer one too;
#     in the fp build first_function keeps one, in the others it does not;
#     and at least 80% of the time is in leaf_work itself (97% or so: a
#     timer signal that carries a lump of late expirations into the
#     caller's loop can move a few %);
#   - first_function's share of the two functions' cumulative CPU time is
#     the program's own share (75% by construction) +/- 1 point;
#   - the two functions' cumulative CPU time is within 3% of the CPU time
#     the program measured for them: samples in the leaf are not lost;
#   - with the hybrid unwinder, no walk ended early (walks_ok).
# A frame-pointer walk from leaf_work goes from the leaf straight to its
# caller's caller, so both functions lose nearly every sample.
# Sampling noise: each thread has its own CPU timer, so its sample count is
# its CPU time / period to within one sample, less what the kernel had not
# delivered when the thread ended (it notices expirations at a tick the
# thread runs in: with two busy loops beside the test, at most 4 ms in 20
# runs, thanks to the fixed finish in leaf_share.c's spend). Losing L at
# the end of second_function moves the share by about 3L / 16T: with
# T = 500 ms at 100 Hz (10 ms + 4 ms) 0.5 points, with T = 300 ms at 1000 Hz
# (1 ms + 4 ms) 0.3 points.
source "$SCRY_TESTS/lib.sh"
source "$SCRY_TESTS/unwind/truth_lib.sh"
variant=${VARIANT:?fp, nofp or clang}
hz=${CPU_HZ:-100}
ms=${T_MS:-500}
prog="$SCRY_BIN/tests/leaf_share_$variant"
if [ ! -x "$prog" ]; then
  [ "$variant" = clang ] && { echo "SKIP: clang is not installed (the _clang build needs it)"; exit 0; }
  fail "$prog was not built"
fi
args=(--cpu-hz "$hz")
[ -n "${UNWIND:-}" ] && args+=(--unwind "$UNWIND")

# frame FUNCTION: "frame" if the function's first instructions (after an
# endbr64) are push %rbp; mov %rsp,%rbp, "no frame" otherwise. Prints them.
command -v objdump >/dev/null || fail "objdump is not installed (Debian binutils)"
frame() {
  local insns
  insns=$(objdump -d --no-show-raw-insn --disassemble="$1" "$prog" |
    awk -v f="$1" '$0 ~ "<" f ">:" { on = 1; next } on && NF == 0 { exit }
                   on { sub(/^ *[0-9a-f]+:[ \t]*/, ""); gsub(/[ \t]+/, " "); sub(/ #.*$/, ""); if ($0 != "endbr64") print }' | head -4)
  echo "$variant: $1 begins: $(paste -sd ';' <<<"$insns")" >&2
  if [ "$(sed -n 1p <<<"$insns")" = "push %rbp" ] && [ "$(sed -n 2p <<<"$insns")" = "mov %rsp,%rbp" ]; then
    echo frame
  else
    echo "no frame"
  fi
}
eq "$variant: leaf_work" "$(frame leaf_work)" "no frame"
objdump -d --no-show-raw-insn --disassemble=leaf_work "$prog" | grep -E '%rbp|%rsp' >&2 &&
  fail "$variant: leaf_work touches %rbp or %rsp: not a frameless leaf"
if [ "$variant" = fp ]; then
  eq "$variant: first_function" "$(frame first_function)" frame
else
  eq "$variant: first_function" "$(frame first_function)" "no frame"
fi

"$SCRY" run -o "$WORK/out" "${args[@]}" -- "$prog" "$ms" "$WORK/own" \
  >"$WORK/stdout" 2>"$WORK/err" || fail "run failed: $(cat "$WORK/err")"
p="$WORK/out/cpu.pb.gz"
own1=$(awk '$1 == "first_function" { print $2 }' "$WORK/own")
own2=$(awk '$1 == "second_function" { print $2 }' "$WORK/own")
a=$(cum "$p" first_function)
b=$(cum "$p" second_function)
leaf=$(flat "$p" leaf_work)
t=$(total "$p")
read -r share want cover inleaf < <(awk -v a="$a" -v b="$b" -v o1="$own1" -v o2="$own2" -v l="$leaf" -v t="$t" 'BEGIN {
  printf "%.2f %.2f %.4f %.4f\n", a + b ? 100 * a / (a + b) : 0, 100 * o1 / (o1 + o2), (a + b) / (o1 + o2), t ? l / t : 0 }')
echo "$variant ${hz} Hz unwind=${UNWIND:-default}: first_function ${a} ns (own ${own1}), second_function ${b} ns (own ${own2});" \
  "share ${share}% (own ${want}%); profile/own ${cover}; leaf_work flat ${leaf} ns of ${t} (${inleaf})"
"$DUMP" "$p" | sed -n 's/^comment unwinder: /unwinder: /p'
within "$leaf" "$t" 0.80 1.0001 || fail "only $leaf of $t ns are in leaf_work: the work is not in the leaf"
awk -v s="$share" -v w="$want" 'BEGIN { d = s - w; exit !(d >= -1 && d <= 1) }' ||
  fail "first_function's share is $share%, want the program's $want% +/- 1 point"
within "$((a + b))" "$((own1 + own2))" 0.97 1.03 ||
  fail "first_function + second_function have $((a + b)) ns, not within 3% of their own $((own1 + own2)) ns"
"$DUMP" "$p" | grep '^comment dropped samples: 0 (ring full), 0 (stack table full)$' >/dev/null ||
  fail "samples were dropped: $("$DUMP" "$p" | grep dropped)"
walks_ok "$p"
go_reads "$p" first_function
pass "$variant ${hz} Hz: share $share% (own $want%), $cover of the callers' CPU time found past the leaf"
