#!/usr/bin/env bash
# bench/otel/run.sh - what spans cost the example services (examples/otel/)
# under wrk load, and that a bad collector does not slow the application.
#
#   bench/otel/run.sh [BUILD_DIR]        (default: build; about 2.5 minutes)
#   REPS=5 DURATION=3 CONNS=8 WORK=20 EXIT_WAIT=10 bench/otel/run.sh build-otel
#
# wrk (CONNS connections, DURATION seconds, /hash and /sort alternately)
# against front, which calls back for every request. Each run starts fresh
# processes. Needs wrk, node (the collector), and the built examples.
#
#   1. spans off (OTEL_SDK_DISABLED=true: scry_span_start returns NULL and
#      every span call does nothing) against spans on, exported by both
#      services to a local collector that answers 200 at once
#      (tests/otel/collector.js --sink); REPS runs of each, alternating.
#      Printed: each run, then the medians and the ratio on/off.
#   2. spans on with a bad collector: one that answers after 5 s, none at
#      all (nothing listens on the port), one that answers 503 (retry
#      later). The application's req/s and latency should match run 1's
#      "on"; the spans that could not be exported are dropped and counted
#      (from front's exit line).
#   "exit s": how long front and back took to exit on SIGTERM after the
#   load (they flush their spans); past EXIT_WAIT (10) s they are killed.
#
# WORK is the example's --work (CPU per request and side; 200 is about
# 1 ms): the default 20 (about 0.1 ms) keeps the work small next to the
# HTTP and span costs, so that the spans' share shows.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
REPS=${REPS:-5}
DURATION=${DURATION:-3}
CONNS=${CONNS:-8}
WORK=${WORK:-20}
EXIT_WAIT=${EXIT_WAIT:-10}
EX="$BUILD/examples/otel"
for t in wrk node curl; do command -v $t >/dev/null || { echo "run.sh: $t is not installed (scripts/deps.sh)" >&2; exit 1; }; done
[ -x "$EX/front" ] && [ -x "$EX/back" ] || { echo "run.sh: $EX/front and back are not built (cmake --build $BUILD)" >&2; exit 1; }
for v in ${!OTEL_@} ${!SCRY_@}; do unset "$v"; done

TMP=$(mktemp -d /tmp/scry-otel-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
cat >"$TMP/alternate.lua" <<'EOF'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", n % 2 == 0 and "/hash" or "/sort")
end
EOF

# start NAME CMD...: background, waits for "listening on PORT", sets port and pid.
start() {
  local name=$1
  shift
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  pids+=($pid)
  port=""
  for _ in $(seq 300); do
    port=$(awk '/^listening on/ { print $3; exit }' "$TMP/$name.out")
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: $name did not start: $(tail -3 "$TMP/$name.err")" >&2
  exit 1
}
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# collector [ARGS]: (re)starts the collector; sets endpoint.
colpid=""
collector() {
  [ -n "$colpid" ] && stop "$colpid"
  start collector node "$ROOT/tests/otel/collector.js" --sink "$@"
  colpid=$pid
  endpoint="http://127.0.0.1:$port"
}

# ms VALUE: wrk's "1.23ms" / "456.00us" / "1.2s" in milliseconds.
ms() { awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); n = v + 0
  if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
  printf "%.3f", n }'; }

# run LABEL ENV...: back and front with ENV, wrk against front; appends
# "label req/s p50 p99 errors exported dropped" to results.
run() {
  local label=$1
  shift
  start back env "$@" OTEL_SERVICE_NAME=back "$EX/back" --work "$WORK"
  local bpid=$pid
  start front env "$@" OTEL_SERVICE_NAME=front "$EX/front" --work "$WORK" \
    --downstream "http://127.0.0.1:$port"
  local fpid=$pid fport=$port
  wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/alternate.lua" \
    "http://127.0.0.1:$fport" >"$TMP/wrk.out" 2>&1
  # How long the services take to exit on SIGTERM (they flush their
  # spans first): at most EXIT_WAIT seconds, then they are killed (">").
  local t0 exit_s
  t0=$(date +%s.%N)
  kill -TERM "$fpid" "$bpid" 2>/dev/null || true
  for _ in $(seq $((EXIT_WAIT * 10))); do
    kill -0 "$fpid" 2>/dev/null || kill -0 "$bpid" 2>/dev/null || break
    sleep 0.1
  done
  exit_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if kill -0 "$fpid" 2>/dev/null || kill -0 "$bpid" 2>/dev/null; then
    kill -KILL "$fpid" "$bpid" 2>/dev/null || true
    exit_s=">$exit_s"
  fi
  wait "$fpid" "$bpid" 2>/dev/null || true
  local rps p50 p99 errs exported dropped
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$TMP/wrk.out")
  p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$TMP/wrk.out")")
  p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$TMP/wrk.out")")
  errs=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { n += 1 } END { print n + 0 }' "$TMP/wrk.out")
  exported=$(sed -n 's/.*spans: .* \([0-9]*\) exported.*/\1/p' "$TMP/front.err")
  dropped=$(sed -n 's/.*exported in [0-9]* requests, \([0-9]*\) dropped (queue full), \([0-9]*\) dropped (export failed).*/\1+\2/p' "$TMP/front.err")
  [ -n "$rps" ] || { echo "run.sh: wrk failed: $(cat "$TMP/wrk.out")" >&2; exit 1; }
  printf '%-22s %9.0f %9.3f %9.3f %7s %10s %14s %7s\n' "$label" "$rps" "$p50" "$p99" "$errs" \
    "${exported:--}" "${dropped:--}" "$exit_s"
  echo "$label $rps $p50 $p99" >>"$TMP/results"
}

header() { printf '%-22s %9s %9s %9s %7s %10s %14s %7s\n' run req/s "p50 ms" "p99 ms" errors \
  exported "dropped q+exp" "exit s"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v l="$1" -v c="$2" '$1 == l { print $c }' "$TMP/results" | median; }

echo "front -> back on $(nproc) CPUs: wrk -t1 -c$CONNS -d${DURATION}s, /hash and /sort alternately," \
  "--work $WORK; columns from wrk and from front's exit line (its spans only)"
: >"$TMP/results"
collector
on=(OTEL_EXPORTER_OTLP_ENDPOINT="$endpoint" OTEL_BSP_SCHEDULE_DELAY=1000)
off=(OTEL_SDK_DISABLED=true)
# Warm-up (page cache, CPU frequency, the collector's JIT), not counted.
DURATION=1 run warmup "${off[@]}" >/dev/null
DURATION=1 run warmup "${on[@]}" >/dev/null

echo
echo "1. spans off vs on (collector answering 200), $REPS runs each, alternating"
header
for i in $(seq "$REPS"); do
  run off "${off[@]}"
  run on "${on[@]}"
done
for k in off on; do
  printf '%-22s %9.0f %9.3f %9.3f\n' "median $k" "$(col $k 2)" "$(col $k 3)" "$(col $k 4)"
done
awk -v a="$(col on 2)" -v b="$(col off 2)" -v c="$(col on 3)" -v d="$(col off 3)" \
  -v e="$(col on 4)" -v f="$(col off 4)" 'BEGIN {
  printf "ratio on/off: req/s %.3f, p50 %.3f, p99 %.3f\n", a / b, c / d, e / f }'

echo
echo "2. spans on, bad collectors (compare with 1's \"on\")"
header
collector --delay-ms 5000
run "slow (5 s)" OTEL_EXPORTER_OTLP_ENDPOINT="$endpoint" OTEL_BSP_SCHEDULE_DELAY=1000
collector --status 503
run "503" OTEL_EXPORTER_OTLP_ENDPOINT="$endpoint" OTEL_BSP_SCHEDULE_DELAY=1000
# Down: the port of a collector that has just been stopped.
stop "$colpid"
colpid=""
run "down" OTEL_EXPORTER_OTLP_ENDPOINT="$endpoint" OTEL_BSP_SCHEDULE_DELAY=1000
