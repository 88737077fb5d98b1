#!/usr/bin/env bash
# bench/metrics.sh - what metrics cost, printed as tables.
#
#   1. Updating a user metric: bench/metrics_work add N THREADS, N (100M)
#      additions in all on one counter, split over 1 and then 2 threads
#      that run at once: scry_counter_add against a plain non-atomic
#      increment and an atomic fetch_add of one shared word, and
#      scry_histogram_observe (1 thread). Each figure is the best of 5
#      in-process repeats, ns per addition as each thread sees it.
#      Target: scry_counter_add <= 3 ns, with 2 threads as with 1 (scry
#      adds into each thread's own storage, so the threads share no line).
#   2. Reading the runtime metrics: bench/metrics_work read 1000, each time
#      scry_metrics_all and scry_metrics_read of all of them; best and
#      median of 1000, us. Target: <= 20 us.
#   3. Scraping a real program: the demo (examples/demo.c, 5 threads, its
#      own CPU time printed before exit) for DEMO_SECONDS with libscry.so
#      preloaded and SCRY_HTTP=127.0.0.1:0, with and without a curl loop
#      fetching /metrics every second (as Prometheus would), and without
#      scry for reference; RUNS interleaved rounds in shuffled order. The
#      demo runs for a fixed time, so the figure that carries the cost is
#      its CPU time per record; the table shows the medians and the ratios
#      to the unscraped run.
#
# Usage: bench/metrics.sh [RUNS] (default 5). Needs the build first
# (cmake --build build --target metrics_work demo scry). Environment: BUILD
# (build dir), ADDS (100000000), READS (1000), DEMO_SECONDS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
B=${BUILD:-build}
BIN=$B/bench/metrics_work
DEMO=$B/examples/demo
ADDS=${ADDS:-100000000}
READS=${READS:-1000}
DEMO_SECONDS=${DEMO_SECONDS:-10}
[ -x "$BIN" ] || { echo "metrics.sh: no $BIN; build first: cmake --build $B --target metrics_work" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# The caller's environment must not start a server or a profile behind the
# configurations' backs.
unset SCRY_PROFILES SCRY_HTTP SCRY_HTTP_TOKEN
skip() { echo "metrics.sh: skipping $1: $2" >&2; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

# 1. Updates.
echo "metrics_work add $ADDS, 1 and 2 threads..." >&2
"$BIN" add "$ADDS" 1 >"$TMP/add"
"$BIN" add "$ADDS" 2 >>"$TMP/add"
ns() { awk -v w="$1" -v t="$2" '$1 == "add" && $2 == w && $3 == t { print $4 }' "$TMP/add"; }
echo "## Updating a counter: $ADDS additions on one counter, best of 5, ns per addition"
echo
echo "Each thread's view while the others run (wall time of a repeat over the"
echo "additions one thread made). plain: a relaxed load and store of a shared word"
echo "(what x++ compiles to; with 2 threads it loses updates, it is only the"
echo "floor). atomic: atomic_fetch_add on a shared word. $(nproc) CPUs, load"
echo "average before: $LOAD."
echo
printf '| %-32s | %9s | %9s | %-8s |\n' operation "1 thread" "2 threads" target
printf '|%s|%s|%s|%s|\n' "----------------------------------" "-----------" "-----------" "----------"
row() { # name way target
  local two
  two=$(ns "$2" 2)
  printf '| %-32s | %9s | %9s | %-8s |\n' "$1" "$(ns "$2" 1)" "${two:--}" "$3"
}
row "scry_counter_add" scry "<= 3 ns"
row "plain increment (reference)" plain "-"
row "atomic fetch_add (reference)" atomic "-"
row "scry_histogram_observe" observe "-"

# 2. Reading every runtime metric.
echo
"$BIN" read "$READS" >"$TMP/read"
read -r _ nm best med <"$TMP/read"
echo "## Reading every runtime metric: scry_metrics_all + scry_metrics_read of all $nm, $READS times"
echo
printf '| %-10s | %9s | %9s | %-9s |\n' metrics "best us" "median us" target
printf '|%s|%s|%s|%s|\n' "------------" "-----------" "-----------" "-----------"
printf '| %-10s | %9s | %9s | %-9s |\n' "$nm" "$best" "$med" "<= 20 us"

# 3. The demo, scraped every second or not.
echo
LIBSCRY=
[ -f "$B/libscry.so" ] && LIBSCRY=$(realpath "$B/libscry.so")
if [ ! -x "$DEMO" ] || [ -z "$LIBSCRY" ] || ! command -v curl >/dev/null; then
  skip "the demo scrape" "no $DEMO, $B/libscry.so or curl"
  exit 0
fi
demo_run() { # config -> "records cpu_seconds scrapes"
  local out pid port= scrapes=0
  case $1 in
  none)
    out=$("$DEMO" "$DEMO_SECONDS" 2>/dev/null)
    ;;
  http | scraped)
    SCRY_HTTP=127.0.0.1:0 LD_PRELOAD="$LIBSCRY" "$DEMO" "$DEMO_SECONDS" >"$TMP/d.out" 2>"$TMP/d.err" &
    pid=$!
    if [ "$1" = scraped ]; then
      for _ in $(seq 100); do
        port=$(sed -n 's|^scry: serving http://127.0.0.1:\([0-9]*\)/debug/pprof/$|\1|p' "$TMP/d.err")
        [ -n "$port" ] && break
        sleep 0.01
      done
      [ -n "$port" ] || echo "metrics.sh: no 'serving' line: $(cat "$TMP/d.err")" >&2
      while [ -n "$port" ] && kill -0 "$pid" 2>/dev/null; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/metrics")" = 200 ] &&
          scrapes=$((scrapes + 1))
        sleep 1
      done
    fi
    wait "$pid" || true
    out=$(cat "$TMP/d.out")
    ;;
  esac
  # The demo's own CPU time before exit, "(2.50 s of CPU)".
  awk -v s="$scrapes" '/^demo:/ { rec = $2; cpu = $7; sub(/^\(/, "", cpu) } END { if (rec) print rec, cpu, s }' <<<"$out"
}
configs=(none http scraped)
name_of() {
  case $1 in
  none) echo "no scry" ;;
  http) echo "scry, SCRY_HTTP, not scraped" ;;
  scraped) echo "scry, SCRY_HTTP, /metrics 1/s" ;;
  esac
}
: >"$TMP/demo"
for r in $(seq "$RUNS"); do
  for c in $(printf '%s\n' "${configs[@]}" | shuf); do
    v=$(demo_run "$c")
    [ -n "$v" ] && echo "$c $r $v" >>"$TMP/demo"
    echo "demo round $r/$RUNS $c ${v:-FAILED} (records, CPU s, scrapes)" >&2
  done
done
echo "## Scraping the demo: $DEMO_SECONDS s runs, $RUNS interleaved rounds, medians"
echo
echo "CPU s: the demo's own CPU time (all threads, scry's server included). CPU"
echo "ratio and per-record ratio: to the unscraped run's medians. paired: the"
echo "median over rounds of (this run's CPU per record / the unscraped run's in"
echo "the same round), with its min..max."
echo
printf '| %-30s | %7s | %9s | %7s | %13s | %9s | %10s | %-21s |\n' configuration scrapes records "CPU s" "CPU us/record" "CPU ratio" "per-record" "paired"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "--------------------------------" "---------" "-----------" "---------" \
  "---------------" "-----------" "------------" "-----------------------"
col() { awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$TMP/demo"; }
per() { awk -v c="$1" '$1 == c { print $4 / $3 * 1e6 }' "$TMP/demo"; }
bcpu=$(col http 4 | median)
bper=$(per http | median)
for c in "${configs[@]}"; do
  [ -n "$(col "$c" 3)" ] || { printf '| %-30s | %s\n' "$(name_of "$c")" "(every run failed)"; continue; }
  cpu=$(col "$c" 4 | median)
  p=$(per "$c" | median)
  paired=$(awk -v c="$c" '$1 == "http" { n[$2] = $4 / $3 } $1 == c { v[$2] = $4 / $3 }
    END { for (r in v) if (r in n) print v[r] / n[r] }' "$TMP/demo" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) printf "%.4f (%.3f..%.3f)", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }')
  printf '| %-30s | %7s | %9s | %7.2f | %13.3f | %9.4f | %10.4f | %-21s |\n' "$(name_of "$c")" \
    "$(col "$c" 5 | median)" "$(col "$c" 3 | median)" "$cpu" "$p" \
    "$(awk -v a="$cpu" -v b="$bcpu" 'BEGIN { print a / b }')" \
    "$(awk -v a="$p" -v b="$bper" 'BEGIN { print a / b }')" "$paired"
done
