#!/usr/bin/env bash
# The exact totals are the program's (heap_leaks.c): a program that keeps
# exactly N blocks and counts its own allocation calls and frees shows N
# still allocated, and its own counts, in the heap profile's totals comment
# and in the summary `scry run` prints; a program that allocates nothing
# shows nothing. Run with the heap profile alone, and with every profile,
# the HTTP endpoint and a trace at once (scry's threads, its exit writes and
# the libraries it loads then allocate a great deal: none of it may show).
#
# Allowed on top of the program's own: libc's blocks made for the program,
# LIBC_FEW at most. Measured (docs/heap.md): 1, stdout's buffer, made by the
# program's printf after it took its counts; 0 for the program that
# allocates nothing. Never fewer than the program's own: a free of one of
# scry's blocks counted as the program's would show as a block missing.
source "$SCRY_TESTS/lib.sh"
PROG="$SCRY_BIN/tests/heap_leaks"
N=1000
LIBC_FEW=3

# check NAME OUT_DIR STDOUT STDERR WANT_ALLOC WANT_FREED
check() {
  local name=$1 dir=$2 out=$3 err=$4 want_a=$5 want_f=$6
  local c
  c=$("$DUMP" "$dir/heap.pb.gz" | grep '^comment totals: ') || fail "$name: no totals comment in the heap profile"
  read -r a f <<<"$(sed -E 's/.* in ([0-9]+) blocks, freed .* in ([0-9]+) blocks.*/\1 \2/' <<<"$c")"
  local left=$((a - f)) want_left=$((want_a - want_f))
  echo "$name: program allocated $want_a freed $want_f left $want_left; scry: allocated $a freed $f left $left (extra: $((a - want_a)) allocated, $((f - want_f)) freed)"
  [ "$a" -ge "$want_a" ] && [ "$a" -le $((want_a + LIBC_FEW)) ] ||
    fail "$name: $a blocks allocated, the program made $want_a (+ at most $LIBC_FEW of libc's)"
  [ "$f" -ge "$want_f" ] && [ "$f" -le $((want_f + LIBC_FEW)) ] ||
    fail "$name: $f blocks freed, the program freed $want_f (+ at most $LIBC_FEW of libc's)"
  [ "$left" -ge "$want_left" ] && [ "$left" -le $((want_left + LIBC_FEW)) ] ||
    fail "$name: $left blocks still allocated, the program left $want_left (+ at most $LIBC_FEW of libc's)"
  # The summary scry run prints says the same.
  grep -q "in $a blocks, freed .* in $f blocks, .* in $left blocks still allocated" "$err" ||
    fail "$name: scry run's summary differs from the profile's comment: $(grep totals "$err")"
}

run() {
  local name=$1 n=$2
  shift 2
  local dir="$WORK/$name"
  "$SCRY" run -o "$dir" "$@" -- "$PROG" "$n" >"$dir.out" 2>"$dir.err" || fail "$name: run failed: $(cat "$dir.err")"
  if [ "$n" -gt 0 ]; then
    read -r want_a want_f <<<"$(sed -nE 's/^program allocated ([0-9]+) freed ([0-9]+) left .*/\1 \2/p' "$dir.out")"
    [ -n "${want_f:-}" ] || fail "$name: the program did not print its counts: $(cat "$dir.out")"
    [ $((want_a - want_f)) = "$n" ] || fail "$name: the program left $((want_a - want_f)) blocks, not $n"
  else
    want_a=0 want_f=0
  fi
  check "$name" "$dir" "$dir.out" "$dir.err" "$want_a" "$want_f"
}

ALL=(-p heap,allocs,cpu,mutex,block,threads,wall --http :0 --trace "$WORK/t.pftrace")
run heap $N -p heap
run all $N "${ALL[@]}"
run heap_nothing 0 -p heap
run all_nothing 0 "${ALL[@]}"
pass "exact totals are the program's: $N blocks left show $N (+ libc's stdout buffer), nothing shows nothing, with every profile on too"
