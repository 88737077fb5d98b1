#!/usr/bin/env bash
# bench/lock.sh - the mutex and block profiles' overhead, printed as tables.
#
# Configurations:
#   none              the plain program
#   scry-off          libscry.so preloaded, no profile on: the cost of the
#                     pthread interposers when they only pass calls through
#   scry-mutex-block  scry run -p mutex,block at the default rates (every
#                     event recorded)
#   scry-sampled      scry run -p mutex,block --block-rate 1000000
#                     --mutex-fraction 10 (a block sample every 1 ms blocked
#                     on average, one contention event in 10)
# RUNS interleaved rounds; in each round every (configuration, workload)
# pair runs once, in a shuffled order, so drift does not favour one config.
#
#   1. Uncontended: bench/lock_work uncontended UNC_PAIRS, one thread,
#      lock/unlock pairs on a mutex nobody else takes, pinned to the last
#      CPU. The program reports the best of 5 in-process repeats (thread CPU
#      time); the table shows the median of that over rounds, ns per pair,
#      and the ns it adds over none.
#   2. Contended: bench/lock_work contended WORK, 4 threads hashing
#      privately and updating a shared table under one mutex, with a
#      condition-variable hand-off every 64 iterations: a fixed amount of
#      work, not pinned (it needs 2 CPUs). The median of the workload's own
#      CPU time (getrusage before exit, all threads), its ratio to none's
#      median, and the paired ratio (per round) with its spread.
#
# Until scry has the mutex and block profiles, `scry run -p mutex,block` is
# refused: the script says so and skips those rows.
#
# Usage: bench/lock.sh [RUNS] (default 5). Needs the build first
# (cmake --build build --target lock_work scry). Environment: BUILD (build
# dir), UNC_PAIRS (50000000 pairs per repeat), WORK (1.5: the contended
# workload's SECONDS_OF_WORK, about 1.5 s of wall time with glibc on 2 CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
B=${BUILD:-build}
SCRY=$B/scry
BIN=$B/bench/lock_work
UNC_PAIRS=${UNC_PAIRS:-50000000}
WORK=${WORK:-1.5}
# Pin the single-threaded runs to the last CPU where taskset exists:
# migrations add noise.
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c "$(($(nproc) - 1))")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Nothing from the caller's environment may switch a profile on or change a
# rate behind the configurations' backs.
unset SCRY_PROFILES SCRY_BLOCK_RATE SCRY_MUTEX_FRACTION

[ -x "$BIN" ] || { echo "lock.sh: no $BIN; build first: cmake --build $B --target lock_work" >&2; exit 1; }
skip() { echo "lock.sh: skipping $1: $2" >&2; }

SAMPLED=(--block-rate 1000000 --mutex-fraction 10)
configs=(none)
LIBSCRY=
if [ -x "$SCRY" ] && [ -f "$B/libscry.so" ]; then
  LIBSCRY=$(realpath "$B/libscry.so")
  configs+=(scry-off)
  if "$SCRY" run -o "$TMP/p" -p mutex,block -- true >/dev/null 2>&1; then
    configs+=(scry-mutex-block)
    if "$SCRY" run -o "$TMP/p" -p mutex,block "${SAMPLED[@]}" -- true >/dev/null 2>&1; then
      configs+=(scry-sampled)
    else
      skip scry-sampled "this scry refuses '${SAMPLED[*]}'"
    fi
  else
    skip "scry-mutex-block and scry-sampled" "this scry refuses 'scry run -p mutex,block' (no mutex and block profiles yet)"
  fi
else
  skip "scry-off, scry-mutex-block and scry-sampled" "no $SCRY or $B/libscry.so"
fi

launch() { # config workload-args... -> the program's stdout
  local c=$1
  shift
  case $c in
  none) "$@" ;;
  scry-off) LD_PRELOAD="$LIBSCRY" "$@" ;;
  scry-mutex-block) "$SCRY" run -o "$TMP/s" -p mutex,block -- "$@" 2>/dev/null ;;
  scry-sampled) "$SCRY" run -o "$TMP/s" -p mutex,block "${SAMPLED[@]}" -- "$@" 2>/dev/null ;;
  esac
}

run() { # config unc|con -> the figure (ns_per_pair, or "cpu_seconds wall_seconds"); nothing if it failed
  local out
  rm -rf "$TMP/s"
  case $2 in
  unc)
    out=$(launch "$1" "${PIN[@]}" "$BIN" uncontended "$UNC_PAIRS" || true)
    awk '/^ns_per_pair/ { print $2 }' <<<"$out"
    ;;
  con)
    out=$(launch "$1" "$BIN" contended "$WORK" || true)
    awk '/^cpu_seconds/ { c = $2 } /^wall_seconds/ { w = $2 } END { if (c != "") print c, w }' <<<"$out"
    ;;
  esac
  case $1 in
  scry-mutex-block | scry-sampled)
    for p in mutex block; do
      compgen -G "$TMP/s/$p*.pb.gz" >/dev/null || echo "lock.sh: $1 ($2) wrote no $TMP/s/$p.pb.gz" >&2
    done
    ;;
  esac
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { # workload config column -> that column over rounds
  awk -v w="$1" -v c="$2" -v k="$3" '$1 == w && $2 == c { print $k }' "$TMP/results"
}
paired() { # workload config -> per round: config's figure / none's figure, sorted
  awk -v w="$1" -v c="$2" '$1 == w && $2 == "none" { n[$3] = $4 } $1 == w && $2 == c { v[$3] = $4 }
    END { for (r in v) if (r in n) print v[r] / n[r] }' "$TMP/results" | sort -g
}
paired_diff() { # workload config -> per round: config's figure - none's figure, sorted
  awk -v w="$1" -v c="$2" '$1 == w && $2 == "none" { n[$3] = $4 } $1 == w && $2 == c { v[$3] = $4 }
    END { for (r in v) if (r in n) print v[r] - n[r] }' "$TMP/results" | sort -g
}
spread() { awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.3f..%.3f", lo, hi }'; }

LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
echo "warm-up..." >&2
run none unc >/dev/null
run none con >/dev/null
: >"$TMP/results"
for r in $(seq 1 "$RUNS"); do
  # every (configuration, workload) pair once, in a different order each round
  for job in $(for c in "${configs[@]}"; do echo "$c:unc"; echo "$c:con"; done | shuf); do
    c=${job%:*}
    w=${job#*:}
    v=$(run "$c" "$w")
    if [ -z "$v" ]; then
      echo "round $r/$RUNS $c $w FAILED (no figure)" >&2
      continue
    fi
    echo "$w $c $r $v" >>"$TMP/results" # workload config round figure [wall]
    case $w in
    unc) echo "round $r/$RUNS $c uncontended ${v} ns/pair" >&2 ;;
    con) echo "round $r/$RUNS $c contended ${v% *} s CPU (${v#* } s wall)" >&2 ;;
    esac
  done
done

name_of() {
  case $1 in
  none) echo "none" ;;
  scry-off) echo "scry, no profile" ;;
  scry-mutex-block) echo "scry mutex,block" ;;
  scry-sampled) echo "scry mutex,block sampled" ;;
  esac
}

echo
echo "## Uncontended lock/unlock: lock_work uncontended $UNC_PAIRS, pinned, $RUNS interleaved rounds"
echo
echo "ns/pair: the median over rounds of each run's best of 5 repeats (thread CPU"
echo "time over $UNC_PAIRS pairs). added: that minus none's. paired spread: min..max"
echo "over rounds of (this run - none's run in the same round), ns. Load average"
echo "before the runs: $LOAD."
echo
printf '| %-26s | %8s | %8s | %-17s |\n' configuration ns/pair added "paired spread"
printf '|%s|%s|%s|%s|\n' "----------------------------" "----------" "----------" "-------------------"
base=$(col unc none 4 | median)
for c in "${configs[@]}"; do
  [ -n "$(col unc "$c" 4)" ] || { printf '| %-26s | %s\n' "$(name_of "$c")" "(every run failed)"; continue; }
  m=$(col unc "$c" 4 | median)
  if [ "$c" = none ]; then
    printf '| %-26s | %8.3f | %8s | %-17s |\n' "$(name_of "$c")" "$m" "-" "-"
  else
    printf '| %-26s | %8.3f | %8.3f | %-17s |\n' "$(name_of "$c")" "$m" \
      "$(awk -v a="$m" -v b="$base" 'BEGIN { print a - b }')" "$(paired_diff unc "$c" | spread)"
  fi
done

echo
echo "## Contended: lock_work contended $WORK (4 threads, one shared mutex, cond-var"
echo "## hand-offs; fixed work), not pinned, $RUNS interleaved rounds, workload CPU seconds"
echo
echo "CPU s: the median of the workload's own CPU time (user + system, all threads,"
echo "before exit). wall s: the median wall time of its threads. ratio: CPU s over"
echo "none's. paired: the median over rounds of (this run / none's run in the same"
echo "round), which cancels slow drifts of the machine. spread: min..max of the"
echo "paired ratios."
echo
printf '| %-26s | %8s | %8s | %7s | %7s | %-13s |\n' configuration "CPU s" "wall s" ratio paired spread
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------------------" "----------" "----------" "---------" "---------" "---------------"
base=$(col con none 4 | median)
for c in "${configs[@]}"; do
  [ -n "$(col con "$c" 4)" ] || { printf '| %-26s | %s\n' "$(name_of "$c")" "(every run failed)"; continue; }
  m=$(col con "$c" 4 | median)
  wm=$(col con "$c" 5 | median)
  pm=$(paired con "$c" | median)
  printf '| %-26s | %8.4f | %8.4f | %7.4f | %7.4f | %-13s |\n' "$(name_of "$c")" "$m" "$wm" \
    "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')" "$pm" "$(paired con "$c" | spread)"
done
case " ${configs[*]} " in
*" scry-mutex-block "*) ;;
*) echo "(scry mutex,block rows: not available from this scry yet)" ;;
esac
