#!/usr/bin/env bash
# SIGTERM to a program without a handler: it dies of SIGTERM (status 143
# through scry run) and its profile was written first.
source "$SCRY_TESTS/lib.sh"
fifo="$WORK/fifo"; mkfifo "$fifo"
"$SCRY_BIN/scry" run -o "$WORK/out" -- "$SCRY_BIN/tests/sigterm" >"$fifo" &
runner=$!
read -r line <"$fifo" || true
[ "$line" = ready ] || fail "program did not start ($line)"
# The program is scry run's child.
prog=$(pgrep -P "$runner" -x sigterm || pgrep -P "$runner")
kill -TERM "$prog"
set +e; wait "$runner"; st=$?; set -e
[ "$st" = 143 ] || fail "exit status $st, want 143 (killed by SIGTERM)"
p="$WORK/out/cpu.pb.gz"
w=$(cum "$p" spin_until_killed)
[ "$w" -gt 0 ] || fail "no samples in spin_until_killed"
go_reads "$p" spin_until_killed
pass "died of SIGTERM (143) with ${w}ns profiled"
