# real_lib.sh - sourced by the real-binary unwinding tests (real_pigz.sh,
# real_python.sh, real_zstd.sh): an unmodified Debian program, built without
# frame pointers and with no debug information of its own, runs under scry
# while `perf record -e cpu-clock --call-graph dwarf` records the same
# process (real_run says how it is started).
#
# Both profiles are folded into one form, a line per sample:
#   <weight> TAB <leaf> ; <caller> ; ... ; <outermost>
# with a frame that has no symbol named "[<file's basename>]", as pprof
# names it, and perf's kernel frames left out (scry's CPU samples see the
# user stack only; time in the kernel is charged to the user stack it
# entered from, in both). perf's inlined frames are kept, as scry's: both
# read them from the same debug information (libc6-dbg's). Names are
# compared through their aliases (aliases below).
#
# The checks are check_real's. Each prints perf's numbers next to scry's,
# so a failure shows which tool lost stacks.
#
# Rates: scry at 1000 Hz of CPU time, perf at 2000 Hz, the unwinder scry's
# default unless $UNWIND names one (the fp run shows what these checks
# catch). The kernel fires CPU timers at its tick (250 Hz here), so scry's
# 1000 Hz is ~250 signals a CPU second, each weighted with the expirations
# it stands for; at the default 100 Hz a run of 2-3 CPU seconds would give
# ~250 samples, and the binomial error of a 50% share would be ~3 points,
# more than the bound checked. At 1000 Hz shares near 0 or 100% (the top
# 10 here) are good to ~0.5 point, middling ones to ~1.5 (hence the second
# table's statistical bound).
source "$SCRY_TESTS/lib.sh"

skip() {
  echo "SKIP: $*"
  exit 0
}

SCRY_HZ=${SCRY_HZ:-1000}
PERF_PERIOD=${PERF_PERIOD:-500000} # ns of cpu-clock: 2000 Hz

# perf must be able to sample a process in software (this VM has no
# hardware counters) and unwind it from a copy of its stack.
command -v perf >/dev/null || skip "perf is not installed (Debian linux-perf)"
if ! out=$(perf record -q -e cpu-clock --call-graph dwarf -o "$WORK/probe.data" -- true 2>&1); then
  paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?')
  skip "perf record -e cpu-clock --call-graph dwarf fails here" \
    "(kernel.perf_event_paranoid=$paranoid): $(head -3 <<<"$out")"
fi

# real_run CMD...: runs CMD under scry and perf; writes $WORK/scry.folded
# and $WORK/perf.folded. perf's samples are the program's threads' only
# (not scry's own threads), and not scry's own work, which scry's profile
# leaves out by design: a sample whose innermost user frame is in
# libscry.so (its start, ~10 ms, 1% of a 1 s run; its interposers'
# bookkeeping) or that is in scry's signal handler (libscry.so frames
# over __restore_rt). Other libscry.so frames (the thread trampoline, in
# the sanitizer build a frame of every thread) are left out of the stack,
# as scry's profile leaves them out.
#
# perf starts the program through the dynamic loader, which preloads
# libscry.so (ld.so --preload), with the settings `scry run` gives it in
# the environment: one exec, straight into the program. perf 6.1 loses
# most stacks when the process it follows had other mappings before an
# exec: run as `perf record -- scry run -- pigz` (a fork of the scry CLI,
# then exec) 4 runs in 6 had no unwind table for libz's code, and through
# `env LD_PRELOAD=... pigz` (exec, exec) 2 in 6 none for libc's, so that
# 1 sample in 500 reached start_thread; 8 in 8 good through ld.so. Its
# ring buffer is 16 MB a CPU (-m 4096): at the default size it lost
# records, mappings among them, with 64 KB stack copies at 2000 Hz. -N:
# the build-id cache in $HOME is left alone.
real_run() {
  local ldso=/lib64/ld-linux-x86-64.so.2 comm
  comm=$(basename "$ldso" | cut -c1-15) # the program's threads' name (the kernel keeps 15 bytes)
  [ -x "$ldso" ] || skip "no $ldso to start the program through"
  local envs=(SCRY_PROFILES=cpu "SCRY_OUT=$WORK/out" "SCRY_CPU_HZ=$SCRY_HZ")
  [ -n "${UNWIND:-}" ] && envs+=("SCRY_UNWIND=$UNWIND")
  env "${envs[@]}" perf record -q -N -m 4096 -e cpu-clock -c "$PERF_PERIOD" --call-graph dwarf,65528 \
    -o "$WORK/perf.data" -- "$ldso" --preload "${SCRY_PRELOAD_FIRST:+$SCRY_PRELOAD_FIRST:}$SCRY_BIN/libscry.so" \
    "$@" >"$WORK/stdout" 2>"$WORK/stderr" || fail "$* under scry and perf failed: $(tail -5 "$WORK/stderr")"
  [ -s "$WORK/out/cpu.pb.gz" ] || fail "no profile: $(tail -5 "$WORK/stderr")"
  "$DUMP" "$WORK/out/cpu.pb.gz" >"$WORK/dump"
  # Code nothing names is "file+0xSTART" in scry's profile (its function's
  # start, from .eh_frame) and an address in perf's: both "[file]" here.
  awk -F' [|] ' '$1 ~ /^sample / { split(substr($1, 8), v, ","); f = $2; sub(/ [|].*$/, "", f)
                                   n = split(f, fr, " ; "); f = ""
                                   for (i = 1; i <= n; i++) {
                                     if (fr[i] ~ /^[^ ]+\+0x[0-9a-f]+$/) { sub(/\+0x[0-9a-f]+$/, "", fr[i]); fr[i] = "[" fr[i] "]" }
                                     f = f (i > 1 ? " ; " : "") fr[i] }
                                   print v[2] "\t" f }' \
    "$WORK/dump" >"$WORK/scry.folded"
  perf script -i "$WORK/perf.data" -F comm,tid,period,ip,sym,dso 2>/dev/null |
    awk -v comm="$comm" -v objlist="$WORK/objects" '
      function flush() { if (keep && n && !own) print w "\t" st; keep = 0; n = 0; st = ""; own = 0; last = "" }
      /^[^ \t]/ { flush(); w = $(NF); c = $0; sub(/[ \t]+[0-9]+[ \t]+[0-9]+[ \t]*$/, "", c)
                  keep = (c == comm); next }
      /^[ \t]*$/ { flush(); next }
      {
        line = $0; sub(/^[ \t]+/, "", line)
        ip = line; sub(/ .*/, "", ip); rest = substr(line, length(ip) + 2)
        dso = rest; sub(/^.* \(/, "", dso); sub(/\)$/, "", dso)
        sym = rest; sub(/ \([^(]*\)$/, "", sym)
        if (dso == "[kernel.kallsyms]" || ip ~ /^ffffffff/) next
        if (dso ~ /\/libscry\.so$/) { if (!n) own = 1; last = "scry"; next }
        if (last == "scry" && (sym == "__restore_rt" || sym == "[unknown]" && dso ~ /\/libc\.so/)) own = 1
        last = ""
        if (dso ~ /^\//) objs[dso] = 1
        if (sym == "[unknown]" && dso != "[unknown]") { b = dso; sub(/.*\//, "", b); sym = "[" b "]" }
        st = st (n++ ? " ; " : "") sym
      }
      END { flush(); for (o in objs) print o > objlist }' >"$WORK/perf.folded"
  [ -s "$WORK/perf.folded" ] || fail "perf recorded no sample of $comm"
  aliases $(cat "$WORK/objects") >"$WORK/aliases"
}

# entries FOLDED EXE: the samples of FOLDED whose stack reaches the entry.
entries() {
  awk -F'\t' -v exe="[$2]" '
    { n = split($2, f, " ; "); r = f[n]; in_ = (n > 1) ? f[n - 1] : ""
      if (r ~ /^(_start|__libc_start_main|__libc_start_main_impl|__libc_start_call_main|_dl_start_user)$/ ||
          r ~ /^(start_thread|__clone3|clone3|__clone|clone)$/ ||
          (r == exe && in_ ~ /^__libc_start_(main|main_impl|call_main)$/)) print }' "$1"
}

# aliases OBJECT...: "<name> TAB <canonical>" for each function symbol
# that shares its address with another in one object (its symbol tables and
# those of its debug file, where one is installed): the tools may pick
# different names for one address (perf says clone3 where scry says
# __clone3, __memcpy_avx512_unaligned_erms where scry says
# __memmove_avx512_unaligned_erms). The canonical name is the group's
# first in byte order; a name that is in two groups of different
# canonical names is left as it is.
aliases() {
  local f id dbg
  for f in "$@"; do
    [ -r "$f" ] || continue
    id=$({ readelf -n "$f" 2>/dev/null || true; } | awk '/Build ID:/ { print $3; exit }')
    dbg=/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
    [ -n "$id" ] && [ -r "$dbg" ] || dbg=
    # (readelf fails on a debug file's missing interpreter, after its output)
    { readelf -Ws "$f" $dbg 2>/dev/null || true; } |
      awk -v f="$f" '($4 == "FUNC" || $4 == "IFUNC") && $2 !~ /^0+$/ && NF >= 8 {
                       n = $8; sub(/@.*/, "", n); print f ":" $2 "\t" n }'
  done | LC_ALL=C sort -u | awk -F'\t' '
    { g[NR] = $1; n[NR] = $2; if (!($1 in c) || $2 < c[$1]) c[$1] = $2 }
    END {
      for (i = 1; i <= NR; i++) { k = c[g[i]]
        if (n[i] in to && to[n[i]] != k) bad[n[i]] = 1; to[n[i]] = k }
      for (m in to) if (!(m in bad) && to[m] != m) print m "\t" to[m] }'
}

# cum_shares FOLDED: "<percent> TAB <key> TAB <name>" for every function, by
# the weight of the samples whose stack holds it (once per sample), largest
# first; the key is the name's canonical alias ($WORK/aliases).
cum_shares() {
  awk -F'\t' '
    NR == FNR { to[$1] = $2; next }
    { t += $1; n = split($2, f, " ; "); delete seen
      for (i = 1; i <= n; i++) {
        k = (f[i] in to) ? to[f[i]] : f[i]
        if (!(k in name)) name[k] = f[i]
        if (!(k in seen)) { seen[k] = 1; c[k] += $1 } } }
    END { for (k in c) printf "%.2f\t%s\t%s\n", 100 * c[k] / t, k, name[k] }' "$WORK/aliases" "$1" |
    sort -t$'\t' -k1,1gr -k2
}

# share FOLDED PART: percent of FOLDED's weight that PART (a subset) holds.
share() {
  awk -F'\t' 'NR == FNR { p += $1; next } { t += $1 } END { printf "%.2f\n", t ? 100 * p / t : 0 }' "$2" "$1"
}

# compare FIRST LAST BOUND: perf's functions ranked FIRST to LAST by
# cumulative share, each next to scry's share, the difference and its
# bound: BOUND points, or (BOUND = "stat") 2 points or 4 standard errors
# of the difference of two sampled shares, whichever is larger. $NS and
# $NP are the two tools' numbers of samples.
compare() {
  sed -n "$1,$2p" "$WORK/perf.cum" | awk -F'\t' -v sf="$WORK/scry.cum" -v ns="$NS" -v np="$NP" -v bound="$3" '
    BEGIN { while ((getline l < sf) > 0) { split(l, a, "\t"); s[a[2]] = a[1] } }
    { p = $1 / 100; d = (s[$2] + 0) - $1; b = bound
      if (b == "stat") {
        b = 400 * sqrt(p * (1 - p) * (1 / (ns > 0 ? ns : 1) + 1 / (np > 0 ? np : 1)))
        if (b < 2) b = 2
      }
      printf "%-40s %7.2f %7.2f %+6.2f %6.2f%s\n", $3, $1, s[$2] + 0, d, b, (d > b || -d > b) ? "  <- over" : "" }'
}

# check_real EXE: the checks, with tables of perf's top 20 functions next to
# scry's shares of the same ones:
#   - >= 95% of scry's CPU time in stacks that reach the entry;
#   - the top 10 by cumulative share within 2 points of perf's;
#   - the next 10 within 2 points or 4 standard errors (the kernel fires
#     CPU timers at its tick, 250 Hz here: scry's 1000 Hz is ~250 signals a
#     CPU second, each weighted with its overruns, so a 12% share measured
#     over 3 CPU seconds has a standard error of ~1.2 points).
# perf's shares are over its stacks that reach the entry: it truncates some
# of its own (a sample taken in the kernel does not get past the system
# call's user frame, nor from some of libz's code: 1.5-4% of its samples in
# pigz), and those are missing data, not functions. scry's are over all its
# samples, as a user sees them.
check_real() {
  local exe=$1 se pe worst
  entries "$WORK/scry.folded" "$exe" >"$WORK/scry.entry"
  entries "$WORK/perf.folded" "$exe" >"$WORK/perf.entry"
  se=$(share "$WORK/scry.folded" "$WORK/scry.entry")
  pe=$(share "$WORK/perf.folded" "$WORK/perf.entry")
  NP=$(wc -l <"$WORK/perf.entry")
  NS=$(awk '/^sample / { split($2, v, ","); c += v[1] } /^comment timer overruns: / { o = $4 }
            END { print c - o }' "$WORK/dump")
  echo "unwind=${UNWIND:-default}: CPU time in stacks that reach the entry: scry ${se}% ($NS signals)," \
    "perf ${pe}% ($(wc -l <"$WORK/perf.folded") samples)"
  cum_shares "$WORK/perf.entry" >"$WORK/perf.cum"
  cum_shares "$WORK/scry.folded" >"$WORK/scry.cum"
  {
    printf '%-40s %7s %7s %6s %6s\n' "cumulative %, top 10 by perf" perf scry diff bound
    compare 1 10 2
    printf '%-40s\n' "next 10 by perf"
    compare 11 20 stat
  } >"$WORK/table"
  cat "$WORK/table"
  worst=$(awk 'NR > 1 && NR <= 11 { sub(/  <- over$/, ""); d = $(NF - 1); d = d < 0 ? -d : d; if (d > m) m = d }
               END { printf "%.2f\n", m }' "$WORK/table")
  awk -v s="$se" 'BEGIN { exit !(s >= 95) }' ||
    fail "only ${se}% of CPU time in stacks that reach the entry (want >= 95%)"
  awk -v w="$worst" 'BEGIN { exit !(w <= 2) }' ||
    fail "a top-10 function's share differs from perf's by $worst points (want <= 2)"
  ! grep -q ' <- over$' "$WORK/table" || fail "a function's share differs from perf's by more than its bound"
  pass "entry ${se}% (>= 95), top 10 within ${worst} points of perf (<= 2), next 10 within their bounds"
}

# gen_text WORDS SEED MB COPIES OUT: MB megabytes of lines of 12 words drawn
# from a vocabulary of WORDS random lower-case words (seeded), written
# COPIES times over into OUT: text a compressor works at, as much per copy
# when a copy is larger than its window.
gen_text() {
  awk -v nw="$1" -v seed="$2" -v mb="$3" 'BEGIN { srand(seed)
    for (i = 0; i < nw; i++) { w = ""; l = 2 + int(rand() * 8)
      for (j = 0; j < l; j++) w = w sprintf("%c", 97 + int(rand() * 26)); v[i] = w }
    for (n = 0; n < mb * 1000000;) { s = ""; for (k = 0; k < 12; k++) s = s v[int(rand() * nw)] " "
      print s; n += length(s) + 1 } }' >"$WORK/chunk"
  for _ in $(seq "$4"); do cat "$WORK/chunk"; done >"$5"
}
