#!/usr/bin/env bash
# Tracebacks (crash.c):
#   - SIGQUIT with --traceback prints every thread's stack (4 threads: main
#     in main_waits, three in quit_parked with file:line) on stderr and the
#     program carries on to its normal end (exit 0, "carried on"); with
#     --traceback=exit it prints them, writes the profiles and dies of
#     SIGQUIT;
#   - a null write in crash_here prints the fault address and the crashing
#     frame with its file:line, then every other thread; the program still
#     dies of SIGSEGV (scry run passes the death on: 139), and the CPU
#     profile asked for was written and reads, with most of its time in
#     burn_cpu (a loop in clock_gettime); abort() likewise (134), with
#     the stack walked through libc down to abort_here's file:line.
# SCRY_TRACEBACK without a value the library knows is refused in one line.
source "$SCRY_TESTS/lib.sh"
ulimit -c 0
prog="$SCRY_BIN/tests/crash"
src="$SCRY_TESTS/threads/crash.c"

# quit_run MODE NAME: runs `crash quit` with --traceback=MODE (output in
# $WORK/NAME.out, .err, profiles in $WORK/NAME/), sends SIGQUIT to the
# program once it is ready, and sets pid and st (its exit status).
quit_run() {
  "$SCRY" run --traceback="$1" -p cpu -o "$WORK/$2" -- "$prog" quit >"$WORK/$2.out" 2>"$WORK/$2.err" &
  local run=$!
  for _ in $(seq 100); do grep -q '^ready' "$WORK/$2.out" 2>/dev/null && break; sleep 0.05; done
  pid=$(awk '/^ready/ { print $2 }' "$WORK/$2.out")
  [ -n "$pid" ] || fail "the program did not start ($1)"
  sleep 0.2
  kill -QUIT "$pid"
  set +e
  wait "$run"
  st=$?
  set -e
}

# 1. SIGQUIT, carry on.
quit_run continue q
eq "exit status after SIGQUIT (carry on)" "$st" 0
grep -q '^carried on$' "$WORK/q.out" || fail "the program did not carry on"
grep -F "scry: SIGQUIT: the stack of every thread of process $pid" "$WORK/q.err" >/dev/null ||
  fail "no SIGQUIT header: $(cat "$WORK/q.err")"
eq "threads in the SIGQUIT traceback" "$(grep -cE '^thread [0-9]+ "[^"]*" \[' "$WORK/q.err")" 4
pl=$(grep -n 'pthread_cond_wait(&c, &m)' "$src" | head -1 | cut -d: -f1)
n=$(grep -cE "^	quit_parked	.*crash\.c:$pl$" "$WORK/q.err")
eq "quit_parked frames with crash.c:$pl" "$n" 3
grep -E "^	main_waits	.*crash\.c:[0-9]+$" "$WORK/q.err" >/dev/null || fail "main_waits not shown"
echo "SIGQUIT: 4 threads printed, program carried on"

# 1b. SIGQUIT with --traceback=exit: the stacks, the profiles, and the
# program dies of SIGQUIT as it would have (scry run passes it on: 131).
quit_run exit qx
eq "exit status after SIGQUIT in exit mode (128 + 3)" "$st" 131
grep -q '^carried on$' "$WORK/qx.out" && fail "the program carried on in exit mode"
eq "threads in the exit-mode traceback" "$(grep -cE '^thread [0-9]+ "[^"]*" \[' "$WORK/qx.err")" 4
[ -s "$WORK/qx/cpu.pb.gz" ] || fail "exit mode: the CPU profile was not written"
echo "SIGQUIT, exit mode: 4 threads printed, profile written, died of SIGQUIT"

# 2. SIGSEGV.
set +e
"$SCRY" run --traceback -p cpu -o "$WORK/s" -- "$prog" segv >"$WORK/sout" 2>"$WORK/serr"
st=$?
set -e
eq "exit status after SIGSEGV (128 + 11)" "$st" 139
cl=$(grep -n 'CRASH LINE' "$src" | cut -d: -f1)
grep -E '^scry: fatal signal SIGSEGV, fault address 0x0, in thread [0-9]+ of process [0-9]+$' "$WORK/serr" \
  >/dev/null || fail "no fault line: $(cat "$WORK/serr")"
awk '/the one that received SIGSEGV/ { on = 1; next } on && NF == 0 { exit } on' "$WORK/serr" >"$WORK/fault"
head -1 "$WORK/fault" | grep -E "^	crash_here	.*crash\.c:$cl$" >/dev/null ||
  fail "the faulting frame is not crash_here at crash.c:$cl: $(cat "$WORK/fault")"
grep -F 'every other thread' "$WORK/serr" >/dev/null || fail "no other threads section"
go_reads "$WORK/s/cpu.pb.gz" burn_cpu
# burn_cpu reads the clock on every turn: most samples are in the vDSO under
# libc's clock_gettime, and the profile must find burn_cpu above them.
bc=$(cum "$WORK/s/cpu.pb.gz" burn_cpu)
bt=$(total "$WORK/s/cpu.pb.gz")
within "$bc" "$bt" 0.80 1.0001 || fail "burn_cpu has $bc of the CPU profile's $bt ns, want most of it"
echo "SIGSEGV: fault line, crash_here at crash.c:$cl, died of SIGSEGV, cpu profile written (burn_cpu $bc of $bt ns)"

# 2b. abort(): the stack through libc's abort and raise down to
# abort_here's file:line, and the program still dies of SIGABRT (134).
set +e
"$SCRY" run --traceback -p cpu -o "$WORK/a" -- "$prog" abort >/dev/null 2>"$WORK/aerr"
st=$?
set -e
eq "exit status after abort() (128 + 6)" "$st" 134
al=$(grep -n 'ABORT LINE' "$src" | cut -d: -f1)
grep -E '^scry: fatal signal SIGABRT, in thread [0-9]+ of process [0-9]+$' "$WORK/aerr" >/dev/null ||
  fail "no SIGABRT line: $(cat "$WORK/aerr")"
grep -E "^	abort_here	.*crash\.c:$al$" "$WORK/aerr" >/dev/null ||
  fail "abort_here at crash.c:$al is not in the traceback: $(cat "$WORK/aerr")"
echo "SIGABRT: abort_here at crash.c:$al, died of SIGABRT"

# 3. A bad SCRY_TRACEBACK: one line, the program runs.
SCRY_TRACEBACK=sometimes LD_PRELOAD="${SCRY_PRELOAD_FIRST:+$SCRY_PRELOAD_FIRST:}$SCRY_BIN/libscry.so" /bin/true 2>"$WORK/berr" ||
  fail "a bad SCRY_TRACEBACK stopped the program"
eq "lines for a bad SCRY_TRACEBACK" "$(grep -c 'SCRY_TRACEBACK' "$WORK/berr")" 1
pass "tracebacks on SIGQUIT and SIGSEGV"
