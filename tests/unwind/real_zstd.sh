#!/usr/bin/env bash
# Debian's zstd (no frame pointers, no debug information; libzstd exports
# its API only) compressing 25 MB of generated text at level 12 with two
# worker threads (-T2), profiled with scry's default unwinder next to perf
# --call-graph dwarf (real_lib.sh). zstd rather than xz: xz -T2's worker
# threads block every signal (scry's timer signals too, a known defect of
# scry's, filed apart), and xz -T1 has no threads; zstd's workers take
# signals, so their stacks from start_thread are checked here.
source "$SCRY_TESTS/unwind/real_lib.sh"
command -v zstd >/dev/null || skip "zstd is not installed (Debian zstd)"
# Text from a 300-word vocabulary, 5 MB generated and repeated 5 times:
# level 12's window is 4 MB, so the repeats are as much work as new text
# (the output is 5 times the first copy's alone).
gen_text 300 2 5 5 "$WORK/in.txt"
real_run /usr/bin/zstd -q -f -12 -T2 "$WORK/in.txt" -o "$WORK/in.txt.zst"
[ -s "$WORK/in.txt.zst" ] || fail "zstd wrote no output"
check_real zstd
