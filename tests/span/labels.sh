#!/usr/bin/env bash
# Samples taken while a span is current carry span_id, span_name and
# root_span_name labels, in the cpu, heap, block and mutex profiles, against
# tests/span/span_truth.c (profile), which does known work in named spans:
# "GET /alpha" runs alpha_work; "GET /beta" runs beta_work, then as much
# again in its child span "beta-child".
#   cpu    every sample whose stack holds alpha_work is labelled "GET /alpha"
#          and beta_work "GET /beta" or "beta-child", each with the id of a
#          span of that name, and root_span_name "GET /beta" either way; the
#          CPU totals of those samples (by their stack: most of them are
#          in the clock_gettime the work loops call on every turn, under
#          libc's wrapper and the vDSO), by span_name ("GET /alpha", "GET /beta",
#          "beta-child") and by root_span_name ("GET /alpha", "GET /beta"),
#          add up to at least 90% of the work's CPU time as the program
#          measured it with its own thread CPU clock, and are in the ratios
#          it measured within 20%: at 1000 Hz
#          that is 300 and 600 samples, and what moves samples between the
#          names is the kernel checking CPU timers at its tick (4 ms), which
#          can deliver a sample due at the end of one span in the next: at
#          most 12 span boundaries x 4 ms, 11% of the ratio in the worst
#          case; every span_id label is the id of a
#          span of that name the program started; `go tool pprof -tagfocus`
#          on each name shows that name's work and not the other's.
#   heap   at rate 1 (every allocation), the in-use bytes labelled
#          "GET /alpha" in alpha_alloc are exactly ALPHA_BLOCKS MiB, and
#          "GET /beta" in beta_alloc BETA_BLOCKS MiB.
#   block  the main thread's wait on the held mutex is labelled "wait";
#   mutex  and charged to the releaser, labelled "hold".
source "$SCRY_TESTS/lib.sh"

OUT="$WORK/o"
OTEL_TRACES_EXPORTER=none SCRY_PROFILES=cpu,heap,block,mutex SCRY_CPU_HZ=1000 SCRY_HEAP_RATE=1 SCRY_OUT="$OUT" \
  "$SCRY_BIN/tests/span_truth" profile "$WORK/truth" >"$WORK/out" 2>"$WORK/err" ||
  fail "span_truth profile: $(cat "$WORK/out" "$WORK/err")"
for p in cpu heap block mutex; do [ -s "$OUT/$p.pb.gz" ] || fail "no $p profile: $(cat "$WORK/err")"; done
for p in cpu heap block mutex; do "$DUMP" "$OUT/$p.pb.gz" >"$WORK/$p.txt" || fail "pprof_dump $p"; done
"$DUMP" "$OUT/heap.pb.gz" --sample-index inuse_space >"$WORK/heap.txt"

python3 - "$WORK/truth" "$WORK" <<'PY' || fail "labels do not match the program's spans"
import re, sys
truth, work = sys.argv[1], sys.argv[2]
ids, cpu = {}, {}
for line in open(truth):
    f = line.rstrip("\n").split(" ")
    if f[0] == "span":
        ids.setdefault(" ".join(f[1:-1]), set()).add(f[-1])
    elif f[0] == "cpu":
        cpu[" ".join(f[1:-1])] = int(f[-1])
errors = []

def samples(name):
    """(values, frames, labels) of every sample line of pprof_dump."""
    out = []
    for line in open(f"{work}/{name}.txt"):
        if not line.startswith("sample "):
            continue
        parts = line[len("sample "):].rstrip("\n").split(" | ")
        vals = [int(v) for v in parts[0].split(",")]
        frames = parts[1].split(" ; ") if len(parts) > 1 else []
        labels = {}
        if len(parts) > 2:
            for m in re.finditer(r"(\w+)=(.*?)(?= \w+=|$)", parts[2]):
                labels[m.group(1)] = m.group(2)
        out.append((vals, frames, labels))
    return out

def span_ok(labels, name):
    return labels.get("span_name") == name and labels.get("span_id") in ids.get(name, ())

# cpu
by_name, by_root = {}, {}
roots = {"GET /alpha": "GET /alpha", "GET /beta": "GET /beta", "beta-child": "GET /beta"}
labelled = 0
for vals, frames, labels in samples("cpu"):
    name = labels.get("span_name")
    if name in roots:
        labelled += vals[1]
        if not span_ok(labels, name) or labels.get("root_span_name") != roots[name]:
            errors.append(f"cpu: a sample labelled {name} has {labels}")
    for fn, names in (("alpha_work", ("GET /alpha",)), ("beta_work", ("GET /beta", "beta-child"))):
        if fn not in frames:
            continue
        if name not in names:
            errors.append(f"cpu: a {fn} sample is labelled {labels}")
            continue
        by_name[name] = by_name.get(name, 0) + vals[1]
        by_root[roots[name]] = by_root.get(roots[name], 0) + vals[1]
print("cpu by span_name: " + ", ".join(f"{n} {by_name.get(n, 0)/1e6:.0f} ms (program {cpu[n]/1e6:.0f})" for n in roots))
print("cpu by root_span_name: " + ", ".join(f"{n} {v/1e6:.0f} ms" for n, v in sorted(by_root.items())))
# Found by stack: samples under clock_gettime are not lost.
# What moves samples out of the work is where a span's last CPU timer
# signal lands (the next span's work, mostly) and what the kernel has not
# delivered when the program ends (a few ms).
found, own = sum(by_name.values()), sum(cpu.values())
print(f"cpu: {found/1e6:.0f} ms found in alpha_work and beta_work, program {own/1e6:.0f} ms; {labelled/1e6:.0f} ms labelled with their span names")
if found < 0.90 * own:
    errors.append(f"cpu: only {found/1e6:.0f} ms of the work's {own/1e6:.0f} ms have alpha_work or beta_work in their stack")
def ratio_ok(got_a, got_b, want_a, want_b, what):
    if not got_a or not got_b or abs((got_b / got_a) / (want_b / want_a) - 1) > 0.20:
        errors.append(f"cpu: {what} {got_b/max(got_a,1):.2f}, the program's {want_b/want_a:.2f}")
ratio_ok(by_name.get("GET /alpha", 0), by_name.get("GET /beta", 0), cpu["GET /alpha"], cpu["GET /beta"],
         "span_name GET /beta over GET /alpha")
ratio_ok(by_name.get("GET /alpha", 0), by_name.get("beta-child", 0), cpu["GET /alpha"], cpu["beta-child"],
         "span_name beta-child over GET /alpha")
ratio_ok(by_root.get("GET /alpha", 0), by_root.get("GET /beta", 0), cpu["GET /alpha"],
         cpu["GET /beta"] + cpu["beta-child"], "root_span_name GET /beta over GET /alpha")

# heap
inuse = {}
for vals, frames, labels in samples("heap"):
    for fn, name in (("alpha_alloc", "GET /alpha"), ("beta_alloc", "GET /beta")):
        if frames and frames[0] in ("malloc", fn) and fn in frames and labels.get("bytes") == str(1 << 20):
            if not span_ok(labels, name):
                errors.append(f"heap: a {fn} sample is labelled {labels}")
            inuse[name] = inuse.get(name, 0) + vals[3]  # inuse_space
print(f"heap: in use GET /alpha {inuse.get('GET /alpha', 0)} bytes, GET /beta {inuse.get('GET /beta', 0)}")
if inuse.get("GET /alpha") != 24 << 20 or inuse.get("GET /beta") != 8 << 20:
    errors.append(f"heap: in use {inuse}, want 24 MiB and 8 MiB")

# block and mutex: the hand-off, by the lock's stacks
for prof, name in (("block", "wait"), ("mutex", "hold")):
    found = [l for v, f, l in samples(prof) if l.get("span_name") == name and span_ok(l, name) and v[1] > 100e6]
    print(f"{prof}: {len(found)} sample(s) of over 100 ms labelled {name}")
    if not found:
        errors.append(f"{prof}: no wait of over 100 ms labelled {name}: "
                      + str([l for v, f, l in samples(prof)]))
for e in errors:
    print("FAIL:", e)
sys.exit(1 if errors else 0)
PY

# go tool pprof reads the labels and filters by them.
command -v go >/dev/null || fail "go is not installed (make test installs golang-go)"
tags=$(go tool pprof -tags "$OUT/cpu.pb.gz" 2>&1) || fail "go tool pprof -tags: $tags"
grep -q "span_name" <<<"$tags" && grep -q "span_id" <<<"$tags" || fail "go tool pprof -tags: $tags"
grep -q "root_span_name" <<<"$tags" || fail "go tool pprof -tags shows no root_span_name: $tags"
for f in "span_name=^GET /alpha$:alpha:beta" "root_span_name=^GET /beta$:beta:alpha" "span_name=^beta-child$:beta:alpha"; do
  IFS=: read -r focus want other <<<"$f"
  top=$(go tool pprof -top -tagfocus="$focus" "$OUT/cpu.pb.gz" 2>&1) || fail "go tool pprof: $top"
  grep -q "${want}_work" <<<"$top" || fail "-tagfocus $focus does not show ${want}_work: $top"
  ! grep -q "${other}_work" <<<"$top" || fail "-tagfocus $focus shows ${other}_work: $top"
done
pass "span labels in cpu, heap, block and mutex profiles"
