#!/usr/bin/env bash
# A real Prometheus server scrapes metrics_target every second (it asks for
# OpenMetrics first, as Prometheus does by default), and its query API
# gives back the ground truth:
#   - the target is up and was scraped at least 3 times;
#   - app_requests_total{method="GET"} is exactly TOTAL;
#   - app_queue_depth is 42;
#   - histogram_quantile(0.5, sum by (le) (app_latency_seconds_bucket)) is
#     within 0.1 of 0.5 (1000 observations spread evenly over (0, 1));
#   - runtime metrics (scry_*) were ingested, scry_sched_latencies_seconds'
#     histogram among them.
# Prometheus runs on loopback, on a free port, with its storage in $WORK;
# every wait is bounded (30 s at most) and both processes are killed at exit.
source "$SCRY_TESTS/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (make test installs it)"
PROMETHEUS=$(command -v prometheus || true)
[ -n "$PROMETHEUS" ] || fail "prometheus is not installed (make test installs it)"
command -v python3 >/dev/null || fail "python3 is not installed (make test installs it)"
prog="$SCRY_BIN/tests/metrics_target"
TOTAL=2000003

tpid=
prom_pid=
stop() { # PID: TERM, then KILL after 5 s
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
trap 'stop "$prom_pid"; stop "$tpid"; rm -rf "$WORK"' EXIT

env -u SCRY_HTTP "$prog" "$TOTAL" 300 >"$WORK/t.out" 2>"$WORK/t.err" &
tpid=$!
for _ in $(seq 300); do
  grep -q '^done' "$WORK/t.out" && break
  kill -0 "$tpid" 2>/dev/null || fail "metrics_target exited: $(cat "$WORK/t.out" "$WORK/t.err")"
  sleep 0.1
done
grep -q '^done' "$WORK/t.out" || fail "metrics_target did not finish its updates in 30 s"
port=$(awk '$1 == "port" { print $2 }' "$WORK/t.out")
[ -n "$port" ] && [ "$port" -gt 0 ] || fail "no port from scry_http_port: $(cat "$WORK/t.out")"

# A free loopback port for Prometheus (the kernel's choice, released).
pport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: scry
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
if command -v promtool >/dev/null; then
  promtool check config "$WORK/prometheus.yml" >"$WORK/config.out" 2>&1 ||
    fail "promtool check config: $(cat "$WORK/config.out")"
fi
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$WORK/prometheus.log" 2>&1 &
prom_pid=$!
api="http://127.0.0.1:$pport"
for _ in $(seq 60); do
  curl -sf --max-time 2 "$api/-/ready" >/dev/null 2>&1 && break
  kill -0 "$prom_pid" 2>/dev/null || fail "prometheus exited: $(tail -5 "$WORK/prometheus.log")"
  sleep 0.5
done
curl -sf --max-time 2 "$api/-/ready" >/dev/null 2>&1 || fail "prometheus not ready in 30 s: $(tail -5 "$WORK/prometheus.log")"
echo "prometheus ready on port $pport, scraping 127.0.0.1:$port every 1 s"

# query PROMQL: the single value of an instant query, or "error: ..." and
# status 1 (an API error, or not exactly one series).
query() {
  curl -s --max-time 5 "$api/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)
except ValueError as e:
    print("error: not JSON: %s" % e); sys.exit(1)
if r.get("status") != "success":
    print("error: %s: %s" % (r.get("errorType"), r.get("error"))); sys.exit(1)
d = r["data"]
if d["resultType"] == "scalar":
    print(d["result"][1]); sys.exit(0)
if len(d["result"]) != 1:
    print("error: %d series: %s" % (len(d["result"]), [s["metric"] for s in d["result"]][:5])); sys.exit(1)
print(d["result"][0]["value"][1])'
}
# target_error: what Prometheus says of the scrape (health and last error).
target_error() {
  curl -s --max-time 5 "$api/api/v1/targets" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print("%s health=%s lastError=%r" % (t["scrapeUrl"], t["health"], t["lastError"]))'
}

scrapes=0
for _ in $(seq 60); do
  scrapes=$(query 'count_over_time(up{job="scry"}[5m])' 2>/dev/null || echo 0)
  case $scrapes in error*) scrapes=0 ;; esac
  [ "${scrapes%.*}" -ge 3 ] && break
  kill -0 "$tpid" 2>/dev/null || fail "metrics_target died while scraped: $(tail -3 "$WORK/t.err")"
  sleep 0.5
done
[ "${scrapes%.*}" -ge 3 ] || fail "fewer than 3 scrapes in 30 s ($scrapes): $(target_error)"
up=$(query 'up{job="scry"}') || fail "up: $up"
eq "up (scrape health: $(target_error))" "$up" 1
echo "scraped $scrapes times, up"

v=$(query 'app_requests_total{method="GET"}') || fail "app_requests_total: $v ($(target_error))"
python3 -c "import sys; v = float(sys.argv[1]); sys.exit(not (v.is_integer() and int(v) == $TOTAL))" "$v" ||
  fail "app_requests_total{method=\"GET\"}: got $v, want $TOTAL"
v=$(query 'app_queue_depth') || fail "app_queue_depth: $v"
python3 -c "import sys; sys.exit(float(sys.argv[1]) != 42)" "$v" || fail "app_queue_depth: got $v, want 42"
echo "app_requests_total{method=\"GET\"} $TOTAL, app_queue_depth 42"

q='histogram_quantile(0.5, sum by (le) (app_latency_seconds_bucket))'
med=$(query "$q") || fail "$q: $med"
python3 -c "import sys; sys.exit(not abs(float(sys.argv[1]) - 0.5) <= 0.1)" "$med" ||
  fail "$q: got $med, want 0.5 +- 0.1"
n=$(query 'app_latency_seconds_count') || fail "app_latency_seconds_count: $n"
python3 -c "import sys; sys.exit(float(sys.argv[1]) != 1000)" "$n" || fail "app_latency_seconds_count: got $n, want 1000"
echo "median latency $med (want 0.5 +- 0.1), count $n"

nrt=$(query 'count({__name__=~"scry_.+", job="scry"})') || fail "no runtime metric (scry_*) ingested: $nrt"
b=$(query 'count(scry_sched_latencies_seconds_bucket{job="scry"})') ||
  fail "scry_sched_latencies_seconds_bucket not ingested: $b"
echo "runtime metrics: $nrt series, scry_sched_latencies_seconds in $b buckets"
kill -0 "$tpid" 2>/dev/null || fail "metrics_target died while scraped: $(tail -3 "$WORK/t.err")"
grep -E 'Sanitizer|runtime error' "$WORK/t.err" && fail "the sanitizer spoke (above)"
pass "Prometheus scrapes /metrics: counter exact, gauge 42, median latency $med"
