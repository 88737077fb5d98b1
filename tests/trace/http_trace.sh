#!/usr/bin/env bash
# /debug/pprof/trace against a running program (flight_truth run: a region
# "tick" around a 1 ms sleep on thread "ticker", which logs "progress"
# "ticks N" every 100 ms; a mutex hand-off every 100 ms), with curl:
#   - the index lists trace;
#   - ?seconds=2 is a trace protoc decodes and flight_check.py finds well
#     formed (interning, tracks, balanced slices), whose events span 1.5 to
#     2.5 s, holding exactly the ticks the program counted between its
#     first and last progress logs in it, and as many in all as 2 s hold
#     at the program's own tick rates (flight_check.py's tick_range); the
#     lock hand-offs are there;
#   - a second request while it runs gets 409 and one line; once it is
#     done, another trace (?seconds=1) is 200 and decodes;
#   - ?seconds=0, ?seconds=abc, ?seconds=-1, ?debug=1 get 400 and one line;
#   - `scry trace` reads the trace (exit 0, and shows the tick regions), if
#     this build has it.
source "$SCRY_TESTS/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (make test installs it)"
command -v protoc >/dev/null || { echo "SKIP: protoc is not installed (Debian protobuf-compiler)"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 0; }
prog="$SCRY_BIN/tests/flight_truth"
check="$SCRY_TESTS/trace/flight_check.py"
SRC="$SCRY_TESTS/../src/format"

SCRY_HTTP=127.0.0.1:0 "$SCRY" run -o "$WORK/out" -- "$prog" run 20 1000 "$WORK/prog.log" \
  >"$WORK/prog.out" 2>"$WORK/prog.err" &
runpid=$!
for _ in $(seq 200); do grep -q '^ready' "$WORK/prog.out" 2>/dev/null && break; sleep 0.05; done
pid=$(awk '/^ready/ { print $2 }' "$WORK/prog.out")
port=$(sed -n 's|^scry: serving http://127.0.0.1:\([0-9]*\)/debug/pprof/$|\1|p' "$WORK/prog.err")
[ -n "$pid" ] || fail "the program did not start: $(cat "$WORK/prog.err")"
[ -n "$port" ] || fail "no 'serving' line: $(cat "$WORK/prog.err")"
url="http://127.0.0.1:$port/debug/pprof"
code() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
one_line() { [ "$(wc -l <"$WORK/body")" = 1 ] || fail "$1: not one line: $(cat "$WORK/body")"; }

eq "index" "$(code "$url/")" 200
grep -q "<a href='trace'>trace</a>" "$WORK/body" || fail "the index does not list trace"

# A 2 s trace, and a second request meanwhile.
curl -s -o "$WORK/t.pftrace" -w '%{http_code}\n' "$url/trace?seconds=2" >"$WORK/c1" &
c1=$!
sleep 0.8
eq "a second trace at once" "$(code "$url/trace?seconds=1")" 409
one_line "409"
echo "409: $(cat "$WORK/body")"
wait "$c1"
eq "the 2 s trace" "$(cat "$WORK/c1")" 200

for q in "seconds=0" "seconds=abc" "seconds=-1" "debug=1"; do
  eq "/trace?$q" "$(code "$url/trace?$q")" 400
  one_line "/trace?$q"
done
echo "400: $(cat "$WORK/body")"

eq "a trace after the first one ended" "$(code "$url/trace?seconds=1")" 200
cp "$WORK/body" "$WORK/t1.pftrace"
kill "$pid"
wait "$runpid" || true

# decode NAME: protoc and flight_check.py on $WORK/NAME.pftrace -> NAME.sum.
decode() {
  protoc --decode=perfetto.protos.Trace -I "$SRC" "$SRC/perfetto_trace.proto" <"$WORK/$1.pftrace" \
    >"$WORK/$1.txt" 2>"$WORK/$1.perr" || fail "$1: protoc cannot decode it: $(head -3 "$WORK/$1.perr")"
  python3 "$check" "$WORK/$1.txt" "$WORK/prog.log" >"$WORK/$1.sum" || fail "$1: $(grep '^error' "$WORK/$1.sum")"
}
get() { awk -v k="$2" '$1 == k { print $3 == "" ? $2 : $2 " " $3; exit }' "$WORK/$1.sum"; }
decode t1
decode t
span=$(get t span_ns)
ticks=$(awk -F'\t' '$1 == "region" && $2 == "tick" { print $3 }' "$WORK/t.sum")
echo "?seconds=2: $(stat -c %s "$WORK/t.pftrace") bytes, span $(awk -v s="$span" 'BEGIN { printf "%.3f", s / 1e9 }') s," \
  "$(get t events) events, $ticks tick regions, $(get t lock_waits) lock waits"
within "$span" 1 1.5e9 2.5e9 || fail "the 2 s trace spans $span ns"

read -r _ n0 <<<"$(get t progress_first)"
read -r _ n1 <<<"$(get t progress_last)"
between=$(get t ticks_between)
[ -n "$n0" ] && [ -n "$n1" ] || fail "fewer than two progress logs in the trace"
eq "ticks between the progress logs ($n0 .. $n1)" "$between" "$((n1 - n0))"
read -r _ lo hi <<<"$(awk '$1 == "tick_range"' "$WORK/t.sum")"
echo "ticks: $between between the progress logs as counted; $ticks in all, $lo .. $hi expected from the program's rates"
[ -n "$lo" ] && within "$ticks" 1 "$lo" "$hi" || fail "$ticks ticks, not within $lo .. $hi"
[ "$(get t lock_waits)" -ge 4 ] || fail "$(get t lock_waits) lock waits in 2 s, want 4 or more (20 are made)"

if "$SCRY" trace --help >/dev/null 2>&1; then
  "$SCRY" trace "$WORK/t.pftrace" >"$WORK/summary" 2>&1 || fail "scry trace: $(tail -3 "$WORK/summary")"
  grep -qw tick "$WORK/summary" || fail "scry trace does not show the tick regions: $(cat "$WORK/summary")"
  echo "scry trace reads it"
else
  echo "(scry trace is not in this build: not checked)"
fi
pass "/debug/pprof/trace: a 2 s trace with every tick, 409 meanwhile, 400 for bad parameters"
