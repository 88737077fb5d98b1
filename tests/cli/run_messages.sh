#!/usr/bin/env bash
# When no profile can come out of a run, scry run says why in exactly one
# line, names the way out, and says nothing misleading after it; the exit
# status is the program's (or a shell's, when it cannot be run):
#   - a statically linked program, before the run, which still runs: a real
#     Debian one (ldconfig, static-pie, found through PATH), one built with
#     gcc -static, and a script whose interpreter is static;
#   - not found in PATH, no such file (127); permission denied, a missing
#     interpreter (126);
#   - killed by SIGKILL (scry dies of it too: 137);
#   - ended through _exit, or exec'd a program without scry;
#   - libscry.so never started (SCRY_LIB pointing at another library);
#   - a profile the library refused (heap under a malloc loaded first): its
#     own line only, not "not available", "could not write" or "no profile";
#   - a normal exit: only "scry: wrote" lines; and no run-status file left.
# (A setuid program run by another user: run_setuid.sh.)
source "$SCRY_TESTS/lib.sh"
ends="$SCRY_BIN/tests/cli_ends"
static="$SCRY_BIN/tests/cli_ends_static"
n=0
statics=0

# expect WANT_STATUS WANT_STDERR_LINE CMD...: runs scry run -o DIR -- CMD,
# checks the exit status and that stderr is exactly that one line.
expect() {
  local want_st=$1 want=$2 st
  shift 2
  n=$((n + 1))
  set +e
  "$SCRY" run -o "$WORK/out$n" -- "$@" >"$WORK/o" 2>"$WORK/e"
  st=$?
  set -e
  echo "$*: status $st: $(cat "$WORK/e")"
  [ "$st" = "$want_st" ] || fail "$*: exit status $st, want $want_st"
  [ "$(cat "$WORK/e")" = "$want" ] || fail "$*: stderr is not the one line
  got:  $(cat "$WORK/e")
  want: $want"
  if ls -A "$WORK/out$n" 2>/dev/null | grep -q '^\.scry-run'; then fail "$*: run-status file left behind"; fi
}

# Statically linked: said before the run, which still happens.
if [ -x /usr/sbin/ldconfig ] && ! readelf -lW /usr/sbin/ldconfig | grep -q INTERP; then
  PATH=/usr/sbin:/usr/bin:/sbin:/bin expect 0 \
    "scry: /usr/sbin/ldconfig is statically linked: LD_PRELOAD cannot load libscry.so into it; build it dynamically linked, or profile it with perf" \
    ldconfig --version
  grep -qi ldconfig "$WORK/o" || fail "ldconfig did not run: $(cat "$WORK/o")"
  statics=$((statics + 1))
else
  echo "note: /usr/sbin/ldconfig is not a static binary here; the gcc -static one stands alone"
fi
if [ -x "$static" ]; then
  expect 4 "scry: $static is statically linked: LD_PRELOAD cannot load libscry.so into it; build it dynamically linked, or profile it with perf" \
    "$static" exit 4
  eq "the static program's output" "$(cat "$WORK/o")" ran
  printf '#!%s exit\n' "$static" >"$WORK/static.sh"
  chmod +x "$WORK/static.sh"
  expect 0 "scry: $static (the interpreter of $WORK/static.sh) is statically linked: LD_PRELOAD cannot load libscry.so into it; build it dynamically linked, or profile it with perf" \
    "$WORK/static.sh"
  statics=$((statics + 1))
else
  echo "note: no static libc (libc6-dev's libc.a): cli_ends_static was not built"
fi

# Cannot be run: one line, a shell's status, nothing after it.
expect 127 "scry: cannot run 'scry-no-such-program': not found in PATH" scry-no-such-program
expect 127 "scry: cannot run '$WORK/missing': no such file" "$WORK/missing"
printf 'echo hi\n' >"$WORK/noexec"
chmod 644 "$WORK/noexec"
expect 126 "scry: cannot run '$WORK/noexec': permission denied" "$WORK/noexec"
printf '#!/nonexistent/interpreter\n' >"$WORK/badinterp"
chmod +x "$WORK/badinterp"
expect 126 "scry: cannot run '$WORK/badinterp': its interpreter /nonexistent/interpreter does not exist" "$WORK/badinterp"

# Did not reach exit: what happened to it, from its wait status.
expect 137 "scry: no profile was written: '$ends' was killed by SIGKILL, which no program can catch; --http ADDR serves the profiles while it runs" \
  "$ends" kill
expect 3 "scry: no profile was written: '$ends' ended (status 3) through _exit() or an exec() into a program without scry, so scry's exit code never ran; end it with exit(), or call scry_profile_write (include/scry.h) first" \
  "$ends" _exit 3
expect 6 "scry: no profile was written: 'env' ended (status 6) through _exit() or an exec() into a program without scry, so scry's exit code never ran; end it with exit(), or call scry_profile_write (include/scry.h) first" \
  env -u LD_PRELOAD "$ends" exit 6

# Never started: the preload named a library that is not scry.
libc=$(ldd "$ends" | awk '$1 == "libc.so.6" { print $3 }')
[ -r "$libc" ] || fail "cannot find libc.so.6 for $ends"
SCRY_LIB=$libc expect 5 "scry: no profile was written: libscry.so never started in '$ends' (the loader did not preload it; its reason, if it gave one, is above)" \
  "$ends" exit 5

# A normal exit: the file, and nothing else.
set +e
"$SCRY" run -o "$WORK/ok" -- "$ends" exit 5 >/dev/null 2>"$WORK/e"
st=$?
set -e
eq "normal exit: status" "$st" 5
grep -Eqx "scry: wrote $WORK/ok/cpu\.pb\.gz \([0-9]+ bytes\)" "$WORK/e" && [ "$(wc -l <"$WORK/e")" = 1 ] ||
  fail "normal exit: stderr is not just the wrote line: $(cat "$WORK/e")"

# A profile the library refuses says so once, and nothing contradicts it.
je=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
if [ -r "$je" ]; then
  SCRY_PRELOAD_FIRST="${SCRY_PRELOAD_FIRST:+$SCRY_PRELOAD_FIRST:}$je" \
    "$SCRY" run -p cpu,heap -o "$WORK/je" -- "$ends" exit 0 >/dev/null 2>"$WORK/e"
  echo "heap refused: $(cat "$WORK/e")"
  eq "heap refused: lines about heap" "$(grep -c heap "$WORK/e")" 1
  grep -q "^scry: the heap profile cannot see this program's allocations" "$WORK/e" ||
    fail "heap refused: the heap's own reason is missing: $(cat "$WORK/e")"
  grep -Eq "^scry: wrote $WORK/je/cpu\.pb\.gz" "$WORK/e" || fail "heap refused: cpu not written"
  eq "heap refused: lines" "$(wc -l <"$WORK/e")" 2
else
  echo "note: no libjemalloc.so.2: the refused-profile case is not run"
fi
[ "$statics" -gt 0 ] || { echo "SKIP: no static program to run (neither a static ldconfig nor libc.a)"; exit 0; }
pass "$n runs: each cause in one line, statuses kept, nothing misleading after"
