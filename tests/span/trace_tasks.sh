#!/usr/bin/env bash
# While a runtime trace records, every span is a task named like it whose
# begin carries the span's trace_id and span_id (W3C hex), and a task begun
# inside a span carries them too. tests/span/span_truth.c (trace) makes
# NTRACE spans "traced", each with a task "inner", and writes their ids;
# the trace is decoded with protoc.
source "$SCRY_TESTS/lib.sh"
command -v protoc >/dev/null || fail "protoc is not installed (make test installs protobuf-compiler)"
SRC="$SCRY_TESTS/../src/format"
T="$WORK/t.pftrace"
OTEL_TRACES_EXPORTER=none SCRY_TRACE="$T" "$SCRY_BIN/tests/span_truth" trace "$WORK/truth" \
  >"$WORK/out" 2>"$WORK/err" || fail "span_truth trace: $(cat "$WORK/err")"
protoc --decode=perfetto.protos.Trace -I "$SRC" "$SRC/perfetto_trace.proto" <"$T" >"$WORK/trace.txt" \
  2>"$WORK/protoc.err" || fail "protoc cannot decode the trace: $(cat "$WORK/protoc.err")"
python3 - "$WORK/truth" "$WORK/trace.txt" <<'PY' || fail "tasks do not carry the spans' ids"
import os, sys
sys.path.insert(0, os.path.join(os.environ["SCRY_TESTS"], "trace"))
from protoc_text import every, get, parse
truth = [l.split()[1:] for l in open(sys.argv[1]) if l.startswith("span ")]
packets = every(parse(open(sys.argv[2]).read()), "packet")
names, keys = {}, {}
begins = []  # (name, {annotation: value})
for p in packets:
    inter = get(p, "interned_data")
    if inter:
        for n in every(inter, "event_names"):
            names[get(n, "iid")] = get(n, "name")
        for k in every(inter, "debug_annotation_names"):
            keys[get(k, "iid")] = get(k, "name")
    ev = get(p, "track_event")
    if not ev or get(ev, "type") != "TYPE_SLICE_BEGIN":
        continue
    name = get(ev, "name") or names.get(get(ev, "name_iid"))
    ann = {}
    for a in every(ev, "debug_annotations"):
        key = get(a, "name") or keys.get(get(a, "name_iid"))
        ann[key] = get(a, "string_value", get(a, "uint_value"))
    begins.append((name, ann))
errors = []
for tname in ("traced", "inner"):
    got = sorted((a.get("trace_id"), a.get("span_id")) for n, a in begins if n == tname)
    want = sorted((t, s) for t, s in truth)
    print(f"{tname}: {len(got)} task begins, {sum(1 for g in got if g in want)} with a span's ids")
    if got != want:
        errors.append(f"{tname}: tasks carry {got[:3]}..., the spans were {want[:3]}...")
for e in errors:
    print("FAIL:", e)
sys.exit(1 if errors else 0)
PY
pass "runtime trace tasks carry their spans' trace and span ids"
