#!/usr/bin/env bash
# A multi-threaded parent forks and exits while its child still runs. The
# parent's profile is cpu.pb.gz with parent_work; the child's is
# cpu.<pid>.pb.gz with child_work and none of the parent's samples.
source "$SCRY_TESTS/lib.sh"
out=$("$SCRY" run -o "$WORK/out" -- "$SCRY_BIN/tests/fork_running")
child=$(awk '/^child/ { print $2 }' <<<"$out")
[ -n "$child" ] || fail "no child pid printed"
p="$WORK/out/cpu.pb.gz"
[ -s "$p" ] || fail "parent profile missing"
for _ in $(seq 1 600); do [ -s "$WORK/out/cpu.$child.pb.gz" ] && break; sleep 0.1; done
c="$WORK/out/cpu.$child.pb.gz"
[ -s "$c" ] || fail "child profile cpu.$child.pb.gz not written"
pw=$(cum "$p" parent_work); cw=$(cum "$c" child_work); cpw=$(cum "$c" parent_work)
echo "parent: parent_work=${pw}ns; child $child: child_work=${cw}ns parent_work=${cpw}ns"
[ "$pw" -gt 0 ] || fail "parent profile has no parent_work"
[ "$cw" -gt 0 ] || fail "child profile has no child_work"
[ "$cpw" -eq 0 ] || fail "child profile carries the parent's samples"
go_reads "$p" parent_work
go_reads "$c" child_work
pass "parent and child profiles are separate and complete"
