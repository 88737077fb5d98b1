#!/usr/bin/env bash
# The unwind rows scry compiles from .eh_frame agree with libdw's reading of
# the same CFI at every row boundary and 20000 random addresses of each
# executable segment, on Debian's own libc, libstdc++, dynamic loader and
# python3 and on libscry.so; damaged copies compile without a fault.
source "$SCRY_TESTS/lib.sh"
files=()
for f in /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libstdc++.so.6 \
         /lib64/ld-linux-x86-64.so.2 "$(readlink -f /usr/bin/python3)" "$SCRY_BIN/libscry.so"; do
  [ -f "$f" ] && files+=("$f")
done
[ "${#files[@]}" -ge 3 ] || fail "fewer than 3 of the objects to check are installed: ${files[*]}"
out=$("$SCRY_BIN/tests/cfi_check" "${files[@]}") || fail "$out"
echo "$out"
n=$(grep -c '^ok ' <<<"$out")
[ "$n" -eq "${#files[@]}" ] || fail "only $n of ${#files[@]} objects checked: $out"
pass "rows match libdw on ${#files[@]} objects"
