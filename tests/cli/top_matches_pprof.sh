#!/usr/bin/env bash
# scry top's numbers against go tool pprof's on the same profile: the flat%
# and cum% of every function go tool pprof lists must be the same.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -o "$WORK/out" -- "$SCRY_BIN/tests/symbolize_target" "$SCRY_BIN/tests/libsymbolize_dlib.so"
p="$WORK/out/cpu.pb.gz"
go tool pprof -top -nodecount=1000 "$p" 2>/dev/null |
  awk '/^ *flat/ { on = 1; next } on && NF >= 6 { n = $6; for (i = 7; i <= NF; i++) n = n " " $i; sub(/ \(inline\)$/, "", n); print n, $2, $5 }' |
  sort >"$WORK/go"
"$SCRY" top -n 0 "$p" |
  awk '/^ *flat/ { on = 1; next } on && NF >= 6 { n = $6; for (i = 7; i <= NF; i++) n = n " " $i; print n, $2, $5 }' |
  sort >"$WORK/scry"
echo "go tool pprof:"; cat "$WORK/go"; echo "scry top:"; cat "$WORK/scry"
[ "$(wc -l <"$WORK/go")" -ge 3 ] || fail "too few functions to compare"
# pprof prints 0% for zero; scry prints 0.00%: compare as numbers.
join "$WORK/go" "$WORK/scry" | awk '{ if ($2 + 0 != $4 + 0 || $3 + 0 != $5 + 0) { print "differs:", $0; bad = 1 } } END { exit bad }' ||
  fail "scry top and go tool pprof disagree"
[ "$(join "$WORK/go" "$WORK/scry" | wc -l)" = "$(wc -l <"$WORK/go")" ] || fail "scry top lacks functions go tool pprof lists"
pass "flat% and cum% agree with go tool pprof for $(wc -l <"$WORK/go") functions"
