// node_service.js - the Node.js end of the interop test, instrumented with
// the OpenTelemetry JavaScript SDK (NodeTracerProvider, W3C Trace Context
// propagation as register() installs it, the protobuf OTLP/HTTP exporter).
//
//   GET /start?front=URL  a SERVER span "GET /start" (continuing the
//                         caller's traceparent if it sent one), and in it
//                         a CLIENT span "GET" that calls URL (the C
//                         service) with traceparent injected. Answers
//                         JSON: { traceId, startSpanId, clientSpanId,
//                         frontStatus, frontBody }.
//   GET /callback         a SERVER span "GET /callback", the child of
//                         whatever traceparent came in (the C service's
//                         CLIENT span); remembers the headers it got.
//   GET /seen             the traceparent/tracestate /callback received.
//   GET /flush            exports every ended span now.
//
// Environment: OTLP_URL (the collector's /v1/traces URL),
// OTEL_SERVICE_NAME (node-service). Prints "listening on PORT".
'use strict';
const http = require('http');
const path = require('path');
const modules = path.join(__dirname, 'node', 'node_modules');
const need = (name) => require(path.join(modules, name));
const api = need('@opentelemetry/api');
const { NodeTracerProvider } = need('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = need('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = need('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = need('@opentelemetry/resources');
const { W3CTraceContextPropagator } = need('@opentelemetry/core');

const { trace, context, propagation, SpanKind, SpanStatusCode } = api;

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME || 'node-service' }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: process.env.OTLP_URL }))],
});
// AsyncLocalStorage context and the W3C propagator, stated explicitly.
provider.register({ propagator: new W3CTraceContextPropagator() });
const tracer = trace.getTracer('scry-interop');

const seen = [];

function serverSpan(req, name, fn) {
  const parent = propagation.extract(context.active(), req.headers);
  const url = new URL(req.url, 'http://x');
  return tracer.startActiveSpan(name, {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': req.method, 'url.path': url.pathname, 'http.route': url.pathname },
  }, parent, fn);
}

function start(req, res, url) {
  const front = url.searchParams.get('front');
  serverSpan(req, 'GET /start', (server) => {
    tracer.startActiveSpan('GET', { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'GET', 'url.full': front } }, (client) => {
      const headers = {};
      propagation.inject(context.active(), headers);
      const done = (status, body) => {
        client.setAttribute('http.response.status_code', status);
        if (status < 200 || status > 299) client.setStatus({ code: SpanStatusCode.ERROR });
        client.end();
        server.setAttribute('http.response.status_code', 200);
        server.end();
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({
          traceId: server.spanContext().traceId,
          startSpanId: server.spanContext().spanId,
          clientSpanId: client.spanContext().spanId,
          sentTraceparent: headers.traceparent,
          frontStatus: status,
          frontBody: body,
        }));
      };
      http.get(front, { headers }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (c) => (body += c));
        r.on('end', () => done(r.statusCode, body));
      }).on('error', (e) => done(0, String(e)));
    });
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/start') return start(req, res, url);
  if (url.pathname === '/callback') {
    seen.push({ traceparent: req.headers.traceparent || null, tracestate: req.headers.tracestate || null });
    return serverSpan(req, 'GET /callback', (span) => {
      span.setAttribute('http.response.status_code', 200);
      const sc = span.spanContext();
      span.end();
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`callback ok trace ${sc.traceId} span ${sc.spanId}\n`);
    });
  }
  if (url.pathname === '/seen') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify(seen));
  }
  if (url.pathname === '/flush') {
    return provider.forceFlush().then(() => { res.writeHead(200); res.end('flushed\n'); },
      (e) => { res.writeHead(500); res.end(`flush failed: ${e}\n`); });
  }
  res.writeHead(404);
  res.end();
});
server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
process.on('SIGTERM', () => provider.shutdown().finally(() => process.exit(0)));
