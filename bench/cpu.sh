#!/usr/bin/env bash
# bench/cpu.sh - the CPU profiler's overhead, printed as a table.
#
#   1. cpu_work (single-threaded, ~3 s of CPU, pinned to one CPU) without a profiler, with scry
#      at 100 Hz and 1000 Hz, with gperftools' libprofiler at 100 Hz and
#      1000 Hz, and with perf record -g where perf works: RUNS interleaved
#      rounds, the median of the workload's own CPU time (getrusage before
#      exit, all threads), and its ratio to the median without a profiler.
#   2. The cost of one sample: sample_cost under scry (each unwinder: hybrid,
#      fp, libunwind), against the same loop with an empty handler and with the
#      signal ignored (the cost of sending it, which a timer does not pay).
#   3. The handler's own work without any signal: bench/handler_cost (its
#      frame-pointer chain; bench/unwind.sh prints all of it).
#
# Usage: bench/cpu.sh [RUNS] (default 5). Needs `make` first.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
B=${BUILD:-build}
SCRY=$B/scry
WORK_BIN=$B/bench/cpu_work
ROUNDS=${ROUNDS:-120}
# Pin to the last CPU where taskset exists: migrations add noise.
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c "$(($(nproc) - 1))")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PROFILER=$(ls /usr/lib/*/libprofiler.so.0 /usr/lib/*/libprofiler.so 2>/dev/null | head -1 || true)
have_perf=0
if command -v perf >/dev/null && perf record -q -o "$TMP/p.data" -F 100 -g -- true >/dev/null 2>&1; then
  have_perf=1
fi

configs=(none scry100 scry1000)
[ -n "$PROFILER" ] && configs+=(gperf100 gperf1000)
[ "$have_perf" = 1 ] && configs+=(perf100)

run() { # config -> prints cpu_seconds
  local out
  local WORK="${PIN[*]} $WORK_BIN $ROUNDS"
  # shellcheck disable=SC2086
  case $1 in
  none) out=$($WORK) ;;
  scry100) out=$("$SCRY" run -o "$TMP/s" --cpu-hz 100 -- $WORK 2>/dev/null) ;;
  scry1000) out=$("$SCRY" run -o "$TMP/s" --cpu-hz 1000 -- $WORK 2>/dev/null) ;;
  gperf100) out=$(LD_PRELOAD=$PROFILER CPUPROFILE=$TMP/g.prof CPUPROFILE_FREQUENCY=100 $WORK 2>/dev/null) ;;
  gperf1000) out=$(LD_PRELOAD=$PROFILER CPUPROFILE=$TMP/g.prof CPUPROFILE_FREQUENCY=1000 $WORK 2>/dev/null) ;;
  perf100) out=$(perf record -q -o "$TMP/p.data" -F 100 -g -- $WORK 2>/dev/null) ;;
  esac
  awk '/^cpu_seconds/ { print $2 }' <<<"$out"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "warm-up..." >&2
run none >/dev/null
for r in $(seq 1 "$RUNS"); do
  # a different order each round, so drift does not favour one config
  for c in $(printf '%s\n' "${configs[@]}" | shuf); do
    v=$(run "$c")
    echo "$c $v $r" >>"$TMP/results"
    echo "round $r/$RUNS $c ${v}s" >&2
  done
done

base=$(awk '$1 == "none" { print $2 }' "$TMP/results" | median)
echo
echo "## CPU profiler overhead: cpu_work, $RUNS interleaved rounds, CPU seconds"
echo
echo "ratio: median CPU time over the median without a profiler. paired: the median"
echo "over rounds of (this config / no profiler in the same round), which cancels"
echo "slow drifts of the machine. spread: min..max of the paired ratios."
echo
printf '| %-22s | %8s | %7s | %7s | %-15s |\n' configuration "CPU s" ratio paired spread
printf '|%s|%s|%s|%s|%s|\n' "------------------------" "----------" "---------" "---------" "-----------------"
for c in "${configs[@]}"; do
  m=$(awk -v c="$c" '$1 == c { print $2 }' "$TMP/results" | median)
  awk -v c="$c" '$1 == "none" { n[$3] = $2 } $1 == c { v[$3] = $2 } END { for (r in v) print v[r] / n[r] }' "$TMP/results" >"$TMP/pairs"
  pm=$(median <"$TMP/pairs")
  spread=$(sort -g "$TMP/pairs" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f..%.3f", lo, hi }')
  case $c in
  none) name="no profiler" ;;
  scry100) name="scry 100 Hz" ;;
  scry1000) name="scry 1000 Hz" ;;
  gperf100) name="gperftools 100 Hz" ;;
  gperf1000) name="gperftools 1000 Hz" ;;
  perf100) name="perf record -g 100 Hz" ;;
  esac
  printf '| %-22s | %8.4f | %7.4f | %7.4f | %-15s |\n' "$name" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')" "$pm" "$spread"
done
[ "$have_perf" = 1 ] || echo "(perf record: not available on this machine)"

echo
echo "## One sample: signal + 64-deep unwind + record (median of $RUNS runs of 100000 samples)"
echo
cost() { for _ in $(seq 1 "$RUNS"); do "$@" | awk '/^ns_per_sample/ { print $2 }'; done | median; }
base_ns=$(cost "$B/bench/sample_cost" --baseline)
send_ns=$(cost "$B/bench/sample_cost" --ignored)
scry_cost() { cost env LD_PRELOAD="$(realpath "$B/libscry.so")" SCRY_PROFILES=cpu SCRY_CPU_HZ=1 SCRY_UNWIND="$1" SCRY_OUT="$TMP/c" "$B/bench/sample_cost"; }
hy_ns=$(scry_cost hybrid)
fp_ns=$(scry_cost fp)
lu_ns=$(scry_cost libunwind)
printf '| %-44s | %8s |\n' measurement "ns"
printf '|%s|%s|\n' "----------------------------------------------" "----------"
printf '| %-44s | %8.1f |\n' "sending syscall alone (signal ignored)" "$send_ns"
printf '| %-44s | %8.1f |\n' "send + delivery to an empty handler" "$base_ns"
printf '| %-44s | %8.1f |\n' "scry sample, hybrid (signal incl.)" "$hy_ns"
printf '| %-44s | %8.1f |\n' "scry sample, frame pointers (signal incl.)" "$fp_ns"
printf '| %-44s | %8.1f |\n' "scry sample, libunwind (signal incl.)" "$lu_ns"
printf '| %-44s | %8.1f |\n' "timer-like sample, hybrid (send removed)" "$(awk -v a="$hy_ns" -v b="$send_ns" 'BEGIN { print a - b }')"
printf '| %-44s | %8.1f |\n' "scry handler alone, hybrid" "$(awk -v a="$hy_ns" -v b="$base_ns" 'BEGIN { print a - b }')"
printf '| %-44s | %8.1f |\n' "scry handler alone, frame pointers" "$(awk -v a="$fp_ns" -v b="$base_ns" 'BEGIN { print a - b }')"
printf '| %-44s | %8.1f |\n' "scry handler alone, libunwind" "$(awk -v a="$lu_ns" -v b="$base_ns" 'BEGIN { print a - b }')"

echo
echo "Estimated from the per-sample cost (timer-like sample, hybrid, the default), one busy thread:"
awk -v ns="$(awk -v a="$hy_ns" -v b="$send_ns" 'BEGIN { print a - b }')" 'BEGIN {
  printf "  100 Hz: %.4f%% of its CPU; 1000 Hz: %.3f%%\n", 100 * ns * 100 / 1e9, 100 * ns * 1000 / 1e9 }'

echo
echo "## The handler's own work, without a signal (bench/handler_cost, 64-deep chain)"
echo
"$B/bench/handler_cost" | awk '/^fp_ctx_.*_(ns|frames) / { sub(/^fp_ctx_/, "", $1); printf "  %-24s %s\n", $1, $2 }'
