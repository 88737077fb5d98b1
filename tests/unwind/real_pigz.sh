#!/usr/bin/env bash
# Debian's pigz (no frame pointers, no debug information: its own functions
# and most of libz's have no symbol), compressing 48 MB of generated text
# with two compression threads (-p 2), profiled with scry's default
# unwinder next to perf --call-graph dwarf (real_lib.sh): its threads'
# stacks run start_thread -> pigz -> deflate -> libz's internals, the main
# thread's _start -> __libc_start_main -> pigz -> read/write.
source "$SCRY_TESTS/unwind/real_lib.sh"
command -v pigz >/dev/null || skip "pigz is not installed (Debian pigz)"
# Text from a 50-word vocabulary: deflate -9 finds long hash chains in it,
# ~50 ms of CPU per MB here. 4 MB generated, repeated (deflate's window is
# 32 KB, so the repeats are as much work as new text).
awk 'BEGIN { srand(1); for (i = 0; i < 50; i++) { w = ""; l = 2 + int(rand() * 8)
               for (j = 0; j < l; j++) w = w sprintf("%c", 97 + int(rand() * 26)); v[i] = w }
             for (n = 0; n < 4000000;) { s = ""; for (k = 0; k < 12; k++) s = s v[int(rand() * 50)] " "
                                         print s; n += length(s) + 1 } }' >"$WORK/chunk"
for i in $(seq 12); do cat "$WORK/chunk"; done >"$WORK/in.txt"
real_run /usr/bin/pigz -9 -p 2 -k -f "$WORK/in.txt"
[ -s "$WORK/in.txt.gz" ] || fail "pigz wrote no output"
check_real pigz
