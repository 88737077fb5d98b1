#!/usr/bin/env bash
# A thread that blocks SIGPROF and SIGVTALRM by name keeps them blocked
# (blockall named: named_blocker's thread uses 2T ms of CPU, free_worker's
# T ms, by their own clocks). Checks:
#   - named_blocker is not in the CPU profile, free_worker is (>= 95% of its
#     own CPU time);
#   - scry says so on stderr and in the profile's comments: "CPU time not
#     sampled: X in 1 thread that blocks SIGPROF", X within a factor 1.5 of
#     the thread's own CPU time, and the capture line "the cpu profile holds
#     A of the process's B of CPU time (P%)", B within 15% of the process's
#     own CPU time, P within 10 points of what the program's clocks give;
#   - the wall profile does not ask the deaf thread at every tick: a comment
#     counts its samples, at most 25% of ticks have a request unanswered
#     (all would), and at most 25% are late (all would).
source "$SCRY_TESTS/lib.sh"
T=${T:-500}
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
"$SCRY" run -p cpu,wall -o "$WORK/out" -- "$SCRY_BIN/tests/blockall" named "$T" >"$WORK/r" 2>"$WORK/err" ||
  fail "run failed: $(cat "$WORK/err")"
cat "$WORK/err"
c="$WORK/out/cpu.pb.gz"
blk=$(val blocker_cpu_ns "$WORK/r")
free=$(val free_cpu_ns "$WORK/r")
proc=$(val process_cpu_ns "$WORK/r")
nb=$(cum "$c" named_blocker)
fw=$(cum "$c" free_worker)
echo "named_blocker: ${nb} ns in the profile (own ${blk}); free_worker ${fw} ns (own ${free}); process ${proc} ns"
eq "named_blocker's CPU time in the profile" "$nb" 0
within "$fw" "$free" 0.95 1.05 || fail "free_worker has $fw ns of its own $free ns"

# "scry: CPU time not sampled: 1.00 s in 1 thread that blocks SIGPROF (...)"
line=$(grep '^scry: CPU time not sampled: ' "$WORK/err") || fail "no not-sampled line on stderr"
x=$(sed -E 's/.*not sampled: ([0-9.]+) s in ([0-9]+) thread.*/\1 \2/' <<<"$line")
read -r secs nthreads <<<"$x"
eq "threads said not sampled" "$nthreads" 1
within "$secs" "$(awk -v n="$blk" 'BEGIN { print n / 1e9 }')" 0.67 1.5 ||
  fail "said $secs s not sampled; the thread used $blk ns"
"$DUMP" "$c" | grep "^comment ${line#scry: }\$" >/dev/null || fail "the not-sampled line is not in the profile's comments"

# "scry: the cpu profile holds 0.50 s of the process's 1.50 s of CPU time (33%); ..."
cap=$(grep '^scry: the cpu profile holds ' "$WORK/err") || fail "no capture line on stderr"
read -r held of pct < <(sed -E "s/.*holds ([0-9.]+) s of the process's ([0-9.]+) s of CPU time \\(([0-9]+)%\\).*/\\1 \\2 \\3/" <<<"$cap")
within "$of" "$(awk -v n="$proc" 'BEGIN { print n / 1e9 }')" 0.85 1.15 || fail "capture line says the process used $of s; it measured $proc ns"
want=$(awk -v f="$free" -v p="$proc" 'BEGIN { printf "%.0f", 100 * f / p }')
awk -v a="$pct" -v b="$want" 'BEGIN { d = a - b; exit !(d <= 10 && d >= -10) }' || fail "capture line says $pct%, the clocks give $want%"
grep -q 'block' <<<"$cap" || fail "the capture line does not name the cause: $cap"
"$DUMP" "$c" | grep "^comment ${cap#scry: }\$" >/dev/null || fail "the capture line is not in the profile's comments"

w="$WORK/out/wall.pb.gz"
"$DUMP" "$w" | grep '^comment [0-9]* samples of threads that block SIGVTALRM' >/dev/null ||
  fail "the wall profile does not count the samples of the thread that blocks SIGVTALRM:" \
    "$("$DUMP" "$w" | grep '^comment')"
line=$("$DUMP" "$w" | grep '^comment ticks:')
echo "$line"
read -r ticks late missing < <(sed -E 's/^comment ticks: ([0-9]+) \(([0-9]+) late.*unanswered: ([0-9]+).*/\1 \2 \3/' <<<"$line")
# Asked at every tick, the deaf thread would leave a request unanswered at
# every tick and make it wait: it is asked about once a second (a busy
# machine delays some of free_worker's answers too).
within "$missing" "$ticks" 0 0.25 || fail "$missing of $ticks ticks had a request unanswered"
within "$late" "$ticks" 0 0.25 || fail "$late of $ticks wall ticks late"
pass "named SIGPROF kept blocked; said: $secs s not sampled (own $(awk -v n="$blk" 'BEGIN { printf "%.2f", n / 1e9 }') s), capture $pct% (clocks $want%)"
