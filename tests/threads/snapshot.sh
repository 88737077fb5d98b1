#!/usr/bin/env bash
# Ground truth for the thread profile (threads_truth.c, snapshot mode): 200
# threads parked in parked_here, one spinning in busy_here, the main thread
# asleep in main_sleeps, one writing the profile from dump_now:
#   - the profile counts exactly 200, 1, 1 and 1 at those functions, 203 in
#     all (scry's own threads are not the program's);
#   - labels: the parked threads are "cond wait" on one address, main is in
#     "sleep", the spinner "running" under the name it set
#     (pthread_setname_np);
#   - scry threads (debug=2) shows each parked thread with its state and the
#     file:line of parked_here; debug=1 groups them as one stack of 200;
#   - main's 1.5 s nanosleep was not cut short (rc 0, full length): scry
#     never signals a thread in a sleep;
#   - the dump's time and the threads' pauses are reported;
#   - go tool pprof reads the file and shows the state label.
# Run with both unwinders.
source "$SCRY_TESTS/lib.sh"
prog="$SCRY_BIN/tests/threads_truth"
src="$SCRY_TESTS/threads/threads_truth.c"
for unwind in fp hybrid; do
  f="$WORK/$unwind/threads.pb.gz"
  mkdir -p "$WORK/$unwind"
  "$SCRY" run --unwind "$unwind" -p threads -o "$WORK/$unwind/exit" -- "$prog" snapshot "$f" \
    >"$WORK/out" 2>"$WORK/err" || fail "run failed: $(cat "$WORK/out" "$WORK/err")"
  read -r _ slept _ rc < <(grep '^main_slept_ns' "$WORK/out")
  [ "$rc" = 0 ] || fail "$unwind: main's nanosleep returned $rc: scry cut the sleep short"
  [ "$slept" -ge 1500000000 ] || fail "$unwind: main slept $slept ns of 1.5 s"
  parked=$(cum_at "$f" parked_here threads)
  busy=$(cum_at "$f" busy_here threads)
  sleeping=$(cum_at "$f" main_sleeps threads)
  dumping=$(cum_at "$f" dump_now threads)
  all=$(total "$f")
  echo "$unwind: parked_here $parked, busy_here $busy, main_sleeps $sleeping, dump_now $dumping, total $all; main slept $slept ns"
  eq "$unwind: parked_here" "$parked" 200
  eq "$unwind: busy_here" "$busy" 1
  eq "$unwind: main_sleeps" "$sleeping" 1
  eq "$unwind: dump_now" "$dumping" 1
  eq "$unwind: total threads" "$all" 203
  eq "$unwind: sleep at main_sleeps" "$(where "$f" main_sleeps 0 state=sleep)" 1
  eq "$unwind: running at busy_here" "$(where "$f" busy_here 0 state=running)" 1

  "$SCRY" threads "$f" >"$WORK/d2" || fail "scry threads failed"
  line=$(grep -n 'pthread_cond_wait(&c, &m)' "$src" | head -1 | cut -d: -f1)
  n=$(awk -v line="$line" '
    /^thread [0-9]+ "[^"]*" \[cond wait on 0x[0-9a-f]+, [0-9]+ ms\]:$/ { hdr = 1; next }
    hdr && /^\tparked_here\t.*threads_truth\.c:[0-9]+$/ { split($0, a, ":"); if (a[length(a)] == line) n++ }
    { hdr = 0 }
    END { print n + 0 }' "$WORK/d2")
  eq "$unwind: debug=2 parked threads with state and parked_here:$line" "$n" 200
  grep -E '^thread [0-9]+ "[^"]*" \[sleep, [0-9]+ ms\]:$' "$WORK/d2" >/dev/null || fail "$unwind: main's sleep not shown"
  grep -E '^thread [0-9]+ "busy-worker" \[running\]:$' "$WORK/d2" >/dev/null ||
    fail "$unwind: the spinner is not shown running under the name it gave itself"
  "$SCRY" threads --debug 1 "$f" >"$WORK/d1"
  grep -E '^200 @( 0x[0-9a-f]+)+$' "$WORK/d1" >/dev/null || fail "$unwind: debug=1 has no group of 200"
  grep -F '# states: cond wait 200' "$WORK/d1" >/dev/null || fail "$unwind: debug=1 states line"
  c=$("$DUMP" "$f" | grep '^comment dump took')
  echo "$unwind: ${c#comment }"
  [[ "$c" =~ median\ [0-9.]+\ us ]] || fail "$unwind: the threads' pause is not reported: $c"
done
go tool pprof -tags "$f" 2>/dev/null | grep -F 'cond wait' >/dev/null || fail "go tool pprof -tags does not show the state"
go_reads "$f" parked_here
# Written at exit too (the -p threads profile; threads/exit_stack.sh checks
# what it shows).
[ -s "$WORK/hybrid/exit/threads.pb.gz" ] || fail "no threads profile at exit"
pass "threads: 200 parked, 1 busy, 1 asleep, 1 dumping, with states; sleep not cut short"
