#!/usr/bin/env bash
# bench/trace.sh - the runtime tracer's costs, printed as tables.
#
#   1. Cost per event: bench/trace_cost (linked to libscry) times tight loops
#      of scry_region_begin/end pairs, scry_log calls and task begin/end
#      pairs, EVENTS events each, with tracing off and with a trace being
#      written to a file in /tmp; the cost of an event is on minus off. With
#      tracing off it also gives ns per call against an empty loop and
#      against the cheapest call into libscry. Two placements: the whole
#      process pinned to CPU with taskset (the writer thread shares it), and
#      only the recording thread pinned there (the writer runs on another
#      CPU, at the same time). COST_ROUNDS runs (processes) of each, each
#      the best of REPEATS in-process repeats, kinds interleaved and each
#      off then on; the tables give the median over runs and min..max (min:
#      the best).
#      With the defaults (5 runs of 1 repeat) that is the best of 5 runs of
#      EVENTS events, and their median and spread.
#      Events are recorded in batches the buffers hold and every trace is
#      read back, so the drops are counted, not assumed (see trace_cost.c).
#      Then once: EVENTS region events back to back in one session, which
#      outruns the writer: the drop rate and the writer's throughput (the
#      writer on another CPU).
#   2. The demo (examples/demo.c, `make demo`'s program; 4 workers, 2 s of
#      wall time, so it is not pinned) under
#        none       no scry
#        scry       scry run -p cpu
#        mutex-block  scry run -p cpu,mutex,block (default rates): a reference,
#                   since a trace switches on the same bookkeeping of lock
#                   waits that these profiles use (profile/contention.c)
#        trace      scry run -p cpu --trace T (default trace settings)
#        trace-all  the same with SCRY_TRACE_STACKS=1 and
#                   SCRY_TRACE_ALLOC_MIN=ALLOC_MIN (1: every allocation):
#                   every event on, each lock wait and allocation with its
#                   stack
#      The demo runs for a fixed time, so its cost is CPU per record: its own
#      CPU time (getrusage before exit, all threads, so the tracer's writer
#      thread and the profiler are in it) over the records it handled.
#   3. The lock-heavy workload: bench/lock_work contended WORK (as
#      bench/lock.sh runs it: a fixed amount of work, 4 threads, one shared
#      mutex, cond-var hand-offs), same configurations; its CPU seconds.
#   4. The traces of 2 and 3 read back (bench/trace_stat): events, bytes,
#      the span from first to last event, drops.
# ROUNDS interleaved rounds for 2 and 3: in each round every (configuration,
# workload) pair runs once, in a shuffled order. "paired" is the median over
# rounds of (run / the baseline's run in the same round), which cancels slow
# drifts of the machine; its spread is min..max.
#
# Usage: bench/trace.sh [ROUNDS] (default 7). Needs `make` first (build/scry,
# build/libscry.so, build/examples/demo, build/bench/{trace_cost,trace_stat,
# lock_work}). Environment: BUILD (build dir), EVENTS (10000000), REPEATS (1),
# COST_ROUNDS (5), BATCH (200000 events per trace session in part 1), CPU
# (the last CPU), DEMO_SECONDS (2), WORK (1.5), ALLOC_MIN (1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-7}
B=${BUILD:-build}
SCRY=$B/scry
COST=$B/bench/trace_cost
TSTAT=$B/bench/trace_stat
LOCK=$B/bench/lock_work
DEMO=$B/examples/demo
EVENTS=${EVENTS:-10000000}
REPEATS=${REPEATS:-1}
COST_ROUNDS=${COST_ROUNDS:-5}
BATCH=${BATCH:-200000}
CPU=${CPU:-$(($(nproc) - 1))}
DEMO_SECONDS=${DEMO_SECONDS:-2}
WORK=${WORK:-1.5}
ALLOC_MIN=${ALLOC_MIN:-1}
TMP=$(mktemp -d /tmp/trace-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# Nothing from the caller's environment may switch a profile or a trace on
# behind the configurations' backs.
unset SCRY_PROFILES SCRY_TRACE SCRY_FLIGHT SCRY_TRACE_STACKS SCRY_TRACE_ALLOC_MIN \
  SCRY_TRACE_SYSCALL_NS SCRY_TRACE_BUFFER SCRY_HTTP

for f in "$SCRY" "$B/libscry.so" "$COST" "$TSTAT" "$LOCK" "$DEMO"; do
  [ -e "$f" ] || { echo "trace.sh: no $f; build first: make" >&2; exit 1; }
done

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
spread() { sort -g | awk -v f="${1:-%.3f}" 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf f ".." f, lo, hi }'; }
key() { awk -v k="$1" '$1 == k { print $2 }'; } # key -> value, from "key value" lines

# ---- 1. Cost per event --------------------------------------------------

# Two placements of the writer thread, both runs each round in a shuffled
# order: "pinned" is the whole process under taskset -c CPU (the writer
# shares the recording thread's CPU, and never runs while the loop does);
# "apart" pins only the recording thread (trace_cost -c), so the writer
# runs on another CPU, concurrently, as in a program with CPUs to spare,
# and the buffers' memory moves between the two CPUs' caches.
LOAD1=$(load)
: >"$TMP/cost"
modes=(pinned apart)
command -v taskset >/dev/null || { modes=(apart); echo "trace.sh: no taskset: only the 'apart' runs" >&2; }
for r in $(seq 1 "$COST_ROUNDS"); do
  for m in $(printf '%s\n' "${modes[@]}" | shuf); do
    echo "cost round $r/$COST_ROUNDS $m: trace_cost -n $EVENTS -r $REPEATS -b $BATCH" >&2
    case $m in
    pinned) cmd=(taskset -c "$CPU" "$COST") ;;
    apart) cmd=("$COST" -c "$CPU") ;;
    esac
    "${cmd[@]}" -n "$EVENTS" -r "$REPEATS" -b "$BATCH" -o "$TMP/cost.pftrace" >"$TMP/cost.$m.$r" ||
      { echo "trace.sh: trace_cost failed (round $r, $m)" >&2; exit 1; }
    awk -v r="$r" -v m="$m" '{ print r, m, $1, $2 }' "$TMP/cost.$m.$r" >>"$TMP/cost"
  done
done
echo "sustained: trace_cost -s -c $CPU -n $EVENTS" >&2
"$COST" -s -c "$CPU" -n "$EVENTS" -o "$TMP/cost.pftrace" >"$TMP/sustained" 2>"$TMP/sustained.err" ||
  { echo "trace.sh: trace_cost -s failed" >&2; exit 1; }
costcol() { awk -v m="$1" -v k="$2" '$2 == m && $3 == k { print $4 }' "$TMP/cost"; } # mode key
costsum() { costcol "$1" "$2" | awk '{ s += $1 } END { print s + 0 }'; }

# ---- 2 and 3. The demo and the lock workload -----------------------------

configs=(none scry mutex-block trace trace-all)
launch() { # config round workload cmd... -> the program's stdout; scry's stderr in $TMP/err
  local c=$1 r=$2 w=$3
  shift 3
  local t="$TMP/$w.$c.$r.pftrace"
  rm -rf "$TMP/s"
  case $c in
  none) "$@" 2>"$TMP/err" ;;
  scry) "$SCRY" run -o "$TMP/s" -p cpu -- "$@" 2>"$TMP/err" ;;
  mutex-block) "$SCRY" run -o "$TMP/s" -p cpu,mutex,block -- "$@" 2>"$TMP/err" ;;
  trace) "$SCRY" run -o "$TMP/s" -p cpu --trace "$t" -- "$@" 2>"$TMP/err" ;;
  trace-all)
    SCRY_TRACE_STACKS=1 SCRY_TRACE_ALLOC_MIN=$ALLOC_MIN \
      "$SCRY" run -o "$TMP/s" -p cpu --trace "$t" -- "$@" 2>"$TMP/err"
    ;;
  esac
}

stats() { # workload config round -> a line of trace figures in $TMP/tstats; the trace removed
  local t="$TMP/$1.$2.$3.pftrace" out lost
  [ -f "$t" ] || { echo "trace.sh: $1 $2 round $3 wrote no trace" >&2; return; }
  out=$("$TSTAT" "$t" || true)
  # what scry itself said it dropped, at the end of the trace
  lost=$(sed -n 's/.*trace: \([0-9]*\) events were dropped.*/\1/p' "$TMP/err" | tail -1)
  echo "$1 $2 $3 $(key events <<<"$out") $(key bytes <<<"$out") $(key span_seconds <<<"$out") \
$(key dropped_count <<<"$out") ${lost:-0} $(key malformed <<<"$out")" >>"$TMP/tstats"
  rm -f "$t"
}

run() { # config workload round -> appends to $TMP/results
  local c=$1 w=$2 r=$3 out v
  case $w in
  demo)
    out=$(launch "$c" "$r" demo "$DEMO" "$DEMO_SECONDS" || true)
    # demo: 281536 records in 2.0 s (3.55 s of CPU), cache hits ...
    v=$(sed -n 's/^demo: \([0-9]*\) records in [0-9.]* s (\([0-9.]*\) s of CPU).*/\1 \2/p' <<<"$out")
    [ -n "$v" ] && v=$(awk -v n="${v% *}" -v c="${v#* }" -v s="$DEMO_SECONDS" \
      'BEGIN { printf "%.4f %.0f %.2f", c * 1e6 / n, n / s, c }')
    ;;
  lock)
    out=$(launch "$c" "$r" lock "$LOCK" contended "$WORK" || true)
    v=$(awk '/^cpu_seconds/ { c = $2 } /^wall_seconds/ { w = $2 } END { if (c != "") print c, w }' <<<"$out")
    ;;
  esac
  if [ -z "$v" ]; then
    echo "round $r/$ROUNDS $c $w FAILED (no figure): $(tail -2 "$TMP/err" | tr '\n' ' ')" >&2
    return
  fi
  echo "$w $c $r $v" >>"$TMP/results" # workload config round figure...
  case $w in
  demo) echo "round $r/$ROUNDS $c demo: ${v%% *} us CPU/record ($(cut -d' ' -f2 <<<"$v") records/s)" >&2 ;;
  lock) echo "round $r/$ROUNDS $c lock: ${v% *} s CPU" >&2 ;;
  esac
  case $c in trace | trace-all) stats "$w" "$c" "$r" ;; esac
}

LOAD2=$(load)
echo "warm-up..." >&2
launch none 0 demo "$DEMO" 0.3 >/dev/null || true
launch none 0 lock "$LOCK" contended 0.2 >/dev/null || true
: >"$TMP/results"
: >"$TMP/tstats"
for r in $(seq 1 "$ROUNDS"); do
  for job in $(for c in "${configs[@]}"; do echo "$c:demo"; echo "$c:lock"; done | shuf); do
    run "${job%:*}" "${job#*:}" "$r"
  done
done
LOAD3=$(load)

col() { awk -v w="$1" -v c="$2" -v k="$3" '$1 == w && $2 == c { print $k }' "$TMP/results"; }
paired() { # workload config baseline -> per round: config's figure / baseline's figure
  awk -v w="$1" -v c="$2" -v b="$3" '$1 == w && $2 == b { n[$3] = $4 } $1 == w && $2 == c { v[$3] = $4 }
    END { for (r in v) if (r in n) print v[r] / n[r] }' "$TMP/results"
}
tcol() { awk -v w="$1" -v c="$2" -v k="$3" '$1 == w && $2 == c { print $k }' "$TMP/tstats"; }
pct() { awk -v x="$1" 'BEGIN { if (x == "") print "-"; else printf "%+.2f%%", (x - 1) * 100 }'; }

# ---- Tables -------------------------------------------------------------

echo
echo "## 1. Cost per event: bench/trace_cost -n $EVENTS -r $REPEATS -b $BATCH, CPU $CPU, $COST_ROUNDS runs"
echo
echo "Each run: best of $REPEATS in-process repeat(s) of $EVENTS events per kind, timed"
echo "as the recording thread's CPU time; kinds interleaved, each off then on. Two"
echo "placements each round: pinned = taskset -c $CPU on the whole process (the writer"
echo "thread shares the CPU); apart = only the recording thread pinned to CPU $CPU"
echo "(trace_cost -c), the writer on another CPU. Cells: median over the $COST_ROUNDS"
echo "runs [min..max]. off: ns per call with no trace running; over empty: that minus"
echo "an empty loop turn (a compiler barrier); over call: minus a call of"
echo "scry_trace_enabled() (the cheapest call into libscry). on: ns per event with a"
echo "trace written to /tmp, in sessions of $BATCH events, each written out before"
echo "the next starts. cost: on - off (the target). writer: the writer thread's CPU"
echo "per event kept. B/event: trace bytes per event. Load average before: $LOAD1."
echo
printf '| %-6s | %-6s | %-20s | %-20s | %-20s | %-20s | %-20s | %-18s | %-7s | %-7s |\n' kind placed \
  "off ns/call" "over empty" "over call" "on ns/event" "cost ns/event" "dropped of" "writer" "B/event"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "--------" "--------" "----------------------" \
  "----------------------" "----------------------" "----------------------" "----------------------" \
  "--------------------" "---------" "---------"
fmt() { printf '%.2f [%s]' "$(costcol "$1" "$2" | median)" "$(costcol "$1" "$2" | spread %.2f)"; }
for k in region log task; do
  for m in "${modes[@]}"; do
    printf '| %-6s | %-6s | %-20s | %-20s | %-20s | %-20s | %-20s | %-18s | %7.0f | %7.2f |\n' "$k" "$m" \
      "$(fmt "$m" "off_${k}_ns_per_call")" "$(fmt "$m" "off_${k}_added_ns_per_call")" \
      "$(fmt "$m" "off_${k}_over_call_ns_per_call")" "$(fmt "$m" "on_${k}_ns_per_event")" \
      "$(fmt "$m" "cost_${k}_ns_per_event")" "$(costsum "$m" "dropped_$k") of $(costsum "$m" "recorded_$k")" \
      "$(costcol "$m" "writer_${k}_ns_per_event" | median)" "$(costcol "$m" "bytes_per_event_$k" | median)"
  done
done
m=${modes[0]}
echo
echo "References ($m, medians): an empty loop turn $(costcol "$m" empty_ns_per_turn | median) ns; a call of"
echo "scry_trace_enabled() $(costcol "$m" call_ns_per_call | median) ns; a TSC read (the trace clock) $(costcol "$m" rdtsc_ns | median) ns."
echo "dropped: events recorded but missing from the traces read back, over every run."
dit=0
for k in region log task; do for m in "${modes[@]}"; do dit=$((dit + $(costsum "$m" "dropped_in_trace_$k"))); done; done
echo "The traces' own 'dropped events' instants counted $dit in all."
echo
S=$TMP/sustained
echo "Sustained: $EVENTS region events back to back in one session (default 16 MiB of"
echo "buffers), trace_cost -s: $(key sustained_ns_per_event <"$S") ns per event recorded, kept"
echo "$(key sustained_kept <"$S") of $(key sustained_recorded <"$S") (drop rate $(key sustained_drop_rate <"$S"));"
echo "the trace's own 'dropped events' instants count $(key sustained_dropped_in_trace <"$S"), and scry said at"
echo "the stop: $(sed -n 's/.*trace: \([0-9]*\) events were dropped.*/\1/p' "$TMP/sustained.err" | tail -1) dropped (those lost at the end have no later record to carry them). Writer:"
echo "$(key sustained_writer_ns_per_kept_event <"$S") ns of CPU per event kept, $(key sustained_kept_events_per_second <"$S") events/s kept"
echo "over $(key sustained_wall_seconds <"$S") s (the loop and the final drain)."

workload_table() { # workload unit title
  local w=$1
  echo
  echo "$3"
  echo
  printf '| %-13s | %12s | %-20s | %9s | %-20s | %9s | %-20s |\n' configuration "$2" "range" "vs none" \
    "paired spread" "vs scry" "paired spread"
  printf '|%s|%s|%s|%s|%s|%s|%s|\n' "---------------" "--------------" "----------------------" "-----------" \
    "----------------------" "-----------" "----------------------"
  for c in "${configs[@]}"; do
    [ -n "$(col "$w" "$c" 4)" ] || continue
    local m vn vs sn ss
    m=$(col "$w" "$c" 4 | median)
    vn=$(paired "$w" "$c" none | median)
    sn=$(paired "$w" "$c" none | spread)
    vs=-
    ss=-
    case $c in mutex-block | trace | trace-all)
      vs=$(pct "$(paired "$w" "$c" scry | median)")
      ss=$(paired "$w" "$c" scry | spread)
      ;;
    esac
    printf '| %-13s | %12.4f | %-20s | %9s | %-20s | %9s | %-20s |\n' "$c" "$m" "$(col "$w" "$c" 4 | spread)" \
      "$(pct "$vn")" "$sn" "$vs" "$ss"
  done
}

echo
echo "Load average before parts 2-3: $LOAD2; after: $LOAD3. trace-all: SCRY_TRACE_STACKS=1"
echo "SCRY_TRACE_ALLOC_MIN=$ALLOC_MIN. vs none / vs scry: median paired ratio, as +%."
workload_table demo "us CPU/rec" "## 2. The demo: examples/demo $DEMO_SECONDS, $ROUNDS interleaved rounds, CPU us per record"
echo
echo "records/s (median): $(for c in "${configs[@]}"; do printf '%s %.0f; ' "$c" "$(col demo "$c" 5 | median)"; done)"
workload_table lock "CPU s" "## 3. Lock-heavy: bench/lock_work contended $WORK, $ROUNDS interleaved rounds, CPU seconds"

echo
echo "## 4. Trace volume (bench/trace_stat on each run's trace; medians over rounds)"
echo
echo "events and bytes per second: over the span from the first to the last event."
echo "dropped: the traces' 'dropped events' instants (sum of counts) / what scry said"
echo "at exit ('N events were dropped'), over every round."
echo
printf '| %-8s | %-13s | %12s | %12s | %12s | %10s | %8s | %-13s |\n' workload configuration events \
  "events/s" "MB/s" "B/event" "span s" dropped
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "----------" "---------------" "--------------" "--------------" "--------------" \
  "------------" "----------" "---------------"
for w in demo lock; do
  for c in trace trace-all; do
    [ -n "$(tcol "$w" "$c" 4)" ] || continue
    ev=$(tcol "$w" "$c" 4 | median)
    sp=$(tcol "$w" "$c" 6 | median)
    eps=$(awk -v w="$w" -v c="$c" '$1 == w && $2 == c && $6 > 0 { print $4 / $6 }' "$TMP/tstats" | median)
    bps=$(awk -v w="$w" -v c="$c" '$1 == w && $2 == c && $6 > 0 { print $5 / $6 / 1e6 }' "$TMP/tstats" | median)
    bpe=$(awk -v w="$w" -v c="$c" '$1 == w && $2 == c && $4 > 0 { print $5 / $4 }' "$TMP/tstats" | median)
    d1=$(tcol "$w" "$c" 7 | awk '{ s += $1 } END { print s + 0 }')
    d2=$(tcol "$w" "$c" 8 | awk '{ s += $1 } END { print s + 0 }')
    bad=$(tcol "$w" "$c" 9 | awk '{ s += $1 } END { print s + 0 }')
    printf '| %-8s | %-13s | %12.0f | %12.0f | %12.2f | %10.2f | %8.3f | %-13s |\n' "$w" "$c" "$ev" "$eps" \
      "$bps" "$bpe" "$sp" "$d1 / $d2"
    [ "$bad" = 0 ] || echo "($w $c: $bad traces could not be read to the end)"
  done
done

# ---- Summary -------------------------------------------------------------

met() { awk -v x="$1" -v t="$2" 'BEGIN { print (x <= t) ? "met" : "missed" }'; }
echo
echo "## Summary"
echo
printf '| %-54s | %-8s | %-18s | %-7s |\n' target goal measured result
printf '|%s|%s|%s|%s|\n' "--------------------------------------------------------" "----------" "--------------------" "---------"
for k in region log task; do
  for m in "${modes[@]}"; do
    # the best of the runs, as the target is stated ("best of 5 runs"); the median next to it
    v=$(costcol "$m" "cost_${k}_ns_per_event" | sort -g | head -1)
    md=$(costcol "$m" "cost_${k}_ns_per_event" | median)
    printf '| %-54s | %-8s | %-18s | %-7s |\n' "cost per event, no stack ($k, $m): best (median)" "<= 15 ns" \
      "$(printf '%.2f (%.2f) ns' "$v" "$md")" "$(met "$v" 15)"
  done
done
m=${modes[0]}
for k in region log task; do
  v=$(costcol "$m" "off_${k}_added_ns_per_call" | median)
  c=$(costcol "$m" "off_${k}_over_call_ns_per_call" | median)
  printf '| %-54s | %-8s | %-18s | %-7s |\n' "tracing off ($k): ns/call over empty loop / call" "~0" \
    "$(printf '%.2f / %.2f ns' "$v" "$c")" "-"
done
for base in scry none; do
  v=$(paired demo trace-all "$base" | median)
  if [ -n "$v" ]; then
    x=$(awk -v v="$v" 'BEGIN { print (v - 1) * 100 }')
    printf '| %-54s | %-8s | %-18s | %-7s |\n' "demo, every event on, vs $base" "<= 2%" "$(pct "$v")" "$(met "$x" 2)"
  fi
done
for base in scry none; do
  v=$(paired lock trace-all "$base" | median)
  if [ -n "$v" ]; then
    printf '| %-54s | %-8s | %-18s | %-7s |\n' "lock workload, every event on, vs $base" "-" "$(pct "$v")" "-"
  fi
done
