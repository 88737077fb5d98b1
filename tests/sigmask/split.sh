#!/usr/bin/env bash
# Two workers that block every signal (blockall split: one created under a
# full mask as xz does, one blocking everything itself), 3:1 by their own
# thread CPU clocks, under the CPU and wall profiles at once. Checks, against
# what the program measured in the same run:
#   - the CPU profile holds >= 95% of the process's CPU time (its
#     CLOCK_PROCESS_CPUTIME_ID after joining the workers), first_worker has
#     75% +- 2 points of the two workers' sampled time, and scry says
#     nothing was missed (no not-sampled or capture line);
#   - the program's signal handling is unchanged: each SIGUSR1 sent to the
#     process ran its handler on the one thread that unblocks it, each
#     SIGUSR2 was taken by the thread sigwaiting for it and that thread took
#     nothing else (no SIGPROF, no SIGVTALRM), and each worker reads its mask
#     back full;
#   - the wall profile has a stack (more than one frame) for every sample,
#     >= 90% of each worker thread's wall time reaches its worker function,
#     and the tick rate is kept: no late tick. Workers that cannot answer
#     leave every request unanswered and make every tick wait (the bug: 2011
#     late ticks on redis, half the samples without a stack). A busy machine
#     also delays some answers (a worker waiting for a CPU) and some of the
#     sampler's wake-ups, so a run may have up to 25% of either, and a run
#     with any late tick is tried again: one of 5 runs must have none.
# The CPU bounds are retried the same way: a loaded machine costs the CPU
# profile a few percent at times (cpu_share too: up to 8% with two busy
# loops and other tests beside it), where the bug loses nearly everything
# (xz: 10 ms of 15.6 s). Everything else must hold in every run.
source "$SCRY_TESTS/lib.sh"
T=${T:-1000}
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
for attempt in 1 2 3 4 5; do
  out="$WORK/run$attempt"
  "$SCRY" run -p cpu,wall -o "$out" -- "$SCRY_BIN/tests/blockall" split "$T" >"$out.txt" 2>"$out.err" ||
    fail "run failed: $(cat "$out.err")"
  r="$out.txt"
  # The program's own signal handling.
  eq "helper threads stuck" "$(val helpers_stuck "$r")" 0
  eq "SIGUSR1 handled by the listener" "$(val usr1_by_listener "$r")" "$(val usr1_sent "$r")"
  eq "SIGUSR1 handled elsewhere" "$(val usr1_elsewhere "$r")" 0
  eq "SIGUSR2 taken by the sigwaiting thread" "$(val waiter_usr2 "$r")" "$(val usr2_sent "$r")"
  eq "other signals the sigwaiting thread took (last: $(val waiter_other_sig "$r"))" "$(val waiter_other "$r")" 0
  eq "first worker reads its mask back full" "$(val first_sees_full "$r")" 1
  eq "second worker reads its mask back full" "$(val second_sees_full "$r")" 1
  # CPU.
  c="$out/cpu.pb.gz"
  proc=$(val process_cpu_ns "$r")
  t=$(total "$c")
  a=$(cum "$c" first_worker)
  b=$(cum "$c" second_worker)
  share=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (a + b) ? 100 * a / (a + b) : 0 }')
  echo "attempt $attempt: cpu profile ${t} ns of the process's ${proc} ns; first ${a} ns" \
    "(own $(val first_cpu_ns "$r")), second ${b} ns (own $(val second_cpu_ns "$r")); share ${share}%"
  # Timing: a miss is retried (see the top), its reason kept for the end.
  why=""
  within "$t" "$proc" 0.95 1.02 || why="the cpu profile holds $t ns of the process's $proc ns"
  awk -v s="$share" 'BEGIN { exit !(s >= 73 && s <= 77) }' || why="first_worker share $share%, want 75 +- 2"
  if grep -E 'not sampled|the cpu profile holds' "$out.err" ||
    "$DUMP" "$c" | grep -E '^comment .*(not sampled|the cpu profile holds)'; then
    fail "scry says CPU time was missed"
  fi
  # Wall.
  w="$out/wall.pb.gz"
  short=$("$DUMP" "$w" | awk -F' [|] ' '$1 ~ /^sample / { if (split($2, f, " ; ") < 2) n++ } END { print n + 0 }')
  eq "wall samples with no stack or one frame" "$short" 0
  for fn in first second; do
    thr=$(where "$w" "run_$fn" 1)
    wk=$(where "$w" "${fn}_worker" 1)
    echo "  wall: run_$fn ${thr} ns, ${fn}_worker ${wk} ns"
    within "$wk" "$thr" 0.90 1.0001 || fail "only $wk of run_$fn's $thr ns of wall time reach ${fn}_worker"
  done
  line=$("$DUMP" "$w" | grep '^comment ticks:')
  echo "  $line"
  read -r ticks late sent missing < <(sed -E 's/^comment ticks: ([0-9]+) \(([0-9]+) late.*signals sent: ([0-9]+), unanswered: ([0-9]+).*/\1 \2 \3 \4/' <<<"$line")
  within "$late" "$ticks" 0 0.25 || fail "$late of $ticks wall ticks late"
  within "$missing" "$sent" 0 0.25 || fail "$missing of $sent stack requests unanswered"
  [ "$late" = 0 ] || why="${why:+$why; }$late of $ticks wall ticks late"
  if [ -z "$why" ]; then
    pass "cpu $(awk -v a="$t" -v b="$proc" 'BEGIN { printf "%.1f", 100 * a / b }')% of the process's CPU," \
      "share $share%, signals handled where the program asked, wall: $ticks ticks, none late"
    exit 0
  fi
done
fail "no attempt met every bound; the last: $why"
