#!/usr/bin/env bash
# bench/run --quick on the cpu workload: the overhead study produces its three
# outputs with a row per configuration. Checks the runner, not the numbers
# (a test never asserts a timing): overhead.md has a row for every
# configuration, runs.csv parses with the expected columns and runs x
# configurations rows, overhead.svg is well-formed XML with one bar per
# configuration. perf may be unusable without privileges: then the runner
# says it skips it, and so does this test.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$SCRY_TESTS/.." && pwd)
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 0; }

set +e
"$ROOT/bench/run" --quick --workloads cpu --build "$SCRY_BIN" --out "$WORK/out" 2>"$WORK/err"
rc=$?
set -e
[ -s "$WORK/out/overhead.md" ] || fail "bench/run (exit $rc) wrote no overhead.md: $(tail -5 "$WORK/err")"
# A configuration whose runs failed or hung is a finding about scry, not about
# the runner: shown here, and in the table.
grep 'FAILED' "$WORK/err" | sort -u | sed 's/^/note: /' || true

configs="none cpu cpu1000 heap allocs-rate1 mutex block wall threads all trace"
for ref in libprofiler heaptrack perf; do
  if grep -q "skipping $ref:" "$WORK/err"; then
    echo "note: $(grep "skipping $ref:" "$WORK/err")"
    [ "$ref" = perf ] || fail "$ref is installed but bench/run skipped it"
  else
    configs+=" $ref"
  fi
done
n=$(wc -w <<<"$configs")

python3 - "$WORK/out" $configs <<'PY' || fail "bench/run's outputs are incomplete (above)"
import csv, sys, xml.etree.ElementTree as ET
out, configs = sys.argv[1], sys.argv[2:]
runs, bad = 5, []
md = open(f"{out}/overhead.md").read().splitlines()
for c in configs:
    if not any(l.startswith(f"| {c} |") for l in md):
        bad.append(f"overhead.md: no row for {c}")
rows = list(csv.DictReader(open(f"{out}/runs.csv")))
want = ["workload", "config", "repetition", "status", "measure", "unit", "cpu_seconds", "wall_seconds", "rps", "p50_ms", "p99_ms"]
if not rows or list(rows[0].keys()) != want:
    bad.append(f"runs.csv: columns {list(rows[0].keys()) if rows else None}, want {want}")
if len(rows) != runs * len(configs):
    bad.append(f"runs.csv: {len(rows)} rows, want {runs} x {len(configs)}")
for c in configs:
    reps = sorted(int(r["repetition"]) for r in rows if r["config"] == c and r["workload"] == "cpu")
    if reps != list(range(1, runs + 1)):
        bad.append(f"runs.csv: {c} has repetitions {reps}")
    for r in rows:
        if r["config"] == c and r["status"] == "ok" and not float(r["measure"]) > 0:
            bad.append(f"runs.csv: {c} rep {r['repetition']}: measure {r['measure']}")
svg = ET.parse(f"{out}/overhead.svg").getroot()
if svg.tag != "{http://www.w3.org/2000/svg}svg":
    bad.append(f"overhead.svg: root {svg.tag}")
bars = [e.get("data-config") for e in svg.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "bar"]
if sorted(bars) != sorted(configs):
    bad.append(f"overhead.svg: bars {bars}, want one per {configs}")
texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
for label in ["overhead (%)", "workload", "configuration"]:
    if label not in texts:
        bad.append(f"overhead.svg: no '{label}' label")
ok = sum(r["status"] == "ok" for r in rows)
print(f"{len(rows)} runs in runs.csv ({ok} ok), {len(bars)} bars, {len(configs)} configurations")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
pass "bench/run --quick --workloads cpu: a row per configuration ($n) in overhead.md, $((5 * n)) runs in runs.csv, one bar each in overhead.svg"
