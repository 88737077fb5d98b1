#!/usr/bin/env bash
# The API in a linked program: error contract, and start/stop/write capture
# exactly the work done while the profile ran.
source "$SCRY_TESTS/lib.sh"
p="$WORK/api.pb.gz"
"$SCRY_BIN/tests/api_linked" "$p"
a=$(cum "$p" profiled_work); b=$(cum "$p" unprofiled_work)
period=$("$DUMP" "$p" | awk '$1 == "period" { print $2 }')
echo "profiled_work=${a}ns unprofiled_work=${b}ns period=${period}ns"
[ "$period" = 2000000 ] || fail "period $period, want 2000000 (500 Hz)"
[ "$a" -gt 0 ] || fail "no samples while profiling"
[ "$b" = 0 ] || fail "samples after stop"
ls "$WORK"/*.tmp 2>/dev/null && fail "temporary file left behind"
go_reads "$p" profiled_work
pass "API contract and capture window"
