#!/usr/bin/env bash
# The live endpoint against a running program (http_target: 200 parked
# threads, a spinner, a contended mutex, an allocating main thread), with
# the real clients:
#   - go tool pprof -raw -seconds 2 on /profile, and on /heap, /mutex,
#     /block, /goroutine, each showing the function the program spends in;
#   - /goroutine?debug=2 lists every thread: 200 in cond wait at
#     parked_here, and debug=1 groups them as one stack of 200;
#   - the index, /cmdline, /wall?seconds=1;
#   - delta profiles (?seconds=2) of block, mutex and allocs: between 60%
#     and 100% of what the full profile gained around them, duration 2 s;
#   - bad parameters (seconds=abc, -1, huge; debug=9) and unknown paths get
#     400/404 with one line; a second concurrent CPU profile gets 409;
#   - 200 concurrent requests leave the program and the endpoint running;
#   - a non-loopback address without a token is refused at start in one
#     line and the program runs; with a token, requests without it get 401;
#   - a port in use is one warning line and the program runs.
source "$SCRY_TESTS/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (make test installs it)"
prog="$SCRY_BIN/tests/http_target"

# start NAME SECONDS ENV... : runs the target under scry with its own env,
# waits for "serving", sets port and pid.
start() {
  local name=$1 secs=$2
  shift 2
  env "$@" "$SCRY" run -p heap,mutex,block -o "$WORK/$name" -- "$prog" "$secs" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  runpid=$!
  for _ in $(seq 200); do grep -q '^ready' "$WORK/$name.out" 2>/dev/null && break; sleep 0.05; done
  pid=$(awk '/^ready/ { print $2 }' "$WORK/$name.out")
  port=$(sed -n 's|^scry: serving http://127.0.0.1:\([0-9]*\)/debug/pprof/$|\1|p' "$WORK/$name.err")
}
code() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }

start main 40 SCRY_HTTP=127.0.0.1:0
[ -n "$port" ] || fail "no 'serving' line: $(cat "$WORK/main.err")"
url="http://127.0.0.1:$port/debug/pprof"
echo "serving on port $port (pid $pid)"

# 1. go tool pprof against each endpoint.
go tool pprof -raw -seconds 2 "$url/profile" >"$WORK/cpu.raw" 2>&1 || fail "pprof /profile: $(tail -3 "$WORK/cpu.raw")"
grep -q spin_here "$WORK/cpu.raw" || fail "/profile does not show spin_here"
for ep in heap:alloc_here mutex:hold_here block:wait_here goroutine:parked_here; do
  go tool pprof -raw "$url/${ep%%:*}" >"$WORK/ep.raw" 2>&1 || fail "pprof /${ep%%:*}: $(tail -3 "$WORK/ep.raw")"
  grep -q "${ep#*:}" "$WORK/ep.raw" || fail "/${ep%%:*} does not show ${ep#*:}"
done
echo "go tool pprof: /profile, /heap, /mutex, /block, /goroutine"

# 2. Thread dumps as text.
eq "/goroutine?debug=2" "$(code "$url/goroutine?debug=2")" 200
n=$(grep -cE '^thread [0-9]+ "[^"]*" \[cond wait on 0x[0-9a-f]+, [0-9.]+ (ms|s)\]:$' "$WORK/body")
eq "threads in cond wait in debug=2" "$n" 200
eq "parked_here frames in debug=2" "$(grep -cE '^	parked_here	.*http_target\.c:[0-9]+$' "$WORK/body")" 200
all=$(grep -cE '^thread [0-9]+ ' "$WORK/body")
eq "every thread in debug=2 (200 parked, spinner, holder, waiter, main)" "$all" 204
eq "/threads?debug=1" "$(code "$url/threads?debug=1")" 200
grep -E '^200 @( 0x[0-9a-f]+)+$' "$WORK/body" >/dev/null || fail "debug=1 has no group of 200"
echo "debug=2: $all threads, 200 parked; debug=1 groups them"

# 3. The rest of the endpoints, and bad requests.
eq "index" "$(code "$url/")" 200
grep -q "<a href='heap'>heap</a>" "$WORK/body" || fail "the index does not list heap"
eq "/cmdline" "$(code "$url/cmdline")" 200
[ "$(tr '\0' ' ' <"$WORK/body")" = "$prog 40" ] || fail "/cmdline: $(tr '\0' ' ' <"$WORK/body")"
eq "/wall?seconds=1" "$(code "$url/wall?seconds=1")" 200
"$DUMP" "$WORK/body" >"$WORK/wall.dump" || fail "/wall: not a profile"
grep -q '^sample_type wall/nanoseconds' "$WORK/wall.dump" || fail "/wall is not a wall profile"
for q in "profile?seconds=abc" "profile?seconds=-1" "profile?seconds=99999999999999" "goroutine?debug=9" "heap?debug=3"; do
  c=$(code "$url/$q")
  eq "/$q" "$c" 400
  [ "$(wc -l <"$WORK/body")" = 1 ] || fail "/$q: not one line: $(cat "$WORK/body")"
done
eq "unknown path" "$(code "$url/nothing")" 404
eq "outside /debug/pprof" "$(code "http://127.0.0.1:$port/")" 404
curl -s -o "$WORK/p1" -w '%{http_code}\n' "$url/profile?seconds=2" >"$WORK/c1" &
c1=$!
sleep 0.5
eq "a second CPU profile at once" "$(code "$url/profile?seconds=1")" 409
wait "$c1"
eq "the first CPU profile" "$(cat "$WORK/c1")" 200
echo "400 for bad parameters, 404, 409 for a second CPU profile"

# 3b. Delta profiles (?seconds=N) of the cumulative ones: fetched between two
# full ones, the delta's total lies between 60% and 100% of what the full
# profile gained over the whole exchange, and its duration is the window.
for ep in block mutex allocs; do
  curl -s -o "$WORK/full0.pb.gz" "$url/$ep"
  eq "/$ep?seconds=2" "$(code "$url/$ep?seconds=2")" 200
  cp "$WORK/body" "$WORK/delta.pb.gz"
  curl -s -o "$WORK/full1.pb.gz" "$url/$ep"
  t0=$(total "$WORK/full0.pb.gz")
  t1=$(total "$WORK/full1.pb.gz")
  d=$(total "$WORK/delta.pb.gz")
  gained=$((t1 - t0))
  echo "/$ep?seconds=2: delta $d, gained over the exchange $gained"
  [ "$gained" -gt 0 ] || fail "/$ep gained nothing over the exchange"
  within "$d" "$gained" 0.60 1.0001 || fail "/$ep delta $d is not 60..100% of the $gained gained"
  "$DUMP" "$WORK/delta.pb.gz" | grep '^duration_nanos 2000000000$' >/dev/null || fail "/$ep delta duration is not 2 s"
done

# 4. 200 concurrent requests.
for i in $(seq 200); do
  case $((i % 4)) in
  0) curl -s -o /dev/null -w '%{http_code}\n' "$url/goroutine?debug=1" ;;
  1) curl -s -o /dev/null -w '%{http_code}\n' "$url/cmdline" ;;
  2) curl -s -o /dev/null -w '%{http_code}\n' "$url/heap" ;;
  3) curl -s -o /dev/null -w '%{http_code}\n' "$url/profile?seconds=x" ;;
  esac >>"$WORK/codes" &
done
wait $(jobs -p | grep -v "^$runpid$") 2>/dev/null || true
kill -0 "$pid" || fail "the program died under 200 concurrent requests"
eq "the endpoint after the storm" "$(code "$url/cmdline")" 200
ok=$(grep -cE '^(200|400)$' "$WORK/codes")
echo "200 concurrent requests: $ok answered 200/400 ($(sort "$WORK/codes" | uniq -c | tr '\n' ' ')), program alive"
[ "$ok" -ge 190 ] || fail "only $ok of 200 concurrent requests were answered"
kill "$pid"
wait "$runpid" || true

# 5. Non-loopback without a token; with one; a port in use.
SCRY_HTTP=0.0.0.0:0 LD_PRELOAD="${SCRY_PRELOAD_FIRST:+$SCRY_PRELOAD_FIRST:}$SCRY_BIN/libscry.so" \
  "$prog" 0.2 >/dev/null 2>"$WORK/nl.err" || fail "the program did not run"
eq "lines for a non-loopback address without a token" "$(grep -c 'SCRY_HTTP' "$WORK/nl.err")" 1
grep -q 'not a loopback address' "$WORK/nl.err" || fail "no reason given: $(cat "$WORK/nl.err")"
start tok 10 SCRY_HTTP=0.0.0.0:0 SCRY_HTTP_TOKEN=sesame
p=$(sed -n 's|^scry: serving http://0.0.0.0:\([0-9]*\)/debug/pprof/$|\1|p' "$WORK/tok.err")
[ -n "$p" ] || fail "with a token: no 'serving' line: $(cat "$WORK/tok.err")"
eq "no token" "$(code "http://127.0.0.1:$p/debug/pprof/cmdline")" 401
eq "wrong token" "$(code -H 'Authorization: Bearer sesamf' "http://127.0.0.1:$p/debug/pprof/cmdline")" 401
eq "the token" "$(code -H 'Authorization: Bearer sesame' "http://127.0.0.1:$p/debug/pprof/cmdline")" 200
SCRY_HTTP="127.0.0.1:$p" LD_PRELOAD="${SCRY_PRELOAD_FIRST:+$SCRY_PRELOAD_FIRST:}$SCRY_BIN/libscry.so" \
  "$prog" 0.2 >"$WORK/busy.out" 2>"$WORK/busy.err" || fail "a port in use stopped the program"
grep -q '^done$' "$WORK/busy.out" || fail "the program did not finish with the port in use"
eq "lines for a port in use" "$(grep -c 'SCRY_HTTP' "$WORK/busy.err")" 1
kill "$pid"
wait "$runpid" || true
pass "live endpoint: pprof clients, thread dumps, bad input, concurrency, tokens"
