#!/usr/bin/env bash
# scry top against go tool pprof -top on a real profile written by scry run
# (tests/symbolize/target.c: an inlined function and a dlopen'ed library):
# the two reports must be the same, line for line, sorted by flat and by
# cum and for both sample types. make_profile's known values are checked
# by top_known_values; this checks that nothing in a real file (comments,
# many mappings, unsymbolized frames) makes the two disagree.
set -euo pipefail
source "$SCRY_TESTS/lib.sh"
command -v go >/dev/null || fail "go is not installed (make test installs golang-go)"
"$SCRY" run -o "$WORK/out" -- "$SCRY_BIN/tests/symbolize_target" "$SCRY_BIN/tests/libsymbolize_dlib.so"
p="$WORK/out/cpu.pb.gz"
n=0
agree() { # scry top flags | go tool pprof flags
  local -a s=() g=()
  while [ "$1" != -- ]; do s+=("$1"); shift; done
  shift
  g=("$@")
  "$SCRY" top -n 0 "${s[@]}" "$p" | sed 's/[[:space:]]*$//' >"$WORK/s" || fail "scry top ${s[*]} failed"
  go tool pprof -top -nodefraction=0 "${g[@]}" "$p" 2>"$WORK/goerr" | sed 's/[[:space:]]*$//' >"$WORK/g" ||
    fail "go tool pprof -top ${g[*]}: $(cat "$WORK/goerr")"
  diff -u "$WORK/g" "$WORK/s" >"$WORK/diff" || { cat "$WORK/diff" >&2; fail "scry top ${s[*]} and go tool pprof -top ${g[*]} differ"; }
  n=$((n + 1))
}
agree --
agree --cum -- -cum
agree --sample-index samples -- -sample_index=samples
rows=$("$SCRY" top -n 0 "$p" | awk '/^ *flat/ { on = 1; next } on' | wc -l)
[ "$rows" -ge 3 ] || fail "only $rows functions in the profile: too few to compare"
echo "scry top:"
"$SCRY" top -n 0 "$p"
pass "$n reports of $rows functions identical to go tool pprof -top's"
