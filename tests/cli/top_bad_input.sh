#!/usr/bin/env bash
# scry top on bad files: a missing, empty, truncated, non-gzip text and
# random file each give exit 1 and exactly one line naming the file; bad
# flags give exit 2 with the usage.
source "$SCRY_TESTS/lib.sh"
"$SCRY" run -o "$WORK/out" -- "$SCRY_BIN/tests/cpu_share" 20000000
good="$WORK/out/cpu.pb.gz"
: >"$WORK/empty.pb.gz"
head -c $(($(stat -c %s "$good") / 2)) "$good" >"$WORK/truncated.pb.gz"
printf 'this is not a profile\n' >"$WORK/text.pb.gz"
head -c 4096 /dev/urandom >"$WORK/random.pb.gz"
check() { # file, expected words
  local f=$1 want=$2 st
  set +e; "$SCRY" top "$f" >"$WORK/o" 2>"$WORK/e"; st=$?; set -e
  [ "$st" = 1 ] || fail "scry top $f: exit $st, want 1"
  [ "$(wc -l <"$WORK/e")" = 1 ] || fail "scry top $f: want one line, got: $(cat "$WORK/e")"
  grep -q "$(basename "$f")" "$WORK/e" || fail "message does not name the file: $(cat "$WORK/e")"
  grep -qi "$want" "$WORK/e" || fail "message for $f lacks '$want': $(cat "$WORK/e")"
  echo "$(basename "$f"): $(cat "$WORK/e")"
}
check "$WORK/missing.pb.gz" "no such file"
check "$WORK/empty.pb.gz" "empty"
check "$WORK/truncated.pb.gz" "truncated"
check "$WORK/text.pb.gz" "not a pprof profile"
check "$WORK/random.pb.gz" "not a"
usage() { # args...
  local st
  set +e; "$SCRY" top "$@" >"$WORK/o" 2>"$WORK/e"; st=$?; set -e
  [ "$st" = 2 ] || fail "scry top $*: exit $st, want 2"
  grep -q "^usage: scry top" "$WORK/e" || fail "scry top $*: no usage"
  echo "top $*: $(head -1 "$WORK/e")"
}
usage
usage --bogus "$good"
usage -n abc "$good"
usage -n -3 "$good"
usage "$good" "$good"
set +e; "$SCRY" top --sample-index nosuch "$good" 2>"$WORK/e"; st=$?; set -e
[ "$st" = 2 ] || fail "unknown sample index: exit $st"
"$SCRY" top --help | grep -q "^usage: scry top" || fail "--help"
pass "bad input handled"
