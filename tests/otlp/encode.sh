# The OTLP encoder (src/span/otlp.c) against hand-made spans (the ground
# truth is in tests/otlp/encode_check.py): protoc decodes the protobuf with
# scry's proto and raw (official field numbers), Python reads the JSON; the
# resource comes from the environment in three configurations, and bad
# OTEL_RESOURCE_ATTRIBUTES members are reported once each and skipped.
source "$SCRY_TESTS/lib.sh"

command -v protoc >/dev/null || { echo "SKIP: protoc is not installed (Debian protobuf-compiler)"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 0; }

GEN="$SCRY_BIN/tests/otlp_gen"
SRC="$SCRY_TESTS/../src/format"

# run NAME SERVICE EXTRA_JSON [VAR=VALUE...]: encodes under that environment
# and checks the result.
run() {
  local name=$1 service=$2 extra=$3
  shift 3
  local d="$WORK/$name"
  mkdir -p "$d"
  env -u OTEL_SERVICE_NAME -u OTEL_RESOURCE_ATTRIBUTES "$@" "$GEN" "$d" >"$d/out" 2>"$d/err" ||
    fail "$name: otlp_gen failed: $(cat "$d/out" "$d/err")"
  protoc --decode=otlp.ExportTraceServiceRequest -I "$SRC" "$SRC/otlp_trace.proto" \
    <"$d/req.pb" >"$d/req.txt" 2>"$d/protoc.err" ||
    fail "$name: protoc cannot decode the request: $(cat "$d/protoc.err")"
  protoc --decode_raw <"$d/req.pb" >"$d/req.raw" || fail "$name: not a well-formed protobuf message"
  python3 "$SCRY_TESTS/otlp/encode_check.py" "$d" "$service" "$extra" || fail "$name: see above"
}

run env 'checkout' '{"deployment.environment": "prod,eu", "team": "a=b", "host.id": "h1"}' \
  OTEL_SERVICE_NAME=checkout \
  'OTEL_RESOURCE_ATTRIBUTES=service.name=ignored,deployment.environment=prod%2Ceu, team = a%3Db ,bad,=x,k=%zz,,host.id=h1'
cat "$WORK/env/out"
err=$(cat "$WORK/env/err")
echo "$err"
for bad in '"bad" is not key=value' '"=x" is not key=value' '"k=%zz": bad percent-encoding'; do
  [ "$(grep -cF "scry: OTEL_RESOURCE_ATTRIBUTES: $bad" <<<"$err")" = 1 ] ||
    fail "want one line on stderr for the bad member $bad"
done
[ "$(wc -l <<<"$err")" = 3 ] || fail "want exactly three lines on stderr, got: $err"
grep -qx "rejected 7 7 spans had no name" "$WORK/env/out" || fail "protobuf partial_success not read"
grep -qx "rejected 12 too old" "$WORK/env/out" || fail "JSON partialSuccess not read"
[ "$(grep -cx "rejected 0 " "$WORK/env/out")" = 3 ] || fail "an empty, {} or garbage response is not 0 rejected"
pass "resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; 3 bad members said once each"

run attrs 'from-attrs' '{"a": "1"}' 'OTEL_RESOURCE_ATTRIBUTES=a=1,service.name=from-attrs'
[ -s "$WORK/attrs/err" ] && fail "stderr for a good OTEL_RESOURCE_ATTRIBUTES: $(cat "$WORK/attrs/err")"
pass "service.name from OTEL_RESOURCE_ATTRIBUTES"

run none 'unknown_service:otlp_gen' '{}'
pass "service.name unknown_service:<executable> without either variable"
