#!/usr/bin/env bash
# Ground truth for the wall-clock profile (threads_truth.c, wall mode): the
# main thread spends about 1 s on CPU in on_cpu_work, 1 s in nanosleep in
# sleep_work and 1 s blocked in read on a pipe in pipe_work, and measures
# each phase itself:
#   - each function's wall time in the profile is within 10% of 1 s and of
#     the program's own measurement;
#   - on-cpu covers the first: at least 90% of on_cpu_work's wall time is
#     labelled on-cpu, and at most 2% of sleep_work's and pipe_work's (one
#     tick can catch the thread running on its way in or out of a wait);
#   - the writer thread's second of sleep is there too (every thread);
#   - go tool pprof reads it and can split by state.
# Run with the hybrid unwinder (the default) and with fp: pipe_work's caller
# is found past libc's frameless read wrapper with frame pointers too (the
# wrapper-caller scan). on_cpu_work reads the clock on every turn, so most
# of its samples are in the vDSO under libc's clock_gettime, which keeps no
# frame pointer: a frame-pointer walk goes from there to wall(), and only
# the hybrid run checks on_cpu_work.
source "$SCRY_TESTS/lib.sh"
for unwind in fp hybrid; do
  "$SCRY" run --unwind "$unwind" -p wall -o "$WORK/$unwind" -- "$SCRY_BIN/tests/threads_truth" wall \
    >"$WORK/out" 2>"$WORK/err" || fail "run failed: $(cat "$WORK/err")"
  f="$WORK/$unwind/wall.pb.gz"
  fns="on_cpu_work sleep_work pipe_work"
  [ "$unwind" = fp ] && fns="sleep_work pipe_work"
  for fn in $fns; do
    own=$(awk -v f="$fn" '$1 == f { print $2 }' "$WORK/out")
    w=$(where "$f" "$fn" 1)
    on=$(where "$f" "$fn" 1 state=on-cpu)
    echo "$unwind: $fn: wall ${w} ns (own ${own} ns), on-cpu ${on} ns"
    within "$w" 1000000000 0.90 1.10 || fail "$unwind: $fn has $w ns of wall time, not 1 s +-10%"
    within "$w" "$own" 0.90 1.10 || fail "$unwind: $fn has $w ns, not within 10% of its own $own ns"
    if [ "$fn" = on_cpu_work ]; then
      within "$on" "$w" 0.90 1.0001 || fail "$unwind: only $on of $fn's $w ns is on-cpu"
    else
      within "$on" "$w" 0 0.02 || fail "$unwind: $on of $fn's $w ns is labelled on-cpu"
    fi
  done
  wr=$(where "$f" writer 1)
  within "$wr" 1000000000 0.90 1.10 || fail "$unwind: the writer thread's sleep is $wr ns"
done
go tool pprof -top -tagfocus state=on-cpu "$f" 2>/dev/null | grep on_cpu_work >/dev/null ||
  fail "go tool pprof -tagfocus state=on-cpu does not show on_cpu_work"
go_reads "$f" sleep_work
pass "wall: 1 s on CPU, 1 s asleep, 1 s in read, each within 10%, on-cpu only where it ran"
