#!/usr/bin/env bash
# /metrics against a program with user metrics of known values
# (metrics_target: a counter added to TOTAL times from 4 threads, a gauge
# left at 42, 1000 histogram observations spread evenly over (0, 1)):
#   - the Prometheus text form (0.0.4) passes `promtool check metrics` with
#     no output at all (no lint warning either);
#   - its lines carry the ground truth: app_requests_total{method="GET"}
#     exactly TOTAL, app_queue_depth 42, app_latency_seconds_count 1000,
#     sum 500, every le bucket 100 per 0.1 (so le="0.5" half), +Inf 1000;
#   - every runtime metric scry_metrics_all lists is there, named as the
#     Go name mangled with a scry_ prefix (counters _total, histograms
#     _bucket/_sum/_count), among them scry_sched_latencies_seconds and
#     scry_cpu_classes_user_cpu_seconds_total; but the two heap in-use
#     gauges: the program starts the endpoint in main, so the exact heap
#     totals began then (scry_gc_heap_totals_since_seconds > 0, and the
#     heap counters are there) and in-use is left out (tests/heap/totals.sh
#     has them with SCRY_HEAP_TOTALS=1);
#   - asked with Accept: application/openmetrics-text, the OpenMetrics 1.0
#     form: its content type, every sample under its own family's TYPE (a
#     counter family typed without _total, its sample with it), the
#     same values, no empty line, and `# EOF` as the last line.
source "$SCRY_TESTS/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (make test installs it)"
command -v promtool >/dev/null || fail "promtool is not installed (make test installs prometheus)"
prog="$SCRY_BIN/tests/metrics_target"
TOTAL=2000003 # not a multiple of 4, and not exact in %g: "2e+06" would fail

env -u SCRY_HTTP "$prog" "$TOTAL" 60 >"$WORK/t.out" 2>"$WORK/t.err" &
tpid=$!
trap 'kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 300); do
  grep -q '^done' "$WORK/t.out" && break
  kill -0 "$tpid" 2>/dev/null || fail "metrics_target exited: $(cat "$WORK/t.out" "$WORK/t.err")"
  sleep 0.1
done
grep -q '^done' "$WORK/t.out" || fail "metrics_target did not finish its updates in 30 s: $(cat "$WORK/t.out" "$WORK/t.err")"
port=$(awk '$1 == "port" { print $2 }' "$WORK/t.out")
[ -n "$port" ] && [ "$port" -gt 0 ] || fail "no port from scry_http_port: $(cat "$WORK/t.out")"
grep -qx "scry: serving http://127.0.0.1:$port/debug/pprof/" "$WORK/t.err" ||
  fail "no 'serving' line for port $port on stderr: $(cat "$WORK/t.err")"
eq "done line" "$(grep '^done' "$WORK/t.out")" "done counter=$TOTAL observations=1000"
url="http://127.0.0.1:$port/metrics"
echo "serving on port $port"

# 1. The text format, through promtool.
eq "GET /metrics" "$(curl -s -D "$WORK/plain.h" -o "$WORK/plain.txt" -w '%{http_code}' "$url")" 200
grep -qi '^content-type: text/plain; version=0.0.4' "$WORK/plain.h" ||
  fail "/metrics content type: $(grep -i '^content-type' "$WORK/plain.h")"
rc=0
promtool check metrics <"$WORK/plain.txt" >"$WORK/promtool.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "promtool check metrics exited $rc: $(head -20 "$WORK/promtool.out")"
[ ! -s "$WORK/promtool.out" ] || fail "promtool check metrics said: $(head -20 "$WORK/promtool.out")"
echo "promtool check metrics: exit 0, no output ($(grep -vc '^#' "$WORK/plain.txt") samples)"

# values FILE: the user metrics' ground truth, checked in either format.
values() {
  local f=$1 what=$2 line
  line="app_requests_total{method=\"GET\"} $TOTAL"
  grep -qxF "$line" "$f" || fail "$what: no line '$line': $(grep '^app_requests' "$f" || echo none)"
  awk '$1 == "app_queue_depth" { v = $2; n++ } END { exit !(n == 1 && v + 0 == 42) }' "$f" ||
    fail "$what: app_queue_depth is not 42: $(grep '^app_queue_depth' "$f" || echo none)"
  awk '$1 == "app_latency_seconds_count" { v = $2; n++ } END { exit !(n == 1 && v + 0 == 1000) }' "$f" ||
    fail "$what: app_latency_seconds_count is not 1000: $(grep '^app_latency_seconds_count' "$f" || echo none)"
  awk '$1 == "app_latency_seconds_sum" { v = $2; n++ } END { exit !(n == 1 && v > 499.999 && v < 500.001) }' "$f" ||
    fail "$what: app_latency_seconds_sum is not 500: $(grep '^app_latency_seconds_sum' "$f" || echo none)"
  # Bucket le=B holds every (i + 0.5) / 1000 <= B: 1000 * B of them.
  awk '/^app_latency_seconds_bucket\{le="[^"]*"\} / {
         le = $1; sub(/^[^"]*"/, "", le); sub(/".*/, "", le)
         want = (le == "+Inf") ? 1000 : int(le * 1000 + 0.5)
         if ($2 + 0 != want) { printf "le=\"%s\" %s, want %d\n", le, $2, want; bad = 1 }
         if (le == "0.5") half = $2; n++ }
       END { if (n != 11) { printf "%d buckets, want 11\n", n; bad = 1 }
             if (half + 0 != 500) { print "le=\"0.5\" is not 500 (half)"; bad = 1 }
             exit bad }' "$f" >"$WORK/buckets" ||
    fail "$what: histogram buckets: $(cat "$WORK/buckets"): $(grep '^app_latency_seconds_bucket' "$f" | tr '\n' ' ')"
}
values "$WORK/plain.txt" "text format"
for t in "app_requests_total counter" "app_queue_depth gauge" "app_latency_seconds histogram"; do
  grep -qx "# TYPE $t" "$WORK/plain.txt" || fail "text format: no '# TYPE $t'"
done
grep -qx '# HELP app_requests_total Requests handled.' "$WORK/plain.txt" || fail "text format: no HELP for app_requests_total"
echo "text format: app_requests_total{method=\"GET\"} $TOTAL, gauge 42, histogram count 1000, le=\"0.5\" 500"

# 2. The runtime metrics, each as its mangled name.
read -r _ nrt _ known <<<"$(grep '^runtime ' "$WORK/t.out" || echo "runtime 0 known 0")"
[ "$nrt" -gt 0 ] || fail "scry_metrics_all lists no runtime metric"
eq "runtime metrics scry_metrics_read knew" "$known" "$nrt"
missing=
while read -r _ name kind; do
  m=scry_$(sed 's|^/||; s|[^A-Za-z0-9_]|_|g' <<<"$name")
  case $kind in
  counter) [[ $m == *_total ]] || m=${m}_total; want=("$m") ;;
  gauge) want=("$m") ;;
  histogram) want=("${m}_bucket" "${m}_sum" "${m}_count") ;;
  *) fail "runtime metric $name: kind $kind" ;;
  esac
  case $name in /memory/classes/heap/objects:bytes | /gc/heap/objects:objects) continue ;; esac
  for w in "${want[@]}"; do
    grep -qE "^$w[{ ]" "$WORK/plain.txt" || missing="$missing $w($name)"
  done
done < <(grep '^metric ' "$WORK/t.out")
[ -z "$missing" ] || fail "runtime metrics missing from /metrics:$missing"
awk '$1 == "scry_gc_heap_totals_since_seconds" { v = $2 } END { exit !(v > 1e9) }' "$WORK/plain.txt" ||
  fail "scry_gc_heap_totals_since_seconds is not a time (the endpoint keeps the heap totals): $(grep totals_since "$WORK/plain.txt")"
if grep -qE '^scry_(memory_classes_heap_objects_bytes|gc_heap_objects_objects) ' "$WORK/plain.txt"; then
  fail "heap in-use served though the totals began mid-run: $(grep -E '^scry_(memory_classes_heap|gc_heap_objects)' "$WORK/plain.txt")"
fi
for w in scry_sched_latencies_seconds_bucket scry_cpu_classes_user_cpu_seconds_total; do
  grep -qE "^$w[{ ]" "$WORK/plain.txt" || fail "no $w in /metrics (runtime metrics: $(awk '$1 == "metric" { printf "%s ", $2 }' "$WORK/t.out"))"
done
echo "runtime metrics: all $nrt listed by scry_metrics_all are served"

# 3. OpenMetrics when asked for.
eq "GET /metrics (OpenMetrics)" "$(curl -s -H 'Accept: application/openmetrics-text; version=1.0.0' \
  -D "$WORK/om.h" -o "$WORK/om.txt" -w '%{http_code}' "$url")" 200
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$WORK/om.h" ||
  fail "OpenMetrics content type: $(grep -i '^content-type' "$WORK/om.h")"
eq "OpenMetrics last line" "$(tail -n 1 "$WORK/om.txt")" "# EOF"
eq "OpenMetrics '# EOF' lines" "$(grep -c '^# EOF$' "$WORK/om.txt")" 1
eq "OpenMetrics empty lines" "$(grep -c '^$' "$WORK/om.txt" || true)" 0
grep -qx '# TYPE app_requests counter' "$WORK/om.txt" ||
  fail "OpenMetrics: no '# TYPE app_requests counter' (the family is named without _total): $(grep 'TYPE app_requests' "$WORK/om.txt")"
values "$WORK/om.txt" "OpenMetrics"
# promtool reads only the text format: check OpenMetrics' structure here.
# Every sample belongs to the family of the TYPE line before it, with the
# suffixes its type allows (a counter's _total), and no family comes twice.
awk '/^# TYPE / { fam = $3; type = $4; if (fam in seen) { print "family " fam " twice"; bad = 1 } seen[fam] = 1; next }
     /^# / { next }
     { n = $1; sub(/\{.*/, "", n)
       if (type == "counter") ok = n == fam "_total" || n == fam "_created"
       else if (type == "histogram") ok = n == fam "_bucket" || n == fam "_sum" || n == fam "_count" || n == fam "_created"
       else ok = n == fam
       if (!ok) { print "sample " n " under # TYPE " fam " " type; bad = 1 } }
     END { exit bad }' "$WORK/om.txt" >"$WORK/om.check" ||
  fail "OpenMetrics structure: $(head -5 "$WORK/om.check")"
grep -q '^# EOF' "$WORK/plain.txt" && fail "the text format ends with # EOF"
echo "OpenMetrics: the same values, ends with # EOF"

kill -0 "$tpid" 2>/dev/null || fail "metrics_target died while scraped: $(tail -3 "$WORK/t.err")"
grep -E 'Sanitizer|runtime error' "$WORK/t.err" && fail "the sanitizer spoke (above)"
pass "/metrics: promtool clean, user metrics exact, runtime metrics served, OpenMetrics"
