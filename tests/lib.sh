# lib.sh - helpers for the test driver scripts (sourced).
# Every test prints what it measured; `fail` ends it with a reason.
set -euo pipefail

: "${SCRY_BIN:?set by CTest}"
: "${SCRY_TESTS:?set by CTest}"
SCRY="$SCRY_BIN/scry"
DUMP="$SCRY_BIN/tests/pprof_dump"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/scry-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# flat FILE FUNCTION: the function's flat value for the default sample type.
flat() { "$DUMP" "$1" | awk -v f="$2" '$1 == "func" && $4 == f { v = $2 } END { printf "%.0f\n", v }'; }
cum() { "$DUMP" "$1" | awk -v f="$2" '$1 == "func" && $4 == f { v = $3 } END { printf "%.0f\n", v }'; }
total() { "$DUMP" "$1" | awk '$1 == "total" { print $2 }'; }

# go_reads FILE [FUNCTION]: go tool pprof -top reads the file (and shows FUNCTION).
go_reads() {
  if ! command -v go >/dev/null; then fail "go is not installed (make test installs golang-go)"; fi
  local out
  out=$(go tool pprof -top "$1" 2>&1) || fail "go tool pprof -top $1: $out"
  if [ $# -gt 1 ]; then
    grep -q "$2" <<<"$out" || fail "go tool pprof -top $1 does not show $2: $out"
  fi
  "$SCRY" top "$1" >/dev/null || fail "scry top $1 failed"
}

# ratio_ok A B LO HI: LO <= A/B <= HI, with awk floats.
within() { awk -v a="$1" -v b="$2" -v lo="$3" -v hi="$4" 'BEGIN { r = a / b; exit !(r >= lo && r <= hi) }'; }

# cum_at / flat_at FILE FUNCTION SAMPLE_INDEX: the same for another sample type.
# The function name is the rest of the line: C++ names have spaces.
cum_at() { "$DUMP" "$1" --sample-index "$3" | awk -v f="$2" '$1 == "func" { n = $0; sub(/^func [^ ]+ [^ ]+ /, "", n); if (n == f) v = $3 } END { printf "%.0f\n", v }'; }
flat_at() { "$DUMP" "$1" --sample-index "$3" | awk -v f="$2" '$1 == "func" { n = $0; sub(/^func [^ ]+ [^ ]+ /, "", n); if (n == f) v = $2 } END { printf "%.0f\n", v }'; }
# eq WHAT GOT WANT: exact equality, or fail.
eq() { [ "$2" = "$3" ] || fail "$1: got $2, want $3"; }

# where FILE FUNC INDEX [LABEL]: the sum of value INDEX (0-based) over the
# samples whose stack has FUNC (and, if given, whose labels include LABEL,
# e.g. state=on-cpu), from pprof_dump's sample lines.
where() {
  "$DUMP" "$1" | awk -v f="$2" -v i="$3" -v l="${4:-}" -F' [|] ' '
    $1 ~ /^sample / {
      split(substr($1, 8), v, ",")
      n = split($2, fr, " ; "); hit = 0
      for (k = 1; k <= n; k++) if (fr[k] == f) hit = 1
      if (l != "") { m = split($3, lb, " "); ok = 0; for (k = 1; k <= m; k++) if (lb[k] == l) ok = 1; hit = hit && ok }
      if (hit) s += v[i + 1]
    }
    END { printf "%.0f\n", s }'
}
