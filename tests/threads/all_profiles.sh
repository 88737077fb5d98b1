#!/usr/bin/env bash
# Every profile at once (cpu, heap, allocs, mutex, block, threads, wall) on
# the wall ground-truth program: it runs to its end (once, starting the wall
# profile with the heap profile on deadlocked in the stack table: a heap
# sample taken inside the table's own allocation), and every profile is
# written and reads.
source "$SCRY_TESTS/lib.sh"
set +e
timeout 60 "$SCRY" run -p cpu,heap,allocs,mutex,block,threads,wall -o "$WORK/o" -- \
  "$SCRY_BIN/tests/threads_truth_plain" wall >"$WORK/out" 2>"$WORK/err"
st=$?
set -e
eq "exit status with every profile on (124 is a hang)" "$st" 0
for p in cpu heap allocs mutex block threads wall; do
  "$DUMP" "$WORK/o/$p.pb.gz" >/dev/null || fail "$p.pb.gz was not written or does not read"
done
w=$(where "$WORK/o/wall.pb.gz" sleep_work 1)
within "$w" 1000000000 0.90 1.10 || fail "with every profile on, sleep_work has $w ns of wall time"
pass "every profile at once: the program ran to its end, 7 profiles written"
