# services.sh - what the tests/otel scripts share (sourced after lib.sh):
# checks that Node and the npm packages are there, and starts and stops
# the services under test, each in the background with its output in
# $WORK/NAME.out and NAME.err.
OT="$SCRY_TESTS/otel"
command -v node >/dev/null ||
  fail "node is not installed (scripts/deps.sh installs the Debian packages nodejs and npm)"
[ -f "$OT/node/node_modules/@opentelemetry/otlp-transformer/package.json" ] ||
  fail "tests/otel/node/node_modules is missing: run scripts/deps.sh (it runs npm ci --prefix tests/otel/node)"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME CMD...: runs CMD in the background, waits for its
# "listening on PORT" line, sets port and pid.
start() {
  local name=$1
  shift
  # The files exist before the loop below reads them: the background job's
  # own redirection may not have run yet (awk then failed, under set -e).
  : >"$WORK/$name.out"
  "$@" >>"$WORK/$name.out" 2>"$WORK/$name.err" &
  pids+=($!)
  pid=$!
  port=""
  for _ in $(seq 300); do
    port=$(awk '/^listening on/ { print $3; exit }' "$WORK/$name.out")
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  fail "$name did not start: $(tail -5 "$WORK/$name.err")"
}

# stop NAME PID: SIGTERM, then at most 15 s for it to flush and exit 0.
stop() {
  kill -TERM "$2"
  for _ in $(seq 150); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$2" 2>/dev/null && fail "$1 did not exit within 15 s of SIGTERM: $(tail -5 "$WORK/$1.err")"
  local rc=0
  wait "$2" || rc=$?
  [ "$rc" = 0 ] || fail "$1 exited with status $rc: $(tail -5 "$WORK/$1.err")"
}
