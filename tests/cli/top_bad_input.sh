#!/usr/bin/env bash
# scry top on files that are not profiles: a missing, empty, truncated
# (first half of a good gzip profile), plain-text, random-bytes and
# gzipped-text file, and five gzipped profiles with one fault each that
# go tool pprof refuses too (tests/cli/make_profile --corrupt). Each must
# exit 1 (not a crash: under 128) with exactly one line on stderr that
# names the file and the problem. Bad flags exit 2: one line, a blank
# line, then the usage.
set -euo pipefail
source "$SCRY_TESTS/lib.sh"
command -v go >/dev/null || fail "go is not installed (make test installs golang-go)"
"$SCRY_BIN/tests/make_profile" "$WORK/good.pb.gz"
good="$WORK/good.pb.gz"
"$SCRY" top "$good" >/dev/null || fail "scry top cannot read the good profile"

: >"$WORK/empty.pb.gz"
head -c $(($(stat -c %s "$good") / 2)) "$good" >"$WORK/truncated.pb.gz"
printf 'this is not a profile\n' >"$WORK/text.pb.gz"
# 'R' first: neither the gzip magic nor a field of Profile's wire type, so
# the outcome does not depend on the random bytes after it.
{ printf R; head -c 4095 /dev/urandom; } >"$WORK/random.pb.gz"
printf 'this is not a profile\n' | gzip -c >"$WORK/gzipped-text.pb.gz"

n=0
check() { # file, expected phrase
  local f=$1 want=$2 st
  set +e; "$SCRY" top "$f" >"$WORK/o" 2>"$WORK/e"; st=$?; set -e
  [ "$st" = 1 ] || fail "scry top $f: exit $st, want 1 ($(cat "$WORK/e"))"
  [ "$(wc -l <"$WORK/e")" = 1 ] || fail "scry top $f: want one line on stderr, got: $(cat "$WORK/e")"
  [ ! -s "$WORK/o" ] || fail "scry top $f printed on stdout: $(cat "$WORK/o")"
  grep -qF "scry: $f: $want" "$WORK/e" || fail "scry top $f: want 'scry: $f: $want...', got: $(cat "$WORK/e")"
  echo "exit $st: $(sed "s|$WORK/||" "$WORK/e")"
  n=$((n + 1))
}
check "$WORK/missing.pb.gz" "No such file or directory"
check "$WORK/empty.pb.gz" "empty file"
check "$WORK/truncated.pb.gz" "truncated or corrupt gzip data"
check "$WORK/text.pb.gz" "not a pprof profile (neither gzip nor protobuf)"
check "$WORK/random.pb.gz" "not a pprof profile (neither gzip nor protobuf)"
check "$WORK/gzipped-text.pb.gz" "not a valid pprof profile: "
check "$WORK" "Is a directory"
for kind in values location function string dup; do
  f="$WORK/corrupt-$kind.pb.gz"
  "$SCRY_BIN/tests/make_profile" "$f" --corrupt "$kind"
  case $kind in
  values) want="sample 1 has 1 value for 2 sample types" ;;
  location) want="sample 2 refers to location 99, which does not exist" ;;
  function) want="location 3, line 1 refers to function 77, which does not exist" ;;
  string) want="function 4 names string 1000, past the end of the" ;;
  dup) want="two functions have id 1" ;;
  esac
  check "$f" "not a valid pprof profile: $want"
  # The reader is as strict as pprof, no stricter: pprof refuses it too.
  if go tool pprof -top "$f" >/dev/null 2>&1; then fail "go tool pprof accepts $f, scry does not"; fi
  "$DUMP" "$f" >/dev/null 2>&1 && fail "pprof_dump accepts $f"
done

usage_lines=$("$SCRY" top --help | wc -l)
usage() { # args...
  local st
  set +e; "$SCRY" top "$@" >"$WORK/o" 2>"$WORK/e"; st=$?; set -e
  [ "$st" = 2 ] || fail "scry top $*: exit $st, want 2"
  head -1 "$WORK/e" | grep "^scry top: " >/dev/null || fail "scry top $*: first line: $(head -1 "$WORK/e")"
  [ -z "$(sed -n 2p "$WORK/e")" ] || fail "scry top $*: second line not blank: $(cat "$WORK/e")"
  tail -n +3 "$WORK/e" | cmp -s - <("$SCRY" top --help) || fail "scry top $*: the usage does not follow: $(cat "$WORK/e")"
  [ ! -s "$WORK/o" ] || fail "scry top $* printed on stdout"
  echo "exit $st: top $(sed "s|$WORK/||g" <<<"$*"): $(head -1 "$WORK/e" | sed "s|$WORK/||g")"
  n=$((n + 1))
}
usage
usage --bogus "$good"
usage -x "$good"
usage -n abc "$good"
usage -n -3 "$good"
usage -n 99999999999999999999 "$good"
usage "$good" -n
usage "$good" --sample-index
usage "$good" "$good"
usage --sample-index nosuch "$good"
usage --sample-index 2 "$good"
grep -q "it has: samples, cpu" "$WORK/e" || fail "unknown sample index: the types are not listed: $(head -1 "$WORK/e")"
"$SCRY" top --help >/dev/null || fail "scry top --help: exit $?"
pass "$n bad inputs refused with one line each; usage is $usage_lines lines"
