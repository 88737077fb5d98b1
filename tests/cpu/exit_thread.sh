#!/usr/bin/env bash
# exit(3) from a non-main thread: status 3 and a complete profile.
source "$SCRY_TESTS/lib.sh"
set +e
"$SCRY" run -o "$WORK/out" -- "$SCRY_BIN/tests/exit_thread"
st=$?
set -e
[ "$st" = 3 ] || fail "exit status $st, want 3"
p="$WORK/out/cpu.pb.gz"
e=$(cum "$p" exiting_thread_work); m=$(cum "$p" main_keeps_working)
echo "exiting_thread_work=${e}ns main_keeps_working=${m}ns"
[ "$e" -gt 0 ] && [ "$m" -gt 0 ] || fail "profile lacks one of the threads"
go_reads "$p" exiting_thread_work
pass "exit from a thread wrote the profile"
