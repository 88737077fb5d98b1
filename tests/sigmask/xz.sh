#!/usr/bin/env bash
# Debian's xz with two worker threads, which block every signal (xz creates
# them under a full mask): the CPU profile must hold >= 90% of the CPU time
# xz used, as the shell measures it for its children (bash's `times`), and
# the workers' stacks must reach liblzma from start_thread; scry must not
# say that anything was missed. The output must decompress to the input.
source "$SCRY_TESTS/lib.sh"
command -v xz >/dev/null || { echo "SKIP: xz is not installed (Debian xz-utils)"; exit 0; }
# 8 MB of text of random words (as real_lib.sh's gen_text), in blocks of
# 1 MiB so that both threads always have work: about 3 s of CPU here.
awk -v seed=17 'BEGIN { srand(seed)
  for (i = 0; i < 20000; i++) { w = ""; l = 2 + int(rand() * 8)
    for (j = 0; j < l; j++) w = w sprintf("%c", 97 + int(rand() * 26)); v[i] = w }
  for (n = 0; n < 8000000;) { s = ""; for (k = 0; k < 12; k++) s = s v[int(rand() * 20000)] " "
    print s; n += length(s) + 1 } }' >"$WORK/in.txt"
# The children's CPU time, before and after: xz's, and the scry CLI's (a fork and a wait).
# `times` itself runs in this shell (in a subshell it would give the
# subshell's children).
children_cpu() {
  tail -1 "$1" | sed -E 's/([0-9]+)m([0-9.]+)s ([0-9]+)m([0-9.]+)s/\1 \2 \3 \4/' |
    awk '{ print $1 * 60 + $2 + $3 * 60 + $4 }'
}
times >"$WORK/times0"
"$SCRY" run -p cpu -o "$WORK/out" -- xz -T2 -k -6 --block-size=1MiB "$WORK/in.txt" 2>"$WORK/err" ||
  fail "xz under scry failed: $(cat "$WORK/err")"
times >"$WORK/times1"
xz -dc "$WORK/in.txt.xz" | cmp -s - "$WORK/in.txt" || fail "xz's output does not decompress to its input"
c="$WORK/out/cpu.pb.gz"
t=$(total "$c")
used=$(awk -v a="$(children_cpu "$WORK/times0")" -v b="$(children_cpu "$WORK/times1")" 'BEGIN { printf "%.0f", (b - a) * 1e9 }')
lz=$("$DUMP" "$c" | awk -F' [|] ' '$1 ~ /^sample / { split(substr($1, 8), v, ",")
  if ($2 ~ /lzma/ && $2 ~ /start_thread/) s += v[2] } END { printf "%.0f\n", s }')
echo "cpu profile ${t} ns; xz used ${used} ns (user+sys of the children); in liblzma under start_thread ${lz} ns"
cat "$WORK/err"
within "$t" "$used" 0.90 1.05 || fail "the cpu profile holds $t ns of the $used ns xz used"
within "$lz" "$t" 0.80 1.0001 || fail "only $lz of $t ns reach liblzma in a worker thread"
# xz closes its stderr before it exits: the profile's comments say it too.
if grep -E 'not sampled|the cpu profile holds' "$WORK/err" ||
  "$DUMP" "$c" | grep -E '^comment .*(not sampled|the cpu profile holds)'; then
  fail "scry says CPU time was missed"
fi
pass "xz -T2: the profile holds $(awk -v a="$t" -v b="$used" 'BEGIN { printf "%.1f", 100 * a / b }')% of its CPU time," \
  "$(awk -v a="$lz" -v b="$t" 'BEGIN { printf "%.1f", 100 * a / b }')% in liblzma in the workers"
