#!/usr/bin/env bash
# A library with no .eh_frame and no frame pointers (debug_frame_lib.c,
# built -fno-asynchronous-unwind-tables -fomit-frame-pointer -g): the
# default unwinder reads its .debug_frame from the file, so the CPU samples
# in df_leaf reach df_caller through df_middle. Checks: the library really
# has no PT_GNU_EH_FRAME; df_caller's cumulative CPU is at least 95% of the
# time the program measured around its loop, and df_leaf's samples are at
# least 95% under df_caller.
source "$SCRY_TESTS/lib.sh"
lib="$SCRY_BIN/tests/libdebug_frame_lib.so"
if readelf -lW "$lib" | grep -q GNU_EH_FRAME; then fail "$lib has an .eh_frame_hdr: the test would not test .debug_frame"; fi
"$SCRY" run --cpu-hz 1000 -o "$WORK/out" -- "$SCRY_BIN/tests/debug_frame_main" >"$WORK/stdout" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
p="$WORK/out/cpu.pb.gz"
own=$(awk '$1 == "df_caller_cpu_ns" { print $2 }' "$WORK/stdout")
c=$(cum "$p" df_caller)
leaf=$(cum "$p" df_leaf)
under=$("$DUMP" "$p" | awk -F' [|] ' '$1 ~ /^sample / && $2 ~ /^df_leaf ; df_middle ; df_caller / { split(substr($1, 8), v, ","); s += v[2] } END { printf "%.0f\n", s }')
echo "df_caller: ${c} ns in the profile, ${own} ns by its own clock; df_leaf ${leaf} ns, ${under} ns of it under df_middle and df_caller"
within "$c" "$own" 0.95 1.05 || fail "df_caller has $c ns, not within 5% of its own $own ns"
within "$under" "$leaf" 0.95 1.0001 || fail "only $under of df_leaf's $leaf ns reach df_caller"
pass "a library described by .debug_frame alone unwinds"
