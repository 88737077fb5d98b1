"""encode_check.py - checks what tests/otlp/otlp_gen.c encoded against the
ground truth below, three ways:

  proto  `protoc --decode=otlp.ExportTraceServiceRequest` with scry's proto
         (src/format/otlp_trace.proto): every value of every span and of the
         resource, and no field the proto does not know;
  raw    `protoc --decode_raw`: the field numbers, checked against the numbers
         of the official opentelemetry-proto files (RAW below, copied from
         them, not from scry's proto), with the scalar values;
  json   the OTLP/JSON body read by Python's json: lowerCamelCase keys only,
         lowercase hex ids, 64-bit integers as decimal strings, enums as
         integers, and the same values as the proto.

Usage: encode_check.py DIR SERVICE_NAME EXTRA_JSON
  DIR has req.pb, req.json, pid, child.json, child.pid, req.txt (--decode)
  and req.raw (--decode_raw); SERVICE_NAME is the expected service.name and
  EXTRA_JSON the expected further resource attributes ({"k": "v", ...}).
"""
import json
import math
import os
import re
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trace"))
from protoc_text import every, get  # noqa: E402
from protoc_text import parse as parse_text  # noqa: E402


def parse(text):
    """Strings as bytes: ids are raw bytes."""
    return parse_text(text, raw_strings=True)

work, service, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
VERSION = "0.1.0"
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)
    return cond


# ---- Ground truth: the spans otlp_gen.c builds --------------------------------

INF = float("inf")
TRUTH = [
    dict(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7",
         parent="53995c3f42cd8ad8", trace_state="rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
         # sampled, parent's is-remote known (bit 8) and remote (bit 9)
         flags=0x301, name="GET /users/{id}", kind=2,
         start=1700000000123456789, end=1700000000223456789,
         # each key at its first place, with its last value
         attrs=[("http.method", ("s", "POST")), ("http.status_code", ("i", 404)),
                ("ratio", ("d", 0.25)), ("cache.hit", ("b", False)),
                ("big", ("i", 2**63 - 1)), ("neg", ("i", -2**63))],
         dropped_attrs=3,
         # (time, name, attributes, dropped attributes)
         events=[(1700000000150000000, "retry", [("attempt", ("i", 2)), ("reason", ("s", "timeout"))], 4),
                 (1700000000220000000, "done", [], 0)],
         dropped_events=2, status=(2, 'boom "quoted" \\ back\nline2')),
    dict(trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b7ad6b7169203331", parent="",
         trace_state="", flags=0x103, name="background job", kind=1,
         start=1700000001000000000, end=1700000002000000000, attrs=[], dropped_attrs=0,
         events=[], dropped_events=0, status=(1, "")),
    dict(trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b9c7c989f97918e1",
         parent="b7ad6b7169203331", trace_state="", flags=0x101, name="long-" + "n" * 2000, kind=3,
         start=1700000001100000000, end=1700000001900000000,
         attrs=[("key." + "k" * 300, ("s", "v" * 100000)),
                ("unicode", ("s", "h\u00e9llo w\u00f6rld \u2713 \U0001F680")),
                ("invalid", ("s", "ab\ufffd\ufffdcd\ufffd")),
                ("ctrl", ("s", "tab\tnl\n\x01 end")),
                ("inf", ("d", INF)), ("pi", ("d", 3.141592653589793)), ("empty", ("s", ""))],
         dropped_attrs=0,
         events=[(1700000001100000000 + i * 1000, f"tick-{i}", [("n", ("i", i))], 0) for i in range(20)],
         dropped_events=0, status=None),
    dict(trace_id="11111111111111111111111111111111", span_id="2222222222222222", parent="",
         trace_state="", flags=0x101, name="publish", kind=4,
         start=1700000003000000000, end=1700000003000001000,
         attrs=[(f"k{i}", {5: ("s", "five"), 17: ("i", -17), 29: ("b", True)}.get(i, ("i", i)))
                for i in range(30)] + [("extra", ("d", 1.5))],
         dropped_attrs=0,
         events=[(1700000003000000500, "sent", [(f"e{i}", ("i", i + 10)) for i in range(10)], 0)],
         dropped_events=0, status=None),
]


def resource_truth(pid):
    r = {"service.name": ("s", service), "telemetry.sdk.name": ("s", "scry"),
         "telemetry.sdk.language": ("s", "c"), "telemetry.sdk.version": ("s", VERSION),
         "process.pid": ("i", pid)}
    for k, v in extra.items():
        r[k] = ("s", v)
    return r


def same_value(a, b):
    if a[0] == "d" and b[0] == "d" and math.isnan(a[1]) and math.isnan(b[1]):
        return True
    return a == b


def compare(where, got, want):
    """got/want: normalized spans (dicts as in TRUTH)."""
    for k in want:
        if k == "attrs":
            check([a for a, _ in got[k]] == [a for a, _ in want[k]],
                  f"{where}: attribute keys {[a[:20] for a, _ in got[k]]}, want {[a[:20] for a, _ in want[k]]}")
            for (ka, va), (_, vb) in zip(got[k], want[k]):
                check(same_value(va, vb), f"{where}: attribute {ka[:20]} = {str(va)[:60]}, want {str(vb)[:60]}")
        else:
            check(got[k] == want[k], f"{where}: {k} = {str(got[k])[:200]}, want {str(want[k])[:200]}")


# ---- proto: protoc --decode with scry's proto ---------------------------------

KINDS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
         "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def pb_value(v):
    for k, x in v:
        if k == "string_value":
            return ("s", x.decode("utf-8"))
        if k == "int_value":
            return ("i", x)
        if k == "bool_value":
            return ("b", x == "true")
        if k == "double_value":
            return ("d", float(x))
    return ("none", None)


def pb_attrs(msg):
    return [(get(a, "key").decode("utf-8"), pb_value(get(a, "value", []))) for a in every(msg, "attributes")]


def pb_span(s):
    st = get(s, "status")
    return dict(
        trace_id=get(s, "trace_id", b"").hex(), span_id=get(s, "span_id", b"").hex(),
        parent=get(s, "parent_span_id", b"").hex(),
        trace_state=get(s, "trace_state", b"").decode(), flags=get(s, "flags", 0),
        name=get(s, "name", b"").decode("utf-8"), kind=KINDS[get(s, "kind", "SPAN_KIND_UNSPECIFIED")],
        start=get(s, "start_time_unix_nano", 0), end=get(s, "end_time_unix_nano", 0),
        attrs=pb_attrs(s), dropped_attrs=get(s, "dropped_attributes_count", 0),
        events=[(get(e, "time_unix_nano", 0), get(e, "name", b"").decode("utf-8"), pb_attrs(e),
                 get(e, "dropped_attributes_count", 0)) for e in every(s, "events")],
        dropped_events=get(s, "dropped_events_count", 0),
        status=None if st is None else (CODES[get(st, "code", "STATUS_CODE_UNSET")],
                                        get(st, "message", b"").decode("utf-8")))


text = open(f"{work}/req.txt").read()
check(not re.search(r"^\s*\d+\s*[:{]", text, re.M), "protoc --decode shows fields scry's proto does not know")
req = parse(text)
pid = int(open(f"{work}/pid").read())
rs = every(req, "resource_spans")
if check(len(rs) == 1, f"proto: {len(rs)} resource_spans, want 1"):
    res = dict(pb_attrs(get(rs[0], "resource", [])))
    check(res == resource_truth(pid), f"proto: resource {res}, want {resource_truth(pid)}")
    ss = every(rs[0], "scope_spans")
    if check(len(ss) == 1, f"proto: {len(ss)} scope_spans, want 1"):
        scope = get(ss[0], "scope", [])
        check(get(scope, "name") == b"scry" and get(scope, "version") == VERSION.encode(),
              f"proto: scope {scope}")
        spans = every(ss[0], "spans")
        if check(len(spans) == len(TRUTH), f"proto: {len(spans)} spans, want {len(TRUTH)}"):
            for i, (s, want) in enumerate(zip(spans, TRUTH)):
                compare(f"proto span {i}", pb_span(s), want)

# ---- raw: protoc --decode_raw against the official field numbers --------------
# From opentelemetry-proto: collector/trace/v1/trace_service.proto,
# trace/v1/trace.proto, resource/v1/resource.proto, common/v1/common.proto.
RAW = dict(
    request_resource_spans=1,
    resource_spans_resource=1, resource_spans_scope_spans=2, resource_spans_schema_url=3,
    resource_attributes=1,
    key_value_key=1, key_value_value=2,
    any_string=1, any_bool=2, any_int=3, any_double=4,
    scope_spans_scope=1, scope_spans_spans=2,
    scope_name=1, scope_version=2,
    span_trace_id=1, span_span_id=2, span_trace_state=3, span_parent_span_id=4, span_name=5,
    span_kind=6, span_start=7, span_end=8, span_attributes=9, span_dropped_attributes=10,
    span_events=11, span_dropped_events=12, span_links=13, span_dropped_links=14, span_status=15,
    span_flags=16,
    event_time=1, event_name=2, event_attributes=3, event_dropped_attributes=4,
    status_message=2, status_code=3,
)


def n(name):
    return str(RAW[name])


def raw_str(v, want, where):
    """A string field: decode_raw shows it quoted unless its bytes happen to
    parse as a message; compare only in the first case."""
    if isinstance(v, bytes):
        check(v == want.encode("utf-8"), f"{where}: {v[:40]!r}, want {want[:40]!r}")


def raw_attrs(msg, field, want, where):
    got = every(msg, field)
    if not check(len(got) == len(want), f"{where}: {len(got)} attributes, want {len(want)}"):
        return
    for kv, (key, (typ, val)) in zip(got, want):
        raw_str(get(kv, n("key_value_key")), key, f"{where} key")
        av = get(kv, n("key_value_value"), [])
        if typ == "s":
            check([k for k, _ in av] == [n("any_string")], f"{where} {key[:20]}: {av[:1]}, want field {n('any_string')}")
            raw_str(get(av, n("any_string"), b""), val, f"{where} {key[:20]}")
        elif typ == "b":
            check(av == [(n("any_bool"), int(val))], f"{where} {key}: {av}, want bool field")
        elif typ == "i":
            check(av == [(n("any_int"), val % 2**64)], f"{where} {key}: {av}, want int field")
        elif typ == "d":
            bits = struct.unpack("<Q", struct.pack("<d", val))[0]
            check(av == [(n("any_double"), "0x%016x" % bits)], f"{where} {key}: {av}, want double field")


raw = parse(open(f"{work}/req.raw").read())
check([k for k, _ in raw] == [n("request_resource_spans")], f"raw: request fields {[k for k, _ in raw]}")
rs = get(raw, n("request_resource_spans"), [])
check(sorted({k for k, _ in rs}) == sorted([n("resource_spans_resource"), n("resource_spans_scope_spans")]),
      f"raw: resource_spans fields {[k for k, _ in rs]}")
ss = get(rs, n("resource_spans_scope_spans"), [])
scope = get(ss, n("scope_spans_scope"), [])
check(get(scope, n("scope_name")) == b"scry" and get(scope, n("scope_version")) == VERSION.encode(),
      f"raw: scope {scope}")
res_attrs = every(get(rs, n("resource_spans_resource"), []), n("resource_attributes"))
check(len(res_attrs) == len(resource_truth(pid)), f"raw: {len(res_attrs)} resource attributes")
for i, (s, want) in enumerate(zip(every(ss, n("scope_spans_spans")), TRUTH)):
    w = f"raw span {i}"
    present = {"span_trace_id", "span_span_id", "span_flags", "span_name", "span_kind",
               "span_start", "span_end"}
    if want["parent"]: present.add("span_parent_span_id")
    if want["trace_state"]: present.add("span_trace_state")
    if want["attrs"]: present.add("span_attributes")
    if want["dropped_attrs"]: present.add("span_dropped_attributes")
    if want["events"]: present.add("span_events")
    if want["dropped_events"]: present.add("span_dropped_events")
    if want["status"]: present.add("span_status")
    check({k for k, _ in s} == {n(p) for p in present},
          f"{w}: fields {sorted({int(k) for k, _ in s})}, want {sorted(RAW[p] for p in present)}")
    for field, key in (("span_trace_id", "trace_id"), ("span_span_id", "span_id"),
                       ("span_parent_span_id", "parent")):
        v = get(s, n(field))
        if isinstance(v, bytes):
            check(v.hex() == want[key], f"{w}: field {n(field)} {v.hex()}, want {want[key]}")
    raw_str(get(s, n("span_name")), want["name"], f"{w} name")
    check(get(s, n("span_kind")) == want["kind"], f"{w}: kind {get(s, n('span_kind'))}")
    check(get(s, n("span_flags")) == "0x%08x" % want["flags"], f"{w}: flags {get(s, n('span_flags'))} (fixed32)")
    check(get(s, n("span_start")) == "0x%016x" % want["start"], f"{w}: start {get(s, n('span_start'))} (fixed64)")
    check(get(s, n("span_end")) == "0x%016x" % want["end"], f"{w}: end {get(s, n('span_end'))} (fixed64)")
    check(get(s, n("span_dropped_attributes"), 0) == want["dropped_attrs"], f"{w}: dropped attributes")
    check(get(s, n("span_dropped_events"), 0) == want["dropped_events"], f"{w}: dropped events")
    raw_attrs(s, n("span_attributes"), want["attrs"], w)
    evs = every(s, n("span_events"))
    if check(len(evs) == len(want["events"]), f"{w}: {len(evs)} events"):
        for e, (t, name, attrs, dropped) in zip(evs, want["events"]):
            check(get(e, n("event_time")) == "0x%016x" % t, f"{w}: event time {get(e, n('event_time'))}")
            check(get(e, n("event_dropped_attributes"), 0) == dropped, f"{w}: event {name} dropped attributes")
            raw_str(get(e, n("event_name")), name, f"{w} event name")
            raw_attrs(e, n("event_attributes"), attrs, f"{w} event {name}")
    if want["status"]:
        st = get(s, n("span_status"), [])
        check(get(st, n("status_code"), 0) == want["status"][0], f"{w}: status code {st}")
        if want["status"][1]:
            raw_str(get(st, n("status_message")), want["status"][1], f"{w} status message")

# ---- json ------------------------------------------------------------------------

CAMEL = {"resourceSpans", "resource", "attributes", "droppedAttributesCount", "scopeSpans", "scope",
         "name", "version", "spans", "schemaUrl", "traceId", "spanId", "traceState", "parentSpanId",
         "flags", "kind", "startTimeUnixNano", "endTimeUnixNano", "events", "timeUnixNano",
         "droppedEventsCount", "links", "droppedLinksCount", "status", "message", "code", "key",
         "value", "stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue",
         "bytesValue", "values"}


def keys_ok(o, where="json"):
    if isinstance(o, dict):
        for k, v in o.items():
            check(k in CAMEL, f"{where}: key {k!r} is not an OTLP lowerCamelCase field name")
            keys_ok(v, f"{where}.{k}")
    elif isinstance(o, list):
        for i, v in enumerate(o):
            keys_ok(v, f"{where}[{i}]")


def dec64(v, where):
    """A 64-bit integer: a string of decimal digits in OTLP/JSON."""
    if check(isinstance(v, str) and re.fullmatch(r"-?\d+", v), f"{where}: {v!r} is not a decimal string"):
        return int(v)
    return None


def js_value(v, where):
    (k, x), = v.items()
    if k == "stringValue":
        return ("s", x)
    if k == "intValue":
        return ("i", dec64(x, where))
    if k == "boolValue":
        check(isinstance(x, bool), f"{where}: boolValue {x!r}")
        return ("b", x)
    if k == "doubleValue":
        if isinstance(x, str):
            check(x in ("NaN", "Infinity", "-Infinity"), f"{where}: doubleValue {x!r}")
            return ("d", float(x.replace("Infinity", "inf")))
        return ("d", float(x))
    return (k, x)


def js_attrs(o, where):
    return [(a["key"], js_value(a["value"], f"{where} {a['key'][:20]}")) for a in o.get("attributes", [])]


def hexid(v, size, where):
    check(isinstance(v, str) and re.fullmatch("[0-9a-f]{%d}" % (2 * size), v),
          f"{where}: {v!r} is not {size} bytes in lowercase hex")
    return v


def uint(v, where):
    check(isinstance(v, int) and not isinstance(v, bool), f"{where}: {v!r} is not a number")
    return v


def js_span(s, w):
    st = s.get("status")
    return dict(
        trace_id=hexid(s["traceId"], 16, w), span_id=hexid(s["spanId"], 8, w),
        parent=hexid(s["parentSpanId"], 8, w) if "parentSpanId" in s else "",
        trace_state=s.get("traceState", ""), flags=uint(s.get("flags", 0), f"{w} flags"), name=s["name"],
        kind=uint(s.get("kind", 0), f"{w} kind"),
        start=dec64(s["startTimeUnixNano"], w), end=dec64(s["endTimeUnixNano"], w),
        attrs=js_attrs(s, w), dropped_attrs=uint(s.get("droppedAttributesCount", 0), w),
        events=[(dec64(e["timeUnixNano"], w), e["name"], js_attrs(e, w),
                 uint(e.get("droppedAttributesCount", 0), w)) for e in s.get("events", [])],
        dropped_events=uint(s.get("droppedEventsCount", 0), w),
        status=None if st is None else (uint(st.get("code", 0), f"{w} status"), st.get("message", "")))


def check_json(path, pid, nspans):
    try:
        body = json.loads(open(path, encoding="utf-8").read())
    except ValueError as e:
        errors.append(f"{path}: not JSON: {e}")
        return
    keys_ok(body)
    rs = body["resourceSpans"]
    check(len(rs) == 1, f"json: {len(rs)} resourceSpans")
    res = dict(js_attrs(rs[0]["resource"], "json resource"))
    check(res == resource_truth(pid), f"json: resource {res}, want {resource_truth(pid)}")
    ss = rs[0]["scopeSpans"]
    check(len(ss) == 1 and ss[0]["scope"] == {"name": "scry", "version": VERSION}, f"json: scope {ss[0].get('scope')}")
    spans = ss[0]["spans"]
    if check(len(spans) == nspans, f"json: {len(spans)} spans, want {nspans}"):
        for i, (s, want) in enumerate(zip(spans, TRUTH)):
            compare(f"json span {i}", js_span(s, f"json span {i}"), want)


check_json(f"{work}/req.json", pid, len(TRUTH))
child = int(open(f"{work}/child.pid").read())
check(child != pid, "the fork child has the parent's pid")
check_json(f"{work}/child.json", child, 1)

for e in errors[:40]:
    print("FAIL:", e)
if errors:
    sys.exit(1)
print(f"ok: {len(TRUTH)} spans and the resource agree in protoc --decode, protoc --decode_raw "
      f"(official field numbers) and JSON; service.name={service!r}")
