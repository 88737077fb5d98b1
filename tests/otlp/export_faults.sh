# The span exporter (src/span/export.c) against a misbehaving collector
# (tests/otlp/collector.py) and against none: export_load serves REQUESTS
# requests (one span each, timed by itself), flushes and prints scry's span
# stats. In every mode each span is accounted for exactly:
#   recorded = exported + dropped_queue + dropped_export
# (the flush waits until nothing is queued), what scry calls exported is
# what the collector decoded from the requests it accepted, the program
# exits, and no request waits on the network: while the collector takes
# 5 s to answer, the slowest request still takes less than 1 s.
source "$SCRY_TESTS/lib.sh"

command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 0; }
[ -e /usr/lib/x86_64-linux-gnu/libcurl.so.4 ] || ldconfig -p | grep -q 'libcurl\.so\.4 ' ||
  { echo "SKIP: libcurl.so.4 is not installed (Debian libcurl4)"; exit 0; }

LOAD="$SCRY_BIN/tests/export_load"
REQUESTS=2000
COLLECTOR_PID=

stop_collector() {
  if [ -n "$COLLECTOR_PID" ]; then
    kill "$COLLECTOR_PID" 2>/dev/null || true
    wait "$COLLECTOR_PID" 2>/dev/null || true
    COLLECTOR_PID=
  fi
}
trap 'stop_collector; rm -rf "$WORK"' EXIT

# collector NAME MODE [N]: starts one; sets PORT.
collector() {
  local d="$WORK/$1"
  mkdir -p "$d"
  python3 "$SCRY_TESTS/otlp/collector.py" "$2" "$d/port" "$d/stats" "${3:-3}" 2>"$d/collector.err" &
  COLLECTOR_PID=$!
  for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
  [ -s "$d/port" ] || fail "$1: the collector did not start: $(cat "$d/collector.err")"
  PORT=$(cat "$d/port")
}

# A port with nothing listening on it.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# load NAME FLUSH_MS [VAR=VALUE...]: runs export_load (forking when
# LOAD_FORK is set); its output in
# $WORK/NAME/out and err; sets the stats variables and ELAPSED_EXIT_MS (from
# main's return to the process's end: scry's exit-time export).
load() {
  local name=$1 flush=$2 d="$WORK/$1"
  shift 2
  mkdir -p "$d"
  env OTEL_SERVICE_NAME=export-load OTEL_TRACES_SAMPLER=always_on OTEL_BSP_SCHEDULE_DELAY=200 \
    OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$PORT" "$@" \
    timeout 120 "$LOAD" "$REQUESTS" "$flush" ${LOAD_FORK:+fork} >"$d/out" 2>"$d/err" ||
    fail "$name: export_load failed or did not exit ($?): $(cat "$d/out" "$d/err")"
  local end_ns
  end_ns=$(date +%s%N)
  echo "$name: $(grep latency "$d/out") $(grep '^stats' "$d/out" | cut -d' ' -f2-)"
  [ -s "$d/err" ] && sed "s/^/$name: stderr: /" "$d/err"
  eval "$(awk '/^stats/ { for (i = 2; i <= NF; i++) print $i }' "$d/out")"
  FLUSH=$(awk '$1 == "flush" { print $2 }' "$d/out")
  MAX_US=$(awk '/^latency_us/ { sub("max=", "", $4); print $4 }' "$d/out")
  ELAPSED_EXIT_MS=$(((end_ns - $(awk '$1 == "exit_at_ns" { print $2 }' "$d/out")) / 1000000))
  [ "$started" = "$REQUESTS" ] || fail "$name: started $started spans, want $REQUESTS"
  [ "$recorded" = "$REQUESTS" ] || fail "$name: recorded $recorded spans, want $REQUESTS (always_on)"
  return 0
}

# The collector's own count: cstat NAME KEY
cstat() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/$1/stats" "$2"; }

accounted() {
  [ $((exported + dropped_queue + dropped_export)) = "$recorded" ] ||
    fail "$1: exported $exported + dropped_queue $dropped_queue + dropped_export $dropped_export != recorded $recorded"
}

# ---- ok: everything exported, and the collector has every span ----------------
collector ok ok
load ok 30000
stop_collector
eq "ok: flush" "$FLUSH" 0
accounted ok
eq "ok: exported" "$exported" "$REQUESTS"
eq "ok: the collector's spans" "$(cstat ok spans)" "$exported"
eq "ok: the collector's requests" "$(cstat ok requests)" "$exports"
eq "ok: retries" "$retries" 0
eq "ok: the path" "$(cstat ok path)" /v1/traces
eq "ok: connections (keep-alive)" "$(cstat ok connections)" 1
[ -s "$WORK/ok/err" ] && fail "ok: stderr: $(cat "$WORK/ok/err")"
pass "ok: $exported spans in $exports requests on one connection, all decoded by the collector"

# ---- json + gzip + headers ----------------------------------------------------------
collector json ok
load json 30000 OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json OTEL_EXPORTER_OTLP_COMPRESSION=gzip \
  'OTEL_EXPORTER_OTLP_HEADERS=x-scry-test=hello%20world, authorization=Bearer abc'
stop_collector
eq "json: flush" "$FLUSH" 0
eq "json: exported" "$exported" "$REQUESTS"
eq "json: the collector's spans" "$(cstat json spans)" "$exported"
python3 - "$WORK/json/stats" <<'EOF' || fail "json: request headers"
import json, sys
h = json.load(open(sys.argv[1]))["headers"]
want = {"content-type": "application/json", "content-encoding": "gzip",
        "x-scry-test": "hello world", "authorization": "Bearer abc"}
bad = {k: (h.get(k), v) for k, v in want.items() if h.get(k) != v}
if bad:
    sys.exit(f"headers (got, want): {bad}")
EOF
pass "http/json with gzip and OTEL_EXPORTER_OTLP_HEADERS: $exported spans"

# ---- bad settings: each said once, its default used; the traces endpoint as is ----
collector config ok
REQUESTS=200 load config 30000 OTEL_BSP_SCHEDULE_DELAY=abc OTEL_BSP_MAX_QUEUE_SIZE=0 \
  OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_COMPRESSION=brotli \
  OTEL_EXPORTER_OTLP_TIMEOUT=-5 OTEL_TRACES_EXPORTER=zipkin \
  'OTEL_EXPORTER_OTLP_HEADERS=bad header=x,ok=1,secret-token' \
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:$PORT/custom/traces"
stop_collector
eq "config: exported" "$exported" 200
eq "config: the collector's spans" "$(cstat config spans)" 200
eq "config: the path of OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" "$(cstat config path)" /custom/traces
for line in \
  'scry: OTEL_BSP_SCHEDULE_DELAY=abc: not a number of milliseconds; using 5000' \
  'scry: OTEL_BSP_MAX_QUEUE_SIZE=0: not a queue size from 1 to 1048576 spans; using 2048' \
  'scry: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: not supported by scry (OTLP over HTTP only); using http/protobuf (the collector'"'"'s HTTP port is 4318)' \
  'scry: OTEL_EXPORTER_OTLP_COMPRESSION=brotli: not gzip or none; using none' \
  'scry: OTEL_EXPORTER_OTLP_TIMEOUT=-5: not a number of milliseconds from 1; using 10000' \
  'scry: OTEL_TRACES_EXPORTER=zipkin: scry exports to otlp, console or none; using otlp' \
  'scry: OTEL_EXPORTER_OTLP_HEADERS: "bad header" is not an HTTP header name; skipped' \
  'scry: OTEL_EXPORTER_OTLP_HEADERS: member 3 is not key=value; skipped'; do
  [ "$(grep -cxF "$line" "$WORK/config/err")" = 1 ] || fail "config: want once on stderr: $line"
done
[ "$(wc -l <"$WORK/config/err")" = 8 ] || fail "config: want 8 lines on stderr"
grep -q secret-token "$WORK/config/err" && fail "config: a header member was echoed on stderr"
python3 -c 'import json, sys; h = json.load(open(sys.argv[1]))["headers"]; sys.exit(h.get("ok") != "1")' \
  "$WORK/config/stats" || fail "config: the good header of OTEL_EXPORTER_OTLP_HEADERS was not sent"
pass "bad settings: 8 lines, one each, and the defaults; all 200 spans exported to the endpoint's own path"

# ---- 503 for the first 3 requests (Retry-After: 1, an HTTP date, 1): all exported -
collector 503 503 3
load 503 60000
stop_collector
eq "503: flush" "$FLUSH" 0
accounted 503
eq "503: exported" "$exported" "$REQUESTS"
eq "503: the collector's accepted spans" "$(cstat 503 spans)" "$exported"
[ "$retries" -ge 3 ] || fail "503: $retries retries, want at least 3"
eq "503: requests sent = the collector's" "$exports" "$(cstat 503 requests)"
eq "503: connections (kept alive through 503s)" "$(cstat 503 connections)" 1
[ "$(grep -c 'HTTP 503' "$WORK/503/err")" = 1 ] || fail "503: want the 503 said once on stderr"
pass "503 + Retry-After (seconds and a date): $retries retries, all $exported spans exported"

# ---- partial success: rejected spans are dropped ---------------------------------------
collector partial partial
load partial 30000
stop_collector
accounted partial
eq "partial: dropped_export" "$dropped_export" "$(cstat partial rejected)"
eq "partial: exported + rejected = the collector's spans" "$((exported + dropped_export))" "$(cstat partial spans)"
[ "$(grep -c 'rejected' "$WORK/partial/err")" = 1 ] || fail "partial: want the rejection said once"
pass "partial success: $dropped_export rejected spans counted as dropped"

# ---- 400: not retried, dropped, said once --------------------------------------------------
collector 400 400
load 400 30000
stop_collector
accounted 400
eq "400: flush" "$FLUSH" -107
eq "400: exported" "$exported" 0
eq "400: retries" "$retries" 0
eq "400: dropped_export" "$dropped_export" "$REQUESTS"
eq "400: requests" "$exports" "$(cstat 400 requests)"
[ "$(grep -c 'HTTP 400' "$WORK/400/err")" = 1 ] || fail "400: want the 400 said once"
pass "400: $exports requests, none retried, $dropped_export spans dropped"

# ---- close: the connection closes without an answer: retried, then dropped ---------
collector close close
load close 60000 OTEL_BSP_EXPORT_TIMEOUT=2000
stop_collector
accounted close
eq "close: exported" "$exported" 0
[ "$retries" -ge 1 ] || fail "close: no retry"
# Each kind of failure is said once: the closed connection, and, when a
# request runs into its time limit first (the sanitizer build is slow
# enough), the timeout; never a line twice.
n_err=$(wc -l <"$WORK/close/err")
[ "$n_err" -ge 1 ] && [ "$n_err" = "$(sort -u "$WORK/close/err" | wc -l)" ] ||
  fail "close: want each failure said once on stderr: $(cat "$WORK/close/err")"
pass "close: $retries retries, $dropped_export dropped after retries, $dropped_queue at a full queue"

# ---- down: nobody listens; a small queue fills up while a batch is retried ---------
PORT=$(free_port)
load down 60000 OTEL_BSP_EXPORT_TIMEOUT=2000 OTEL_BSP_MAX_QUEUE_SIZE=600
accounted down
eq "down: flush" "$FLUSH" -107
eq "down: exported" "$exported" 0
[ "$retries" -ge 1 ] || fail "down: no retry"
[ "$dropped_queue" -gt 0 ] || fail "down: the 600-span queue never filled while batches were retried"
[ "$(wc -l <"$WORK/down/err")" = 1 ] || fail "down: want one line on stderr"
pass "down: $retries retries, $dropped_export dropped after retries, $dropped_queue at a full queue"

# ---- slow: 5 s per answer; no request waits for it ------------------------------------
collector slow slow
load slow 60000 OTEL_BSP_EXPORT_TIMEOUT=2000
stop_collector
accounted slow
[ "$MAX_US" -lt 1000000 ] || fail "slow: a request took ${MAX_US} us: it waited on the network"
[ "$exported" = 0 ] || fail "slow: $exported spans exported past a 2 s export timeout"
pass "slow: the slowest request took ${MAX_US} us while each export waited 5 s"

# ---- exit exports what is queued -------------------------------------------------------
collector exit ok
load exit 0 OTEL_BSP_SCHEDULE_DELAY=60000
sleep 0.5 # the collector's last write
stop_collector
eq "exit: spans exported at exit (the collector's count)" "$(cstat exit spans)" "$REQUESTS"
pass "exit: all $REQUESTS spans reached the collector ($exported before main returned)"

# ---- exit while nobody listens: within the export timeout ----------------------------
PORT=$(free_port)
load exit_down 0 OTEL_BSP_EXPORT_TIMEOUT=2000 OTEL_BSP_SCHEDULE_DELAY=60000
# A structural bound, with room for a loaded machine: without the exit
# deadline, exit would retry for 2 s per batch (4 batches) or more.
[ "$ELAPSED_EXIT_MS" -lt 6000 ] || fail "exit_down: exit took ${ELAPSED_EXIT_MS} ms with a 2000 ms export timeout"
pass "exit with the collector down: exit took ${ELAPSED_EXIT_MS} ms (export timeout 2000 ms)"

# ---- fork: the child exports its own spans, the parent those queued before ------
collector fork ok
LOAD_FORK=1 load fork 30000
stop_collector
eq "fork: flush" "$FLUSH" 0
eq "fork: parent exported" "$exported" "$REQUESTS"
child=$(awk '$1 == "child" && $2 == "stats" { for (i = 3; i <= NF; i++) if ($i ~ /^exported=/) print substr($i, 10) }' "$WORK/fork/out")
eq "fork: child flush" "$(awk '$1 == "child" && $2 == "flush" { print $3 }' "$WORK/fork/out")" 0
eq "fork: child exported" "$child" $((REQUESTS / 2))
eq "fork: the collector's spans (parent + child)" "$(cstat fork spans)" $((REQUESTS + REQUESTS / 2))
pass "fork: parent $exported and child $child spans exported, none twice"

# ---- none: spans are dropped silently, counted as not exported ----------------------
collector none ok
load none 30000 OTEL_TRACES_EXPORTER=none
stop_collector
accounted none
eq "none: dropped_export" "$dropped_export" "$REQUESTS"
eq "none: the collector's requests" "$(cstat none requests)" 0
[ -s "$WORK/none/err" ] && fail "none: stderr: $(cat "$WORK/none/err")"
pass "OTEL_TRACES_EXPORTER=none: nothing sent, $dropped_export counted as not exported"
