#!/usr/bin/env bash
# The threads profile written at exit (scry run -p threads) shows the
# program's threads as they were when it began to exit (threads_truth exit
# and return modes), with every unwinder (fp mode walks the exiting
# thread's own stack with libunwind: glibc keeps no frame pointers):
#   - the thread that called exit(): leaf-most frame finish (the function
#     that called exit), then main; state "exiting"; no frame of exit's
#     machinery (exit, __run_exit_handlers, _dl_fini, _dl_call_fini) nor of
#     scry;
#   - when main returned instead: leaf __libc_start_call_main, exiting;
#   - a second thread asleep: in sleeper_here, state sleep;
#   - the program's exit status is unchanged (5);
#   - go tool pprof -top reads the file and shows finish.
source "$SCRY_TESTS/lib.sh"
prog="$SCRY_BIN/tests/threads_truth"

# samples FILE: one line per sample, "LEAF|STATE|FRAME ; FRAME ...".
samples() {
  "$DUMP" "$1" | awk -F' [|] ' '/^sample / {
    split($2, fr, " ; "); st = ""
    m = split($3, lb, " "); for (k = 1; k <= m; k++) if (lb[k] ~ /^state=/) st = substr(lb[k], 7)
    print fr[1] "|" st "|" $2 }'
}
machinery='(^|; )(exit|__GI_exit|__run_exit_handlers|_dl_fini|_dl_call_fini|__libc_csu_fini)( ;|$)|scry'

for unwind in fp hybrid libunwind; do
  for mode in "exit 1" "exit 2" "return 2"; do
    out="$WORK/$unwind-${mode/ /-}"
    set +e
    "$SCRY" run --unwind "$unwind" -p threads -o "$out" -- "$prog" $mode >"$WORK/o" 2>"$WORK/e"
    st=$?
    set -e
    [ "$st" = 5 ] || fail "$unwind $mode: exit status $st, want 5: $(cat "$WORK/e")"
    f="$out/threads.pb.gz"
    [ -s "$f" ] || fail "$unwind $mode: no threads profile: $(cat "$WORK/e")"
    samples "$f" >"$WORK/s"
    echo "$unwind $mode:"; sed 's/^/  /' "$WORK/s"
    want_leaf=finish
    [ "${mode%% *}" = return ] && want_leaf=__libc_start_call_main
    want_n=${mode##* }
    eq "$unwind $mode: threads" "$(wc -l <"$WORK/s")" "$want_n"
    exiting=$(grep -c '|exiting|' "$WORK/s" || true)
    eq "$unwind $mode: exiting threads" "$exiting" 1
    line=$(grep '|exiting|' "$WORK/s")
    eq "$unwind $mode: the exiting thread's leaf" "${line%%|*}" "$want_leaf"
    [ "$want_leaf" = finish ] && { grep -q '|finish ; main ; ' <<<"$line" || fail "$unwind $mode: finish is not called from main: $line"; }
    if grep -E "$machinery" "$WORK/s" >/dev/null; then
      fail "$unwind $mode: exit's machinery or scry in a stack: $(grep -E "$machinery" "$WORK/s")"
    fi
    if [ "$want_n" = 2 ]; then
      grep -E '\|sleep\|(.* ; )?sleeper_here( ;|$)' "$WORK/s" >/dev/null ||
        fail "$unwind $mode: the sleeper is not shown asleep in sleeper_here"
    fi
  done
done
go_reads "$WORK/hybrid-exit-2/threads.pb.gz" finish
go tool pprof -traces "$WORK/hybrid-exit-2/threads.pb.gz" 2>/dev/null | grep -q sleeper_here ||
  fail "go tool pprof -traces does not show sleeper_here"
pass "threads at exit: the exiting thread where it called exit (or returned from main), the sleeper in its function, with fp, hybrid and libunwind"
