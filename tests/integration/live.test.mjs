// Live updates (GET /api/v1/events?dashboard=ID): an open dashboard hears of new data by
// Server-Sent Events. The stream starts with `retry` and a `hello` carrying the dashboard's data
// version; a new file in an on_change source's folder brings `data_changed` with a larger number
// (to the source's dashboard, and to a dashboard over a model that reads it) within seconds of the
// refresh. The stream needs the same sign-in as the API, a dashboard the caller may see (else the
// same 404 as GET /api/v1/dashboards/{id}), a same-site Origin, and at most 8 open per user; it
// ends promptly when the server stops (SIGTERM), over TLS too. The heartbeat comment (every 15 s)
// is checked by the server's unit test (tests/unit/server_events_test.cpp), with a short period.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { writeProject, startServer, oracleExec, tempDir } from './harness.mjs';

let dir;
let server;

const write = (name, n, seed) => oracleExec(`COPY (SELECT i AS id, (i * 7 + ${seed}) % 100 AS amount, ['North','South','East'][1 + (i % 3)] AS region
  FROM range(${n}) t(i)) TO '${path.join(dir, 'data', 'orders', name)}' (FORMAT parquet)`);

// Identities as an authenticating proxy on 127.0.0.1 gives them.
const viewer = { 'X-Forwarded-User': 'val', 'X-Forwarded-Groups': 'viewers' };
const admin = { 'X-Forwarded-User': 'ada', 'X-Forwarded-Groups': 'admins' };

before(async () => {
  dir = writeProject({
    'sightline.yaml': `
name: live
sources:
  orders:
    path: data/orders/*.parquet
    materialize: true
    refresh: { on_change: true, debounce: 200ms }
models:
  big_orders: SELECT * FROM orders WHERE amount >= 50
auth:
  mode: proxy
  proxy:
    trusted_proxies: [127.0.0.1]
roles:
  admin: { groups: [admins] }
  viewer: { groups: [viewers] }
policies:
  orders:
    admin: all
    viewer: all
  big_orders:
    admin: all
    viewer: all
dashboards: dashboards/*.yaml
`,
    'dashboards/orders.yaml': `
id: orders
title: Orders
source: orders
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
`,
    'dashboards/big.yaml': `
id: big
title: Big orders
source: big_orders
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
`,
    'dashboards/secret.yaml': `
id: secret
title: Secret
source: orders
roles: [admin]
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
`,
  });
  fs.mkdirSync(path.join(dir, 'data', 'orders'), { recursive: true });
  write('a.parquet', 1000, 1);
  server = await startServer(dir, ['--no-reload']);
}, { timeout: 150_000 });

after(async () => {
  await server?.stop();
});

// Parses the event stream of a response as it arrives: blocks separated by a blank line, each
// with its `event`, `data`, `retry` and comment lines.
function sse(res, ctl) {
  const events = [];
  const waiters = new Set();
  let ended = false;
  const wake = () => { for (const w of waiters) w(); };
  const done = (async () => {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        buf += decoder.decode(value, { stream: true });
        let at;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const ev = { event: 'message', data: [], comments: [], retry: null, at: Date.now() };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) ev.comments.push(line.slice(1).trim());
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.data.push(line.slice(6));
            else if (line.startsWith('retry: ')) ev.retry = Number(line.slice(7));
          }
          ev.data = ev.data.join('\n');
          if (ev.data !== '' && ev.event !== 'message') ev.json = JSON.parse(ev.data);
          events.push(ev);
          wake();
        }
      }
    } catch { /* aborted by the test */ }
    ended = true;
    wake();
  })();
  return {
    res, events, done,
    get ended() { return ended; },
    close() { ctl.abort(); },
    // The first event from `from` on that satisfies `pred`.
    async next(pred, timeoutMs = 10_000, from = 0) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = events.slice(from).find(pred);
        if (found) return found;
        if (ended) throw new Error(`the stream ended; events: ${JSON.stringify(events)}`);
        const left = until - Date.now();
        if (left <= 0) throw new Error(`no such event within ${timeoutMs} ms; events: ${JSON.stringify(events)}`);
        await new Promise((resolve) => {
          const w = () => { waiters.delete(w); clearTimeout(t); resolve(); };
          const t = setTimeout(w, left);
          waiters.add(w);
        });
      }
    },
  };
}

async function open(query, headers = viewer, base = server.url) {
  const ctl = new AbortController();
  const res = await fetch(new URL(`/api/v1/events${query}`, base), { headers: { accept: 'text/event-stream', ...headers }, signal: ctl.signal });
  if (res.status !== 200) return { res, text: await res.text() };
  return sse(res, ctl);
}

const getJson = async (p, headers = viewer) => {
  const res = await fetch(new URL(p, server.url), { headers: { accept: 'application/json', ...headers } });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
};

const number = (token) => Number(token.split('-')[0]);

test('the stream: event-stream headers, then retry and a hello with the dashboard\'s data version', async () => {
  const s = await open('?dashboard=orders');
  try {
    assert.equal(s.res.status, 200);
    assert.equal(s.res.headers.get('content-type'), 'text/event-stream');
    assert.equal(s.res.headers.get('cache-control'), 'no-store');
    assert.equal(s.res.headers.get('x-accel-buffering'), 'no');
    assert.equal(s.res.headers.get('content-length'), null);
    assert.equal(s.res.headers.get('connection'), 'close');
    const hello = await s.next((e) => e.event === 'hello');
    assert.equal(s.events[0], hello, 'hello comes first');
    assert.equal(hello.retry, 3000);
    const described = await getJson('/api/v1/dashboards/orders');
    assert.deepEqual(hello.json, { relation: 'orders', version: described.data.version, as_of: described.data.as_of });
    assert.match(hello.json.version, /^\d+-[0-9a-f]{16}$/);
    assert.deepEqual(Object.keys(hello.json).sort(), ['as_of', 'relation', 'version'], 'versions only: no rows, no counts, no errors');
  } finally {
    s.close();
  }
  // The request line is logged when the stream ends, with how it ended.
  const until = Date.now() + 5000;
  let line;
  while (!line && Date.now() < until) {
    line = server.jsonLogs().find((l) => l.event === 'request' && l.path === '/api/v1/events' && l.stream_end);
    if (!line) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(line, 'the stream\'s request line is logged when it ends');
  assert.equal(line.status, 200);
  assert.equal(line.stream_end, 'client_closed');
  assert.equal(line.user, 'val');
});

test('a new file in the on_change source brings data_changed with a larger number within seconds of the refresh', async () => {
  const orders = await open('?dashboard=orders');
  const big = await open('?dashboard=big');
  try {
    const hello = await orders.next((e) => e.event === 'hello');
    const bigHello = await big.next((e) => e.event === 'hello');
    assert.equal(bigHello.json.relation, 'big_orders');

    write('b.parquet', 500, 9);
    const changed = await orders.next((e) => e.event === 'data_changed', 60_000);
    assert.equal(changed.json.relation, 'orders');
    assert.ok(number(changed.json.version) > number(hello.json.version), `${changed.json.version} after ${hello.json.version}`);
    assert.ok(Date.parse(changed.json.as_of) >= Date.parse(hello.json.as_of));
    // The event says what the API says now, and came within 5 s of the refresh's end.
    const source = await getJson('/api/v1/sources/orders');
    assert.equal(source.refresh.last_outcome, 'refreshed');
    assert.equal(source.version, changed.json.version);
    const refreshed = Date.parse(source.refresh.last_success);
    assert.ok(changed.at - refreshed < 5000, `data_changed ${changed.at - refreshed} ms after the refresh`);
    const described = await getJson('/api/v1/dashboards/orders');
    assert.equal(described.data.version, changed.json.version);

    // The dashboard over a model hears of it too, with the model's version.
    const bigChanged = await big.next((e) => e.event === 'data_changed', 10_000);
    assert.equal(bigChanged.json.relation, 'big_orders');
    assert.ok(number(bigChanged.json.version) > number(bigHello.json.version));
    assert.equal((await getJson('/api/v1/dashboards/big')).data.version, bigChanged.json.version);

    // Only newer numbers, each once.
    const numbers = orders.events.filter((e) => e.json).map((e) => number(e.json.version));
    assert.deepEqual(numbers, [...new Set(numbers)].sort((a, b) => a - b));
  } finally {
    orders.close();
    big.close();
  }
});

test('sign-in, visibility and parameters: 401, 404 like the dashboard itself, 400, 405', async () => {
  const anonymous = await open('?dashboard=orders', {});
  assert.equal(anonymous.res.status, 401, anonymous.text);

  const hidden = await open('?dashboard=secret');
  const unknown = await open('?dashboard=nope');
  const described = await fetch(new URL('/api/v1/dashboards/secret', server.url), { headers: viewer });
  assert.equal(hidden.res.status, 404);
  assert.equal(unknown.res.status, 404);
  assert.equal(described.status, 404);
  const hiddenProblem = JSON.parse(hidden.text);
  assert.equal(hiddenProblem.detail, (await described.json()).detail, 'the same answer as GET /api/v1/dashboards/secret');
  assert.equal(hiddenProblem.detail, "no dashboard 'secret'");
  assert.equal(JSON.parse(unknown.text).detail, "no dashboard 'nope'");

  const allowed = await open('?dashboard=secret', admin);
  assert.equal(allowed.res.status, 200, 'an admin may see it');
  assert.equal((await allowed.next((e) => e.event === 'hello')).json.relation, 'orders');
  allowed.close();

  const missing = await open('', viewer);
  assert.equal(missing.res.status, 400);
  const post = await fetch(new URL('/api/v1/events?dashboard=orders', server.url), { method: 'POST', headers: viewer });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET');
});

test('a cross-site Origin is refused even for GET; this site\'s Origin is fine', async () => {
  for (const origin of ['https://evil.example', 'null', `http://localhost:${new URL(server.url).port}`]) {
    const r = await open('?dashboard=orders', { ...viewer, Origin: origin });
    assert.equal(r.res.status, 403, origin);
    assert.match(JSON.parse(r.text).detail, /cross-site/);
  }
  const same = await open('?dashboard=orders', { ...viewer, Origin: new URL(server.url).origin });
  assert.equal(same.res.status, 200);
  await same.next((e) => e.event === 'hello');
  same.close();
});

test('at most 8 open streams per user (429 beyond); others are not affected, and a closed stream frees its place', async () => {
  const who = { 'X-Forwarded-User': 'many', 'X-Forwarded-Groups': 'viewers' };
  const streams = [];
  try {
    for (let i = 0; i < 8; i += 1) {
      const s = await open('?dashboard=orders', who);
      assert.equal(s.res.status, 200, `stream ${i + 1}`);
      streams.push(s);
    }
    const ninth = await open('?dashboard=orders', who);
    assert.equal(ninth.res.status, 429);
    assert.match(JSON.parse(ninth.text).detail, /too many open event streams/);
    const other = await open('?dashboard=orders', viewer);
    assert.equal(other.res.status, 200, 'another user still may');
    other.close();

    const metrics = await (await fetch(new URL('/metrics', server.url))).text();
    const open_ = Number(/^sightline_http_event_streams (\d+)/m.exec(metrics)?.[1]);
    assert.ok(open_ >= 8, `the gauge counts the open streams (${open_})`);

    streams.pop().close();
    const until = Date.now() + 5000;
    let again;
    for (;;) {
      again = await open('?dashboard=orders', who);
      if (again.res.status === 200 || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(again.res.status, 200, 'the closed stream\'s place is free again');
    streams.push(again);
  } finally {
    for (const s of streams) s.close?.();
  }
});

test('stopping the server (SIGTERM) ends an open stream at once; the server exits within seconds', async () => {
  const s = await open('?dashboard=orders');
  await s.next((e) => e.event === 'hello');
  const began = Date.now();
  const code = await server.stop();
  const took = Date.now() - began;
  assert.equal(code, 0);
  assert.ok(took < 5000, `the server exited in ${took} ms with a stream open`);
  await Promise.race([s.done, new Promise((_, reject) => setTimeout(() => reject(new Error('the stream did not end')), 5000))]);
  assert.equal(s.ended, true);
  const line = server.jsonLogs().find((l) => l.event === 'request' && l.path === '/api/v1/events' && l.stream_end === 'server_stopping');
  assert.ok(line, 'logged as ended by the server stopping');
});

test('over TLS: the stream opens, and ends when the server stops', async () => {
  const certDir = tempDir('live-tls');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem'),
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  const ca = fs.readFileSync(path.join(certDir, 'cert.pem'));
  const plain = writeProject({
    'sightline.yaml': 'name: tls\nsources:\n  t:\n    path: data/t.csv\ndashboards: dashboards/*.yaml\n',
    'data/t.csv': 'x\n1\n2\n',
    'dashboards/d.yaml': 'id: d\ntitle: D\nsource: t\nwidgets:\n  - { id: n, type: kpi, measure: count(*) }\n',
  });
  const tls = await startServer(plain, ['--no-reload', '--tls-cert', path.join(certDir, 'cert.pem'), '--tls-key', path.join(certDir, 'key.pem')]);
  try {
    const { headers, first, ended } = await new Promise((resolve, reject) => {
      const req = https.get(new URL('/api/v1/events?dashboard=d', tls.url), { ca, headers: { accept: 'text/event-stream' } }, (res) => {
        let body = '';
        let gotFirst;
        const first = new Promise((r) => { gotFirst = r; });
        const ended = new Promise((r) => { res.on('end', () => r(body)); res.on('close', () => r(body)); });
        res.on('data', (d) => {
          body += d;
          if (body.includes('\n\n')) gotFirst(body);
        });
        resolve({ headers: res.headers, first, ended });
      });
      req.on('error', reject);
    });
    assert.equal(headers['content-type'], 'text/event-stream');
    const text = await Promise.race([first, new Promise((_, reject) => setTimeout(() => reject(new Error('no hello over TLS')), 10_000))]);
    assert.match(text, /^retry: 3000\nevent: hello\ndata: \{"relation":"t","version":"1-[0-9a-f]{16}"/);
    const began = Date.now();
    assert.equal(await tls.stop(), 0);
    assert.ok(Date.now() - began < 5000, 'the server exited promptly with a TLS stream open');
    await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error('the TLS stream did not end')), 5000))]);
  } finally {
    await tls.stop();
  }
});
