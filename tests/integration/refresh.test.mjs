// Refresh policies (docs/freshness.md): sources read at load get new data when their files
// change (on_change), on a period (every), or when someone allowed asks (POST
// /api/v1/sources/{name}/refresh); answers then equal DuckDB over all the files, carry the new
// data version, and a broken file keeps the last good data serving while the failure is reported
// (sources API, /readyz, metrics, log) until a refresh succeeds. Roles decide who may refresh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { writeProject, startServer, queryJson, oracle, oracleExec, post } from './harness.mjs';

let dir;
let server;

const write = (name, sql) => oracleExec(`COPY (${sql}) TO '${path.join(dir, 'data', name)}' (FORMAT parquet)`);
// Rows with a DECIMAL amount, a region (some NULL) and a timestamp; `seed` varies the values.
const rows = (n, seed) => `SELECT (i * 7 + ${seed}) % 1000 AS id,
    CAST(((i * 37 + ${seed}) % 100000) / 100.0 AS DECIMAL(10,2)) AS amount,
    CASE WHEN i % 11 = 0 THEN NULL ELSE ['North','South','East'][1 + (i % 3)] END AS region,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_minutes(i) AS at
  FROM range(${n}) t(i)`;

function writeCsv(rowsText) {
  fs.writeFileSync(path.join(dir, 'data', 'events.csv'), 'kind,amount\n' + rowsText);
}

async function source(name) {
  const res = await fetch(new URL(`/api/v1/sources/${name}`, server.url));
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

// Polls the source until `done(status)` holds (the refresher looks about once a second).
async function waitFor(name, done, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await source(name);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`source ${name}: ${what} did not happen; last status ${JSON.stringify(last)}`);
}

const settled = (s) => !s.refresh.running && !s.refresh.requested;

async function kpis(dashboard) {
  const count = await queryJson(server, dashboard, 'rows');
  const sum = await queryJson(server, dashboard, 'total');
  return {
    rows: Number(count.data.rows[0][0]),
    total: Number(sum.data.rows[0][0]).toFixed(2),
    version: count.res.headers.get('x-sightline-data-version'),
    relation: count.res.headers.get('x-sightline-data-relation'),
    asOf: count.res.headers.get('x-sightline-data-as-of'),
  };
}

before(async () => {
  dir = writeProject({
    'sightline.yaml': `
name: refresh
sources:
  orders:
    path: data/orders/*.parquet
    materialize: true
    refresh: { on_change: true, debounce: 300ms }
  ticks:
    path: data/ticks/*.parquet
    materialize: true
    refresh: { every: 1s }
  events:
    path: data/events.csv
    materialize: true
    types: { amount: "DECIMAL(10,2)" }
    refresh: { cron: "0 3 * * *" }
  manual:
    path: data/manual/*.parquet
    materialize: true
dashboards: dashboards/*.yaml
`,
    'dashboards/orders.yaml': `
id: orders
title: Orders
source: orders
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
  - { id: total, type: kpi, measure: { expr: sum(amount), as: total } }
`,
    'dashboards/ticks.yaml': `
id: ticks
title: Ticks
source: ticks
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
  - { id: total, type: kpi, measure: { expr: sum(amount), as: total } }
`,
    'dashboards/events.yaml': `
id: events
title: Events
source: events
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
  - { id: total, type: kpi, measure: { expr: sum(amount), as: total } }
`,
  });
  for (const d of ['orders', 'ticks', 'manual']) fs.mkdirSync(path.join(dir, 'data', d), { recursive: true });
  write('orders/2026-01.parquet', rows(5000, 1));
  write('ticks/a.parquet', rows(300, 2));
  write('manual/a.parquet', rows(10, 3));
  writeCsv('a,1.50\nb,2.25\n');
  // --no-reload: the project's files are not watched; refresh policies still run.
  server = await startServer(dir, ['--no-reload']);
}, { timeout: 150_000 });

after(async () => {
  await server?.stop();
});

const expected = (glob) => {
  const [rows, total] = oracle(`SELECT count(*), sum(amount) FROM read_parquet('${path.join(dir, 'data', glob)}')`).rows[0];
  return { rows, total: Number(total).toFixed(2) };
};

test('a new partition file reaches an on_change source once the files settle; answers equal DuckDB over all files', async () => {
  const before = await kpis('orders');
  assert.equal(before.rows, 5000);
  assert.match(before.version, /^1-[0-9a-f]{16}$/);
  assert.equal(before.relation, 'orders');
  const first = await source('orders');
  assert.equal(first.read, 'at_load');
  assert.equal(first.version, before.version);
  assert.deepEqual(first.refresh.policy, { on_change: true, debounce_seconds: 0.3 });
  assert.equal(first.rows, 5000, 'with auth none, everyone may refresh, so rows are shown');

  write('orders/2026-02.parquet', rows(2500, 9));
  const after = await waitFor('orders', (s) => s.version_number === 2 && settled(s), 'the refresh');
  assert.equal(after.refresh.last_outcome, 'refreshed');
  assert.equal(after.rows, 7500);
  const now = await kpis('orders');
  const want = expected('orders/*.parquet');
  assert.equal(now.rows, Number(want.rows));
  assert.equal(now.total, want.total);
  assert.equal(now.version, after.version);
  assert.notEqual(now.version, before.version);
  assert.ok(Date.parse(now.asOf) >= Date.parse(before.asOf), `${now.asOf} after ${before.asOf}`);
  // The other sources were read again with it (one new snapshot) but their data did not change.
  assert.equal((await source('events')).version_number, 1);
});

test('an every: source is checked on its period: unchanged files change nothing, new ones are read', async () => {
  const quiet = await waitFor('ticks', (s) => s.refresh.checks.unchanged >= 1 && settled(s), 'an unchanged check');
  assert.equal(quiet.version_number, 1);
  assert.equal(quiet.refresh.last_outcome, 'unchanged');
  assert.ok(quiet.refresh.next_check, 'the next check is announced');
  write('ticks/b.parquet', rows(120, 5));
  const fresh = await waitFor('ticks', (s) => s.version_number === 2 && settled(s), 'the periodic refresh');
  assert.equal(fresh.refresh.last_outcome, 'refreshed');
  const now = await kpis('ticks');
  const want = expected('ticks/*.parquet');
  assert.equal(now.rows, Number(want.rows));
  assert.equal(now.total, want.total);
});

test('a manual refresh reads a rewritten file; a broken file keeps the last good data and is reported until fixed', async () => {
  const start = await source('events');
  assert.deepEqual(start.refresh.policy, { cron: '0 3 * * *' });
  assert.ok(Date.parse(start.refresh.next_check) > Date.now(), 'the next 03:00 is announced');
  // Nothing happens to a cron source until 03:00, or until someone asks.
  writeCsv('a,1.50\nb,2.25\nc,10.00\n');
  let res = await post(server, '/api/v1/sources/events/refresh', '');
  assert.equal(res.status, 202);
  assert.equal(res.headers.get('location'), '/api/v1/sources/events');
  let s = await waitFor('events', (x) => x.version_number === 2 && settled(x), 'the requested refresh');
  assert.equal(s.refresh.last_outcome, 'refreshed');
  assert.deepEqual([(await kpis('events')).rows, (await kpis('events')).total], [3, '13.75']);

  // Asked again with the same file: nothing to read.
  res = await post(server, '/api/v1/sources/events/refresh', '');
  assert.equal(res.status, 202);
  s = await waitFor('events', (x) => x.refresh.checks.unchanged >= 1 && settled(x), 'an unchanged check');
  assert.equal(s.version_number, 2);

  // A value that is no DECIMAL: the refresh fails, the last good data serves.
  writeCsv('a,1.50\nb,not-a-number\n');
  await post(server, '/api/v1/sources/events/refresh', '');
  s = await waitFor('events', (x) => x.refresh.failing && settled(x), 'the failed refresh');
  assert.equal(s.refresh.last_outcome, 'failed');
  assert.equal(s.version_number, 2);
  assert.match(s.refresh.last_error, /events/);
  assert.ok(!s.refresh.last_error.includes(dir), `no absolute path in ${s.refresh.last_error}`);
  const during = await kpis('events');
  assert.deepEqual([during.rows, during.total], [3, '13.75']);
  const ready = await (await fetch(new URL('/readyz', server.url))).json();
  assert.equal(ready.status, 'ready');
  assert.deepEqual(ready.sources_failing_refresh, ['events']);
  const failure = server.jsonLogs().find((l) => l.event === 'source_refresh_failed');
  assert.ok(failure, 'the failure is logged');
  assert.deepEqual(failure.sources, ['events']);

  // Fixed: the next refresh succeeds and the report clears.
  writeCsv('a,1.50\nb,2.50\n');
  await post(server, '/api/v1/sources/events/refresh', '');
  s = await waitFor('events', (x) => !x.refresh.failing && x.version_number === 3 && settled(x), 'the recovery');
  assert.equal(s.refresh.last_error, undefined);
  const fixed = await kpis('events');
  assert.deepEqual([fixed.rows, fixed.total], [2, '4.00']);
  const readyAgain = await (await fetch(new URL('/readyz', server.url))).json();
  assert.equal(readyAgain.sources_failing_refresh, undefined);
});

test('a source without a policy changes only when asked', async () => {
  write('manual/b.parquet', rows(5, 4));
  await new Promise((r) => setTimeout(r, 2500));  // several looks of the refresher: nothing may happen
  assert.equal((await source('manual')).version_number, 1);
  assert.equal((await post(server, '/api/v1/sources/manual/refresh', '')).status, 202);
  const s = await waitFor('manual', (x) => x.version_number === 2 && settled(x), 'the requested refresh');
  assert.equal(s.rows, 15);
});

test('the sources API lists every source with its version; wrong names and methods get precise errors', async () => {
  const list = await (await fetch(new URL('/api/v1/sources', server.url))).json();
  assert.deepEqual(list.sources.map((s) => s.name), ['orders', 'ticks', 'events', 'manual']);
  for (const s of list.sources) {
    assert.match(s.version, /^[0-9]+-[0-9a-f]{16}$/);
    assert.ok(Date.parse(s.as_of) > 0, s.as_of);
  }
  const dash = await (await fetch(new URL('/api/v1/dashboards/orders', server.url))).json();
  assert.equal(dash.data.relation, 'orders');
  assert.equal(dash.data.version, list.sources[0].version);
  assert.equal(dash.data.can_refresh, true);
  assert.equal(dash.data.refresh_failing, false);

  const missing = await post(server, '/api/v1/sources/nope/refresh', '');
  assert.equal(missing.status, 404);
  assert.match(missing.headers.get('content-type'), /problem\+json/);
  const getRefresh = await fetch(new URL('/api/v1/sources/orders/refresh', server.url));
  assert.equal(getRefresh.status, 405);
  assert.equal(getRefresh.headers.get('allow'), 'POST');
  const postList = await post(server, '/api/v1/sources', '');
  assert.equal(postList.status, 405);
  const crossSite = await post(server, '/api/v1/sources/orders/refresh', '', { origin: 'https://evil.example' });
  assert.equal(crossSite.status, 403);

  const metrics = await (await fetch(new URL('/metrics', server.url))).text();
  assert.match(metrics, /sightline_source_refreshes_total\{source="orders",outcome="refreshed"\} [1-9]/);
  assert.match(metrics, /sightline_source_refresh_failing\{source="events"\} 0/);
  assert.match(metrics, /sightline_source_data_age_seconds\{source="orders"\} [0-9.e+-]+/);
});
