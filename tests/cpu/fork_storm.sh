#!/usr/bin/env bash
# 300 forks under a 1000 Hz profile: all children exit 0, none hangs; the
# 6 children that call exit() write their own profiles; the parent's has
# the burning threads.
source "$SCRY_TESTS/lib.sh"
out=$("$SCRY" run -o "$WORK/out" --cpu-hz 1000 -- "$SCRY_BIN/tests/fork_storm")
echo "$out"
grep -q "bad 0 " <<<"$out" || fail "some children failed"
n=$(ls "$WORK/out" | grep -c '^cpu\.[0-9]*\.pb\.gz$' || true)
[ "$n" = 6 ] || fail "$n child profiles, want 6"
for f in "$WORK"/out/cpu.[0-9]*.pb.gz; do "$DUMP" "$f" >/dev/null || fail "$f unreadable"; done
w=$(cum "$WORK/out/cpu.pb.gz" burn)
[ "$w" -gt 0 ] || fail "parent profile lacks burn"
go_reads "$WORK/out/cpu.pb.gz" burn
pass "300 forks, 6 child profiles, parent burn=${w}ns"
