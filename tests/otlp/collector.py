"""collector.py - a test OTLP/HTTP collector (Python 3 standard library only)
that misbehaves on request, for tests/otlp/export_faults.sh.

  collector.py MODE PORTFILE STATSFILE [N]

Listens on 127.0.0.1 (a free port, written to PORTFILE once listening) and
answers POST /v1/traces as MODE says:
  ok       200 at once
  slow     200 after 5 s
  503      503 for the first N requests (default 3), then 200; Retry-After
           alternates between delta-seconds ("1") and an HTTP date 1-2 s ahead
  400      400 to every request (not retryable)
  partial  200 with a partial_success rejecting 1 span per request
  close    closes the connection without answering
It decodes every body (gzip, protobuf or JSON) and counts the spans in it
with its own protobuf walker (no generated code: field numbers from
opentelemetry-proto), checking each span's id sizes on the way. After each
request it writes STATSFILE (JSON): requests, answered (per status), spans
(in requests answered 200: what the exporter may count as exported),
spans_seen (in every request), rejected, bad (malformed bodies),
connections (distinct client ports: 1 when the exporter keeps its
connection alive), and the first request's path and headers (lower-case
names).
"""
import email.utils
import gzip
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode, portfile, statsfile = sys.argv[1], sys.argv[2], sys.argv[3]
n503 = int(sys.argv[4]) if len(sys.argv) > 4 else 3
lock = threading.Lock()
stats = {"requests": 0, "answered": {}, "spans": 0, "spans_seen": 0, "rejected": 0, "bad": 0,
         "path": None, "headers": None, "connections": 0}
ports = set()


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def fields(b):
    """(field number, wire type, value) of each field of a message."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        if i > len(b):
            raise ValueError("truncated")
        yield f, wt, v


def count_proto(body):
    # ExportTraceServiceRequest.resource_spans = 1, ResourceSpans.scope_spans = 2,
    # ScopeSpans.spans = 2, Span.trace_id = 1 (16 bytes), Span.span_id = 2 (8 bytes)
    n = 0
    for f, wt, rs in fields(body):
        if f != 1 or wt != 2:
            continue
        for f2, wt2, ss in fields(rs):
            if f2 != 2 or wt2 != 2:
                continue
            for f3, wt3, sp in fields(ss):
                if f3 != 2 or wt3 != 2:
                    continue
                ids = {f: v for f, wt, v in fields(sp) if f in (1, 2) and wt == 2}
                if len(ids.get(1, b"")) != 16 or len(ids.get(2, b"")) != 8:
                    raise ValueError("a span without a 16-byte trace id and an 8-byte span id")
                n += 1
    return n


def count_json(body):
    req = json.loads(body)
    n = 0
    for rs in req.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                if len(sp.get("traceId", "")) != 32 or len(sp.get("spanId", "")) != 16:
                    raise ValueError("a span without hex ids")
                n += 1
    return n


def partial_success(rejected):
    # ExportTraceServiceResponse.partial_success = 1 {rejected_spans = 1, error_message = 2}
    msg = b"test collector rejects one span per request"
    inner = bytes([0x08, rejected]) + bytes([0x12, len(msg)]) + msg
    return bytes([0x0A, len(inner)]) + inner


def save():
    tmp = statsfile + ".tmp"
    with open(tmp, "w") as f:
        json.dump(stats, f)
    os.replace(tmp, statsfile)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporter expects

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", self.headers.get("Content-Type", "application/x-protobuf"))
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            stats["requests"] += 1
            k = stats["requests"]
            ports.add(self.client_address[1])
            stats["connections"] = len(ports)
            if stats["headers"] is None:
                stats["headers"] = {h.lower(): v for h, v in self.headers.items()}
                stats["path"] = self.path
        try:
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.headers.get("Content-Type") == "application/json":
                n = count_json(body)
            else:
                n = count_proto(body)
        except (ValueError, OSError, KeyError, IndexError) as e:
            with lock:
                stats["bad"] += 1
                save()
            print(f"collector: bad request body: {e}", file=sys.stderr)
            self.answer(400)
            return
        with lock:
            stats["spans_seen"] += n
        if mode == "close":
            with lock:
                save()
            self.close_connection = True  # nothing written: "Empty reply from server"
            return
        if mode == "slow":
            time.sleep(5)
        status, resp, headers = 200, b"", ()
        if mode == "503" and k <= n503:
            after = "1" if k % 2 else email.utils.formatdate(time.time() + 2, usegmt=True)
            status, headers = 503, (("Retry-After", after),)
        elif mode == "400":
            status = 400
        elif mode == "partial" and n:
            resp = partial_success(1)
        if self.headers.get("Content-Type") == "application/json" and status == 200:
            resp = b"{}" if not resp else b'{"partialSuccess":{"rejectedSpans":"1","errorMessage":"test"}}'
        with lock:
            stats["answered"][str(status)] = stats["answered"].get(str(status), 0) + 1
            if status == 200:
                stats["spans"] += n
                if resp:
                    stats["rejected"] += 1
            save()
        self.answer(status, resp, headers)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with lock:
    save()
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(portfile + ".tmp", portfile)
server.serve_forever()
