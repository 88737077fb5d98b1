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
gen_text 50 1 4 12 "$WORK/in.txt"
real_run /usr/bin/pigz -9 -p 2 -k -f "$WORK/in.txt"
[ -s "$WORK/in.txt.gz" ] || fail "pigz wrote no output"
check_real pigz
