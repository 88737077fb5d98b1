#!/usr/bin/env bash
# Ground truth for the I/O interposers (interpose/io.c), with io_truth.c.
#
# Wait mode, under -p wall,threads, with both unwinders: four threads block
# for about 2 s, in read() on a pipe, accept() and recv() on sockets with a
# receive timeout, and __read_chk() (what _FORTIFY_SOURCE makes of read):
#   - no call fails: a signal would make accept() and recv() fail with EINTR
#     (SO_RCVTIMEO), and the program exits 2 if any does;
#   - no stack request reaches a blocked thread: its voluntary context
#     switches from the moment it is inside its system call to the release,
#     which only a wake-up (a signal) makes, must be 0;
#   - the threads profile written after 1 s shows each in "IO wait" for
#     0.5 s to 2 s, named as it named itself, on the line of its blocking
#     call in its own function (io_read_blocker, ...);
#   - the wall profile credits each blocker's function its own measured
#     blocked time within 15%, all of it off-cpu;
#   - with --trace too (the frame-pointer run), `scry trace` gives each
#     blocker its blocked time in system calls, within 15%.
# Check mode: every interposed call's bytes (checksums) and errno are right,
# on the fast path (no profile that wants stacks), on the slow path
# (-p wall,threads, with the DWARF unwinder, which may touch errno) and while
# tracing; and a handler's write inside a
# blocking read, an alternate-stack handler and a cancelled read leave the
# main thread out of any I/O wait.
# Without io.c each part fails: EINTR, extra switches, no "IO wait", and
# `read` does not come from libscry.so.
source "$SCRY_TESTS/lib.sh"
prog="$SCRY_BIN/tests/io_truth"
src="$SCRY_TESTS/trace/io_truth.c"
tab=$'\t'

# from_scry OUT: the program's `read` is libscry.so's (or, in the sanitizer
# build, the sanitizer's interceptor, which calls libscry.so's next).
from_scry() {
  local o
  o=$(awk -F': ' '$1 == "read from" { print $2 }' "$1")
  case "$o" in
    */libscry.so) ;;
    *libasan*) [ -n "${SCRY_PRELOAD_FIRST:-}" ] || fail "read comes from $o" ;;
    *) fail "read comes from $o, not libscry.so" ;;
  esac
}

for unwind in fp hybrid; do
  d="$WORK/$unwind"
  mkdir -p "$d"
  rc=0
  # Bound at load: a lazy PLT resolution on a blocker's way into its call
  # could wait for the loader's lock, a voluntary switch of its own.
  # The frame-pointer run traces too.
  trace=()
  [ "$unwind" = fp ] && trace=(--trace "$d/trace.pftrace")
  LD_BIND_NOW=1 "$SCRY" run --unwind "$unwind" -p wall,threads "${trace[@]}" -o "$d" -- \
    "$prog" wait "$d/snap.pb.gz" >"$d/out" 2>"$d/err" || rc=$?
  cat "$d/out"
  [ "$rc" = 0 ] || fail "$unwind: io_truth wait exited $rc: $(cat "$d/err")"
  from_scry "$d/out"
  "$SCRY" threads "$d/snap.pb.gz" >"$d/d2" || fail "scry threads failed"
  if [ "$unwind" = fp ]; then
    "$SCRY" trace "$d/trace.pftrace" >"$d/tr" 2>&1 || fail "scry trace failed: $(head -3 "$d/tr")"
  fi
  sent=$("$DUMP" "$d/wall.pb.gz" | grep -o 'signals sent: [0-9]*' || true)
  for b in io-reader:io_read_blocker io-acceptor:io_accept_blocker io-receiver:io_recv_blocker \
           io-chk-reader:io_chk_blocker; do
    IFS=: read -r name fn <<<"$b"
    read -r _ _ r _ e _ blocked _ sw _ csw < <(grep "^$name " "$d/out")
    [ "$r" -ge 0 ] || fail "$unwind: $name's call failed, errno $e"
    [ "$blocked" -ge 1800000000 ] || fail "$unwind: $name blocked only $blocked ns of 2 s"
    eq "$unwind: $name: times woken while blocked (signals taken)" "$sw" 0

    # The threads profile: header with the state and how long, then the
    # frames, among them the blocking call's line in the blocker function.
    line=$(awk -v f="$fn" '$0 ~ "^__attribute__.*static void " f "\\(" { on = 1 } on && /BLOCK\(/ { print NR; exit }' "$src")
    hdr=$(grep -E "^thread [0-9]+ \"$name\" \[" "$d/d2" || true)
    if [[ "$hdr" =~ \[IO\ wait,\ ([0-9]+)\ ms\]:$ ]]; then
      ms=${BASH_REMATCH[1]}
    elif [[ "$hdr" =~ \[IO\ wait,\ ([0-9]+)\.([0-9])\ s\]:$ ]]; then
      ms=$((BASH_REMATCH[1] * 1000 + BASH_REMATCH[2] * 100))
    else
      fail "$unwind: $name is not in IO wait: '$hdr'"
    fi
    [ "$ms" -ge 500 ] && [ "$ms" -le 2000 ] || fail "$unwind: $name in IO wait for $ms ms, not about 1 s"
    frames=$(awk -v h="$hdr" '$0 == h { on = 1; next } on && /^$/ { exit } on' "$d/d2")
    grep -qE "^$tab$fn$tab.*io_truth\.c:$line$" <<<"$frames" ||
      fail "$unwind: $name's stack lacks $fn at io_truth.c:$line: $frames"

    # The wall profile: the blocked time, off-cpu.
    w=$(where "$d/wall.pb.gz" "$fn" 1)
    off=$(where "$d/wall.pb.gz" "$fn" 1 state=off-cpu)
    echo "$unwind: $name: $hdr; $fn: wall $w ns, off-cpu $off ns, own $blocked ns; woken $sw times while blocked ($csw switches across the call)"
    within "$w" "$blocked" 0.85 1.15 || fail "$unwind: $fn has $w ns of wall time, own $blocked ns"
    within "$off" "$w" 0.98 1.0001 || fail "$unwind: only $off of $fn's $w ns is off-cpu"

    # The trace: the thread's time in system calls is its blocked call.
    if [ "$unwind" = fp ]; then
      sys=$(awk -v n="$name" '$1 ~ /^[0-9]+$/ && $NF == n {
              v = $5; m = 1e9; if (v ~ /ms$/) m = 1e6; else if (v ~ /us$/) m = 1e3; else if (v ~ /ns$/) m = 1
              sub(/[a-z]+$/, "", v); printf "%.0f\n", v * m }' "$d/tr")
      echo "fp: $name: $sys ns in system calls in the trace"
      [ -n "$sys" ] || fail "the trace has no thread $name: $(head -20 "$d/tr")"
      within "$sys" "$blocked" 0.85 1.15 || fail "the trace has $name $sys ns in system calls, own $blocked ns"
    fi
  done
  echo "$unwind: wall profile: ${sent:-no signal count}"
done
go_reads "$d/wall.pb.gz" io_read_blocker

# Check mode: fast path, slow path, tracing.
for how in fast slow trace; do
  d="$WORK/check-$how"
  mkdir -p "$d"
  case "$how" in
    fast) args=(-p cpu) ;;
    slow) args=(-p wall,threads) ;;
    trace) args=(-p cpu --trace "$d/trace.pftrace") ;;
  esac
  snap=()
  [ "$how" = slow ] && snap=("$d/snap.pb.gz")
  rc=0
  "$SCRY" run "${args[@]}" -o "$d" -- "$prog" check "${snap[@]}" >"$d/out" 2>"$d/err" || rc=$?
  [ "$rc" = 0 ] || fail "check ($how): exited $rc: $(grep FAIL "$d/out") $(cat "$d/err")"
  grep -q '^all checks passed$' "$d/out" || fail "check ($how): did not finish: $(tail -3 "$d/out")"
  from_scry "$d/out"
  echo "check ($how): $(grep -c '^ok ' "$d/out") checks passed"
  if [ "$how" = slow ]; then
    "$SCRY" threads "$d/snap.pb.gz" >"$d/d2" || fail "scry threads failed"
    hdr=$(awk '/^thread / { h = $0 } /^\tio_dump_now\t/ { print h; exit }' "$d/d2")
    [ -n "$hdr" ] || fail "check: the main thread (io_dump_now) is not in the threads profile"
    [[ "$hdr" != *"IO wait"* ]] || fail "check: the main thread was left in an I/O wait: $hdr"
    echo "check: main thread after the handler and alternate-stack writes: $hdr"
  fi
  if [ "$how" = trace ]; then
    [ -s "$d/trace.pftrace" ] || fail "check (trace): no trace written: $(cat "$d/err")"
  fi
done
pass "I/O waits: 4 threads in IO wait on their stacks, never signalled, blocked time within 15% in the wall profile and the trace; every call's bytes and errno right on the fast path, the slow path and while tracing"
