#!/usr/bin/env bash
# A CPU profile of the span example filtered by the span_name label shows
# only that endpoint's work. front and back (examples/otel/) run with
# SCRY_PROFILES=cpu (they link libscry, which starts the profile from the
# environment) and spans exported to collector.js; /hash and /sort are
# requested alternately; SIGTERM ends both, which write their profiles.
# Then, for each process, with go tool pprof:
#   - unfiltered, -top shows both endpoints' work functions;
#   - -tagfocus='span_name=^GET /hash$' shows hash_work (back: back_hash_work)
#     with at least 95% of its unfiltered samples, and not one sample of
#     sort_work; the reverse for /sort;
#   - -tags lists span_name (with both names) and span_id, and the span ids
#     on the /hash samples are ids of spans the collector received under
#     that name from that service.
source "$SCRY_TESTS/lib.sh"
source "$SCRY_TESTS/otel/services.sh"
EX="$SCRY_BIN/examples/otel"
command -v go >/dev/null || fail "go is not installed (make test installs golang-go)"
command -v curl >/dev/null || fail "curl is not installed (make test installs it)"
for v in ${!OTEL_@} ${!SCRY_@}; do
  case $v in SCRY_BIN | SCRY_TESTS | SCRY_PRELOAD_FIRST) ;; *) unset "$v" ;; esac
done

start collector node "$OT/collector.js"
col=$port
common=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$col" OTEL_BSP_SCHEDULE_DELAY=200
  SCRY_PROFILES=cpu SCRY_CPU_HZ=250)
# About 3 ms of CPU per request on each side.
start back env "${common[@]}" OTEL_SERVICE_NAME=back SCRY_OUT="$WORK/back" "$EX/back" --work 600
bpid=$pid
start front env "${common[@]}" OTEL_SERVICE_NAME=front SCRY_OUT="$WORK/front" \
  "$EX/front" --downstream "http://127.0.0.1:$port" --work 600
fpid=$pid

# 150 requests of each, alternating, on one connection.
urls=()
for _ in $(seq 150); do urls+=("http://127.0.0.1:$port/hash" "http://127.0.0.1:$port/sort"); done
curl -sS --fail --max-time 120 "${urls[@]}" >"$WORK/answers" || fail "requests to front failed"
eq "answers from front" "$(grep -c '^front ' "$WORK/answers")" 300
eq "answers from back (through front)" "$(grep -c 'downstream: back ' "$WORK/answers")" 300
stop front "$fpid"
stop back "$bpid"
grep -h 'spans:' "$WORK/front.err" "$WORK/back.err"
curl -sS --max-time 20 "http://127.0.0.1:$col/spans" >"$WORK/spans.json" || fail "collector /spans failed"

# ms PPROF-TOP-OUTPUT FUNC: the function's flat milliseconds (0 if absent).
ms() { awk -v f="$2" '$6 == f { v = $1; sub(/ms$/, "", v); print v + 0; found = 1 } END { if (!found) print 0 }' <<<"$1"; }
top() { go tool pprof -unit=ms -top -nodecount=100 "$@" 2>&1; }

for proc in front back; do
  f="$WORK/$proc/cpu.pb.gz"
  [ -s "$f" ] || fail "$proc wrote no CPU profile: $(tail -3 "$WORK/$proc.err")"
  if [ $proc = front ]; then hash=hash_work sort=sort_work; else hash=back_hash_work sort=back_sort_work; fi
  go_reads "$f" "$hash"
  all=$(top "$f") || fail "go tool pprof -top $f: $all"
  all_h=$(ms "$all" $hash)
  all_s=$(ms "$all" $sort)
  echo "$proc: unfiltered $hash ${all_h} ms, $sort ${all_s} ms"
  [ "$all_h" -ge 200 ] && [ "$all_s" -ge 200 ] ||
    fail "$proc: too few samples to judge ($hash ${all_h} ms, $sort ${all_s} ms; want 200 ms each)"

  for ep in hash sort; do
    if [ $ep = hash ]; then want=$hash not=$sort; else want=$sort not=$hash; fi
    out=$(top -tagfocus="span_name=^GET /$ep\$" "$f") || fail "go tool pprof -tagfocus $f: $out"
    got=$(ms "$out" $want)
    other=$(ms "$out" $not)
    base=$([ $ep = hash ] && echo "$all_h" || echo "$all_s")
    echo "$proc: -tagfocus='span_name=^GET /$ep\$': $want $got ms (of $base), $not $other ms"
    eq "$proc: $not samples labelled span_name=GET /$ep" "$other" 0
    within "$got" "$base" 0.95 1.0 ||
      fail "$proc: only $got of $base ms in $want carry span_name=GET /$ep: $out"
  done

  tags=$(go tool pprof -tags "$f" 2>&1) || fail "go tool pprof -tags $f: $tags"
  grep -q '^ *span_name:' <<<"$tags" || fail "$proc: -tags lists no span_name: $tags"
  grep -q '^ *span_id:' <<<"$tags" || fail "$proc: -tags lists no span_id: $tags"
  grep -q 'GET /hash$' <<<"$tags" && grep -q 'GET /sort$' <<<"$tags" ||
    fail "$proc: span_name does not list both endpoints: $tags"

  # The span ids on the /hash samples are "GET /hash" SERVER spans of this
  # service, as exported.
  go tool pprof -tags -tagfocus="span_name=^GET /hash\$" -tagshow=span_id "$f" 2>/dev/null |
    awk '$1 ~ /^[0-9]+$/ || $1 ~ /ms$|s$/ { print $NF }' | grep -E '^(0x)?[0-9a-f]{16}$' | sed 's/^0x//' |
    sort -u >"$WORK/$proc.ids"
  n=$(wc -l <"$WORK/$proc.ids")
  node -e 'const [spans, svc, ids] = process.argv.slice(1);
    const fs = require("fs");
    const got = new Set(JSON.parse(fs.readFileSync(spans, "utf8")).spans
      .filter((s) => s.service === svc && s.name === "GET /hash" && s.kind === 2).map((s) => s.spanId));
    const bad = fs.readFileSync(ids, "utf8").split("\n").filter((x) => x && !got.has(x));
    if (bad.length) { console.error(`span ids on /hash samples that are no exported "GET /hash" span of ${svc}: ${bad.slice(0, 5).join(" ")}`); process.exit(1); }
    console.log(`${svc}: ${got.size} "GET /hash" spans exported`);' "$WORK/spans.json" "$proc" "$WORK/$proc.ids" ||
    fail "$proc: the profile's span ids do not match the exported spans"
  [ "$n" -ge 20 ] || fail "$proc: only $n distinct span_id values on /hash samples (want 20 or more of 150 requests)"
  echo "$proc: $n distinct span_id labels on /hash samples, each an exported \"GET /hash\" span"
done
pass "the CPU profiles of front and back split by span_name: each endpoint's work under its own span"
