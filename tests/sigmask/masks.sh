#!/usr/bin/env bash
# The program's own masks are what it set (blockall masks): a full set, a
# named set, save and restore, SIG_UNBLOCK inside a full set, a set passed
# as both arguments, errors, the BSD calls and a thread created under a full
# mask. First without scry (the checks are plain glibc behaviour), then
# under scry with the CPU and wall profiles (SIGPROF and SIGVTALRM kept),
# where the kernel's mask must also leave those two deliverable under a
# full set, block them when named, and a signalfd on a full set must not
# take them.
source "$SCRY_TESTS/lib.sh"
prog="$SCRY_BIN/tests/blockall"
"$prog" masks >"$WORK/plain" || fail "without scry: $(grep FAIL "$WORK/plain")"
SCRY_EXPECTED=1 "$SCRY" run -p cpu,wall -o "$WORK/out" -- "$prog" masks >"$WORK/scry" 2>"$WORK/err" ||
  fail "under scry: $(grep FAIL "$WORK/scry") $(cat "$WORK/err")"
cat "$WORK/scry"
n=$(grep -c '^ok ' "$WORK/scry")
[ "$n" -ge 20 ] || fail "only $n checks ran under scry"
pass "$n mask checks under scry, $(grep -c '^ok ' "$WORK/plain") without"
