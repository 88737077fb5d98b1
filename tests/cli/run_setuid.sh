#!/usr/bin/env bash
# A setuid (or setgid) program run by a user who is not its owner, or one
# with file capabilities run by a user who is not root: the loader runs it
# in secure mode (AT_SECURE) and ignores LD_PRELOAD. scry run says so in
# one line before the run, with the way out; the program still runs with
# its exit status; nothing follows. Checked against the loader itself: the
# same copy with LD_PRELOAD set by hand writes nothing, and a copy without
# the bit, run by the same user, writes its profile.
source "$SCRY_TESTS/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root, to make a setuid-root copy and run scry as nobody"; exit 0; }
command -v setpriv >/dev/null || { echo "SKIP: setpriv is not installed (util-linux)"; exit 0; }
id nobody >/dev/null 2>&1 || { echo "SKIP: no user nobody"; exit 0; }
if findmnt -no OPTIONS -T "$WORK" | grep -qw nosuid; then echo "SKIP: $WORK is on a nosuid mount"; exit 0; fi
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }
as_nobody test -x "$SCRY" -a -r "$SCRY_BIN/libscry.so" ||
  { echo "SKIP: nobody cannot run $SCRY"; exit 0; }
chmod 755 "$WORK"
ends="$SCRY_BIN/tests/cli_ends"

# Control: the same program without the bit, as nobody, is profiled.
cp "$ends" "$WORK/plain"
mkdir -m 777 "$WORK/plain-out"
as_nobody "$SCRY" run -o "$WORK/plain-out" -- "$WORK/plain" exit 5 >/dev/null 2>"$WORK/e" || true
[ -s "$WORK/plain-out/cpu.pb.gz" ] || fail "control: nobody's run of a plain copy wrote nothing: $(cat "$WORK/e")"

# check NAME MODE LINE: a copy with MODE (a chmod mode, or cap:CAPS for
# setcap), run by nobody through scry run.
check() {
  local name=$1 mode=$2 want=$3 st
  cp "$ends" "$WORK/$name"
  chown root:root "$WORK/$name"
  case $mode in
    cap:*) setcap "${mode#cap:}" "$WORK/$name" ;;
    *) chmod "$mode" "$WORK/$name" ;; # after chown, which clears the bits
  esac
  mkdir -m 777 "$WORK/$name-out" "$WORK/$name-hand"
  set +e
  as_nobody "$SCRY" run -o "$WORK/$name-out" -- "$WORK/$name" exit 5 >"$WORK/o" 2>"$WORK/e"
  st=$?
  set -e
  echo "$name ($mode) as nobody: status $st: $(cat "$WORK/e")"
  eq "$name: exit status" "$st" 5
  eq "$name: its output" "$(cat "$WORK/o")" ran
  [ "$(cat "$WORK/e")" = "$want" ] || fail "$name: stderr is not the one line
  got:  $(cat "$WORK/e")
  want: $want"
  [ -z "$(ls -A "$WORK/$name-out")" ] || fail "$name: files in the output: $(ls -A "$WORK/$name-out")"
  # The loader, asked directly, ignores the preload too: the line is true.
  as_nobody env LD_PRELOAD="$SCRY_BIN/libscry.so" SCRY_PROFILES=cpu SCRY_OUT="$WORK/$name-hand" \
    "$WORK/$name" exit 5 >/dev/null 2>&1 || true
  [ -z "$(ls -A "$WORK/$name-hand")" ] || fail "$name: the loader did load libscry.so"
}
check suid 4755 "scry: $WORK/suid is setuid root: the loader ignores LD_PRELOAD in a program that gains privileges, so libscry.so cannot load into it; run scry as root, or profile a copy without the setuid bit"
check sgid 2755 "scry: $WORK/sgid is setgid root: the loader ignores LD_PRELOAD in a program that gains privileges, so libscry.so cannot load into it; run scry with root as its group (sg root), or profile a copy without the setgid bit"
cp "$ends" "$WORK/probe"
if command -v setcap >/dev/null && setcap cap_net_raw+ep "$WORK/probe" 2>/dev/null; then
  check caps cap:cap_net_raw+ep "scry: $WORK/caps is given file capabilities: the loader ignores LD_PRELOAD in a program that gains privileges, so libscry.so cannot load into it; run scry as root, or profile a copy without them"
else
  echo "note: setcap is missing or refused here: the file-capabilities case is not run"
fi
pass "setuid, setgid (and file-capability) programs run by nobody: one line each, status 5, nothing written, as the loader does"
