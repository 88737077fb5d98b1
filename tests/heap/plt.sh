#!/usr/bin/env bash
# A non-PIE program whose malloc symbol is a canonical PLT entry
# (heap_plt.c): scry profiles it (its malloc calls do reach scry), and with
# jemalloc preloaded first it names jemalloc, not the program, once.
source "$SCRY_TESTS/lib.sh"
PROG="$SCRY_BIN/tests/heap_plt"
readelf --dyn-syms -W "$PROG" | awk '$8 ~ /^malloc(@|$)/ && $7 == "UND" && $2 !~ /^0+$/ { found = 1 } END { exit !found }' ||
  fail "heap_plt has no canonical PLT entry for malloc (the toolchain did not make one): $(readelf --dyn-syms -W "$PROG" | grep -w malloc)"

"$SCRY" run -p heap,allocs --heap-rate 1 -o "$WORK/o" -- "$PROG" >/dev/null 2>"$WORK/err" || fail "run failed: $(cat "$WORK/err")"
if grep -E "cannot see|not available|did the program exit" "$WORK/err" >&2; then fail "scry stood aside"; fi
eq "keep_through_plt inuse_objects" "$(cum_at "$WORK/o/heap.pb.gz" keep_through_plt inuse_objects)" 100
eq "keep_through_plt inuse_space" "$(cum_at "$WORK/o/heap.pb.gz" keep_through_plt inuse_space)" 10000

JE=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1)
if [ -n "$JE" ]; then
  SCRY_PRELOAD_FIRST="$JE" "$SCRY" run -p heap -o "$WORK/s" -- "$PROG" >/dev/null 2>"$WORK/err2" ||
    fail "jemalloc first: run failed: $(cat "$WORK/err2")"
  [ "$(grep -c "cannot see this program's allocations: its malloc is .*libjemalloc" "$WORK/err2")" = 1 ] ||
    fail "jemalloc first: not said once, naming jemalloc: $(cat "$WORK/err2")"
  [ ! -e "$WORK/s/heap.pb.gz" ] || fail "jemalloc first: a heap profile was written"
else
  echo "note: jemalloc is not installed: the foreign allocator behind a PLT entry is not tried"
fi
pass "canonical PLT entry for malloc: profiled; jemalloc behind it named once"
