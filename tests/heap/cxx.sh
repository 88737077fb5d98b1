#!/usr/bin/env bash
# C++ (heap_cxx.cc) at rate 1, with $UNWIND: new and new[] are charged to
# the function calling them, as the leaf (flat == cum), vector growth to the
# function pushing back; operator new never shows.
source "$SCRY_TESTS/lib.sh"
args=(--heap-rate 1)
[ -n "${UNWIND:-}" ] && args+=(--unwind "$UNWIND")
"$SCRY" run -p heap,allocs "${args[@]}" -o "$WORK/o" -- "$SCRY_BIN/tests/heap_cxx" >/dev/null 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
h="$WORK/o/heap.pb.gz"
a="$WORK/o/allocs.pb.gz"
eq "new_nodes inuse_space (flat)" "$(flat_at "$h" "new_nodes()" inuse_space)" 1000000
eq "new_nodes inuse_space (cum)" "$(cum_at "$h" "new_nodes()" inuse_space)" 1000000
eq "new_nodes alloc_objects (flat)" "$(flat_at "$a" "new_nodes()" alloc_objects)" 10000
eq "new_arrays inuse_space (flat)" "$(flat_at "$h" "new_arrays()" inuse_space)" 1000000
eq "grow_vector inuse_space (cum)" "$(cum_at "$h" "grow_vector(std::vector<int, std::allocator<int> >&)" inuse_space)" 4194304
eq "grow_vector alloc_space (cum)" "$(cum_at "$a" "grow_vector(std::vector<int, std::allocator<int> >&)" alloc_space)" $((8388608 - 4))
if "$DUMP" "$a" | grep -E '^func .*(operator new|_Znwm|_Znam)' >&2; then fail "operator new shows in the profile"; fi
go_reads "$h" new_nodes
pass "C++ (${UNWIND:-hybrid}): new, new[] and vector growth charged to their callers"
