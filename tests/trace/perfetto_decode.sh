# The Perfetto encoder (src/format/perfetto.c) against a known record
# sequence (tests/trace/perfetto_gen.c has the ground truth): protoc decodes
# what it wrote with src/format/perfetto_trace.proto, and the decoded text is
# read back here as Perfetto's trace processor reads it (incremental state,
# interning, tracks, begin/end pairing, flows), then compared with the truth.
source "$SCRY_TESTS/lib.sh"

command -v protoc >/dev/null || { echo "SKIP: protoc is not installed (Debian protobuf-compiler)"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 0; }

SRC="$SCRY_TESTS/../src/format"
out=$("$SCRY_BIN/tests/perfetto_gen" "$WORK") || fail "perfetto_gen failed: $out"
echo "$out"
grep -qx "dropped 5" <<<"$out" || fail "scry__perfetto_dropped: want 5 (one DROPPED record of 5)"
grep -qx "failed 0" <<<"$out" || fail "a file sink that took every byte reported a failure"

cat "$WORK/gen1.pftrace" "$WORK/gen2.pftrace" | cmp -s - "$WORK/all.pftrace" ||
  fail "the two generations do not add up to the whole trace"
protoc --decode_raw <"$WORK/all.pftrace" >/dev/null || fail "not a well-formed protobuf message"
for f in all gen1 gen2; do
  protoc --decode=perfetto.protos.Trace -I "$SRC" "$SRC/perfetto_trace.proto" \
    <"$WORK/$f.pftrace" >"$WORK/$f.txt" 2>"$WORK/$f.err" ||
    fail "protoc cannot decode $f.pftrace as perfetto.protos.Trace: $(cat "$WORK/$f.err")"
  [ -s "$WORK/$f.err" ] && fail "protoc warned on $f.pftrace: $(cat "$WORK/$f.err")"
done
pass "protoc decodes the trace and each generation"

python3 - "$WORK" <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ["SCRY_TESTS"], "trace"))
from protoc_text import every, get, parse

work = sys.argv[1]
BASE = 1000000000000
PID, A_TID, B_TID, C_TID = 4242, 4242, 4243, 4244
PROC = PID
A, B, C = 1 << 32 | A_TID, 1 << 32 | B_TID, 1 << 32 | C_TID
T7, T8 = 2 << 56 | 7, 2 << 56 | 8
NAMES = {PROC: "process", A: "thread A", B: "thread B", C: "thread C", T7: "task 7", T8: "task 8"}
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)
    return cond


def read(name, from_start=True):
    """Replays a trace as the trace processor would; returns its contents.
    from_start: the trace begins with the converter's first packet, so each
    interning table's iids are 1..n (a later generation alone holds the
    strings it uses, under the iids they were first given)."""
    packets = every(parse(open(f"{work}/{name}.txt").read()), "packet")
    gen, clears, snapshots = 0, [], []
    interned = {}     # table -> iid -> name, this generation
    ever = {}         # table -> iid -> name, whole trace (an iid never changes meaning)
    described = set() # track uuids described in this generation
    tracks = {}       # uuid -> [descriptor per emission]
    events = []
    for i, pkt in enumerate(packets):
        check(get(pkt, "trusted_packet_sequence_id") == 1, f"{name}: packet {i} not on sequence 1")
        flags = get(pkt, "sequence_flags", 0)
        if flags & 1:
            gen += 1
            clears.append(i)
            interned = {"names": {}, "cats": {}, "keys": {}}
            described = set()
        if i == 0:
            check(flags & 1, f"{name}: the first packet does not clear incremental state")
        if gen == 0:
            errors.append(f"{name}: packet {i} before any incremental state was cleared")
            continue
        idata = get(pkt, "interned_data", [])
        for table, field in (("names", "event_names"), ("cats", "event_categories"),
                             ("keys", "debug_annotation_names")):
            for e in every(idata, field):
                iid, s = get(e, "iid"), get(e, "name")
                check(iid and iid >= 1, f"{name}: interned {s!r} without a valid iid")
                prev = ever.setdefault(table, {}).setdefault(iid, s)
                check(prev == s, f"{name}: iid {iid} of {table} means {prev!r} and {s!r}")
                interned[table][iid] = s
        cs = get(pkt, "clock_snapshot")
        if cs is not None:
            clocks = {get(c, "clock_id"): get(c, "timestamp") for c in every(cs, "clocks")}
            check(set(clocks) == {3, 6}, f"{name}: clock snapshot has clocks {sorted(clocks)}")
            snapshots.append(i)
        td = get(pkt, "track_descriptor")
        if td is not None:
            uuid = get(td, "uuid")
            tracks.setdefault(uuid, []).append((gen, td))
            described.add(uuid)
        ev = get(pkt, "track_event")
        if ev is None:
            continue
        check(flags & 2, f"{name}: event packet {i} lacks SEQ_NEEDS_INCREMENTAL_STATE")
        check(get(pkt, "timestamp_clock_id") == 3, f"{name}: event packet {i} not on CLOCK_MONOTONIC")
        track = get(ev, "track_uuid")
        check(track in described, f"{name}: event on track {track} before its descriptor in generation {gen}")

        def resolve(table, iid, s):
            if iid is None:
                return s
            check(iid in interned[table], f"{name}: {table} iid {iid} used in generation {gen} before it was defined")
            return interned[table].get(iid, f"<undefined {table} iid {iid}>")

        anns = {}
        for a in every(ev, "debug_annotations"):
            key = resolve("keys", get(a, "name_iid"), get(a, "name"))
            vals = [(k, v) for k, v in a if k.endswith("_value")]
            check(len(vals) == 1, f"{name}: annotation {key} has values {vals}")
            anns[key] = vals[0] if vals else None
        cats = [resolve("cats", c, None) for c in every(ev, "category_iids")] + every(ev, "categories")
        events.append(dict(i=i, gen=gen, ts=get(pkt, "timestamp") - BASE, track=track,
                           type=get(ev, "type"), name=resolve("names", get(ev, "name_iid"), get(ev, "name")),
                           cat=",".join(c or "?" for c in cats), anns=anns,
                           flows=every(ev, "flow_ids"), ends=every(ev, "terminating_flow_ids")))
    # Slices: begin/end pairs per track, nested, in timestamp order (as the
    # trace processor sorts them; stable for equal timestamps).
    slices, instants, open_ = [], [], {}
    for e in sorted(events, key=lambda e: (e["ts"], e["i"])):
        if e["type"] == "TYPE_SLICE_BEGIN":
            open_.setdefault(e["track"], []).append(e)
        elif e["type"] == "TYPE_SLICE_END":
            st = open_.get(e["track"])
            if check(st, f"{name}: SLICE_END on {NAMES.get(e['track'])} at {e['ts']} with nothing open"):
                b = st.pop()
                check(b["gen"] == e["gen"], f"{name}: slice {b['name']} begun in generation {b['gen']}, ended in {e['gen']}")
                slices.append(dict(track=b["track"], name=b["name"], cat=b["cat"], begin=b["ts"],
                                   end=e["ts"], anns=b["anns"], end_event=e))
        else:
            check(e["type"] == "TYPE_INSTANT", f"{name}: event of type {e['type']}")
            instants.append(e)
    for t, st in open_.items():
        check(not st, f"{name}: slices left open on {NAMES.get(t)}: {[b['name'] for b in st]}")
    for table, iids in ever.items() if from_start else ():
        check(sorted(iids) == list(range(1, len(iids) + 1)), f"{name}: {table} iids {sorted(iids)} are not 1..n")
    return dict(packets=packets, clears=clears, snapshots=snapshots, tracks=tracks,
                events=events, slices=slices, instants=instants)


def key(s):
    return (s["track"], s["name"], s["begin"], s["end"])


def expect_slices(name, got, want):
    got_keys = sorted(key(s) for s in got)
    check(got_keys == sorted(want), f"{name}: slices\n  got  {got_keys}\n  want {sorted(want)}")


def one(where, items, **kw):
    found = [x for x in items if all(x.get(k) == v for k, v in kw.items())]
    check(len(found) == 1, f"{where}: want one of {kw}, found {len(found)}")
    return found[0] if found else {"anns": {}, "flows": [], "ends": [], "end_event": {"ends": []}}


def expect_track(where, t, gen, uuid, **want):
    emitted = [td for g, td in t["tracks"].get(uuid, []) if g == gen]
    if not check(emitted, f"{where}: no descriptor for {NAMES[uuid]} in generation {gen}"):
        return
    td = emitted[-1]
    for k, v in want.items():
        if k in ("process", "thread"):
            sub = get(td, k, [])
            for sk, sv in v.items():
                check(get(sub, sk) == sv, f"{where}: {NAMES[uuid]} {k}.{sk} = {get(sub, sk)!r}, want {sv!r}")
        else:
            check(get(td, k) == v, f"{where}: {NAMES[uuid]} {k} = {get(td, k)!r}, want {v!r}")


# ---- the whole trace ----
t = read("all")
check(len(t["clears"]) == 2, f"all: incremental state cleared {len(t['clears'])} times, want 2 (start, boundary)")
first = t["packets"][0]
check(get(first, "first_packet_on_sequence") == "true", "all: first packet lacks first_packet_on_sequence")
check(get(first, "clock_snapshot") is not None, "all: first packet carries no clock snapshot")
check(sum(get(p, "first_packet_on_sequence") == "true" for p in t["packets"]) == 1,
      "all: first_packet_on_sequence set more than once")
check(t["snapshots"] and t["snapshots"][-1] == len(t["packets"]) - 1, "all: the last packet is not a clock snapshot")
check(all(c in t["snapshots"] for c in t["clears"]), "all: a generation does not open with a clock snapshot")
# The boundary: everything of generation 1 is at or before 3400, of 2 at or after.
for e in t["events"]:
    check((e["ts"] <= 3400) if e["gen"] == 1 else (e["ts"] >= 3400),
          f"all: event {e['name']} at {e['ts']} in generation {e['gen']}")

expect_slices("all", t["slices"], [
    (T7, "request", 1200, 2600), (A, "parse", 1300, 1700), (A, "lex", 1400, 1600),
    (B, "mutex wait", 1800, 2500), (A, "read", 2700, 2900),
    (A, "outer", 3300, 3400), (A, "outer", 3400, 3600),
    (T8, "batch", 3350, 3400), (T8, "batch", 3400, 3650), (A, "tail", 3800, 4000)])
cats = {"request": "task", "batch": "task", "parse": "region", "lex": "region", "outer": "region",
        "tail": "region", "mutex wait": "lock", "read": "syscall"}
for s in t["slices"]:
    check(s["cat"] == cats.get(s["name"]), f"all: slice {s['name']} has category {s['cat']}")
got_instants = sorted((e["track"], e["name"], e["cat"], e["ts"]) for e in t["instants"])
want_instants = sorted([(A, "http", "log", 1500), (A, "unlock", "lock", 2400), (A, "cpu sample", "cpu", 3000),
                        (B, "dropped events", "scry", 3100), (A, "malloc", "alloc", 3150),
                        (C, "misc", "log", 3250),
                        (A, "http", "log", 3500), (B, "thread end", "thread", 3700)])
check(got_instants == want_instants, f"all: instants\n  got  {got_instants}\n  want {want_instants}")

U, I, P, S = "uint_value", "int_value", "pointer_value", "string_value"
for s in [x for x in t["slices"] if x["name"] == "request"] + \
         [x for x in t["slices"] if x["name"] in ("parse", "lex")]:
    check(s["anns"] == {"task_id": (U, 7)}, f"all: {s['name']} annotations {s['anns']}")
for s in [x for x in t["slices"] if x["name"] == "batch"]:
    check(s["anns"] == {"task_id": (U, 8), "parent_task_id": (U, 7)}, f"all: batch annotations {s['anns']}")
for s in [x for x in t["slices"] if x["name"] in ("outer", "tail")]:
    check(s["anns"] == {}, f"all: {s['name']} annotations {s['anns']}")
rd = one("all", t["slices"], name="read")
check(rd["anns"] == {"fd": (I, 3), "result": (I, 512)}, f"all: read annotations {rd['anns']}")
log1 = one("all", t["instants"], name="http", ts=1500)
check(log1["anns"] == {"message": (S, "GET /index"), "task_id": (U, 7)}, f"all: log annotations {log1['anns']}")
log2 = one("all", t["instants"], name="http", ts=3500)
check(log2["anns"] == {"message": (S, "after")}, f"all: second log annotations {log2['anns']}")

# The wait, its stack, and the flow from the wake that ended it.
wait = one("all", t["slices"], name="mutex wait")
check(wait["anns"].get("lock") == (P, 0xdead0), f"all: wait lock {wait['anns'].get('lock')}")
stack = wait["anns"].get("stack", ("", ""))[1].split("\n")
check(stack[0] == "waiter_fn", f"all: wait stack {stack}, want waiter_fn first")
wake = one("all", t["instants"], name="unlock")
check(wake["anns"] == {"lock": (P, 0xdead0)}, f"all: wake annotations {wake['anns']}")
check(wake["flows"] == [99], f"all: wake flow_ids {wake['flows']}, want [99]")
check(wait["end_event"]["ends"] == [99], f"all: wait end terminating_flow_ids {wait['end_event']['ends']}, want [99]")
check(all(not e["flows"] and (not e["ends"] or e is wait["end_event"]) for e in t["events"] if e is not wake),
      "all: flow ids on events other than the wake and the wait's end")
check(wake["ts"] < wait["end"], "all: the wake comes after the wait it ends")

smp = one("all", t["instants"], name="cpu sample")
check(smp["anns"].get("function") == (S, "sample_leaf"), f"all: sample function {smp['anns'].get('function')}")
check(smp["anns"].get("stack") == (S, "sample_leaf\nsample_caller"), f"all: sample stack {smp['anns'].get('stack')}")
al = one("all", t["instants"], name="malloc")
check(al["anns"] == {"size": (U, 1 << 20), "address": (P, 0xabc000)}, f"all: malloc annotations {al['anns']}")
dr = one("all", t["instants"], name="dropped events")
check(dr["anns"] == {"count": (U, 5)}, f"all: dropped annotations {dr['anns']}")

# Tracks: the process, both threads (named, renamed), the tasks.
for g in (1, 2):
    expect_track("all", t, g, PROC, process={"pid": PID, "process_name": "perfetto_gen"})
    expect_track("all", t, g, A, parent_uuid=PROC, thread={"pid": PID, "tid": A_TID, "thread_name": "main"})
    expect_track("all", t, g, T8, parent_uuid=PROC, name="task batch 8")
expect_track("all", t, 1, T7, parent_uuid=PROC, name="task request 7")
expect_track("all", t, 1, C, parent_uuid=PROC, thread={"pid": PID, "tid": C_TID, "thread_name": None})
b_names = [get(get(td, "thread", []), "thread_name") for g, td in t["tracks"].get(B, [])]
check(b_names == ["worker", "worker-renamed", "worker-renamed"],
      f"all: thread B descriptors named {b_names}, want worker, then worker-renamed (rename, generation 2)")
for uuid, tds in t["tracks"].items():
    check(uuid in NAMES, f"all: unexpected track {uuid}")
    for g, td in tds:
        if uuid != PROC:
            check(get(td, "parent_uuid") == PROC, f"all: {NAMES.get(uuid)} is not a child of the process")

# ---- each generation alone, as the flight recorder keeps them ----
g1 = read("gen1")
check(len(g1["clears"]) == 1, "gen1: incremental state cleared more than once")
expect_slices("gen1", g1["slices"], [
    (T7, "request", 1200, 2600), (A, "parse", 1300, 1700), (A, "lex", 1400, 1600),
    (B, "mutex wait", 1800, 2500), (A, "read", 2700, 2900),
    (A, "outer", 3300, 3400), (T8, "batch", 3350, 3400)])
g2 = read("gen2", from_start=False)
check(g2["clears"] == [0], "gen2: does not open by clearing incremental state")
check(g2["snapshots"] and g2["snapshots"][0] == 0, "gen2: does not open with a clock snapshot")
expect_slices("gen2", g2["slices"], [(A, "outer", 3400, 3600), (T8, "batch", 3400, 3650), (A, "tail", 3800, 4000)])
check(sorted((e["name"], e["ts"]) for e in g2["instants"]) == [("http", 3500), ("thread end", 3700)],
      f"gen2: instants {[(e['name'], e['ts']) for e in g2['instants']]}")
expect_track("gen2", g2, 1, B, parent_uuid=PROC, thread={"pid": PID, "tid": B_TID, "thread_name": "worker-renamed"})
expect_track("gen2", g2, 1, PROC, process={"pid": PID, "process_name": "perfetto_gen"})

if errors:
    print("\n".join("FAIL: " + e for e in errors), file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(t['packets'])} packets, {len(t['slices'])} slices, {len(t['instants'])} instants, "
      f"{len(t['clears'])} generations, flow 99 from the wake to the wait")
EOF
pass "the decoded trace matches the records"
