#!/usr/bin/env bash
# A program that takes every descriptor number back (close, closefrom,
# close_range, dup2 onto every low number; close0 also stdin to stderr) and
# then writes two files of known bytes, under every profile at once, the
# live endpoint and a trace: both files hold exactly the program's bytes and
# its exit status is its own, 20 runs in a row per way (fd_reuse.c), and the
# program gets the lowest numbers, as it would without scry. Before scry's
# threads kept their own descriptor table (core/home.h), the files got a
# byte of scry's and the program died of SIGPIPE or SIGINT.
source "$SCRY_TESTS/lib.sh"
source "$SCRY_TESTS/safety/fd_lib.sh"
# 20 runs a way; 5 in the sanitizer build (SCRY_PRELOAD_FIRST set), which
# is several times slower.
RUNS=${RUNS:-$([ -n "${SCRY_PRELOAD_FIRST:-}" ] && echo 5 || echo 20)}

one_run() { # MODE N
  local d="$WORK/$1.$2"
  run_fd_reuse "$1" "$d"
  files_exact "$1 run $2" "$d"
  # (no heap profile in the sanitizer build: its runtime's malloc comes first)
  [ -s "$d/out/cpu.pb.gz" ] && [ -s "$d/out/threads.pb.gz" ] && [ -s "$d/out/wall.pb.gz" ] ||
    fail "$1 run $2: profiles missing: $(ls "$d/out" 2>&1) $(cat "$d/stderr")"
  [ -s "$d/trace.pftrace" ] || fail "$1 run $2: no trace: $(cat "$d/stderr")"
}

for mode in close close0 closefrom close_range dup2; do
  for n in $(seq "$RUNS"); do one_run "$mode" "$n"; done
  # The program got the lowest numbers, as it would without scry.
  case $mode in
  close0) want="0 1 2" ;;
  *) want="3 4 5" ;;
  esac
  eq "$mode: the program's descriptors" "$(cat "$WORK/$mode.1/fds")" "$want"
  pass "$mode: $RUNS runs, files byte-exact, exit status 7, profiles and trace written"
done
rm -rf "$WORK"/close* "$WORK"/dup2*

# The live endpoint keeps answering after the program took every number
# back, and the program's files get nothing of it.
d="$WORK/live"
mkdir -p "$d"
"$SCRY" run -p cpu,threads --http 127.0.0.1:0 -o "$d/out" -- "$PROG" close "$d" 40 2>"$d/stderr" &
pid=$!
port=""
for _ in $(seq 400); do
  port=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$d/stderr" | head -1)
  grep -q ready "$d/stderr" 2>/dev/null && [ -n "$port" ] && break
  sleep 0.02
done
[ -n "$port" ] || fail "live: no endpoint: $(cat "$d/stderr")"
for path in "" "threads?debug=1" "cmdline"; do
  code=$(curl -s -o "$d/body" -w '%{http_code}' "http://127.0.0.1:$port/debug/pprof/$path") ||
    fail "live: curl $path failed"
  eq "live: /debug/pprof/$path status" "$code" 200
done
rc=0
wait "$pid" || rc=$?
eq "live: exit status" "$rc" 7
files_exact live "$d"
pass "live endpoint answered after the program took every descriptor back; files exact"
