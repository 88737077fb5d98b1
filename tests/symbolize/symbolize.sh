#!/usr/bin/env bash
# Symbolization of real CPU samples in an -O2 -g binary: an inlined
# function (extra line of the caller's location, with the call line), and a
# function in a dlopen'ed library (its file and line, and its mapping's
# build ID). Lines are checked against the marked source lines.
source "$SCRY_TESTS/lib.sh"
src="$SCRY_TESTS/symbolize"
line_of() { grep -nF "/* $1 */" "$2" | head -1 | cut -d: -f1; }
ib=$(line_of INLINE_BEGIN "$src/target.c"); ie=$(line_of INLINE_END "$src/target.c")
call=$(line_of CALL_INLINE "$src/target.c")
db=$(line_of DL_BEGIN "$src/dlib.c"); de=$(line_of DL_END "$src/dlib.c")
"$SCRY" run -o "$WORK/out" --cpu-hz 500 -- "$SCRY_BIN/tests/symbolize_target" "$SCRY_BIN/tests/libsymbolize_dlib.so"
p="$WORK/out/cpu.pb.gz"
"$DUMP" "$p" >"$WORK/dump"

# Inlined: "| inlined_spin target.c:L ; outer_with_inline target.c:CALL", ib <= L <= ie
n_inl=$(awk -v ib="$ib" -v ie="$ie" -v call="$call" -F' [|] ' '
  /^loc / { split($2, fr, " ; ");
            if (fr[1] ~ /^inlined_spin target\.c:/ && fr[2] == "outer_with_inline target.c:" call) {
              split(fr[1], a, ":"); if (a[2] + 0 >= ib && a[2] + 0 <= ie) n++ } }
  END { print n + 0 }' "$WORK/dump")
echo "inlined locations at target.c:$ib-$ie called from line $call: $n_inl"
[ "$n_inl" -gt 0 ] || { grep inlined_spin "$WORK/dump" >&2; fail "inlined frame not symbolized"; }

# dlopen'ed: "loc 0x... libsymbolize_dlib.so build_id=<hex> | dl_work dlib.c:L", db <= L <= de
n_dl=$(awk -v db="$db" -v de="$de" '
  $1 == "loc" && $3 == "libsymbolize_dlib.so" && $4 ~ /^build_id=[0-9a-f]+$/ && length($4) == 49 {
    split($0, parts, " [|] "); split(parts[2], a, ":");
    if (parts[2] ~ /^dl_work dlib\.c:/ && a[2] + 0 >= db && a[2] + 0 <= de) n++ }
  END { print n + 0 }' "$WORK/dump")
echo "dl_work locations at dlib.c:$db-$de with a build ID: $n_dl"
[ "$n_dl" -gt 0 ] || { grep dl_work "$WORK/dump" >&2; fail "dlopen'ed function not symbolized"; }

# No frame of scry itself (the thread trampoline, the handler) in any sample.
grep -E '^loc .* libscry\.so ' "$WORK/dump" && fail "libscry.so frames in the profile"
out=$(go tool pprof -top -lines "$p" 2>&1) || fail "go tool pprof: $out"
grep -q "dlib.c:" <<<"$out" || fail "go tool pprof -lines does not show dlib.c: $out"
go_reads "$p" dl_work
pass "inlined and dlopen'ed functions symbolized with file:line"
