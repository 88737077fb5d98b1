// check_trace.js - the interop test's judge (tests/otel/interop.sh).
//
//   node check_trace.js SPANS.json STARTS.jsonl SEEN.json INVALID.jsonl
//
// SPANS.json: the collector's GET /spans. STARTS.jsonl: one line per
// request to the Node service's /start (its answer, plus what the test
// sent: sentParent, sentTracestate, and which C service and route it
// called: service, route, protocol). SEEN.json: the headers the Node
// service's /callback received. INVALID.jsonl: requests sent straight to
// the C service with an invalid traceparent (header, and the C service's
// answer, which names its SERVER span's traceparent).
//
// Prints each trace it checked, hop by hop; exits 1 with every reason it
// found when something is wrong.
'use strict';
const fs = require('fs');

const [spansFile, startsFile, seenFile, invalidFile] = process.argv.slice(2);
const collected = JSON.parse(fs.readFileSync(spansFile, 'utf8'));
const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const starts = lines(startsFile);
const seen = JSON.parse(fs.readFileSync(seenFile, 'utf8'));
const invalid = lines(invalidFile);

const SERVER = 2, CLIENT = 3;
const SAMPLED = 0x01, HAS_IS_REMOTE = 0x100, IS_REMOTE = 0x200;
const problems = [];
const bad = (msg) => problems.push(msg);
const short = (id) => (id ? id.slice(0, 8) : '(root)');

for (const e of collected.errors) bad(`collector: ${e}`);
const spans = collected.spans;
console.log(`collector: ${spans.length} spans in ${collected.requests.protobuf} protobuf and ` +
  `${collected.requests.json} JSON export requests`);

// Every span once: an export retried after the collector took it would
// show twice.
const byId = new Map();
for (const s of spans) {
  if (byId.has(s.spanId)) bad(`span ${s.spanId} ("${s.name}" of ${s.service}) was exported twice`);
  byId.set(s.spanId, s);
}
const traceOf = (t) => spans.filter((s) => s.traceId === t);
const explained = new Set();

// find(trace spans, what, predicate): the one span that matches.
function one(list, what, pred, trace) {
  const hits = list.filter(pred);
  if (hits.length !== 1) {
    bad(`trace ${trace}: ${hits.length} spans for ${what} (want 1); the trace has: ` +
      list.map((s) => `${s.service} "${s.name}" kind ${s.kind} parent ${short(s.parentSpanId)}`).join('; '));
    return null;
  }
  explained.add(hits[0].spanId);
  return hits[0];
}

// The W3C and OTLP flags of a span: sampled, and is_remote when the
// exporter says it knows it (OTLP's SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE).
const remoteKnown = { c: 0, cTotal: 0 };
function checkFlags(s, remote, trace, c) {
  if (!s) return;
  if (!(s.flags & SAMPLED)) bad(`trace ${trace}: ${s.service} "${s.name}" flags 0x${s.flags.toString(16)}: not sampled`);
  if (c) remoteKnown.cTotal++;
  if (s.flags & HAS_IS_REMOTE) {
    if (c) remoteKnown.c++;
    if (!!(s.flags & IS_REMOTE) !== remote)
      bad(`trace ${trace}: ${s.service} "${s.name}" flags 0x${s.flags.toString(16)} say its parent is ` +
        `${s.flags & IS_REMOTE ? '' : 'not '}remote; it is ${remote ? '' : 'not '}remote`);
  }
}

function checkAttrs(s, want, trace) {
  if (!s) return;
  for (const [k, v] of Object.entries(want))
    if (s.attributes[k] !== v) bad(`trace ${trace}: ${s.service} "${s.name}" attribute ${k} = ${JSON.stringify(s.attributes[k])}, want ${JSON.stringify(v)}`);
}

// The C service's two spans and the Node /callback span below cparent.
function cHops(list, c, cparent, trace, remoteParent) {
  const cs = one(list, `${c.service} SERVER "${c.route}"`, (s) => s.service === c.service && s.kind === SERVER, trace);
  if (cs) {
    if (cs.name !== c.route) bad(`trace ${trace}: the C SERVER span is named "${cs.name}", want "${c.route}"`);
    if (cs.parentSpanId !== cparent)
      bad(`trace ${trace}: the C SERVER span's parent is ${cs.parentSpanId || '(none)'}, want ${cparent || '(none: a new trace)'}`);
    if (cs.protocol !== c.protocol) bad(`trace ${trace}: the C spans came as ${cs.protocol}, want ${c.protocol}`);
    checkAttrs(cs, { 'http.request.method': 'GET', 'url.path': c.route.split(' ')[1], 'http.response.status_code': 200 }, trace);
    checkFlags(cs, remoteParent, trace, true);
  }
  const cc = one(list, `${c.service} CLIENT`, (s) => s.service === c.service && s.kind === CLIENT, trace);
  if (cc && cs) {
    // The CLIENT span is the SERVER span's child, or a descendant through
    // other spans of the C service.
    let p = cc.parentSpanId, hops = 0;
    while (p && p !== cs.spanId && byId.has(p) && byId.get(p).service === c.service && hops++ < 16) p = byId.get(p).parentSpanId;
    if (p !== cs.spanId) bad(`trace ${trace}: the C CLIENT span's parent is ${cc.parentSpanId || '(none)'}, not the C SERVER span ${cs.spanId} or below it`);
    checkAttrs(cc, { 'http.request.method': 'GET', 'http.response.status_code': 200 }, trace);
    checkFlags(cc, false, trace, true);
  }
  const cb = one(list, 'node SERVER "GET /callback"', (s) => s.service === 'node-service' && s.name === 'GET /callback', trace);
  if (cb && cc) {
    if (cb.kind !== SERVER) bad(`trace ${trace}: node /callback has kind ${cb.kind}`);
    if (cb.parentSpanId !== cc.spanId) bad(`trace ${trace}: node /callback's parent is ${cb.parentSpanId}, want the C CLIENT span ${cc.spanId}`);
    checkFlags(cb, true, trace, false);
    // Sampled; scry may also set W3C level 2's random bit (0x02).
    const want = `00-${trace}-${cc.spanId}-`;
    const got = seen.find((h) => h.traceparent && h.traceparent.startsWith(want));
    if (!got) bad(`trace ${trace}: node /callback never received a traceparent ${want}..`);
    else if (!(parseInt(got.traceparent.slice(53), 16) & SAMPLED)) bad(`trace ${trace}: node /callback received ${got.traceparent}: not sampled`);
  }
  return { cs, cc, cb };
}

const traces = [];
starts.forEach((st, i) => {
  const a = st.answer;
  const t = a.traceId;
  traces.push(t);
  if (a.frontStatus !== 200 || !/callback ok/.test(a.frontBody))
    bad(`request ${i + 1}: the C service answered ${a.frontStatus}: ${JSON.stringify(a.frontBody)}`);
  const list = traceOf(t);
  if (list.length !== 5) bad(`request ${i + 1}: trace ${t} has ${list.length} spans, want 5`);
  const ns = one(list, 'node SERVER "GET /start"', (s) => s.service === 'node-service' && s.name === 'GET /start', t);
  if (ns) {
    if (ns.spanId !== a.startSpanId) bad(`trace ${t}: node /start is ${ns.spanId}, the service said ${a.startSpanId}`);
    if (ns.kind !== SERVER) bad(`trace ${t}: node /start has kind ${ns.kind}`);
    if (ns.parentSpanId !== (st.sentParent || '')) bad(`trace ${t}: node /start's parent is ${ns.parentSpanId || '(none)'}, want ${st.sentParent || '(none)'}`);
    checkFlags(ns, !!st.sentParent, t, false);
  }
  const nc = one(list, 'node CLIENT', (s) => s.service === 'node-service' && s.kind === CLIENT, t);
  if (nc && nc.spanId !== a.clientSpanId) bad(`trace ${t}: node CLIENT is ${nc.spanId}, the service said ${a.clientSpanId}`);
  if (nc && ns) {
    if (nc.parentSpanId !== ns.spanId) bad(`trace ${t}: node CLIENT's parent is ${nc.parentSpanId}, want node /start ${ns.spanId}`);
    checkFlags(nc, false, t, false);
  }
  const { cs, cc, cb } = cHops(list, st, nc ? nc.spanId : '?', t, true);
  if (st.sentTracestate) {
    // The caller's tracestate crosses both processes unchanged.
    const norm = st.sentTracestate.replace(/\s+/g, '');
    for (const s of [ns, cs, cc]) if (s && s.traceState !== norm) bad(`trace ${t}: ${s.service} "${s.name}" has tracestate "${s.traceState}", want "${norm}"`);
    if (cc && !seen.some((h) => h.traceparent && h.traceparent.includes(cc.spanId) && h.tracestate === norm))
      bad(`trace ${t}: node /callback did not receive tracestate "${norm}" from the C service`);
  }
  if (ns && nc && cs && cc && cb)
    console.log(`request ${i + 1}: trace ${t}${st.sentTracestate ? ' (tracestate ' + st.sentTracestate + ')' : ''}: ` +
      `node "GET /start" ${short(ns.spanId)} (parent ${short(ns.parentSpanId)}) -> node CLIENT ${short(nc.spanId)} -> ` +
      `${cs.service} "${cs.name}" ${short(cs.spanId)} [${cs.protocol}] -> ${cc.service} CLIENT ${short(cc.spanId)} -> ` +
      `node "GET /callback" ${short(cb.spanId)}`);
});

invalid.forEach((inv, i) => {
  const m = /traceparent=00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/.exec(inv.body);
  if (!m) return bad(`invalid traceparent ${inv.header}: the C service's answer names no traceparent: ${JSON.stringify(inv.body)}`);
  const [, t, sid] = m;
  traces.push(t);
  if (inv.header.toLowerCase().includes(t)) bad(`invalid traceparent ${inv.header}: the C service continued its trace ${t}`);
  if (/^0+$/.test(t)) bad(`invalid traceparent ${inv.header}: the C service used the zero trace id`);
  const list = traceOf(t);
  if (list.length !== 3) bad(`invalid traceparent ${inv.header}: trace ${t} has ${list.length} spans, want 3`);
  const { cs, cc, cb } = cHops(list, inv, '', t, false);
  if (cs && cs.spanId !== sid) bad(`trace ${t}: the C SERVER span is ${cs.spanId}, the answer said ${sid}`);
  if (cs && cc && cb)
    console.log(`invalid traceparent ${JSON.stringify(inv.header)}: new trace ${t}: ` +
      `${cs.service} "${cs.name}" ${short(cs.spanId)} (root) -> CLIENT ${short(cc.spanId)} -> node "GET /callback" ${short(cb.spanId)}`);
});

const distinct = new Set(traces);
if (distinct.size !== traces.length) bad(`${traces.length} requests made only ${distinct.size} distinct traces`);
const stray = spans.filter((s) => !explained.has(s.spanId));
if (stray.length)
  bad(`${stray.length} spans belong to no request: ` + stray.slice(0, 5).map((s) => `${s.service} "${s.name}" trace ${s.traceId}`).join('; '));
console.log(`C spans carrying OTLP's is_remote bit: ${remoteKnown.c} of ${remoteKnown.cTotal}`);

if (problems.length) {
  for (const p of problems) console.error(`FAIL: ${p}`);
  process.exit(1);
}
console.log(`ok: ${starts.length} requests through node -> C -> node and ${invalid.length} with an invalid ` +
  `traceparent: ${traces.length} distinct traces, every parent link, kind and sampled flag right`);
