#!/usr/bin/env bash
# Interop with the OpenTelemetry JavaScript SDK: a Node service
# (node_service.js: NodeTracerProvider, W3C propagation, the protobuf
# OTLP/HTTP exporter) calls the scry-instrumented C service
# (examples/otel/front), which calls back into the Node service:
#
#   curl -> node SERVER "GET /start" -> node CLIENT -> C SERVER "GET /hash"
#        -> C CLIENT -> node SERVER "GET /callback"
#
# Both export to collector.js on loopback, which decodes scry's protobuf
# with the OpenTelemetry protobuf definitions (@opentelemetry/otlp-transformer),
# and check_trace.js checks per request: exactly those five spans, one
# trace id, every parent link, kinds, sampled flags, service.name
# scry-front; distinct traces for distinct requests; a caller's tracestate
# carried through both processes; an invalid traceparent sent to the C
# service starts a new trace there; and once the C service exporting
# OTLP/JSON (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json) instead.
source "$SCRY_TESTS/lib.sh"
source "$SCRY_TESTS/otel/services.sh"
FRONT="$SCRY_BIN/examples/otel/front"
command -v curl >/dev/null || fail "curl is not installed (make test installs it)"
[ -x "$FRONT" ] || fail "$FRONT is not built"
echo "node $(node --version), OpenTelemetry JS SDK $(node -p "require('$OT/node/node_modules/@opentelemetry/sdk-trace-node/package.json').version")"

# The test sets every OTEL_ variable it means.
for v in ${!OTEL_@}; do unset "$v"; done

start collector node "$OT/collector.js"
col=$port
start node env OTLP_URL="http://127.0.0.1:$col/v1/traces" node "$OT/node_service.js"
nport=$port
# The C service, twice: exporting protobuf (the default) and JSON.
cenv=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$col" OTEL_BSP_SCHEDULE_DELAY=200)
start front env "${cenv[@]}" OTEL_SERVICE_NAME=scry-front \
  "$FRONT" --port 0 --downstream "http://127.0.0.1:$nport/callback" --work 5
fport=$port
fpid=$pid
start front_json env "${cenv[@]}" OTEL_SERVICE_NAME=scry-front-json \
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json \
  "$FRONT" --port 0 --downstream "http://127.0.0.1:$nport/callback" --work 5
jport=$port
jpid=$pid
echo "collector :$col, node service :$nport, scry-front :$fport, scry-front-json :$jport"

# via_node SERVICE PORT ROUTE [TRACEPARENT TRACESTATE]: one request to the
# Node service's /start, which calls the C service's ROUTE; appends what
# was sent and answered to starts.jsonl.
via_node() {
  local service=$1 cport=$2 route=$3 tp=${4:-} ts=${5:-} parent=""
  local h=()
  if [ -n "$tp" ]; then
    h=(-H "traceparent: $tp" -H "tracestate: $ts")
    parent=$(cut -d- -f3 <<<"$tp")
  fi
  local answer
  answer=$(curl -sS --max-time 20 "${h[@]}" "http://127.0.0.1:$nport/start?front=http://127.0.0.1:$cport$route") ||
    fail "node /start failed for $service $route"
  local proto=protobuf
  [ "$service" = scry-front-json ] && proto=json
  printf '{"service":"%s","route":"GET %s","protocol":"%s","sentParent":"%s","sentTracestate":"%s","answer":%s}\n' \
    "$service" "$route" "$proto" "$parent" "$ts" "$answer" >>"$WORK/starts.jsonl"
}
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

: >"$WORK/starts.jsonl"
for route in /hash /sort /hash /sort; do via_node scry-front "$fport" "$route"; done
# The caller (curl) starts the trace, with a tracestate to carry along.
via_node scry-front "$fport" /hash "00-$(hex 16)-$(hex 8)-01" "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
via_node scry-front-json "$jport" /sort

# Invalid traceparents sent straight to the C service: each must start a
# new trace there (the C SERVER span a root), which still reaches Node.
: >"$WORK/invalid.jsonl"
for tp in 00-00000000000000000000000000000000-00f067aa0ba902b7-01 \
  00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01 \
  ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01; do
  curl -sS --max-time 20 -H "traceparent: $tp" "http://127.0.0.1:$fport/hash" >"$WORK/body" ||
    fail "the C service did not answer /hash with traceparent $tp"
  node -e 'const [h, b] = process.argv.slice(1);
    console.log(JSON.stringify({ header: h, service: "scry-front", route: "GET /hash", protocol: "protobuf",
      body: require("fs").readFileSync(b, "utf8") }))' "$tp" "$WORK/body" >>"$WORK/invalid.jsonl"
done

# Flush: the C services export what is left when SIGTERM ends them; Node
# on request.
stop front "$fpid"
stop front_json "$jpid"
grep -h 'spans:' "$WORK/front.err" "$WORK/front_json.err"
curl -sS --max-time 20 "http://127.0.0.1:$nport/flush" >/dev/null || fail "node /flush failed"
curl -sS --max-time 20 "http://127.0.0.1:$col/spans" >"$WORK/spans.json" || fail "collector /spans failed"
curl -sS --max-time 20 "http://127.0.0.1:$nport/seen" >"$WORK/seen.json" || fail "node /seen failed"

node "$OT/check_trace.js" "$WORK/spans.json" "$WORK/starts.jsonl" "$WORK/seen.json" "$WORK/invalid.jsonl" ||
  fail "the traces are not right (above); C service stderr: $(tail -3 "$WORK/front.err")"
pass "OpenTelemetry JS and scry interoperate over W3C Trace Context and OTLP (protobuf and JSON)"
