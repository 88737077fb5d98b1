#!/usr/bin/env python3
"""flight_check.py - reads a scry trace as Perfetto's trace processor would,
checks that it is well formed, and prints what the flight, HTTP and crash
tests (tests/trace/flight.sh, http_trace.sh, crash_flight.sh) compare with
their programs' ground truth (tests/trace/flight_truth.c).

    flight_check.py TEXT [LOG]

TEXT is `protoc --decode=perfetto.protos.Trace` output. Checked, each a line
"error: ..." and exit status 1 when wrong:
  - the first packet clears incremental state; every event packet needs it;
  - every interned iid an event uses (name, category, annotation name) was
    defined earlier in the same generation (since the last clear), and an
    iid never changes meaning;
  - every event's track was described earlier in the same generation;
  - events are on CLOCK_MONOTONIC;
  - slices, paired per track in timestamp order (stable: the trace
    processor's sort), balance: no end without a begin, nothing left open
    at the end, and a slice begins and ends in the same generation (so
    that dropping older generations never leaves half a slice);
  - at each generation boundary nothing is open.
Printed, one "key value" per line (names after a tab):
  packets, generations, events, first_ts, last_ts, span_ns (timestamps of
  track events, CLOCK_MONOTONIC ns);
  region<TAB>NAME<TAB>COUNT for every region name (a region that a
  generation boundary split in two, one slice ending where the next of the
  same name begins on the same track in the next generation, counts once);
  progress_first TS N, progress_last TS N, ticks_between K: the first and
  last "progress" logs ("ticks N") and the "tick" regions that began
  between them;
  seconds FIRST LAST MISSING: the "second" logs, and how many numbers
  between the first and last are absent;
  lock_waits N, lock_flows N: slices of category "lock", and those ended by
  a flow from a wake (terminating_flow_ids);
  with LOG, flight_truth's per-second log ("sec S mono NS real NS ticks N
  rss KB"): tick_range LO HI, the ticks the trace's span holds at the
  program's slowest and fastest whole-second tick rates among the seconds
  that overlap the trace, less and more 10% (the rate varies within a
  second too).
"""
import sys


def parse(path):
    """protoc text -> list of packets, each {field: [values]}."""
    root = {}
    stack = [root]
    with open(path) as f:
        for line in f:
            s = line.strip()
            if not s:
                continue
            if s == "}":
                stack.pop()
            elif s.endswith("{"):
                child = {}
                stack[-1].setdefault(s[:-1].strip(), []).append(child)
                stack.append(child)
            else:
                k, _, v = s.partition(":")
                v = v.strip()
                if v.startswith('"'):
                    v = bytes(v[1:-1], "utf-8").decode("unicode_escape")
                elif v.lstrip("-").isdigit():
                    v = int(v)
                stack[-1].setdefault(k.strip(), []).append(v)
    if len(stack) != 1:
        raise SystemExit("error: protoc output ends inside a message")
    return root.get("packet", [])


def one(msg, key, default=None):
    v = msg.get(key)
    return v[0] if v else default


def main():
    errors = []

    def err(what):
        if len(errors) < 20:
            errors.append(what)

    packets = parse(sys.argv[1])
    gen = 0
    interned = {}
    ever = {}
    described = set()
    events = []
    for i, pkt in enumerate(packets):
        flags = one(pkt, "sequence_flags", 0)
        if flags & 1:
            gen += 1
            interned = {"names": {}, "cats": {}, "keys": {}}
            described = set()
        elif i == 0:
            err("the first packet does not clear incremental state")
        if gen == 0:
            continue
        for idata in pkt.get("interned_data", []):
            for table, field in (("names", "event_names"), ("cats", "event_categories"),
                                 ("keys", "debug_annotation_names")):
                for e in idata.get(field, []):
                    iid, s = one(e, "iid"), one(e, "name")
                    prev = ever.setdefault(table, {}).setdefault(iid, s)
                    if prev != s:
                        err(f"{table} iid {iid} means {prev!r} and {s!r}")
                    interned[table][iid] = s
        for td in pkt.get("track_descriptor", []):
            described.add(one(td, "uuid"))
        ev = one(pkt, "track_event")
        if ev is None:
            continue
        if not flags & 2:
            err(f"event packet {i} lacks SEQ_NEEDS_INCREMENTAL_STATE")
        if one(pkt, "timestamp_clock_id") != 3:
            err(f"event packet {i} is not on CLOCK_MONOTONIC")
        track = one(ev, "track_uuid")
        if track not in described:
            err(f"event packet {i} on track {track} before its descriptor in generation {gen}")

        def resolve(table, iid):
            if iid not in interned[table]:
                err(f"packet {i}: {table} iid {iid} used in generation {gen} before it was defined there")
                return f"<undefined {iid}>"
            return interned[table][iid]

        name = one(ev, "name")
        if "name_iid" in ev:
            name = resolve("names", one(ev, "name_iid"))
        cats = [resolve("cats", c) for c in ev.get("category_iids", [])] + ev.get("categories", [])
        anns = {}
        for a in ev.get("debug_annotations", []):
            key = one(a, "name") if "name_iid" not in a else resolve("keys", one(a, "name_iid"))
            vals = [v[0] for k, v in a.items() if k.endswith("_value")]
            anns[key] = vals[0] if vals else None
        events.append(dict(i=i, gen=gen, ts=one(pkt, "timestamp"), track=track, type=one(ev, "type"),
                           name=name, cat=",".join(cats), anns=anns,
                           ends=ev.get("terminating_flow_ids", [])))

    # Slices in timestamp order, as the trace processor pairs them.
    slices, instants, open_ = [], [], {}
    last_gen_checked = 0
    for e in sorted(events, key=lambda e: (e["ts"], e["i"])):
        if e["type"] == "TYPE_SLICE_BEGIN":
            open_.setdefault(e["track"], []).append(e)
        elif e["type"] == "TYPE_SLICE_END":
            st = open_.get(e["track"])
            if not st:
                err(f"a slice end on track {e['track']} at {e['ts']} (packet {e['i']}) with nothing open")
                continue
            b = st.pop()
            if b["gen"] != e["gen"]:
                err(f"slice {b['name']!r} on track {b['track']} begun in generation {b['gen']} "
                    f"(ts {b['ts']}), ended in {e['gen']} (ts {e['ts']})")
            slices.append(dict(track=b["track"], name=b["name"], cat=b["cat"], begin=b["ts"],
                               end=e["ts"], gen=b["gen"], ends=e["ends"]))
        else:
            instants.append(e)
    for t, st in open_.items():
        if st:
            err(f"slices left open on track {t}: {[b['name'] for b in st]}")
    # Nothing open across a generation boundary, in file order.
    depth = {}
    cur_gen = 0
    for e in events:
        if e["gen"] != cur_gen:
            left = {t: d for t, d in depth.items() if d}
            if left:
                err(f"generation {cur_gen} ends with slices open: {left}")
            depth, cur_gen = {}, e["gen"]
        if e["type"] == "TYPE_SLICE_BEGIN":
            depth[e["track"]] = depth.get(e["track"], 0) + 1
        elif e["type"] == "TYPE_SLICE_END":
            depth[e["track"]] = depth.get(e["track"], 0) - 1

    # Regions, split slices joined.
    regions = []
    last = {}
    for s in sorted((s for s in slices if s["cat"] == "region"), key=lambda s: (s["track"], s["begin"])):
        k = (s["track"], s["name"])
        p = last.get(k)
        if p is not None and p["end"] == s["begin"] and p["gen"] < s["gen"]:
            p["end"] = s["end"]
            p["gen"] = s["gen"]
            continue
        r = dict(s)
        regions.append(r)
        last[k] = r
    counts = {}
    for r in regions:
        counts[r["name"]] = counts.get(r["name"], 0) + 1

    ts = [e["ts"] for e in events]
    print("packets", len(packets))
    print("generations", gen)
    print("events", len(events))
    if ts:
        print("first_ts", min(ts))
        print("last_ts", max(ts))
        print("span_ns", max(ts) - min(ts))
    for name in sorted(counts):
        print(f"region\t{name}\t{counts[name]}")
    prog = sorted((e["ts"], int(e["anns"].get("message", "ticks -1").split()[1]))
                  for e in instants if e["cat"] == "log" and e["name"] == "progress")
    if len(prog) >= 2:
        (t0, n0), (t1, n1) = prog[0], prog[-1]
        print("progress_first", t0, n0)
        print("progress_last", t1, n1)
        print("ticks_between", sum(1 for r in regions if r["name"] == "tick" and t0 < r["begin"] < t1))
    secs = sorted(int(e["anns"].get("message", "-1")) for e in instants
                  if e["cat"] == "log" and e["name"] == "second")
    if secs:
        print("seconds", secs[0], secs[-1], secs[-1] - secs[0] + 1 - len(set(secs)))
    locks = [s for s in slices if s["cat"] == "lock"]
    print("lock_waits", len(locks))
    print("lock_flows", sum(1 for s in locks if s["ends"]))
    if len(sys.argv) > 2 and ts:
        secs = {}
        with open(sys.argv[2]) as f:
            for line in f:
                w = line.split()
                if w and w[0] == "sec":
                    secs[int(w[1])] = (int(w[3]), int(w[7]))
        a, b = min(ts), max(ts)
        rates = [(secs[i][1] - secs[i - 1][1]) / ((secs[i][0] - secs[i - 1][0]) / 1e9)
                 for i in secs if i - 1 in secs and secs[i][0] >= a and secs[i - 1][0] <= b]
        if rates:
            print("tick_range", round(0.9 * min(rates) * (b - a) / 1e9), round(1.1 * max(rates) * (b - a) / 1e9))
    for e in errors:
        print("error:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
