#!/usr/bin/env bash
# 50 libraries loaded, called and unloaded in a loop on two threads
# (dl_loop.c; each library is dl_lib.c built with its own LIB_ID, without
# frame pointers, its function dl_burn_NN a frameless leaf), sampled at
# 1000 Hz with scry's default unwinder. The libraries come and go while
# samples are taken and unwound in them, and one library is often mapped
# where another just was. Checks:
#   - no crash, no hang: exit status 0 within 120 s;
#   - named right: every location named dl_burn_NN is in libdlburn_NN.so,
#     no location in a libdlburn_*.so has another library's dl_burn_MM (its
#     _init may be sampled too, while dlopen runs it), and
#     at least 45 of the 50 functions appear (each has ~2% of ~650
#     signals: one may, rarely, get none);
#   - the caller above them: >= 99% of the CPU time in dl_burn_* has
#     call_burn right above it, and >= 95% reaches start_thread;
#   - ground truth: the share of CPU time in dl_burn_* (named right) is
#     within 5 points (8 in the sanitizer build, below) of the share the program measured in call_burn on its
#     threads' CPU clocks (the kernel fires CPU timers at its 250 Hz tick,
#     so 1000 Hz gives ~650 signals here: a standard error of ~1.2 points).
source "$SCRY_TESTS/lib.sh"
args=(--cpu-hz 1000)
[ -n "${UNWIND:-}" ] && args+=(--unwind "$UNWIND")
rc=0
CPU_REPORT="$WORK/truth" timeout -k 5 120 "$SCRY" run -o "$WORK/out" "${args[@]}" -- \
  "$SCRY_BIN/tests/dl_loop" "$SCRY_BIN/tests/dlburn" 20 300000 >"$WORK/stdout" 2>"$WORK/stderr" || rc=$?
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "dl_loop hung (killed after 120 s): $(tail -3 "$WORK/stderr")"
[ "$rc" -eq 0 ] || fail "dl_loop exited with status $rc: $(tail -3 "$WORK/stderr")"
read -r burn cpu <"$WORK/truth"
"$DUMP" "$WORK/out/cpu.pb.gz" >"$WORK/dump"

# Locations: "loc 0x... <mapping> build_id=... | <innermost function> <file>:<line> ; ..."
bad=$(awk -F' [|] ' '$1 ~ /^loc / {
    split($1, h, " "); m = h[3]; f = $2; sub(/ .*/, "", f)
    if (f ~ /^dl_burn_[0-9][0-9]$/ && m != "libdlburn_" substr(f, 9, 2) ".so") print "  " $0
    else if (m ~ /^libdlburn_/ && f ~ /^dl_burn_/ && f != "dl_burn_" substr(m, 11, 2)) print "  " $0 }' "$WORK/dump")
nfun=$(awk '$1 == "func" && $4 ~ /^dl_burn_[0-9][0-9]$/' "$WORK/dump" | wc -l)

# Samples: "sample COUNT,NS | leaf ; caller ; ... |"
read -r t inb callr entry unk unkc <<<"$(awk -F' [|] ' '$1 ~ /^sample / {
    split(substr($1, 8), v, ","); w = v[2]; f = $2; sub(/ [|].*$/, "", f)
    n = split(f, fr, " ; "); t += w
    if (fr[1] ~ /^dl_burn_[0-9][0-9]$/) {
      inb += w; if (n > 1 && fr[2] == "call_burn") c += w
      if (fr[n] ~ /^(start_thread|__clone3|clone3|__clone|clone)$/) e += w
    } else if (fr[1] == "<unknown>" || fr[1] ~ /^\[libdlburn_/) { u += w; if (n > 1 && fr[2] == "call_burn") uc += w }
  } END { printf "%.0f %.0f %.0f %.0f %.0f %.0f\n", t, inb, c, e, u, uc }' "$WORK/dump")"
[ "$t" -gt 0 ] || fail "no CPU samples"
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? 100 * a / b : 0 }'; }
s_prof=$(pct "$inb" "$t")
s_true=$(pct "$burn" "$cpu")
s_call=$(pct "$callr" "$inb")
s_entry=$(pct "$entry" "$inb")
echo "unwind=${UNWIND:-default}: CPU in dl_burn_*: ${s_prof}% by scry, ${s_true}% by the program;" \
  "unnamed leaves $(pct "$unk" "$t")% ($(pct "$unkc" "$unk")% of them under call_burn);" \
  "of dl_burn_*'s: ${s_call}% under call_burn, ${s_entry}% reach start_thread;" \
  "$nfun of 50 functions"
[ -z "$bad" ] || fail "locations named from the wrong library:"$'\n'"$bad"
[ "$nfun" -ge 45 ] || fail "$nfun of the 50 dl_burn_NN functions in the profile (want >= 45)"
# In the sanitizer build (SCRY_PRELOAD_FIRST set) the loader's work around
# each dlopen and dlclose is slower and sampled short: scry's share ran 2.0
# to 5.1 points above the program's there, before issue 17's changes
# (0eca9e7) and after, against 0.4 to 2.6 in the normal build. Within 8
# points there, 5 here.
tol=$([ -n "${SCRY_PRELOAD_FIRST:-}" ] && echo 8 || echo 5)
awk -v a="$s_prof" -v b="$s_true" -v t="$tol" 'BEGIN { d = a - b; exit !(d <= t && d >= -t) }' ||
  fail "CPU share of dl_burn_* ${s_prof}%, the program measured ${s_true}% (want within $tol points)"
awk -v s="$s_call" 'BEGIN { exit !(s >= 99) }' ||
  fail "only ${s_call}% of dl_burn_*'s CPU time under call_burn (want >= 99%)"
awk -v s="$s_entry" 'BEGIN { exit !(s >= 95) }' ||
  fail "only ${s_entry}% of dl_burn_*'s CPU time reaches start_thread (want >= 95%)"
pass "50 libraries loaded and unloaded on two threads: exit 0, named right," \
  "share ${s_prof}% vs ${s_true}%, callers kept"
