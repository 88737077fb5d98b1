#!/usr/bin/env bash
# bench/unwind.sh - the unwinders' costs, printed as markdown tables.
#
#   1. One sample's walk without the signal's delivery (bench/handler_cost):
#      a 64-deep call chain built with frame pointers and one built without,
#      walked by the hybrid, fp and libunwind unwinders from getcontext's
#      context and from a real signal's; ns per walk and frames found. The
#      median of RUNS runs, each the median of 7 repetitions.
#   2. Unwind tables (bench/cfi_cost): rows, bytes and build time of the
#      tables of libc, libstdc++, python3 and cc1plus, compiled from their
#      files; and what preloading scry costs a whole short process (/bin/true,
#      python3 -c pass) with the fp and hybrid unwinders: wall time and
#      maximum RSS, the mean of PROCS runs each.
#   3. read(2) through scry's interposer with the wall profile on and off
#      (bench/read_cost): the median of RUNS runs of ns per call.
#
# Usage: bench/unwind.sh [BUILD_DIR] (default: build). RUNS (default 5) and
# PROCS (default 20) from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-${BUILD:-build}}
RUNS=${RUNS:-5}
PROCS=${PROCS:-20}
SCRY=$B/scry
LIB=$(realpath "$B/libscry.so")
for f in "$SCRY" "$LIB" "$B/bench/handler_cost" "$B/bench/cfi_cost" "$B/bench/read_cost"; do
  [ -x "$f" ] || { echo "unwind.sh: $f is missing: build $B first" >&2; exit 1; }
done
# Pin to the last CPU where taskset exists: migrations add noise.
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c "$(($(nproc) - 1))")
# Not `python3` from PATH, which may be a shim (pyenv's is a bash script).
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { # value op bound
  awk -v v="$1" -v b="$3" -v op="$2" 'BEGIN { ok = op == "<=" ? v <= b : v >= b; print ok ? "met" : "MISSED" }'
}

echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. one walk ------------------------------------------------------------------
echo "handler_cost: $RUNS runs..." >&2
for r in $(seq 1 "$RUNS"); do
  "${PIN[@]}" "$B/bench/handler_cost" >"$TMP/hc.$r"
done
key() { for r in $(seq 1 "$RUNS"); do awk -v k="$1" '$1 == k { print $2 }' "$TMP/hc.$r"; done | median; }
word() { awk -v k="$1" '$1 == k { print $2; exit }' "$TMP/hc.1"; }

echo
echo "## 1. One sample's walk, signal delivery excluded (bench/handler_cost)"
echo
echo "A 64-deep chain of distinct functions (bench/chain.c), built -O2 with frame"
echo "pointers (fp chain) and with -fomit-frame-pointer (nofp chain). ctx: the walk"
echo "starts from getcontext's context at the bottom of the chain; sig: from the"
echo "context of a real signal (SIGUSR2) sent at the bottom, walked in a loop"
echo "inside its handler. ns per walk: median of $RUNS runs, each the median of 7"
echo "repetitions of >= 30 ms. +record: the walk written into the ring, as the"
echo "handler does. frames: what one walk returns (frame 0 included)."
echo
printf '| %-5s | %-3s | %-13s | %-34s | %6s | %9s | %9s |\n' chain ctx unwinder path frames "ns/walk" "+record"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "-------" "-----" "---------------" "------------------------------------" "--------" "-----------" "-----------"
for chain in fp nofp; do
  for ctx in ctx sig; do
    for m in hybrid fp libunwind unw_backtrace; do
      [ "$ctx" = sig ] && [ "$m" = unw_backtrace ] && continue
      p="${chain}_${ctx}_${m}"
      case $m in
      hybrid) path="tables; ended: $(word "${chain}_${ctx}_hybrid_end")" ;;
      fp) path="frame-pointer chain" ;;
      libunwind)
        if [ "$(word "${chain}_${ctx}_libunwind_path")" = fast ]; then
          path="libunwind mode: unw_backtrace"
        else
          path="libunwind mode: fell to unw_step"
        fi
        ;;
      unw_backtrace) path="unw_backtrace called directly" ;;
      esac
      rec="-"
      case $m in hybrid | fp) rec=$(key "${p}_record_ns") ;; esac
      printf '| %-5s | %-3s | %-13s | %-34s | %6s | %9s | %9s |\n' "$chain" "$ctx" "$m" "$path" \
        "$(word "${p}_frames")" "$(key "${p}_ns")" "$rec"
    done
  done
done
echo
echo "The libunwind mode runs unw_backtrace and keeps the frames after the"
echo "context's pc, which only a signal frame puts among them: from getcontext's"
echo "context it does not find it and falls to its unw_step walk (the ctx"
echo "libunwind rows); from a signal's it takes the fast trace (the sig rows)."
echo "\"unw_backtrace called directly\" is that fast trace at the bottom of the"
echo "chain without the mode's search (plus the measuring code's frames). The fp"
echo "walk on the nofp chain stops after the frames that kept a frame pointer."
echo
echo "Targets:"
for ctx in ctx sig; do
  h=$(key "fp_${ctx}_hybrid_ns")
  f=$(key "fp_${ctx}_fp_ns")
  echo "- $ctx: hybrid on frames with frame pointers: $h ns against fp's $f ns, $(ratio "$h" "$f")x (target <= 1.2x): $(verdict "$(ratio "$h" "$f")" "<=" 1.2)"
  n=$(key "nofp_${ctx}_hybrid_ns")
  echo "- $ctx: hybrid on frames without frame pointers: $n ns for $(word "nofp_${ctx}_hybrid_frames") frames (target <= 1500 ns): $(verdict "$n" "<=" 1500)"
done

# ---- 2. tables ----------------------------------------------------------------
echo "cfi_cost..." >&2
LIBSTDCXX=
for f in /lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/x86_64-linux-gnu/libstdc++.so.6 "$(gcc -print-file-name=libstdc++.so.6 2>/dev/null || true)"; do
  [ -f "$f" ] && { LIBSTDCXX=$f; break; }
done
CC1PLUS=$(gcc -print-prog-name=cc1plus 2>/dev/null || true)
files=(/lib/x86_64-linux-gnu/libc.so.6)
[ -n "$LIBSTDCXX" ] && files+=("$LIBSTDCXX")
files+=(/usr/bin/python3.11)
[ -n "$CC1PLUS" ] && [ -f "$CC1PLUS" ] && files+=("$CC1PLUS")
"$B/bench/cfi_cost" "${files[@]}" >"$TMP/cfi"
# Every object a preloaded /bin/true has: its own, libscry and what libscry loads.
mapfile -t preload_set < <({ echo /bin/true; echo "$LIB"; ldd "$LIB" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'; } | sort -u)
"$B/bench/cfi_cost" "${preload_set[@]}" >"$TMP/cfi_set"

echo
echo "## 2. Unwind tables (bench/cfi_cost, compiled from the files)"
echo
echo "build ms: the median of 5 compiles after a first one (first: that one, which"
echo "faults the file's pages in). lookup ns: one row search at random pcs, each"
echo "waiting for the one before, as a walk's frames do; a walk pays about that per"
echo "frame in the object, less when its stacks repeat."
echo
printf '| %-16s | %8s | %12s | %6s | %4s | %7s | %9s | %8s | %8s | %9s |\n' object "text MB" ".eh_frame KB" FDEs bad rows "table KB" "build ms" "first ms" "lookup ns"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "------------------" "----------" "--------------" "--------" "------" "---------" "-----------" "----------" "----------" "-----------"
awk '$1 == "table" && $3 == "none" { printf "| %-16s | no table: %s |\n", $2, $4; next }
     $1 == "table" { printf "| %-16s | %8.2f | %12.0f | %6d | %4d | %7d | %9.0f | %8.2f | %8.2f | %9.1f |\n",
                     $2, $3 / 1048576, $4 / 1024, $5, $6, $7, $8 / 1024, $10, $9, $11 }' "$TMP/cfi"
awk -v n="${#preload_set[@]}" '$1 == "table" && $3 != "none" { f += $5; b += $6; r += $7; k += $8; ms += $10; first += $9 }
     END { printf "| %-16s | %8s | %12s | %6d | %4d | %7d | %9.0f | %8.2f | %8.2f | %9s |\n",
           "all " n " objects*", "", "", f, b, r, k / 1024, ms, first, "" }' "$TMP/cfi_set"
echo
notable=$(awk '$1 == "table" && $3 == "none" { printf "%s%s (%s)", sep, $2, $4; sep = ", " }' "$TMP/cfi_set")
echo "\\* every object of a /bin/true with libscry.so preloaded (libscry.so, what it"
echo "links, and /bin/true's own): what the first snapshot builds when a profile"
echo "starts with the hybrid unwinder; rows, bytes and times summed. Without a"
echo "table: ${notable:-none}."

echo "whole processes: $PROCS runs each..." >&2
# mean ms, median ms, mean max RSS KB of each configuration, runs interleaved.
"$PY" - "$PROCS" "$TMP/out" "$LIB" >"$TMP/proc" <<'PY'
import os, statistics, sys, time
runs, out, lib = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmds = {"/bin/true": ["/bin/true"], "python3 -c pass": ["/usr/bin/python3", "-c", "pass"]}
confs = ["none", "fp", "hybrid", "fp@1Hz", "hybrid@1Hz"]
res = {(c, u): ([], [], []) for c in cmds for u in confs}
base = {k: v for k, v in os.environ.items() if not k.startswith("SCRY_") and k != "LD_PRELOAD"}
for r in range(runs):
    for c, argv in cmds.items():
        for u in confs:
            env = dict(base)
            if u != "none":
                env.update(LD_PRELOAD=lib, SCRY_PROFILES="cpu", SCRY_UNWIND=u.split("@")[0], SCRY_OUT=out)
            if u.endswith("@1Hz"):
                env.update(SCRY_CPU_HZ="1")
            t0 = time.perf_counter()
            pid = os.posix_spawn(argv[0], argv, env)
            _, status, ru = os.wait4(pid, 0)
            dt = time.perf_counter() - t0
            if status != 0:
                sys.exit(f"unwind.sh: {c} ({u}) exited with status {status}")
            res[c, u][0].append(dt * 1e3)
            res[c, u][1].append(ru.ru_maxrss)
            res[c, u][2].append((ru.ru_utime + ru.ru_stime) * 1e3)
for (c, u), (ms, rss, cpu) in res.items():
    print(f"{c.replace(' ', '_')} {u} {statistics.mean(ms):.2f} {statistics.median(ms):.2f} {statistics.mean(rss):.0f} {statistics.mean(cpu):.2f}")
PY
echo
echo "### What preloading scry costs a short process (mean of $PROCS runs each, interleaved)"
echo
echo "SCRY_PROFILES=cpu LD_PRELOAD=libscry.so with SCRY_UNWIND=fp or hybrid;"
echo "none: the command alone. Wall time of the whole process (spawn to exit,"
echo "including scry writing its profile at exit); CPU time (user + system, all"
echo "threads) and max RSS from wait4. @1Hz:"
echo "SCRY_CPU_HZ=1, so the process ends before its first sample and the profile"
echo "written at exit has no stack to symbolize: what is left is the start-up's"
echo "(the hybrid's tables)."
echo
printf '| %-16s | %-10s | %8s | %10s | %11s | %11s |\n' command unwinder "mean ms" "median ms" "mean CPU ms" "max RSS MB"
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------" "------------" "----------" "------------" "-------------" "-------------"
awk '{ c = $1; gsub("_", " ", c); printf "| %-16s | %-10s | %8.2f | %10.2f | %11.2f | %11.1f |\n", c, $2, $3, $4, $6, $5 / 1024 }' "$TMP/proc"
echo
awk '{ ms[$1, $2] = $3; kb[$1, $2] = $5; cpu[$1, $2] = $6; cmd[$1] = 1 }
     END { for (c in cmd) for (hz = 0; hz < 2; hz++) {
             h = hz ? "hybrid@1Hz" : "hybrid"; f = hz ? "fp@1Hz" : "fp"; n = c; gsub("_", " ", n)
             printf "- %s%s: hybrid - fp = %+.2f ms wall, %+.2f ms CPU, %+.1f MB max RSS\n", n, hz ? " (1 Hz)" : "",
                    ms[c, h] - ms[c, f], cpu[c, h] - cpu[c, f], (kb[c, h] - kb[c, f]) / 1024 } }' "$TMP/proc" | sort
echo
echo "The rows at the default 100 Hz include symbolizing, at exit, the stacks"
echo "sampled: the hybrid walk's reach the libc frames below main, and when libc's"
echo "detached debug information is installed (libc6-dbg) their source lines cost"
echo "libdw a decompression of it."

# ---- 3. read() ----------------------------------------------------------------
echo "read_cost: $RUNS rounds..." >&2
reads=(plain thread cpu wall wallfp)
for r in $(seq 1 "$RUNS"); do
  for c in $(printf '%s\n' "${reads[@]}" | shuf); do
    case $c in
    plain) out=$("${PIN[@]}" "$B/bench/read_cost") ;;
    thread) out=$("${PIN[@]}" "$B/bench/read_cost" --idle-thread) ;;
    cpu) out=$("$SCRY" run -o "$TMP/r" -p cpu -- "${PIN[@]}" "$B/bench/read_cost" 2>/dev/null) ;;
    wall) out=$("$SCRY" run -o "$TMP/r" -p wall -- "${PIN[@]}" "$B/bench/read_cost" 2>/dev/null) ;;
    wallfp) out=$("$SCRY" run -o "$TMP/r" -p wall --unwind fp -- "${PIN[@]}" "$B/bench/read_cost" 2>/dev/null) ;;
    esac
    echo "$c $(awk '/^ns_per_call/ { print $2 }' <<<"$out")" >>"$TMP/reads"
  done
done
rmed() { awk -v c="$1" '$1 == c { print $2 }' "$TMP/reads" | median; }
echo
echo "## 3. read(2) of 1 byte from /dev/zero, interposed (bench/read_cost)"
echo
echo "ns per call on the reading thread's CPU clock, 2 million calls; the median"
echo "of $RUNS interleaved runs (spread: min..max)."
echo
printf '| %-44s | %7s | %-13s |\n' configuration "ns/call" spread
printf '|%s|%s|%s|\n' "----------------------------------------------" "---------" "---------------"
for c in "${reads[@]}"; do
  case $c in
  plain) name="no scry" ;;
  thread) name="no scry, one idle thread (multi-threaded)" ;;
  cpu) name="scry run -p cpu (interposer's fast path)" ;;
  wall) name="scry run -p wall (hybrid)" ;;
  wallfp) name="scry run -p wall --unwind fp" ;;
  esac
  spread=$(awk -v c="$c" '$1 == c { print $2 }' "$TMP/reads" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.1f..%.1f", lo, hi }')
  printf '| %-44s | %7.1f | %-13s |\n' "$name" "$(rmed "$c")" "$spread"
done
echo
cpu=$(rmed cpu)
for c in wall wallfp; do
  d=$(awk -v a="$(rmed "$c")" -v b="$cpu" 'BEGIN { printf "%.1f", a - b }')
  echo "- $([ "$c" = wall ] && echo "-p wall" || echo "-p wall --unwind fp") - (-p cpu) = $d ns per call (target <= 5 ns): $(verdict "$d" "<=" 5)"
done
echo "- -p cpu - no scry = $(awk -v a="$cpu" -v b="$(rmed plain)" 'BEGIN { printf "%.1f", a - b }') ns, of which a second thread alone accounts for $(awk -v a="$(rmed thread)" -v b="$(rmed plain)" 'BEGIN { printf "%.1f", a - b }') ns (glibc's cancellable path, the kernel's file reference)"
