#!/usr/bin/env bash
# A crash with the flight recorder on (SCRY_FLIGHT=5): flight_truth crash
# does regions "step 1" .. "step 40" (1 ms each), begins region "crash" and
# writes through a null pointer. Then:
#   - it still dies of SIGSEGV (status 139 from the shell);
#   - one flight file was written, with its "wrote" line on stderr, that
#     protoc decodes and flight_check.py finds well formed; it holds every
#     step once, the last one before the crash included, and the "crash"
#     region the program was in (ended where the trace ends);
#   - with SCRY_TRACEBACK=1 as well: the same, and the traceback (the fault
#     line and crash_now's frame) on stderr.
source "$SCRY_TESTS/lib.sh"
command -v protoc >/dev/null || { echo "SKIP: protoc is not installed (Debian protobuf-compiler)"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 0; }
ulimit -c 0
prog="$SCRY_BIN/tests/flight_truth"
check="$SCRY_TESTS/trace/flight_check.py"
SRC="$SCRY_TESTS/../src/format"
STEPS=40

# crash NAME ENV...: runs the program to its crash with the env; sets st.
crash() {
  local n=$1
  shift
  set +e
  env "$@" SCRY_FLIGHT=5 SCRY_OUT="$WORK/$n" \
    LD_PRELOAD="${SCRY_PRELOAD_FIRST:+$SCRY_PRELOAD_FIRST:}$SCRY_BIN/libscry.so" \
    "$prog" crash "$STEPS" >"$WORK/$n.out" 2>"$WORK/$n.err"
  st=$?
  set -e
}

# verify NAME: the exit status and the flight file; adds NAME to $verified
# at its end (bash abandons a function on an expansion error without
# failing the script: that must not pass).
verified=""
verify() {
  local n=$1 f
  eq "$n: exit status (128 + SIGSEGV)" "$st" 139
  grep -qx "last step $STEPS" "$WORK/$n.out" || fail "$n: the program did not reach its last step"
  eq "$n: flight files" "$(ls "$WORK/$n" 2>/dev/null | grep -c '^flight\.' || true)" 1
  f=$(ls "$WORK/$n"/flight.*.pftrace)
  grep -E "^scry: flight recorder: wrote $f \(the last [0-9.]+ s, $(stat -c %s "$f") bytes\)$" "$WORK/$n.err" \
    >/dev/null || fail "$n: no 'wrote' line for $f: $(cat "$WORK/$n.err")"
  protoc --decode=perfetto.protos.Trace -I "$SRC" "$SRC/perfetto_trace.proto" <"$f" >"$WORK/$n.txt" \
    2>"$WORK/$n.perr" || fail "$n: protoc cannot decode $f: $(head -3 "$WORK/$n.perr")"
  python3 "$check" "$WORK/$n.txt" >"$WORK/$n.sum" || fail "$n: $(grep '^error' "$WORK/$n.sum")"
  local i c
  for i in $(seq "$STEPS"); do
    c=$(awk -F'\t' -v r="step $i" '$1 == "region" && $2 == r { print $3 }' "$WORK/$n.sum")
    eq "$n: regions 'step $i'" "${c:-0}" 1
  done
  c=$(awk -F'\t' '$1 == "region" && $2 == "crash" { print $3 }' "$WORK/$n.sum")
  eq "$n: regions 'crash'" "${c:-0}" 1
  echo "$n: died of SIGSEGV; $(stat -c %s "$f") bytes of trace with steps 1 to $STEPS and 'crash'"
  verified="$verified $n"
}

crash flight
verify flight

crash traceback SCRY_TRACEBACK=1
verify traceback
grep -E '^scry: fatal signal SIGSEGV, fault address 0x0, in thread [0-9]+ of process [0-9]+$' \
  "$WORK/traceback.err" >/dev/null || fail "no fault line: $(cat "$WORK/traceback.err")"
grep -E '^	crash_now	.*flight_truth\.c:[0-9]+$' "$WORK/traceback.err" >/dev/null ||
  fail "no crash_now frame in the traceback: $(cat "$WORK/traceback.err")"
echo "traceback: the fault line and crash_now's frame, and the flight file"
eq "runs verified to the end" "$verified" " flight traceback"
pass "a crash writes the flight recorder's trace, up to the crash, and still dies of SIGSEGV"
