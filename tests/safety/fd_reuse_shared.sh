#!/usr/bin/env bash
# fd_reuse.sh's program where scry's threads cannot leave the program's
# descriptor table (a seccomp filter refuses unshare, no_unshare.c): scry
# says so once and keeps its descriptors at high numbers (core/fds.h). The
# program's files are byte-exact and its exit status its own, whichever way
# it takes its numbers back; when its dup2 takes the trace's number, the
# trace ends there, said once, and nothing of it reaches the program's file.
source "$SCRY_TESTS/lib.sh"
source "$SCRY_TESTS/safety/fd_lib.sh"
RUNS=${RUNS:-$([ -n "${SCRY_PRELOAD_FIRST:-}" ] && echo 2 || echo 5)}
for mode in close close0 closefrom close_range dup2; do
  for n in $(seq "$RUNS"); do
    d="$WORK/$mode.$n"
    run_fd_reuse "$mode" "$d" "$SCRY_BIN/tests/no_unshare"
    files_exact "$mode run $n" "$d"
    eq "$mode run $n: the fallback said once" \
      "$(grep -c "scry's threads share the program's descriptor table (unshare: Operation not permitted)" "$d/stderr")" 1
    if [ "$mode" = dup2 ]; then
      eq "$mode run $n: trace cut short, said once" \
        "$(grep -c "trace: its output was closed or replaced by the program" "$d/stderr")" 1
    else
      [ -s "$d/trace.pftrace" ] || fail "$mode run $n: no trace: $(cat "$d/stderr")"
    fi
  done
  pass "$mode with scry in the program's table: $RUNS runs, files byte-exact, exit status 7"
done
