// Tracing with the real binary: spans arrive at an OTLP/HTTP receiver on loopback with the
// right parent/child structure; a trusted caller's traceparent continues its trace (an untrusted
// one does not); trace ids match the log lines; and each span is what OpenTelemetry's own
// serializer (@opentelemetry/otlp-transformer, from npm) writes for the same span.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { SOURCE_DIR, startServer, salesProject, post } from './harness.mjs';

const require = createRequire(path.join(SOURCE_DIR, 'tests', 'js', 'package.json'));
const { JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');

const servers = [];
let receiver;
after(async () => {
  for (const s of servers) await s.stop();
  receiver?.close();
});

// An OTLP/HTTP receiver: keeps every request body it is sent.
async function startReceiver() {
  const bodies = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => { data += d; });
    req.on('end', () => {
      bodies.push({ path: req.url, type: req.headers['content-type'], body: JSON.parse(data) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, bodies, url: `http://127.0.0.1:${server.address().port}/v1/traces`, close: () => server.close() };
}

const spansOf = (bodies) => bodies.flatMap((b) => b.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));

async function waitForSpans(bodies, predicate) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (predicate(spansOf(bodies))) return spansOf(bodies);
    await new Promise((r) => setTimeout(r, 100));
  }
  return spansOf(bodies);
}

// The span as OpenTelemetry's JSON serializer writes it, from the same facts.
function officialEncoding(span) {
  const attributes = {};
  for (const a of span.attributes) {
    const v = a.value;
    attributes[a.key] = 'stringValue' in v ? v.stringValue : 'intValue' in v ? Number(v.intValue) : 'doubleValue' in v ? v.doubleValue : v.boolValue;
  }
  const hr = (ns) => [Number(BigInt(ns) / 1_000_000_000n), Number(BigInt(ns) % 1_000_000_000n)];
  const readable = {
    name: span.name,
    kind: span.kind - 1,
    spanContext: () => ({ traceId: span.traceId, spanId: span.spanId, traceFlags: span.flags & 0xff }),
    parentSpanContext: span.parentSpanId ? { traceId: span.traceId, spanId: span.parentSpanId, traceFlags: 1, isRemote: (span.flags & 0x200) !== 0 } : undefined,
    startTime: hr(span.startTimeUnixNano),
    endTime: hr(span.endTimeUnixNano),
    attributes,
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    status: span.status.code === 2 ? { code: 2, message: span.status.message } : { code: 0 },
    links: [],
    droppedLinksCount: 0,
    resource: { attributes: {}, schemaUrl: undefined },
    instrumentationScope: { name: 'sightline' },
  };
  const out = JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest([readable])));
  return out.resourceSpans[0].scopeSpans[0].spans[0];
}

test('a widget query is a server span with the answer, its statements and the encoding under it', async () => {
  receiver = await startReceiver();
  const server = await startServer(salesProject(20_000), ['--no-reload', '--no-state', '--otlp-endpoint', receiver.url, '--trust-traceparent']);
  servers.push(server);
  const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const callerSpan = '00f067aa0ba902b7';
  const res = await post(server, '/api/v1/dashboards/sales/widgets/revenue/query', { filters: { region: 'North' } },
    { accept: 'application/json', traceparent: `00-${callerTrace}-${callerSpan}-01` });
  assert.equal(res.status, 200);
  const requestId = res.headers.get('x-request-id');
  assert.match(res.headers.get('traceparent'), new RegExp(`^00-${callerTrace}-[0-9a-f]{16}-01$`), 'the answer names its span');
  await res.arrayBuffer();

  const spans = await waitForSpans(receiver.bodies, (s) => s.some((x) => x.kind === 2 && x.traceId === callerTrace));
  assert.ok(receiver.bodies.every((b) => b.path === '/v1/traces' && b.type === 'application/json'));
  const mine = spans.filter((s) => s.traceId === callerTrace);
  const root = mine.find((s) => s.kind === 2);
  assert.ok(root, `a server span (got ${mine.map((s) => s.name)})`);
  assert.equal(root.name, 'POST /api/v1/dashboards/{dashboard}/widgets/{widget}/query');
  assert.equal(root.parentSpanId, callerSpan, "the caller's span is the parent");
  assert.equal(root.flags, 0x301, 'sampled, with a remote parent');
  const attr = (s, k) => s.attributes.find((a) => a.key === k)?.value;
  assert.deepEqual(attr(root, 'http.response.status_code'), { intValue: 200 });
  assert.deepEqual(attr(root, 'sightline.request_id'), { stringValue: requestId });
  const widget = mine.find((s) => s.name === 'sightline.widget');
  const encode = mine.find((s) => s.name === 'sightline.encode');
  assert.equal(widget?.parentSpanId, root.spanId);
  assert.equal(encode?.parentSpanId, root.spanId);
  const statements = mine.filter((s) => s.name === 'sightline.statement');
  assert.ok(statements.length >= 1 && statements.every((s) => s.parentSpanId === widget.spanId), 'statements under the answer');
  assert.deepEqual(attr(statements[0], 'sightline.cache'), { stringValue: 'miss' });
  for (const s of mine) {
    assert.ok(BigInt(s.startTimeUnixNano) <= BigInt(s.endTimeUnixNano));
    if (s !== root) assert.ok(BigInt(s.startTimeUnixNano) >= BigInt(root.startTimeUnixNano), `${s.name} starts within the request`);
  }
  // The log lines of the request carry its trace id.
  await new Promise((r) => setTimeout(r, 100));
  const lines = server.jsonLogs().filter((l) => l.request_id === requestId);
  assert.ok(lines.length >= 2 && lines.every((l) => l.trace_id === callerTrace), JSON.stringify(lines));

  // Every span is exactly what OpenTelemetry's own serializer writes for it.
  for (const s of mine) assert.deepEqual(s, officialEncoding(s), `${s.name} encoded as OpenTelemetry does`);
  const resource = receiver.bodies[0].body.resourceSpans[0].resource;
  assert.deepEqual(resource.attributes[0], { key: 'service.name', value: { stringValue: 'sightline' } });

  const metrics = await (await fetch(new URL('/metrics', server.url))).text();
  assert.match(metrics, /^sightline_trace_spans_exported_total [1-9]\d*$/m);
  assert.match(metrics, /^sightline_trace_spans_dropped_total 0$/m);
});

test('an untrusted traceparent starts a new trace; health checks are not traced', async () => {
  const r2 = await startReceiver();
  try {
    // Credentials in the endpoint's URL are sent (curl's basic auth) but never logged.
    const withCredentials = r2.url.replace('http://', 'http://collector:hunter2-secret@');
    const server = await startServer(salesProject(20_000), ['--no-reload', '--no-state', '--otlp-endpoint', withCredentials]);
    servers.push(server);
    await fetch(new URL('/healthz', server.url));
    const res = await post(server, '/api/v1/dashboards/sales/widgets/orders/query', {},
      { accept: 'application/json', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    assert.equal(res.status, 200);
    const own = res.headers.get('traceparent').split('-')[1];
    assert.notEqual(own, '4bf92f3577b34da6a3ce929d0e0e4736');
    const spans = await waitForSpans(r2.bodies, (s) => s.some((x) => x.kind === 2));
    const root = spans.find((s) => s.kind === 2);
    assert.equal(root.traceId, own);
    assert.equal(root.parentSpanId, undefined);
    assert.ok(!spans.some((s) => s.name.includes('healthz')), 'no span for /healthz');
    const tracing = server.jsonLogs().find((l) => l.event === 'tracing');
    assert.equal(tracing.endpoint_host, new URL(r2.url).origin);
    assert.ok(!server.logs.some((l) => l.includes('hunter2')), 'the password is in no log line');
  } finally {
    r2.close();
  }
});
