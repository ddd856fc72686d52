// A request whose client goes away stops its queries: a browser that moves on to a newer filter
// state aborts the older state's requests (closing their connections), and the server must not
// keep both cores busy answering nobody. Real server, real sockets, real DuckDB.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, writeProject } from './harness.mjs';

// Hundreds of millions of pairs: far longer than the test waits, shorter than the time limit.
const SLOW_SQL = 'SELECT count(*) AS n FROM range(60000) a, range(60000) b WHERE (a.range * 7 + b.range) % 1000003 = 5 AND {{ filters }}';

let server;
before(async () => {
  const dir = writeProject({
    'sightline.yaml': 'sources:\n  t:\n    path: data/t.csv\nengine:\n  query_timeout: 120s\ndashboards: dashboards/*.yaml\n',
    'data/t.csv': 'x\n1\n2\n',
    'dashboards/d.yaml': `id: d\ntitle: D\nsource: t\nwidgets:\n  - { id: slow, type: table, sql: "${SLOW_SQL}" }\n  - { id: quick, type: kpi, measure: count(*) }\n`,
  });
  server = await startServer(dir, ['--no-reload', '--threads', '4']);
});
after(async () => { await server?.stop(); });

const url = (w) => new URL(`/api/v1/dashboards/d/widgets/${w}/query`, server.url);
const queryLines = () => server.jsonLogs().filter((l) => l.event === 'query' && l.statement.startsWith('d/slow'));
const waitFor = async (what, ms) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const v = what();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
};

test('a request aborted by its client stops its query at once; the server answers the next one', async () => {
  const ctl = new AbortController();
  const started = Date.now();
  const slow = fetch(url('slow'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: ctl.signal });
  await new Promise((r) => setTimeout(r, 500));
  ctl.abort();
  await assert.rejects(slow);
  const ended = await waitFor(() => queryLines().find((l) => l.error), 10_000);
  assert.ok(ended, `the slow query ended after the abort (log: ${JSON.stringify(queryLines())})`);
  assert.equal(ended.error, 'cancelled');
  assert.ok(Date.now() - started < 10_000, 'stopped well before it would have finished');
  const request = await waitFor(() => server.jsonLogs().find((l) => l.event === 'request' && l.path === '/api/v1/dashboards/d/widgets/slow/query'), 5_000);
  assert.ok(request, 'the request is logged');
  assert.equal(request.status, 499, 'logged as closed by the client');
  // The connection went back to the pool: a request answers normally.
  const res = await fetch(url('quick'), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: '{}' });
  assert.equal(res.status, 200);
  assert.deepEqual((await res.json()).rows, [[2]]);
});

test('a client that keeps its connection open (keep-alive, pipelined bytes) is not cancelled', async () => {
  // Two quick requests on one keep-alive connection: the watch for hang-ups must not eat the
  // second request's bytes nor cancel the first.
  const first = await fetch(url('quick'), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: '{}' });
  const second = await fetch(url('quick'), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: '{}' });
  assert.equal(first.status, 200);
  assert.equal(second.status, 200);
  assert.deepEqual((await second.json()).rows, [[2]]);
});

test('pipelined requests on one connection are all answered, in order', async () => {
  const { hostname, port } = new URL(server.url);
  const one = (id) => `POST /api/v1/dashboards/d/widgets/quick/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\nX-Request-Id: ${id}\r\nContent-Length: 2\r\n\r\n{}`;
  const text = await new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(one('pipelined-1') + one('pipelined-2') + one('pipelined-3')));
    let got = '';
    socket.on('data', (d) => {
      got += d.toString();
      if ((got.match(/HTTP\/1\.1 200/g) ?? []).length === 3) { socket.end(); resolve(got); }
    });
    socket.on('error', reject);
    setTimeout(() => { socket.destroy(); reject(new Error(`only got: ${got}`)); }, 10_000);
  });
  const ids = [...text.matchAll(/X-Request-Id: (pipelined-\d)/gi)].map((m) => m[1]);
  assert.deepEqual(ids, ['pipelined-1', 'pipelined-2', 'pipelined-3']);
});
