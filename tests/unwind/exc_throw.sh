#!/usr/bin/env bash
# C++ exceptions thrown three frames down and caught, in a loop on two
# threads (exc_throw.cc, built -O2 without frame pointers, as are libgcc_s
# and libstdc++), sampled at 1000 Hz with scry's default unwinder. Checks:
#   - no crash, no hang: exit status 0 within 120 s, every throw caught by
#     its own thread (the program counts them);
#   - >= 95% of CPU time in stacks that reach the thread's entry
#     (start_thread/clone3, or _start/__libc_start_* for the main thread),
#     through the C++ runtime's unwinder as much as through the program;
#   - >= 99% of the CPU time in samples with level3 on the stack shows the
#     program's chain above it: level3 ; level2 ; level1 ; thrower.
source "$SCRY_TESTS/lib.sh"
args=(--cpu-hz 1000)
[ -n "${UNWIND:-}" ] && args+=(--unwind "$UNWIND")
rc=0
timeout -k 5 120 "$SCRY" run -o "$WORK/out" "${args[@]}" -- "$SCRY_BIN/tests/exc_throw" 600000 \
  >"$WORK/stdout" 2>"$WORK/stderr" || rc=$?
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "exc_throw hung (killed after 120 s): $(tail -3 "$WORK/stderr")"
[ "$rc" -eq 0 ] || fail "exc_throw exited with status $rc: $(cat "$WORK/stdout") $(tail -3 "$WORK/stderr")"
grep -q '^caught 600000 and 600000 of 600000 each$' "$WORK/stdout" || fail "throws lost: $(cat "$WORK/stdout")"
"$DUMP" "$WORK/out/cpu.pb.gz" >"$WORK/dump"
# sample lines: "sample COUNT,NS | leaf ; ... ; outermost |"
read -r t e c l <<<"$(awk -F' [|] ' '$1 ~ /^sample / {
    split(substr($1, 8), v, ","); w = v[2]; f = $2; sub(/ [|].*$/, "", f)
    n = split(f, fr, " ; "); r = fr[n]; t += w
    if (r ~ /^(start_thread|__clone3|clone3|__clone|clone)$/ ||
        r ~ /^(_start|__libc_start_main|__libc_start_main_impl|__libc_start_call_main)$/) e += w
    s = " ; " f " ; "
    if (index(s, " ; level3 ; ")) { c += w; if (index(s, " ; level3 ; level2 ; level1 ; thrower ; ")) l += w }
  } END { printf "%.0f %.0f %.0f %.0f\n", t, e, c, l }' "$WORK/dump")"
[ "$t" -gt 0 ] || fail "no CPU samples"
es=$(awk -v a="$e" -v b="$t" 'BEGIN { printf "%.2f", 100 * a / b }')
ls=$(awk -v a="$l" -v b="$c" 'BEGIN { printf "%.2f", b ? 100 * a / b : 0 }')
echo "unwind=${UNWIND:-default}: CPU ${t} ns; in stacks that reach the entry: ${es}%;" \
  "with level3: $c ns, ${ls}% of it under level2 ; level1 ; thrower"
awk -v s="$es" 'BEGIN { exit !(s >= 95) }' || {
  awk -F' [|] ' '$1 ~ /^sample /' "$WORK/dump" | sort -t, -k2,2nr | head -5 >&2
  fail "only ${es}% of CPU time in stacks that reach the entry (want >= 95%)"
}
[ "$c" -gt 0 ] || fail "no sample with level3 on the stack"
awk -v s="$ls" 'BEGIN { exit !(s >= 99) }' || fail "only ${ls}% of level3's samples show its callers (want >= 99%)"
pass "exceptions on two threads: exit 0, ${es}% reach the entry, ${ls}% of level3's samples under its callers"
