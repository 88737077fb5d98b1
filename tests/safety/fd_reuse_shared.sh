#!/usr/bin/env bash
# fd_reuse.sh's program where scry's threads cannot leave the program's
# descriptor table (a seccomp filter refuses unshare, no_unshare.c): scry
# says so once and keeps its descriptors at high numbers (core/fds.h). The
# program's files are byte-exact and its exit status its own, whichever way
# it takes its numbers back; when its dup2 takes the trace's number, the
# trace ends there, said once, and nothing of it reaches the program's file.
source "$SCRY_TESTS/lib.sh"
PROG="$SCRY_BIN/tests/fd_reuse"
RUNS=${RUNS:-$([ -n "${SCRY_PRELOAD_FIRST:-}" ] && echo 2 || echo 5)}
want_a=$(printf 'a%.0s' $(seq 310))
want_b=$(printf 'b%.0s' $(seq 310))
want_c=$(printf 'c%.0s' $(seq 310))
for mode in close close0 closefrom close_range dup2; do
  for n in $(seq "$RUNS"); do
    d="$WORK/$mode.$n"
    mkdir -p "$d"
    rc=0
    "$SCRY_BIN/tests/no_unshare" "$SCRY" run -p cpu,heap,allocs,mutex,block,threads,wall \
      --cpu-hz 1000 --wall-hz 1000 --http 127.0.0.1:0 --trace "$d/trace.pftrace" -o "$d/out" \
      -- "$PROG" "$mode" "$d" </dev/null >"$d/stdout" 2>"$d/stderr" || rc=$?
    [ "$rc" = 7 ] || fail "$mode run $n: exit status $rc, want 7: $(cat "$d/stderr")"
    [ "$(cat "$d/a")" = "$want_a" ] || fail "$mode run $n: file a is not the program's 310 bytes: $(wc -c <"$d/a") bytes"
    [ "$(cat "$d/b")" = "$want_b" ] || fail "$mode run $n: file b is not the program's 310 bytes: $(wc -c <"$d/b") bytes"
    [ "$(cat "$d/c")" = "$want_c" ] || fail "$mode run $n: file c is not the program's 310 bytes: $(wc -c <"$d/c") bytes: $(head -c 200 "$d/c")"
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
