#!/usr/bin/env bash
# bench/otlp/run.sh - the span exporter's throughput, printed as tables.
#
#   1. The encoder alone (bench/otlp_encode_cost, src/span/otlp.c compiled
#      in): ns per span to encode a batch of 512 spans (a name, five
#      attributes) as protobuf and as OTLP/JSON, and to gzip the result;
#      bytes per span. Best of 200 encodings.
#   2. The whole exporter (bench/otlp_spans, linked with scry): THREADS
#      threads end spans as fast as they can for SECONDS into the default
#      queue (2048) and batches (512); the exporter thread encodes and POSTs
#      them to bench/otlp_sink (libmicrohttpd on 127.0.0.1, answers 200 at
#      once without decoding). The producers outrun the exporter, so the
#      queue stays full and the exporter runs flat out: exported/s is its
#      throughput, and the rest is dropped at the queue (the producers never
#      wait). Columns: spans ended per second and ns per span end as the
#      producers see them; spans exported per second; the exporter thread's
#      CPU (schedstat) per exported span and as a share of one core;
#      the share dropped at the queue; requests; bytes per span on the wire
#      (the sink's count). Configurations: http/protobuf, http/json,
#      http/protobuf with gzip. ROUNDS runs of each, interleaved; the median.
#
# Usage: bench/otlp/run.sh [SECONDS] (default 5). Needs the build first:
#   cmake --build build --target otlp_spans otlp_sink otlp_encode_cost
# (bench/CMakeLists.txt must have add_subdirectory(otlp)). Environment:
# BUILD (build dir), THREADS (1), ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_=${1:-5}
B=${BUILD:-build}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
for f in otlp_spans otlp_sink otlp_encode_cost; do
  [ -x "$B/bench/$f" ] || {
    echo "run.sh: no $B/bench/$f; build first: cmake --build $B --target otlp_spans otlp_sink otlp_encode_cost" >&2
    exit 1
  }
done
TMP=$(mktemp -d /tmp/otlp-bench.XXXXXX)
SINK_PID=
cleanup() {
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
# Nothing from the caller's environment may change what is measured.
unset SCRY_PROFILES SCRY_TRACE SCRY_FLIGHT SCRY_HTTP OTEL_SDK_DISABLED OTEL_TRACES_EXPORTER \
  OTEL_TRACES_SAMPLER OTEL_TRACES_SAMPLER_ARG OTEL_EXPORTER_OTLP_ENDPOINT \
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT OTEL_EXPORTER_OTLP_PROTOCOL OTEL_EXPORTER_OTLP_TRACES_PROTOCOL \
  OTEL_EXPORTER_OTLP_COMPRESSION OTEL_EXPORTER_OTLP_TRACES_COMPRESSION OTEL_BSP_MAX_QUEUE_SIZE \
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE OTEL_BSP_SCHEDULE_DELAY OTEL_BSP_EXPORT_TIMEOUT

echo "== 1. the encoder alone: a batch of 512 spans (name + 5 attributes)"
"$B/bench/otlp_encode_cost" 512 200
echo

# run CONFIG ROUND: one exporter run; appends a line to $TMP/CONFIG.
run() {
  local cfg=$1 r=$2 out="$TMP/$1.$2"
  local -a env=(OTEL_SERVICE_NAME=otlp-bench OTEL_TRACES_SAMPLER=always_on)
  case $cfg in
    protobuf) ;;
    json) env+=(OTEL_EXPORTER_OTLP_PROTOCOL=http/json) ;;
    protobuf+gzip) env+=(OTEL_EXPORTER_OTLP_COMPRESSION=gzip) ;;
  esac
  rm -f "$TMP/port"
  "$B/bench/otlp_sink" "$TMP/port" >"$out.sink" &
  SINK_PID=$!
  for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
  env "${env[@]}" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat "$TMP/port")" \
    "$B/bench/otlp_spans" "$SECONDS_" "$THREADS" >"$out" 2>"$out.err"
  kill "$SINK_PID"
  wait "$SINK_PID" || true
  SINK_PID=
  [ -s "$out.err" ] && sed "s/^/$cfg: /" "$out.err" >&2
  awk -v s="$SECONDS_" -v sink="$(cat "$out.sink")" '
    $1 == "ended" { ended = $2; nsend = $4 }
    $1 == "exported" { xp = $2 }
    $1 == "exporter_cpu_ns" { cpu = $2 }
    $1 == "dropped_queue" { dq = $2 }
    $1 == "exports" { req = $2 }
    END {
      split(sink, a, /[ =]/); bytes = a[5]
      printf "%.0f %.0f %.0f %.0f %.1f %.1f %d %.0f\n", ended / s, nsend, xp / s,
        xp ? cpu / xp : 0, 100 * cpu / (s * 1e9), ended ? 100 * dq / ended : 0, req,
        xp ? bytes / xp : 0
    }' "$out" >>"$TMP/$cfg"
}

echo "== 2. the exporter, flat out: $THREADS producer thread(s), ${SECONDS_} s, median of $ROUNDS runs"
CONFIGS=(protobuf json protobuf+gzip)
for r in $(seq "$ROUNDS"); do
  for cfg in $(printf '%s\n' "${CONFIGS[@]}" | shuf); do run "$cfg" "$r"; done
done
printf "%-14s %12s %8s %12s %12s %10s %9s %9s %10s\n" config ended/s ns/end exported/s \
  cpu_ns/span cpu%core dropped% requests bytes/span
for cfg in "${CONFIGS[@]}"; do
  # the median of each column over the rounds
  awk -v cfg="$cfg" '
    { for (i = 1; i <= NF; i++) v[i, NR] = $i; n = NR; nf = NF }
    END {
      printf "%-14s", cfg
      for (i = 1; i <= nf; i++) {
        for (j = 1; j <= n; j++) c[j] = v[i, j]
        for (j = 1; j <= n; j++) for (k = j + 1; k <= n; k++) if (c[k] < c[j]) { t = c[j]; c[j] = c[k]; c[k] = t }
        w = (i == 1 || i == 3) ? 12 : (i == 2 ? 8 : (i == 4 ? 12 : (i == 5 ? 10 : (i == 8 ? 10 : 9))))
        printf " %*s", w, c[int((n + 1) / 2)]
      }
      printf "\n"
    }' "$TMP/$cfg"
done
