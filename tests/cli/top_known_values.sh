#!/usr/bin/env bash
# scry top and pprof_dump on a profile whose numbers are known (written by
# tests/cli/make_profile.c; its header lists the stacks and sums): the
# flat and cum of each function under inlining, recursion, a frame without
# lines, two functions of one name and a zero-valued sample, the totals,
# percentages and units, for both sample types, sorted by flat and by cum,
# gzipped and bare. Then go tool pprof -top on the same files must print
# the same report, line for line (sizes aside: pprof says kB, scry KiB).
set -euo pipefail
source "$SCRY_TESTS/lib.sh"
command -v go >/dev/null || fail "go is not installed (make test installs golang-go)"
export TZ=UTC # the Time: line, in both tools
mk="$SCRY_BIN/tests/make_profile"
cpu="$WORK/cpu.pb.gz" heap="$WORK/heap.pb.gz" raw="$WORK/cpu.pb"
"$mk" "$cpu"
"$mk" "$heap" --heap
"$mk" "$raw" --raw
strip() { sed 's/[[:space:]]*$//'; }
same() { # what, expected file, actual file
  diff -u "$2" "$3" >"$WORK/diff" || { cat "$WORK/diff" >&2; fail "$1 differs from the ground truth"; }
}

# 1. The reader's sums, raw integers (pprof_dump).
cat >"$WORK/want" <<'END'
total 2440000000
sample_type samples/count
sample_type cpu/nanoseconds
default_sample_type
period_type cpu/nanoseconds
period 10000000
time_nanos 1700000000000000000
duration_nanos 2500000000
comment made by tests/cli/make_profile
comment # pprof hides this comment
samples 9
func 1230000000 1230000000 hash
func 610000000 610000000 fib
func 500000000 1800000000 work
func 50000000 50000000 crc
func 40000000 40000000 [libfoo.so.1]
func 10000000 10000000 helper
func 0 2440000000 main
loc 0x401000 app build_id=b1d0a11ce0ffee | main main.c:10
loc 0x401100 app build_id=b1d0a11ce0ffee | work work.c:20
loc 0x401200 app build_id=b1d0a11ce0ffee | hash hash.h:5 ; work work.c:25
loc 0x401300 app build_id=b1d0a11ce0ffee | fib fib.c:3
loc 0x401310 app build_id=b1d0a11ce0ffee | fib fib.c:4
loc 0x7f0000001000 libfoo.so.1 build_id=f00dfeed |
loc 0x401400 app build_id=b1d0a11ce0ffee | helper a.c:1
loc 0x401500 app build_id=b1d0a11ce0ffee | helper b.c:2
loc 0x401600 app build_id=b1d0a11ce0ffee | crc crc.c:3 ; work work.c:27
loc 0x401700 app build_id=b1d0a11ce0ffee | crc crc.c:4
sample 123,1230000000 | hash ; work ; main | thread=worker tid=7
sample 45,450000000 | work ; main | thread=main
sample 61,610000000 | fib ; fib ; fib ; main |
sample 4,40000000 | [libfoo.so.1] ; work ; main |
sample 1,10000000 | helper ; helper ; main |
sample 3,30000000 | crc ; work ; main |
sample 2,20000000 | crc ; main |
sample 0,0 | work ; main |
sample 5,50000000 | work ; main |
END
"$DUMP" "$cpu" | strip >"$WORK/got"
same "pprof_dump $cpu" "$WORK/want" "$WORK/got"
"$DUMP" "$raw" | strip >"$WORK/got"
same "pprof_dump of the bare protobuf" "$WORK/want" "$WORK/got"
echo "pprof_dump: total 2440000000 ns; flat/cum hash 1230000000/1230000000 (inlined)," \
  "fib 610000000/610000000 (recursive), work 500000000/1800000000, main 0/2440000000"
cat >"$WORK/want" <<'END'
total 244
func 123 123 hash
func 61 61 fib
func 50 180 work
func 5 5 crc
func 4 4 [libfoo.so.1]
func 1 1 helper
func 0 244 main
END
"$DUMP" "$cpu" --sample-index samples | grep -E '^(total|func) ' >"$WORK/got"
same "pprof_dump --sample-index samples" "$WORK/want" "$WORK/got"
"$DUMP" "$cpu" --sample-index 0 | grep -E '^(total|func) ' >"$WORK/got"
same "pprof_dump --sample-index 0" "$WORK/want" "$WORK/got"
echo "pprof_dump --sample-index samples: total 244; hash 123/123, work 50/180, main 0/244"
[ "$("$DUMP" "$heap" | awk '$1 == "total" { print $2 }')" = 2440000 ] || fail "heap: default_sample_type alloc_space not picked"

# 2. scry top: the report, exactly.
header='File: app
Build ID: b1d0a11ce0ffee
made by tests/cli/make_profile'
cat >"$WORK/want" <<END
$header
Type: cpu
Time: Nov 14, 2023 at 10:13pm (UTC)
Duration: 2.50s, Total samples = 2.44s (97.60%)
Showing nodes accounting for 2.44s, 100% of 2.44s total
      flat  flat%   sum%        cum   cum%
     1.23s 50.41% 50.41%      1.23s 50.41%  hash (inline)
     0.61s 25.00% 75.41%      0.61s 25.00%  fib
     0.50s 20.49% 95.90%      1.80s 73.77%  work
     0.05s  2.05% 97.95%      0.05s  2.05%  crc (partial-inline)
     0.04s  1.64% 99.59%      0.04s  1.64%  [libfoo.so.1]
     0.01s  0.41%   100%      0.01s  0.41%  helper
         0     0%   100%      2.44s   100%  main
END
"$SCRY" top "$cpu" >"$WORK/got"
same "scry top $cpu" "$WORK/want" "$WORK/got"
"$SCRY" top "$raw" >"$WORK/got"
same "scry top of the bare protobuf" "$WORK/want" "$WORK/got"
echo "scry top: 7 rows as expected, e.g. $(grep ' hash ' "$WORK/got" | tr -s ' ')"

cat >"$WORK/want" <<END
$header
Type: cpu
Time: Nov 14, 2023 at 10:13pm (UTC)
Duration: 2.50s, Total samples = 2.44s (97.60%)
Showing nodes accounting for 2.44s, 100% of 2.44s total
      flat  flat%   sum%        cum   cum%
         0     0%     0%      2.44s   100%  main
     0.50s 20.49% 20.49%      1.80s 73.77%  work
     1.23s 50.41% 70.90%      1.23s 50.41%  hash (inline)
     0.61s 25.00% 95.90%      0.61s 25.00%  fib
     0.05s  2.05% 97.95%      0.05s  2.05%  crc (partial-inline)
     0.04s  1.64% 99.59%      0.04s  1.64%  [libfoo.so.1]
     0.01s  0.41%   100%      0.01s  0.41%  helper
END
"$SCRY" top --cum "$cpu" >"$WORK/got"
same "scry top --cum" "$WORK/want" "$WORK/got"
echo "scry top --cum: main, work, hash, fib, crc, [libfoo.so.1], helper"

cat >"$WORK/want" <<END
$header
Type: samples
Time: Nov 14, 2023 at 10:13pm (UTC)
Duration: 2.50s, Total samples = 244
Showing nodes accounting for 184, 75.41% of 244 total
Showing top 2 nodes out of 7
      flat  flat%   sum%        cum   cum%
       123 50.41% 50.41%        123 50.41%  hash (inline)
        61 25.00% 75.41%         61 25.00%  fib
END
"$SCRY" top --sample-index samples -n 2 "$cpu" >"$WORK/got"
same "scry top --sample-index samples -n 2" "$WORK/want" "$WORK/got"
echo "scry top --sample-index samples -n 2: 184 of 244 shown, 2 of 7 rows"

cat >"$WORK/want" <<END
$header
Type: alloc_space
Time: Nov 14, 2023 at 10:13pm (UTC)
Showing nodes accounting for 2382.81KiB, 100% of 2382.81KiB total
      flat  flat%   sum%        cum   cum%
1201.17KiB 50.41% 50.41% 1201.17KiB 50.41%  hash (inline)
 595.70KiB 25.00% 75.41%  595.70KiB 25.00%  fib
 488.28KiB 20.49% 95.90% 1757.81KiB 73.77%  work
  48.83KiB  2.05% 97.95%   48.83KiB  2.05%  crc (partial-inline)
  39.06KiB  1.64% 99.59%   39.06KiB  1.64%  [libfoo.so.1]
   9.77KiB  0.41%   100%    9.77KiB  0.41%  helper
         0     0%   100% 2382.81KiB   100%  main
END
"$SCRY" top "$heap" >"$WORK/got"
same "scry top $heap (default_sample_type alloc_space, not the last type)" "$WORK/want" "$WORK/got"
echo "scry top heap: alloc_space picked by default_sample_type; hash 1201.17KiB of 2382.81KiB"

# 3. go tool pprof prints the same report. -nodefraction=0: pprof would
# otherwise drop helper (cum 0.41% <= 0.5%), which scry's -n does not.
n=0
agree() { # scry args | go args (after --), file last in both
  local -a s=() g=()
  while [ "$1" != -- ]; do s+=("$1"); shift; done
  shift
  g=("$@")
  "$SCRY" top "${s[@]}" | sed -e 's/[[:space:]]*$//' -e 's/  */ /g' -e 's/^ //' >"$WORK/s" ||
    fail "scry top ${s[*]} failed"
  go tool pprof -top -nodefraction=0 "${g[@]}" 2>"$WORK/goerr" |
    sed -e 's/[[:space:]]*$//' -e 's/\([0-9]\)kB/\1KiB/g' -e 's/\([0-9]\)MB/\1MiB/g' -e 's/\([0-9]\)GB/\1GiB/g' \
      -e 's/  */ /g' -e 's/^ //' >"$WORK/g" || fail "go tool pprof -top ${g[*]}: $(cat "$WORK/goerr")"
  diff -u "$WORK/g" "$WORK/s" >"$WORK/diff" || { cat "$WORK/diff" >&2; fail "scry top ${s[*]} and go tool pprof -top ${g[*]} differ"; }
  n=$((n + 1))
}
agree -n 0 "$cpu" -- "$cpu"
agree -n 0 "$raw" -- "$raw"
agree -n 0 --cum "$cpu" -- -cum "$cpu"
agree -n 0 --sample-index samples "$cpu" -- -sample_index=samples "$cpu"
agree -n 0 --sample-index 0 "$cpu" -- -sample_index=0 "$cpu"
agree -n 3 "$cpu" -- -nodecount=3 "$cpu"
agree -n 0 "$heap" -- "$heap"
agree -n 0 --sample-index alloc_objects "$heap" -- -sample_index=alloc_objects "$heap"
go tool pprof -top -nodefraction=0 "$cpu" 2>/dev/null |
  awk '/^ *flat/ { on = 1; next } on { printf "%s %s %s, ", $6, $1, $2 }' >"$WORK/rows"
echo "go tool pprof -top: $(cat "$WORK/rows")"
pass "$n reports identical to go tool pprof's; sums match the ground truth"
