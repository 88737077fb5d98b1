# Tests of the span example (examples/otel/: front and back) against the
# real consumers: the OpenTelemetry JavaScript SDK and go tool pprof.
# Both need Node.js and tests/otel/node/node_modules (scripts/deps.sh
# installs them; without them the tests fail and say so).

# A Node service (OpenTelemetry JS SDK) -> front -> the Node service again,
# all spans into one test collector that decodes scry's OTLP protobuf (and
# JSON) with OpenTelemetry's own definitions; one trace per request, every
# parent link right; an invalid traceparent starts a new trace.
scry_shell_test(otel_interop otel/interop.sh)

# A CPU profile of front and back split by the span_name label: each
# endpoint's work, and nothing of the other's, under its span's name.
scry_shell_test(otel_span_name otel/span_name.sh pprof)
# Counts CPU samples of two processes busy on both cores: keep it apart.
set_tests_properties(otel_span_name PROPERTIES RUN_SERIAL TRUE)
