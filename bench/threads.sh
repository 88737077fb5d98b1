#!/usr/bin/env bash
# bench/threads.sh - what watching many idle threads costs: the wall-clock
# profiler's CPU time and the thread dump's duration, printed as tables.
#
#   1. Wall profiler: bench/idle_threads N MODE SECONDS (N threads idle in
#      MODE, the main thread asleep) with no scry, and under
#      `scry run -p wall` (100 Hz), RUNS interleaved rounds. The program's
#      own CPU time over SECONDS (getrusage, every thread, scry's sampler
#      included) is the cost; the table shows the median, what the profiler
#      adds as a share of one core, and per thread per tick.
#      Modes: cond (a condition-variable wait: a worker pool with no work),
#      sleep (nanosleep), read (read on a pipe: a wait scry does not
#      interpose, so each tick reads the thread's CPU clock).
#   2. Thread dump: idle_threads N MODE writes the threads profile DUMPS
#      times; each file's comment says how long the snapshot took (every
#      thread's stack, state and name) and how long each signalled thread
#      was paused. With -p threads running, waiting threads publish their
#      stacks and are not signalled; without it (a dump asked through the API
#      alone) every thread is signalled.
#
# Usage: bench/threads.sh [RUNS] (default 5). Environment: BUILD (build),
# N (2000 threads), SECONDS_IDLE (10), DUMPS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
B=${BUILD:-build}
N=${N:-2000}
SECS=${SECONDS_IDLE:-10}
DUMPS=${DUMPS:-5}
BIN=$B/bench/idle_threads
LIB=$(realpath "$B/libscry.so")
[ -x "$BIN" ] || { echo "threads.sh: no $BIN; build first: cmake --build $B --target idle_threads scry" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
unset SCRY_PROFILES SCRY_WALL_HZ SCRY_TRACEBACK

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs" >&2
modes=(cond sleep read)
for r in $(seq "$RUNS"); do
  order=$(for m in "${modes[@]}"; do echo "none $m"; echo "wall $m"; done | shuf)
  while read -r c m; do
    if [ "$c" = none ]; then
      out=$("$BIN" "$N" "$m" "$SECS")
    else
      out=$(LD_PRELOAD="$LIB" SCRY_PROFILES=wall SCRY_OUT="$TMP/o" "$BIN" "$N" "$m" "$SECS")
    fi
    cpu=$(awk '{ for (i = 1; i < NF; i++) if ($i == "cpu_s") print $(i + 1) }' <<<"$out")
    echo "$cpu" >>"$TMP/$c.$m"
    echo "round $r/$RUNS $c $m: ${cpu} s CPU over ${SECS} s" >&2
  done <<<"$order"
done

echo "## Wall profiler, $N idle threads, ${SECS} s, 100 Hz: CPU time of the whole process (median of $RUNS interleaved runs)"
echo
echo "| idle in | no scry CPU s | -p wall CPU s | added, % of one core | per thread per tick |"
echo "|---------|---------------|---------------|----------------------|---------------------|"
for m in "${modes[@]}"; do
  a=$(median <"$TMP/none.$m")
  w=$(median <"$TMP/wall.$m")
  awk -v m="$m" -v a="$a" -v w="$w" -v s="$SECS" -v n="$N" 'BEGIN {
    d = w - a; printf "| %-7s | %13.4f | %13.4f | %19.2f%% | %16.0f ns |\n", m, a, w, 100 * d / s, d / (s * 100 * n) * 1e9 }'
done
echo

for c in threads none; do
  for m in cond read; do
    : >"$TMP/dump.$c.$m"
    for d in $(seq "$DUMPS"); do
      if [ "$c" = threads ]; then
        DUMP_TO="$TMP/d.pb.gz" LD_PRELOAD="$LIB" SCRY_PROFILES=threads SCRY_OUT="$TMP/o" "$BIN" "$N" "$m" 0.5 1 >/dev/null
      else
        DUMP_TO="$TMP/d.pb.gz" LD_PRELOAD="$LIB" SCRY_OUT="$TMP/o" "$BIN" "$N" "$m" 0.5 1 >/dev/null
      fi
      "$B/tests/pprof_dump" "$TMP/d.pb.gz" | sed -n 's/^comment dump took/dump took/p' >>"$TMP/dump.$c.$m"
    done
  done
done
echo "## Thread dump of $N idle threads ($DUMPS dumps each; ms of the snapshot, pause of each signalled thread)"
echo
echo "| idle in | threads profile running | dump ms, median (min..max) | signalled threads' pause, median of medians |"
echo "|---------|-------------------------|----------------------------|---------------------------------------------|"
for c in threads none; do
  for m in cond read; do
    f="$TMP/dump.$c.$m"
    ms=$(sed -n 's/^dump took \([0-9.]*\) ms.*/\1/p' "$f")
    p=$(sed -n 's/.*median \([0-9.]*\) us.*/\1/p' "$f" | median)
    mmed=$(median <<<"$ms")
    lo=$(sort -g <<<"$ms" | head -1)
    hi=$(sort -g <<<"$ms" | tail -1)
    printf "| %-7s | %-23s | %10s (%s..%s) | %10s us |\n" "$m" "$([ $c = threads ] && echo yes || echo "no (all signalled)")" "$mmed" "$lo" "$hi" "$p"
  done
done
