#!/usr/bin/env bash
# bench/heap.sh - the heap profiler's overhead, printed as tables.
#
#   1. heap_work (single-threaded, 40M mixed small malloc/free pairs, about
#      1 s with glibc, pinned to one CPU) with glibc's malloc alone, with
#      libscry.so preloaded but nothing asked of it (scry-off: the
#      interposers only forward), with SCRY_HEAP_TOTALS=1 (scry-totals: the
#      exact totals kept, no samples), with
#      `scry run -p heap` (one sample per 512 KiB on average), with
#      heaptrack, and with gperftools' tcmalloc (alone, sampling every
#      512 KiB, and its heap profiler HEAPPROFILE) and jemalloc (alone, and
#      prof:true sampling every 2^19 bytes), where they are installed: RUNS
#      interleaved rounds in a shuffled order, the median of the workload's
#      own CPU time (getrusage before exit, all threads), and its ratio to
#      the median of its baseline: glibc for scry and heaptrack, plain
#      tcmalloc and jemalloc for their own profilers (their allocators are
#      faster than glibc's; comparing their profilers with glibc would hide
#      the profilers' cost).
#      tcmalloc's HEAPPROFILE records every allocation with a libunwind
#      backtrace (several microseconds a pair here), so it runs SLOW_PAIRS
#      pairs, not PAIRS: every figure is per pair, so the row compares.
#   2. ns added per malloc/free pair over the baseline, from the same runs:
#      of the workload's own CPU, and of the total CPU of everything the
#      configuration ran (bash `times` of its children: heaptrack's
#      interpreter and compressor, profiles written at exit).
#   3. The hot path alone: bench/heap_pair (malloc and at once free a small
#      block) under the cheap configurations, ns per pair.
#   4. A realistic program: the demo for 3 s, not pinned (it has 5 threads),
#      CPU time per record processed, plain, with libscry.so preloaded and
#      no profile, and with the heap profile.
#   5. The targets (issue 18), from the runs of 1: ns added per pair by
#      scry-off (<= 1 ns), scry-heap's paired ratio to glibc (<= 1.10),
#      and scry-heap's ns added over glibc against jemalloc's sampler's
#      over jemalloc (within 1 ns), with tcmalloc's sampler beside it.
#
# heaptrack's tracing does not survive an exec, so taskset cannot sit
# between heaptrack and the workload: the whole of heaptrack (its
# interpreter and compressor too) is pinned to the workload's CPU.
#
# Usage: bench/heap.sh [RUNS] (default 5). Needs the build first
# (cmake --build build --target heap_work heap_pair). Environment:
# BUILD (build dir), PAIRS (40000000), SLOW_PAIRS (2000000).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
B=${BUILD:-build}
SCRY=$B/scry
WORK_BIN=$B/bench/heap_work
PAIR_BIN=$B/bench/heap_pair
PAIRS=${PAIRS:-40000000}
SLOW_PAIRS=${SLOW_PAIRS:-2000000}
HOT_PAIRS=20000000
# Pin to the last CPU where taskset exists: migrations add noise.
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c "$(($(nproc) - 1))")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for f in "$WORK_BIN" "$PAIR_BIN"; do
  [ -x "$f" ] || { echo "heap.sh: no $f; build first: cmake --build $B --target heap_work heap_pair" >&2; exit 1; }
done
skip() { echo "heap.sh: skipping $1: $2" >&2; }

configs=(glibc)
LIBSCRY=
if [ -x "$SCRY" ] && [ -f "$B/libscry.so" ]; then
  LIBSCRY=$(realpath "$B/libscry.so")
  configs+=(scry-off scry-totals)
  if "$SCRY" run -o "$TMP/probe" -p heap -- true >/dev/null 2>&1; then
    configs+=(scry-heap)
  else
    skip scry-heap "this scry refuses 'scry run -p heap' (no heap profile yet)"
  fi
else
  skip "scry-off and scry-heap" "no $SCRY or $B/libscry.so"
fi
if command -v heaptrack >/dev/null; then configs+=(heaptrack); else skip heaptrack "not installed"; fi
TCMALLOC=$(ls /usr/lib/*/libtcmalloc.so.4 2>/dev/null | head -1 || true)
if [ -n "$TCMALLOC" ]; then
  configs+=(tcmalloc tcmalloc-sampling tcmalloc-heapprofile)
else
  skip "tcmalloc rows" "no /usr/lib/*/libtcmalloc.so.4 (libgoogle-perftools4)"
fi
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1 || true)
if [ -n "$JEMALLOC" ]; then
  configs+=(jemalloc)
  # Built with profiling? Then stats_print lists opt.prof: true; a build
  # without it warns "Invalid conf pair: prof:true" instead. Prove it too:
  # prof_final must write a profile.
  stats=$(LD_PRELOAD=$JEMALLOC MALLOC_CONF=prof:true,stats_print:true "$WORK_BIN" 1 2>&1 || true)
  LD_PRELOAD=$JEMALLOC MALLOC_CONF=prof:true,lg_prof_sample:19,prof_final:true,prof_prefix:"$TMP/probe-jp" \
    "$WORK_BIN" 100000 >/dev/null 2>&1 || true
  if [[ $stats == *"opt.prof: true"* ]] && compgen -G "$TMP/probe-jp*.heap" >/dev/null; then
    configs+=(jemalloc-prof)
  else
    skip jemalloc-prof "$JEMALLOC was built without profiling (--enable-prof)"
  fi
else
  skip "jemalloc rows" "no /usr/lib/*/libjemalloc.so.2 (libjemalloc2)"
fi

pairs_of() { case $1 in tcmalloc-heapprofile) echo "$SLOW_PAIRS" ;; *) echo "$PAIRS" ;; esac; }
base_of() { case $1 in tcmalloc-*) echo tcmalloc ;; jemalloc-*) echo jemalloc ;; *) echo glibc ;; esac; }

# config bin pairs -> the program's stdout, then bash `times` (the second
# line of which is the user and system CPU of every child it waited for).
launch() {
  local c=$1 W=("${PIN[@]}" "$2" "$3")
  case $c in
  glibc) "${W[@]}" ;;
  scry-off) env -u SCRY_PROFILES -u SCRY_HTTP -u SCRY_HEAP_TOTALS LD_PRELOAD="$LIBSCRY" "${W[@]}" ;;
  scry-totals) env -u SCRY_PROFILES -u SCRY_HTTP SCRY_HEAP_TOTALS=1 LD_PRELOAD="$LIBSCRY" "${W[@]}" ;;
  scry-heap) "$SCRY" run -o "$TMP/s" -p heap -- "${W[@]}" 2>/dev/null ;;
  heaptrack) "${PIN[@]}" heaptrack -o "$TMP/ht" "$2" "$3" 2>/dev/null ;;
  tcmalloc) LD_PRELOAD=$TCMALLOC "${W[@]}" ;;
  tcmalloc-sampling) LD_PRELOAD=$TCMALLOC TCMALLOC_SAMPLE_PARAMETER=524288 "${W[@]}" ;;
  tcmalloc-heapprofile) LD_PRELOAD=$TCMALLOC HEAPPROFILE=$TMP/hp "${W[@]}" 2>/dev/null ;;
  jemalloc) LD_PRELOAD=$JEMALLOC "${W[@]}" ;;
  jemalloc-prof)
    LD_PRELOAD=$JEMALLOC MALLOC_CONF=prof:true,lg_prof_sample:19,prof_final:true,prof_prefix:"$TMP/jp" "${W[@]}" ;;
  esac
  times
}

run() { # config -> "own_cpu_seconds total_cpu_seconds", nothing if it failed
  local out
  rm -rf "$TMP/s" "$TMP"/ht* "$TMP"/hp* "$TMP"/jp*
  out=$(launch "$1" "$WORK_BIN" "$(pairs_of "$1")" || true)
  if [ "$1" = scry-heap ] && ! compgen -G "$TMP/s/heap*.pb.gz" >/dev/null; then
    echo "heap.sh: scry-heap wrote no $TMP/s/heap.pb.gz" >&2
  fi
  awk '/^cpu_seconds/ { own = $2 }
       /^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ && ++n == 2 {
         split($1, u, /[ms]/); split($2, s, /[ms]/); total = u[1] * 60 + u[2] + s[1] * 60 + s[2] }
       END { if (own != "") print own, total }' <<<"$out"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
field() { # config column(3 own, 4 total) -> that column over rounds, per pair
  awk -v c="$1" -v k="$2" '$1 == c { print $k / $5 }' "$TMP/results"
}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
echo "warm-up..." >&2
run glibc >/dev/null
for r in $(seq 1 "$RUNS"); do
  # a different order each round, so drift does not favour one config
  for c in $(printf '%s\n' "${configs[@]}" | shuf); do
    v=$(run "$c")
    if [ -z "$v" ]; then
      echo "round $r/$RUNS $c FAILED (no cpu_seconds)" >&2
      continue
    fi
    echo "$c $r $v $(pairs_of "$c")" >>"$TMP/results" # config round own total pairs
    echo "round $r/$RUNS $c ${v% *}s (total ${v#* }s)" >&2
  done
done

ns() { awk -v a="$1" 'BEGIN { printf "%.2f", a * 1e9 }'; }
echo
echo "## Heap profiler overhead: heap_work, $RUNS interleaved rounds, workload CPU seconds"
echo
echo "ns/pair: median CPU time over malloc/free pairs. ratio: that over the"
echo "baseline's (vs). paired: the median over rounds of (this config / its baseline"
echo "in the same round), which cancels slow drifts of the machine. spread:"
echo "min..max of the paired ratios. Load average before the runs: $LOAD (other"
echo "work on the pinned CPU shows as a wide spread)."
echo
printf '| %-22s | %-8s | %8s | %8s | %8s | %9s | %9s | %-19s |\n' configuration vs pairs "CPU s" ns/pair ratio paired spread
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "------------------------" "----------" "----------" "----------" "----------" "-----------" "-----------" "---------------------"
for c in "${configs[@]}"; do
  b=$(base_of "$c")
  [ -n "$(field "$c" 3)" ] || { printf '| %-22s | %-8s | %s\n' "$c" "$b" "(every run failed)"; continue; }
  m=$(awk -v c="$c" '$1 == c { print $3 }' "$TMP/results" | median)
  per=$(field "$c" 3 | median)
  bper=$(field "$b" 3 | median)
  awk -v c="$c" -v b="$b" '$1 == b { n[$2] = $3 / $5 } $1 == c { v[$2] = $3 / $5 }
    END { for (r in v) if (r in n) print v[r] / n[r] }' "$TMP/results" >"$TMP/pairs"
  pm=$(median <"$TMP/pairs")
  spread=$(sort -g "$TMP/pairs" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f..%.3f", lo, hi }')
  printf '| %-22s | %-8s | %8s | %8.4f | %8s | %9.4f | %9.4f | %-19s |\n' "$c" "$b" "$(pairs_of "$c")" "$m" \
    "$(ns "$per")" "$(awk -v a="$per" -v b="$bper" 'BEGIN { print a / b }')" "$pm" "$spread"
done

echo
echo "## ns added per malloc/free pair over the baseline (medians of the runs above)"
echo
echo "own: (median CPU s of the config - median CPU s of the baseline) / pairs * 1e9,"
echo "the workload's own CPU. total: the same with the total CPU of everything the"
echo "run started, waited for by the shell (profile writing at exit, heaptrack's"
echo "interpreter and compressor, scry's process)."
echo
printf '| %-22s | %-8s | %10s | %10s | %10s |\n' configuration vs "own ns" "total ns" "total CPU s"
printf '|%s|%s|%s|%s|%s|\n' "------------------------" "----------" "------------" "------------" "-------------"
for c in "${configs[@]}"; do
  b=$(base_of "$c")
  [ -n "$(field "$c" 3)" ] || continue
  own=$(awk -v a="$(field "$c" 3 | median)" -v b="$(field "$b" 3 | median)" 'BEGIN { print a - b }')
  tot=$(awk -v a="$(field "$c" 4 | median)" -v b="$(field "$b" 4 | median)" 'BEGIN { print a - b }')
  tm=$(awk -v c="$c" '$1 == c { print $4 }' "$TMP/results" | median)
  if [ "$c" = glibc ]; then
    printf '| %-22s | %-8s | %10s | %10s | %11.4f |\n' "$c" "-" "-" "-" "$tm"
  else
    printf '| %-22s | %-8s | %10s | %10s | %11.4f |\n' "$c" "$b" "$(ns "$own")" "$(ns "$tot")" "$tm"
  fi
done

echo
echo "## The hot path: heap_pair (malloc, touch, free at once; 16..128 bytes),"
echo "## median of $RUNS interleaved runs of $HOT_PAIRS pairs"
echo
hot=()
for c in "${configs[@]}"; do
  case $c in heaptrack | tcmalloc-heapprofile) ;; *) hot+=("$c") ;; esac
done
for r in $(seq 1 "$RUNS"); do
  for c in $(printf '%s\n' "${hot[@]}" | shuf); do
    rm -rf "$TMP/s" "$TMP"/jp*
    v=$(launch "$c" "$PAIR_BIN" "$HOT_PAIRS" | awk '/^ns_per_pair/ { print $2 }' || true)
    [ -n "$v" ] && echo "$c $v" >>"$TMP/hot"
    echo "hot path round $r/$RUNS $c ${v:-FAILED} ns" >&2
  done
done
printf '| %-22s | %-8s | %8s | %8s |\n' configuration vs ns/pair added
printf '|%s|%s|%s|%s|\n' "------------------------" "----------" "----------" "----------"
for c in "${hot[@]}"; do
  b=$(base_of "$c")
  m=$(awk -v c="$c" '$1 == c { print $2 }' "$TMP/hot" | median)
  mb=$(awk -v c="$b" '$1 == c { print $2 }' "$TMP/hot" | median)
  [ -n "$m" ] || continue
  if [ "$c" = glibc ]; then
    printf '| %-22s | %-8s | %8.2f | %8s |\n' "$c" "-" "$m" "-"
  else
    printf '| %-22s | %-8s | %8.2f | %8.2f |\n' "$c" "$b" "$m" "$(awk -v a="$m" -v b="$mb" 'BEGIN { print a - b }')"
  fi
done
echo "(heaptrack and tcmalloc-heapprofile left out: they record every call)"

echo
echo "## A realistic program: the demo (examples/demo.c: 4 threads parsing,"
echo "## hashing and caching records), its own CPU time per record before exit,"
echo "## $RUNS interleaved runs of 3 s"
echo
DEMO=$B/examples/demo
demo_run() { # config -> "records cpu_seconds"
  local out
  rm -rf "$TMP/d"
  case $1 in
  glibc) out=$({ "$DEMO" 3; times; } 2>/dev/null) ;;
  scry-off) out=$({ env -u SCRY_PROFILES -u SCRY_HTTP -u SCRY_HEAP_TOTALS LD_PRELOAD="$LIBSCRY" "$DEMO" 3; times; } 2>/dev/null) ;;
  scry-heap) out=$({ "$SCRY" run -o "$TMP/d" -p heap -- "$DEMO" 3; times; } 2>/dev/null) ;;
  esac
  # The demo's own CPU before exit ("(5.21 s of CPU)"): the one-time cost of
  # writing the profile at exit is not a cost per record.
  awk '/^demo:/ { rec = $2; cpu = $7; sub(/^\(/, "", cpu) } END { if (rec) print rec, cpu }' <<<"$out"
}
if [ -x "$DEMO" ] && [ -n "$LIBSCRY" ]; then
  for r in $(seq 1 "$RUNS"); do
    for c in $(printf '%s\n' glibc scry-off scry-heap | shuf); do
      v=$(demo_run "$c")
      [ -n "$v" ] && echo "$c $r $v" >>"$TMP/demo"
      echo "demo round $r/$RUNS $c ${v:-FAILED}" >&2
    done
  done
  printf '| %-10s | %12s | %14s | %9s | %-13s |\n' configuration records "CPU us/record" ratio "paired spread"
  printf '|%s|%s|%s|%s|%s|\n' "------------" "--------------" "----------------" "-----------" "---------------"
  for c in glibc scry-off scry-heap; do
    per=$(awk -v c="$c" '$1 == c { print $4 / $3 * 1e6 }' "$TMP/demo" | median)
    rec=$(awk -v c="$c" '$1 == c { print $3 }' "$TMP/demo" | median)
    bper=$(awk '$1 == "glibc" { print $4 / $3 * 1e6 }' "$TMP/demo" | median)
    spread=$(awk -v c="$c" '$1 == "glibc" { n[$2] = $4 / $3 } $1 == c { v[$2] = $4 / $3 }
      END { for (r in v) if (r in n) print v[r] / n[r] }' "$TMP/demo" |
      sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f..%.3f", lo, hi }')
    printf '| %-10s | %12s | %14.3f | %9.4f | %-13s |\n' "$c" "$rec" "$per" \
      "$(awk -v a="$per" -v b="$bper" 'BEGIN { print a / b }')" "$spread"
  done
else
  skip demo "no $DEMO or libscry.so"
fi

echo
echo "## Targets (issue 18), from the heap_work runs above"
echo
# own_ns CONFIG: median CPU per pair of CONFIG less its baseline's, in ns.
own_ns() { awk -v a="$(field "$1" 3 | median)" -v b="$(field "$(base_of "$1")" 3 | median)" 'BEGIN { printf "%.2f", (a - b) * 1e9 }'; }
# paired CONFIG: median over rounds of CONFIG / its baseline in the same round.
paired() {
  awk -v c="$1" -v b="$(base_of "$1")" '$1 == b { n[$2] = $3 / $5 } $1 == c { v[$2] = $3 / $5 }
    END { for (r in v) if (r in n) print v[r] / n[r] }' "$TMP/results" | median
}
have() { [ -n "$(field "$1" 3)" ] && [ -n "$(field "$(base_of "$1")" 3)" ]; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "met" : "MISSED" }'; }
printf '| %-58s | %9s | %8s | %-6s |\n' check measured target result
printf '|%s|%s|%s|%s|\n' "------------------------------------------------------------" "-----------" "----------" "--------"
if have scry-off; then
  v=$(own_ns scry-off)
  printf '| %-58s | %9s | %8s | %-6s |\n' "scry preloaded, nothing asked: ns added per pair" "$v" "<= 1" "$(verdict "$v" 1)"
fi
if have scry-totals; then
  printf '| %-58s | %9s | %8s | %-6s |\n' "scry, SCRY_HEAP_TOTALS=1 (no samples): ns added per pair" "$(own_ns scry-totals)" "-" "-"
fi
if have scry-heap; then
  v=$(paired scry-heap)
  printf '| %-58s | %9.4f | %8s | %-6s |\n' "scry heap profile at 524288: paired ratio to glibc" "$v" "<= 1.10" "$(verdict "$v" 1.10)"
  sh=$(own_ns scry-heap)
  printf '| %-58s | %9s | %8s | %-6s |\n' "scry heap profile: ns added per pair over glibc" "$sh" "-" "-"
  if have jemalloc-prof; then
    je=$(own_ns jemalloc-prof)
    d=$(awk -v a="$sh" -v b="$je" 'BEGIN { printf "%.2f", a - b }')
    printf '| %-58s | %9s | %8s | %-6s |\n' "jemalloc's sampler: ns added per pair over jemalloc" "$je" "-" "-"
    printf '| %-58s | %9s | %8s | %-6s |\n' "scry heap profile's ns added less jemalloc sampler's" "$d" "<= 1" "$(verdict "$d" 1)"
    printf '| %-58s | %9.4f | %8s | %-6s |\n' "jemalloc's sampler: paired ratio to jemalloc" "$(paired jemalloc-prof)" "-" "-"
  fi
  if have tcmalloc-sampling; then
    printf '| %-58s | %9s | %8s | %-6s |\n' "tcmalloc's sampler: ns added per pair over tcmalloc" "$(own_ns tcmalloc-sampling)" "-" "-"
    printf '| %-58s | %9.4f | %8s | %-6s |\n' "tcmalloc's sampler: paired ratio to tcmalloc" "$(paired tcmalloc-sampling)" "-" "-"
  fi
fi
