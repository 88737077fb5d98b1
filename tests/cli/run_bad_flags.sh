#!/usr/bin/env bash
# scry run refuses bad flags and values with exit 2, one line, then usage;
# and a command that cannot be run gives 127.
source "$SCRY_TESTS/lib.sh"
usage() { # args...
  local st
  set +e; "$SCRY" run "$@" >"$WORK/o" 2>"$WORK/e"; st=$?; set -e
  [ "$st" = 2 ] || fail "scry run $*: exit $st, want 2"
  head -1 "$WORK/e" | grep "^scry run: " >/dev/null || fail "scry run $*: first line: $(head -1 "$WORK/e")"
  grep -q "^usage: scry run" "$WORK/e" || fail "scry run $*: no usage"
  echo "run $*: $(head -1 "$WORK/e")"
}
usage -p bogus -- true
usage --wall-hz 0 -- true
usage --wall-hz 1001 -- true
usage --wall-hz 10x -- true
usage --traceback=bogus -- true
usage -p cpu,,cpu -- true
usage --cpu-hz 0 -- true
usage --cpu-hz abc -- true
usage --heap-rate 0 -- true
usage --heap-rate 1x -- true
usage --heap-rate 99999999999999999999 -- true
usage --block-rate 0 -- true
usage --block-rate 1.5 -- true
usage --mutex-fraction -1 -- true
usage --mutex-fraction '' -- true
usage --cpu-hz 10001 -- true
usage --unwind frames -- true
usage --bogus -- true
usage
usage -o
set +e; "$SCRY" run -o "$WORK/o2" -- /nonexistent/program 2>"$WORK/e"; st=$?; set -e
[ "$st" = 127 ] || fail "missing program: exit $st, want 127"
grep -q "cannot run" "$WORK/e" || fail "missing program: $(cat "$WORK/e")"
set +e; "$SCRY" 2>/dev/null; st=$?; "$SCRY" bogus 2>/dev/null; st2=$?; set -e
[ "$st" = 2 ] && [ "$st2" = 2 ] || fail "scry without/with unknown command: $st $st2"
"$SCRY" run --help | grep "^usage: scry run" >/dev/null || fail "run --help"
# A bad environment variable in a preloaded program: one line, program runs.
out=$(SCRY_CPU_HZ=abc "$SCRY" run -o "$WORK/o3" -- sh -c 'echo ran' 2>&1)
grep -q "^ran$" <<<"$out" || fail "program did not run with a bad SCRY_CPU_HZ"
out=$(SCRY_HEAP_RATE=-5 "$SCRY" run -p heap -o "$WORK/o4" -- sh -c 'echo ran' 2>&1)
grep -q "^ran$" <<<"$out" || fail "program did not run with a bad SCRY_HEAP_RATE"
[ "$(grep -c 'SCRY_HEAP_RATE="-5" is not a whole number' <<<"$out")" = 1 ] ||
  fail "a bad SCRY_HEAP_RATE is not said exactly once: $out"
pass "bad flags refused"
