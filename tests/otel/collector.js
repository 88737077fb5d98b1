// collector.js - a test OTLP/HTTP trace collector on loopback.
//
// Accepts POST /v1/traces as application/x-protobuf, decoded with the
// OpenTelemetry protobuf definitions that @opentelemetry/otlp-transformer
// carries (its protobufjs root, opentelemetry.proto.collector.trace.v1),
// or as application/json (OTLP/JSON: hex ids, integer enums), and records
// every span. Answers an ExportTraceServiceResponse in the request's
// encoding. GET /spans returns what it recorded as JSON:
//   { requests: {protobuf: N, json: N}, errors: [...], spans: [
//       { service, protocol, traceId, spanId, parentSpanId, name, kind,
//         flags, traceState, status, attributes } ] }
// ids in lower-case hex ("" for no parent), kind and status.code as the
// OTLP enum numbers. Anything it could not take is listed in errors.
//
// For benchmarks it can be a bad collector instead:
//   node collector.js [--port N] [--delay-ms MS] [--status CODE] [--sink]
//   --delay-ms  answer each export this late
//   --status    answer every export with this status (503: retry later)
//   --sink      count requests and bytes, do not decode (GET /spans has
//               only the counts)
// It prints "listening on PORT" once it accepts.
'use strict';
const http = require('http');
const path = require('path');

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
}
const port = Number(opt('--port', '0'));
const delayMs = Number(opt('--delay-ms', '0'));
const status = Number(opt('--status', '200'));
const sink = args.includes('--sink');

// The generated root moved out of otlp-transformer after 0.216 (it now
// has its own encoder); package-lock.json pins 0.216.0.
let pb = null;
if (!sink) {
  const root = require(path.join(__dirname, 'node', 'node_modules', '@opentelemetry',
    'otlp-transformer', 'build', 'src', 'generated', 'root.js'));
  pb = root.opentelemetry.proto.collector.trace.v1;
}

const spans = [];
const errors = [];
const requests = { protobuf: 0, json: 0, other: 0 };
let bytes = 0;

const hex = (b) => (b ? Buffer.from(b).toString('hex') : '');
const HEX32 = /^[0-9a-f]{32}$/, HEX16 = /^[0-9a-f]{16}$/;

function value(v) {
  if (!v) return null;
  for (const k of ['stringValue', 'boolValue', 'doubleValue']) if (v[k] !== undefined && v[k] !== null) return v[k];
  if (v.intValue !== undefined && v.intValue !== null) return Number(v.intValue);
  if (v.arrayValue) return (v.arrayValue.values || []).map(value);
  return null;
}
function attrs(list) {
  const out = {};
  for (const kv of list || []) out[kv.key] = value(kv.value);
  return out;
}
// A protobuf decode gives Longs for 64-bit fields: keep them exact as strings.
const num = (x) => (x === undefined || x === null ? null : String(x));

// One decoded request (protobufjs message or parsed JSON), ids already hex.
function record(req, protocol, idOf) {
  for (const rs of req.resourceSpans || []) {
    const res = attrs(rs.resource && rs.resource.attributes);
    for (const ss of rs.scopeSpans || []) {
      for (const s of ss.spans || []) {
        const span = {
          service: res['service.name'],
          protocol,
          scope: ss.scope ? ss.scope.name : undefined,
          traceId: idOf(s.traceId),
          spanId: idOf(s.spanId),
          parentSpanId: idOf(s.parentSpanId),
          name: s.name,
          kind: s.kind,
          flags: s.flags === undefined || s.flags === null ? 0 : Number(s.flags),
          traceState: s.traceState || '',
          status: s.status ? { code: s.status.code || 0, message: s.status.message || '' } : { code: 0, message: '' },
          start: num(s.startTimeUnixNano),
          end: num(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
        };
        if (!HEX32.test(span.traceId)) errors.push(`${protocol} span "${s.name}": trace id ${JSON.stringify(s.traceId)} is not 16 bytes`);
        if (!HEX16.test(span.spanId)) errors.push(`${protocol} span "${s.name}": span id ${JSON.stringify(s.spanId)} is not 8 bytes`);
        if (span.parentSpanId && !HEX16.test(span.parentSpanId)) errors.push(`${protocol} span "${s.name}": parent span id ${JSON.stringify(s.parentSpanId)} is not 8 bytes`);
        if (typeof span.kind !== 'number') errors.push(`${protocol} span "${s.name}": kind ${JSON.stringify(s.kind)} is not an integer`);
        spans.push(span);
      }
    }
  }
}

function onExport(req, body, res) {
  const type = (req.headers['content-type'] || '').split(';')[0].trim();
  bytes += body.length;
  let reply, replyType;
  if (type === 'application/x-protobuf') {
    requests.protobuf++;
    if (pb) {
      try {
        record(pb.ExportTraceServiceRequest.decode(body), 'protobuf', hex);
      } catch (e) {
        errors.push(`protobuf request of ${body.length} bytes does not decode: ${e.message}`);
        res.writeHead(400, { 'Content-Type': 'text/plain' });
        return res.end(`cannot decode: ${e.message}\n`);
      }
    }
    reply = pb ? Buffer.from(pb.ExportTraceServiceResponse.encode({}).finish()) : Buffer.alloc(0);
    replyType = 'application/x-protobuf';
  } else if (type === 'application/json') {
    requests.json++;
    if (!sink) {
      try {
        // OTLP/JSON: ids are hex strings, never base64.
        record(JSON.parse(body.toString('utf8')), 'json', (x) => (x === undefined || x === null ? '' : String(x)));
      } catch (e) {
        errors.push(`JSON request of ${body.length} bytes does not parse: ${e.message}`);
        res.writeHead(400, { 'Content-Type': 'text/plain' });
        return res.end(`cannot parse: ${e.message}\n`);
      }
    }
    reply = Buffer.from('{}');
    replyType = 'application/json';
  } else {
    requests.other++;
    errors.push(`export with Content-Type ${JSON.stringify(req.headers['content-type'])}`);
    res.writeHead(415, { 'Content-Type': 'text/plain' });
    return res.end('want application/x-protobuf or application/json\n');
  }
  const answer = () => {
    if (status !== 200) {
      res.writeHead(status, { 'Content-Type': 'text/plain', 'Retry-After': '1' });
      return res.end(`status ${status} on purpose\n`);
    }
    res.writeHead(200, { 'Content-Type': replyType, 'Content-Length': reply.length });
    res.end(reply);
  };
  if (delayMs > 0) setTimeout(answer, delayMs);
  else answer();
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = req.url.split('?')[0];
    if (req.method === 'POST' && url === '/v1/traces') return onExport(req, Buffer.concat(chunks), res);
    if (req.method === 'GET' && url === '/spans') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ requests, bytes, errors, spans }));
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end(`no ${req.method} ${url} here\n`);
  });
});
// A slow collector must not be cut off by Node's own timeouts.
server.requestTimeout = 0;
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
