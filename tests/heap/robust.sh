#!/usr/bin/env bash
# The malloc family and its awkward cases (heap_robust.c), scry linked and
# driven by the API at rate 1: exact in-use bytes per function, nothing from
# before the start, no unmatched free, and 20 forks with busy threads that
# each write their own profile.
source "$SCRY_TESTS/lib.sh"
timeout 120 "$SCRY_BIN/tests/heap_robust" "$WORK/parent.pb.gz" "$WORK/child.pb.gz" >"$WORK/out" 2>"$WORK/err" ||
  fail "heap_robust failed: $(cat "$WORK/err")"
p="$WORK/parent.pb.gz"
eq "before_start" "$(cum_at "$p" before_start alloc_space)" 0
eq "grow_realloc" "$(cum_at "$p" grow_realloc inuse_space)" 100000
eq "grow_realloc objects" "$(cum_at "$p" grow_realloc inuse_objects)" 1
eq "grow_realloc allocated" "$(cum_at "$p" grow_realloc alloc_space)" 111100
eq "shrink_realloc" "$(cum_at "$p" shrink_realloc inuse_space)" 100
eq "realloc_zero" "$(cum_at "$p" realloc_zero inuse_space)" 0
eq "aligned_family" "$(cum_at "$p" aligned_family inuse_space)" 12612
eq "thread_body" "$(cum_at "$p" thread_body inuse_space)" 40000
"$DUMP" "$p" | grep "^comment dropped samples: 0 (tables full); unmatched frees: 0$" >/dev/null ||
  fail "drops or unmatched frees: $("$DUMP" "$p" | grep dropped)"
c="$WORK/child.pb.gz"
eq "child: in_child" "$(cum_at "$c" in_child inuse_space)" 5000
eq "child: grow_realloc (inherited)" "$(cum_at "$c" grow_realloc inuse_space)" 100000
pass "malloc family exact; pre-start blocks ignored; 20 forks with busy threads"
