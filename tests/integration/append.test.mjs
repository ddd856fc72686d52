// Append mode and ingest (docs/freshness.md): a `mode: append` file source keeps its rows in the
// state database with a ledger of the files they came from, so a refresh reads only new files, a
// rewritten file replaces exactly its rows and a removed one removes them; answers always equal
// DuckDB over the files on disk. An unreadable file fails the whole refresh (the last good data
// serves, the source reports failing) until it is fixed. Ingest sources receive CSV and NDJSON
// batches over POST /api/v1/sources/{name}/rows, all-or-nothing, durable once acknowledged.
// Restarts reuse the table and apply what changed meanwhile; kill -9 at any moment loses and
// duplicates nothing (checked over 20+ kills with files and batches arriving the whole time).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, SOURCE_DIR, writeProject, startServer, queryJson, oracle, oracleExec, tempDir } from './harness.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.stop(); });

async function start(dir, args = [], env = {}) {
  const s = await startServer(dir, ['--no-reload', ...args], env);
  servers.push(s);
  return s;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const money = (v) => (v === null || v === undefined ? null : Number(v).toFixed(2));

async function getJson(server, p, headers = {}) {
  const res = await fetch(new URL(p, server.url), { headers });
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${p}: ${text}`);
  return JSON.parse(text);
}

const source = (server, name, headers) => getJson(server, `/api/v1/sources/${name}`, headers);

// Polls `probe()` until `done(value)` holds; the refresher looks about once a second.
async function until(probe, done, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try { last = await probe(); } catch (e) { last = `error: ${e.message}`; }
    if (typeof last !== 'string' && done(last)) return last;
    await sleep(150);
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

// Polls until `actual()` deep-equals `expected`, then asserts it (a clear diff on timeout).
async function eventually(actual, expected, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await actual();
    if (JSON.stringify(last) === JSON.stringify(expected)) return last;
    await sleep(150);
  }
  assert.deepEqual(last, expected, `${what} (waited ${timeoutMs} ms)`);
  return last;
}

function sendRows(server, name, body, type, headers = {}) {
  return fetch(new URL(`/api/v1/sources/${name}/rows`, server.url), {
    method: 'POST',
    headers: type === null ? headers : { 'content-type': type, ...headers },
    body,
  });
}

// An error answer: the status, problem+json, and no filesystem path in it.
async function problem(res, status, dir) {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/, text);
  const body = JSON.parse(text);
  assert.equal(body.status, status);
  assert.equal(typeof body.detail, 'string');
  for (const leak of ['/tmp', dir, SOURCE_DIR].filter(Boolean)) assert.ok(!text.includes(leak), `no path (${leak}) in ${text}`);
  return body;
}

// ---------------------------------------------------------------------------------------------
// The main project: an append file source, an ingest source and a plain file source.

let dir;
let server;

const ordersGlob = () => path.join(dir, 'data', 'orders', '**', '*.parquet');
// Rows with unique ids from `base`, DECIMAL amounts (some NULL, some negative), unicode cities
// (some NULL), TIMESTAMPTZ and a column whose name has a space; `seed` varies the values.
const ordersRows = (n, base, seed) => `SELECT ${base} + i AS id,
    CASE WHEN i % 7 = 3 THEN NULL ELSE CAST(((i * 37 + ${seed}) % 100000) / 100.0 - 50 AS DECIMAL(12,2)) END AS amount,
    CASE WHEN i % 9 = 4 THEN NULL ELSE ['Zürich', '東京', 'São Paulo', 'naïve 🚀', 'say "hi", ok'][1 + ((i + ${seed}) % 5)] END AS city,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_minutes(i * 13 + ${seed}) AS ordered_at,
    CAST(((i + ${seed}) % 13) * 0.25 AS DECIMAL(8,2)) AS "unit price"
  FROM range(${n}) t(i)`;
function writeOrders(rel, n, base, seed) {
  const file = path.join(dir, 'data', 'orders', rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  oracleExec(`COPY (${ordersRows(n, base, seed)}) TO '${file}' (FORMAT parquet)`);
}

const BY_CITY_SQL = `SELECT city, count(*) AS n, sum(amount) AS total, sum("unit price") AS price,
  epoch_ms(min(ordered_at)) AS first_ms, epoch_ms(max(ordered_at)) AS last_ms FROM orders WHERE {{ filters }} GROUP BY city`;

// Summaries are own-SQL kpi widgets (the answer holds every column of the SELECT): an own-SQL
// `table` whose SELECT is an ungrouped aggregate answers 500 (its total-count statement does not
// parse), independently of append mode.
const EVENTS_SQL = `SELECT count(*) AS n, count(DISTINCT id) AS ids, count(amount) AS amounts, sum(amount) AS total,
  epoch_ms(min("at")) AS first_ms, epoch_ms(max("at")) AS last_ms, string_agg(kind, '|' ORDER BY id) AS kinds
  FROM events WHERE {{ filters }}`;

function mainProject() {
  return writeProject({
    'sightline.yaml': `
name: append
sources:
  orders:
    path: data/orders/**/*.parquet
    mode: append
    refresh: { on_change: true, debounce: 0s }
  events:
    ingest: true
    columns:
      id: BIGINT
      at: TIMESTAMPTZ
      amount: DECIMAL(12,2)
      kind: VARCHAR
    keep: 7d
  plain:
    path: data/plain.csv
dashboards: dashboards/*.yaml
`,
    'data/plain.csv': 'a,b\n1,2\n',
    'dashboards/orders.yaml': `
id: orders
title: Orders
source: orders
filters:
  - { id: city, type: select, column: city }
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
  - { id: total, type: kpi, measure: { expr: sum(amount), as: total } }
  - { id: price, type: kpi, measure: { expr: 'sum("unit price")', as: price } }
  - { id: ids, type: kpi, measure: { expr: count(DISTINCT id), as: ids } }
  - id: by_city
    type: table
    sql: ${JSON.stringify(BY_CITY_SQL)}
`,
    'dashboards/events.yaml': `
id: events
title: Events
source: events
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
  - { id: total, type: kpi, measure: { expr: sum(amount), as: total } }
  - id: summary
    type: kpi
    measure: n
    sql: ${JSON.stringify(EVENTS_SQL)}
`,
  });
}

// What the server answers over orders, in the shape `expectedOrders` gives.
async function ordersAnswer(s = server, filters = {}) {
  const body = { filters };
  const [rows, total, price, ids, byCity] = await Promise.all(
    ['rows', 'total', 'price', 'ids', 'by_city'].map((w) => queryJson(s, 'orders', w, w === 'by_city' ? { ...body, limit: 1000 } : body)));
  return {
    rows: Number(rows.data.rows[0][0]),
    total: money(total.data.rows[0][0]),
    price: money(price.data.rows[0][0]),
    ids: Number(ids.data.rows[0][0]),
    byCity: byCity.data.rows
      .map(([city, n, t, p, first, last]) => [city, Number(n), money(t), money(p), Number(first), Number(last)])
      .sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0]))),
  };
}

// DuckDB over every file on disk now.
function expectedOrders(where = 'TRUE') {
  const scan = `read_parquet('${ordersGlob()}')`;
  const [rows, total, price, ids] = oracle(`SELECT count(*), sum(amount), sum("unit price"), count(DISTINCT id) FROM ${scan} WHERE ${where}`).rows[0];
  const byCity = oracle(`SELECT city, count(*), sum(amount), sum("unit price"), epoch_ms(min(ordered_at)), epoch_ms(max(ordered_at))
                         FROM ${scan} WHERE ${where} GROUP BY city`).rows
    .map(([city, n, t, p, first, last]) => [city, Number(n), money(t), money(p), Number(first), Number(last)])
    .sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0])));
  return { rows: Number(rows), total: money(total), price: money(price), ids: Number(ids), byCity };
}

async function version(s, dashboard) {
  return (await queryJson(s, dashboard, 'rows')).res.headers.get('x-sightline-data-version');
}

async function eventsAnswer(s = server, headers = {}) {
  const res = await fetch(new URL('/api/v1/dashboards/events/widgets/summary/query', s.url), {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body: '{}',
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const [n, ids, amounts, total, first, last, kinds] = JSON.parse(text).rows[0];
  return { n: Number(n), ids: Number(ids), amounts: Number(amounts), total: money(total),
           first: first === null ? null : Number(first), last: last === null ? null : Number(last), kinds };
}

test('append on_change: new, rewritten and removed files reach the answers; a corrupt file keeps the last good data until removed', async () => {
  dir = mainProject();
  writeOrders('2026-01/part-0.parquet', 3000, 0, 1);
  writeOrders('2026-02/part-0.parquet', 2000, 10_000, 2);
  writeOrders('2026-03/part-0.parquet', 2500, 20_000, 3);
  server = await start(dir);

  const status = await source(server, 'orders');
  assert.equal(status.mode, 'append', JSON.stringify(status));
  assert.deepEqual(status.refresh.policy, { on_change: true, debounce_seconds: 0 });
  let want = expectedOrders();
  assert.equal(want.rows, 7500);
  assert.deepEqual(await ordersAnswer(), want, 'three files at start');
  const first = await version(server, 'orders');
  assert.match(first, /^[0-9]+-[0-9a-f]{16}$/);
  // A select filter: answers (and the rollups behind them) equal DuckDB for one city too.
  assert.deepEqual(await ordersAnswer(server, { city: '東京' }), expectedOrders(`city = '東京'`));

  // A new file.
  writeOrders('2026-04/part-0.parquet', 1500, 30_000, 4);
  want = expectedOrders();
  assert.equal(want.rows, 9000);
  await eventually(() => ordersAnswer(), want, 'a fourth file is appended');
  const second = await version(server, 'orders');
  assert.notEqual(second, first, 'the data version changes with the new rows');
  assert.deepEqual(await ordersAnswer(server, { city: 'naïve 🚀' }), expectedOrders(`city = 'naïve 🚀'`));

  // A rewritten file replaces exactly its rows (fewer rows, other values).
  writeOrders('2026-02/part-0.parquet', 700, 40_000, 5);
  want = expectedOrders();
  assert.equal(want.rows, 7700);
  await eventually(() => ordersAnswer(), want, 'a rewritten file replaces its rows');
  const third = await version(server, 'orders');
  assert.notEqual(third, second);

  // A removed file removes its rows.
  fs.rmSync(path.join(dir, 'data', 'orders', '2026-01', 'part-0.parquet'));
  want = expectedOrders();
  assert.equal(want.rows, 4700);
  await eventually(() => ordersAnswer(), want, 'a removed file takes its rows with it');
  const good = await ordersAnswer();
  const goodVersion = await version(server, 'orders');
  assert.notEqual(goodVersion, third);

  // A corrupt file fails the whole refresh: the last good data serves and the source says so.
  fs.mkdirSync(path.join(dir, 'data', 'orders', '2026-05'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'data', 'orders', '2026-05', 'x.parquet'), crypto.randomBytes(4096));
  const failing = await until(() => source(server, 'orders'), (s) => s.refresh.failing && !s.refresh.running, 'the failed refresh');
  assert.equal(failing.refresh.last_outcome, 'failed');
  assert.equal(failing.mode, 'append');
  assert.equal(typeof failing.refresh.last_error, 'string', JSON.stringify(failing));
  assert.match(failing.refresh.last_error, /x\.parquet/, 'the error names the file');
  assert.ok(!failing.refresh.last_error.includes(dir), `no absolute path in ${failing.refresh.last_error}`);
  assert.deepEqual(await ordersAnswer(), good, 'the last good data keeps serving');
  assert.equal(await version(server, 'orders'), goodVersion);
  const ready = await getJson(server, '/readyz');
  assert.equal(ready.status, 'ready');
  assert.deepEqual(ready.sources_failing_refresh, ['orders']);

  // A good file added meanwhile does not get in while the corrupt one is there (all or nothing).
  writeOrders('2026-05/y.parquet', 400, 50_000, 6);
  await until(() => source(server, 'orders'), (s) => s.refresh.checks.failed >= failing.refresh.checks.failed + 1 && !s.refresh.running,
    'a second failed refresh (the files changed again)');
  await sleep(1500);
  const still = await source(server, 'orders');
  assert.equal(still.refresh.failing, true);
  assert.deepEqual(await ordersAnswer(), good, 'nothing of a failed refresh is kept');

  // Removed: the source recovers, with the good file that came meanwhile.
  fs.rmSync(path.join(dir, 'data', 'orders', '2026-05', 'x.parquet'));
  want = expectedOrders();
  assert.equal(want.rows, 5100);
  await eventually(() => ordersAnswer(), want, 'the recovery once the corrupt file is gone');
  const recovered = await until(() => source(server, 'orders'), (s) => !s.refresh.failing && !s.refresh.running, 'the report clears');
  assert.equal(recovered.refresh.last_error, undefined);
  assert.notEqual(await version(server, 'orders'), goodVersion);
  assert.equal((await getJson(server, '/readyz')).sources_failing_refresh, undefined);
});

// The batches the ingest test sends, and what they add up to.
const CSV_1 = 'id,at,amount,kind\n1,2026-03-01T10:00:00Z,10.50,web\n2,2026-03-01 11:30:00+02,0.05,"Zürich, CH"\n3,2026-03-02T00:00:00Z,-4.25,東京\n';
const CSV_2 = 'kind,amount,id,at\r\n"say ""hi""",100.00,4,2026-03-03T08:00:00Z\r\nnaïve 🚀,0.01,5,2026-03-03T09:00:00Z\r\n';
const NDJSON_3 = '{"id":6,"at":"2026-03-04T00:00:00+01:00","amount":12.34,"kind":"line\\nbreak"}\n' +
  '{"id":7,"at":"2026-03-04T12:00:00Z","amount":null,"kind":"ndjson"}\n';
const SMALL = {
  n: 7, ids: 7, amounts: 6, total: '118.65',
  first: Date.parse('2026-03-01T09:30:00Z'), last: Date.parse('2026-03-04T12:00:00Z'),
  kinds: ['web', 'Zürich, CH', '東京', 'say "hi"', 'naïve 🚀', 'line\nbreak', 'ndjson'].join('|'),
};
// A large NDJSON batch: ids from `base`, amounts in cents known exactly.
function bigBatch(n, base, badRow = 0) {
  let text = '';
  let cents = 0;
  for (let i = 1; i <= n; i++) {
    const c = (i * 7919) % 100_000 - 20_000;
    cents += c;
    const amount = i === badRow ? '"lots"' : (c / 100).toFixed(2);
    text += `{"id":${base + i},"at":"2026-04-01T00:00:00Z","amount":${amount},"kind":"bulk"}\n`;
  }
  return { text, cents };
}

test('pre-aggregates of an append source take in a new file from its rows alone (not built again), and answers equal DuckDB', async () => {
  // Enough rows for rollups (100,000 at least), in two files; a third arrives while serving.
  const bdir = writeProject({
    'sightline.yaml': `
name: append rollups
sources:
  orders: { path: data/orders/**/*.parquet, mode: append, refresh: { on_change: true, debounce: 0s } }
dashboards: dashboards/*.yaml
`,
    'dashboards/orders.yaml': `
id: orders
title: Orders
source: orders
filters:
  - { id: city, type: select, column: city }
  - { id: period, type: daterange, column: ordered_at }
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
  - { id: total, type: kpi, measure: { expr: sum(amount), as: total } }
  - { id: cities, type: kpi, measure: { expr: count(DISTINCT city), as: cities } }
  - { id: by_city, type: bar, x: city, y: [count(*), sum(amount)] }
`,
  });
  const glob = path.join(bdir, 'data', 'orders', '**', '*.parquet');
  const write = (rel, n, base, seed) => {
    const file = path.join(bdir, 'data', 'orders', rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    oracleExec(`COPY (${ordersRows(n, base, seed)}) TO '${file}' (FORMAT parquet)`);
  };
  write('a.parquet', 70_000, 0, 1);
  write('b.parquet', 60_000, 100_000, 2);
  const s = await start(bdir);
  await until(() => getJson(s, '/readyz'), (r) => !String(r.rollups).includes('building') && !String(r.rollups).startsWith('0'), 'rollups');
  const answer = async (filters) => {
    const out = [];
    for (const w of ['rows', 'total', 'cities', 'by_city']) {
      const rows = (await queryJson(s, 'orders', w, { filters })).data.rows;
      out.push(rows.map((r) => r.map((v) => (v === null ? null : String(Number(v).toFixed(2))))).sort());
    }
    return out;
  };
  const expected = (where) => {
    const scan = `read_parquet('${glob}')`;
    const one = (sql) => oracle(sql).rows.map((r) => r.map((v) => (v === null ? null : String(Number(v).toFixed(2))))).sort();
    return [one(`SELECT count(*) FROM ${scan} WHERE ${where}`), one(`SELECT sum(amount) FROM ${scan} WHERE ${where}`),
            one(`SELECT count(DISTINCT city) FROM ${scan} WHERE ${where}`),
            one(`SELECT city, count(*), sum(amount) FROM ${scan} WHERE ${where} GROUP BY city`)];
  };
  const march = { from: '2026-01-20', to: '2026-02-10' };
  const marchWhere = `ordered_at >= TIMESTAMPTZ '2026-01-20 00:00:00+00' AND ordered_at < TIMESTAMPTZ '2026-02-11 00:00:00+00'`;
  assert.deepEqual(await answer({}), expected('TRUE'));
  const builtAtStart = s.logs.filter((l) => l.includes('"event":"rollup_built"')).length;
  assert.ok(builtAtStart > 0, 'rollups were built at start');

  write('c.parquet', 25_000, 200_000, 3);
  await eventually(() => answer({}), expected('TRUE'), 'the third file reaches the answers');
  await until(async () => s.logs.filter((l) => l.includes('"event":"rollups_extended"')).length, (n) => n > 0, 'the extension');
  const extended = JSON.parse(s.logs.find((l) => l.includes('"event":"rollups_extended"')));
  assert.equal(extended.source, 'orders');
  assert.equal(extended.rows, 155_000);
  assert.equal(s.logs.filter((l) => l.includes('"event":"rollup_built"')).length, builtAtStart, 'no rollup was built again');
  assert.deepEqual(await answer({ city: '東京' }), expected(`city = '東京'`));
  // The answers come from the extended rollups, not the rows.
  const last = s.logs.filter((l) => l.includes('"event":"query"') && l.includes('"statement":"orders/by_city"')).at(-1);
  assert.match(JSON.parse(last).read_from ?? '', /__sightline_rollup_/, last);
  assert.deepEqual(await answer({ period: march }), expected(marchWhere));
});

test('ingest: CSV and NDJSON batches are answered at once; a bad batch keeps nothing and says why; wrong requests get precise errors', async () => {
  const empty = await eventsAnswer();
  assert.deepEqual([empty.n, empty.total], [0, null], 'an ingest source starts empty');
  const status = await source(server, 'events');
  assert.equal(status.mode, 'ingest', 'sources API: mode is ingest | append | replace');
  const v0 = await version(server, 'events');

  let res = await sendRows(server, 'events', CSV_1, 'text/csv');
  let text = await res.text();
  assert.equal(res.status, 200, text);
  let body = JSON.parse(text);
  assert.equal(body.source, 'events');
  assert.equal(body.rows, 3);
  assert.match(body.version, /^[0-9]+-[0-9a-f]+$/);
  // Committed before the answer: a query right after sees the rows, with the version announced.
  assert.deepEqual(Number((await queryJson(server, 'events', 'rows')).data.rows[0][0]), 3);
  const v1 = await version(server, 'events');
  assert.notEqual(v1, v0);
  assert.equal(v1, body.version, 'the answer names the version queries now see');

  res = await sendRows(server, 'events', CSV_2, 'text/csv; charset=utf-8');
  text = await res.text();
  assert.equal(res.status, 200, `CRLF line ends, columns in another order, a charset parameter: ${text}`);
  assert.equal(JSON.parse(text).rows, 2);
  res = await sendRows(server, 'events', NDJSON_3, 'application/x-ndjson');
  text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(JSON.parse(text).rows, 2);
  assert.deepEqual(await eventsAnswer(), SMALL, 'every value arrives as sent');
  const v3 = await version(server, 'events');
  assert.notEqual(v3, v1);
  const total = await queryJson(server, 'events', 'total');
  assert.equal(money(total.data.rows[0][0]), '118.65');
  assert.equal(total.res.headers.get('x-sightline-data-relation'), 'events');

  // A large batch (under 1 MiB) in one request.
  const big = bigBatch(10_000, 1000);
  assert.ok(big.text.length < 1 << 20);
  res = await sendRows(server, 'events', big.text, 'application/x-ndjson');
  text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(JSON.parse(text).rows, 10_000);
  const withBig = await eventsAnswer();
  assert.equal(withBig.n, 10_007);
  assert.equal(withBig.ids, 10_007);
  assert.equal(withBig.total, ((11_865 + big.cents) / 100).toFixed(2));
  const vBig = await version(server, 'events');

  // Bad values: 400 naming the row and the column; nothing of the batch is kept.
  const bad = [
    ['text/csv', 'id,at,amount,kind\n8,2026-03-05T00:00:00Z,1.00,ok\n9,2026-03-05T00:00:00Z,abc,bad\n10,2026-03-05T00:00:00Z,2.00,ok\n', 2, 'amount'],
    ['application/x-ndjson', '{"id":8,"amount":1}\n{"id":9,"amount":2}\n{"id":10,"amount":"twelve"}\n', 3, 'amount'],
    ['application/x-ndjson', '{"id":8,"at":"2026-03-05T00:00:00Z"}\n{"id":9,"at":"not a time"}\n', 2, 'at'],
    ['text/csv', 'id,amount\n8,1.00\n9,12345678901234.56\n', 2, 'amount'],  // beyond DECIMAL(12,2)
    ['text/csv', 'id,amount\n8,1.00\nnine,2.00\n', 2, 'id'],
    ['application/x-ndjson', bigBatch(10_000, 20_000, 7000).text, 7000, 'amount'],
  ];
  for (const [type, batch, row, column] of bad) {
    const p = await problem(await sendRows(server, 'events', batch, type), 400, dir);
    assert.match(p.detail, new RegExp(`\\brow ${row}\\b`), `the row is named: ${p.detail}`);
    assert.match(p.detail, new RegExp(`["'\`]${column}["'\`]|column ${column}\\b`), `the column is named: ${p.detail}`);
  }
  // Unknown columns, malformed lines, empty bodies.
  let p = await problem(await sendRows(server, 'events', 'id,colour\n8,red\n', 'text/csv'), 400, dir);
  assert.match(p.detail, /colour/);
  p = await problem(await sendRows(server, 'events', '{"id":8,"colour":"red"}\n', 'application/x-ndjson'), 400, dir);
  assert.match(p.detail, /colour/);
  await problem(await sendRows(server, 'events', '{"id":8,\n', 'application/x-ndjson'), 400, dir);
  await problem(await sendRows(server, 'events', '', 'text/csv'), 400, dir);
  await problem(await sendRows(server, 'events', '', 'application/x-ndjson'), 400, dir);
  // Other content types, sources and sizes.
  await problem(await sendRows(server, 'events', '8,1.00\n', 'text/plain'), 415, dir);
  await problem(await sendRows(server, 'events', '{"id":8}', 'application/octet-stream'), 415, dir);
  await problem(await sendRows(server, 'orders', 'id\n8\n', 'text/csv'), 409, dir);
  await problem(await sendRows(server, 'plain', 'a,b\n8,9\n', 'text/csv'), 409, dir);
  await problem(await sendRows(server, 'nope', 'id\n8\n', 'text/csv'), 404, dir);
  const tooBig = bigBatch(20_000, 40_000);
  assert.ok(tooBig.text.length > 1 << 20);
  await problem(await sendRows(server, 'events', tooBig.text, 'application/x-ndjson'), 413, dir);

  assert.deepEqual(await eventsAnswer(), withBig, 'no rejected batch left a row');
  assert.equal(await version(server, 'events'), vBig, 'no rejected batch changed the version');
  // The orders are untouched by all this.
  assert.deepEqual(await ordersAnswer(), expectedOrders());
});

test('restart: the append table and the ingested rows are reused, and files changed while the server was down are applied', async () => {
  const eventsBefore = await eventsAnswer();
  assert.equal(await server.stop(), 0);
  assert.ok(fs.readdirSync(path.join(dir, '.sightline', 'state')).length > 0, 'the state lives in the project by default');

  // While it is down: a new file, a rewritten one and a removed one.
  writeOrders('2026-06/part-0.parquet', 900, 60_000, 7);
  writeOrders('2026-03/part-0.parquet', 1200, 70_000, 8);
  fs.rmSync(path.join(dir, 'data', 'orders', '2026-04', 'part-0.parquet'));
  const want = expectedOrders();

  server = await start(dir);
  await eventually(() => ordersAnswer(), want, 'the files changed while down are applied after the restart');
  assert.deepEqual(await eventsAnswer(), eventsBefore, 'every ingested row survives a restart');
  const st = await until(() => source(server, 'orders'), (s) => !s.refresh.running && !s.refresh.requested, 'a settled source');
  assert.equal(st.refresh.failing, false);

  // Ingest goes on where it stopped.
  const res = await sendRows(server, 'events', 'id,amount,kind\n100001,1.25,after restart\n', 'text/csv');
  assert.equal(res.status, 200, await res.clone().text());
  const eventsNow = await eventsAnswer();
  assert.equal(eventsNow.n, eventsBefore.n + 1);
  assert.equal(eventsNow.total, (Number(eventsBefore.total) + 1.25).toFixed(2));

  // A restart over unchanged files and no new batches: the same data, the same content hash.
  const hashes = { orders: (await version(server, 'orders')).split('-')[1], events: (await version(server, 'events')).split('-')[1] };
  const ordersNow = await ordersAnswer();
  assert.equal(await server.stop(), 0);
  server = await start(dir);
  assert.deepEqual(await ordersAnswer(), ordersNow);
  assert.deepEqual(await eventsAnswer(), eventsNow);
  assert.equal((await version(server, 'orders')).split('-')[1], hashes.orders, 'same files, same version hash across restarts');
  assert.equal((await version(server, 'events')).split('-')[1], hashes.events, 'same batches, same version hash across restarts');
});

test('restart with a corrupt file that arrived while the server was down: the kept rows serve, the source reports failing until it is removed', async () => {
  const good = await ordersAnswer();
  const events = await eventsAnswer();
  assert.equal(await server.stop(), 0);
  fs.mkdirSync(path.join(dir, 'data', 'orders', '2026-07'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'data', 'orders', '2026-07', 'broken.parquet'), crypto.randomBytes(3000));
  writeOrders('2026-07/fine.parquet', 300, 80_000, 9);

  // The state holds the last good rows: the server starts on them rather than refusing to start.
  server = await start(dir);
  const failing = await until(() => source(server, 'orders'), (s) => s.refresh.failing && !s.refresh.running, 'the failing report');
  assert.match(failing.refresh.last_error, /broken\.parquet/);
  assert.ok(!failing.refresh.last_error.includes(dir), failing.refresh.last_error);
  assert.deepEqual(await ordersAnswer(), good, 'the last good data serves');
  assert.deepEqual(await eventsAnswer(), events, 'the other sources are not held back');

  fs.rmSync(path.join(dir, 'data', 'orders', '2026-07', 'broken.parquet'));
  await eventually(() => ordersAnswer(), expectedOrders(), 'the recovery once the corrupt file is gone');
  await until(() => source(server, 'orders'), (s) => !s.refresh.failing && !s.refresh.running, 'the report clears');
  await server.stop();
});

test('roles: only API tokens with a role in ingest.roles may send rows', async () => {
  const pdir = writeProject({
    'sightline.yaml': `
name: ingest roles
auth:
  mode: proxy
  proxy:
    trusted_proxies: [127.0.0.1]
roles:
  feeder: {}
  viewer: { groups: [viewers] }
policies:
  events:
    feeder: all
    viewer: all
sources:
  events:
    ingest: { roles: [feeder] }
    columns:
      id: BIGINT
      amount: DECIMAL(12,2)
dashboards: dashboards/*.yaml
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
  const token = (subject, roles) => execFileSync(BIN, ['token', 'create', pdir, '--subject', subject, '--roles', roles, '--expires', '1d'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const feeder = { authorization: `Bearer ${token('etl-bot', 'feeder')}` };
  const reader = { authorization: `Bearer ${token('reader-bot', 'viewer')}` };
  const person = { 'x-forwarded-user': 'vera', 'x-forwarded-groups': 'viewers' };
  const s = await start(pdir);
  const batch = 'id,amount\n1,2.50\n2,4.00\n';
  const count = async (headers) => {
    const res = await fetch(new URL('/api/v1/dashboards/events/widgets/rows/query', s.url), {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body: '{}' });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return Number(JSON.parse(text).rows[0][0]);
  };

  await problem(await sendRows(s, 'events', batch, 'text/csv'), 401, pdir);
  await problem(await sendRows(s, 'events', batch, 'text/csv', reader), 403, pdir);
  await problem(await sendRows(s, 'events', batch, 'text/csv', person), 403, pdir);
  assert.equal(await count(reader), 0, 'a refused batch keeps nothing');
  const res = await sendRows(s, 'events', batch, 'text/csv', feeder);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(JSON.parse(text).rows, 2);
  assert.equal(await count(reader), 2);
  assert.equal(await count(person), 2);
  const audit = s.logs.filter((l) => l.includes(feeder.authorization.slice(7)));
  assert.deepEqual(audit, [], 'the token never appears in the log');
  await s.stop();
});

// ---------------------------------------------------------------------------------------------
// Crash safety: kill -9 at random moments while files arrive and batches are sent.

const ROUNDS = 24;
const BATCH_ROWS = 25;

// Starts the server without waiting for it: `url` resolves with its URL, or null if it exits first.
function launch(pdir, args) {
  const child = spawn(BIN, ['serve', pdir, '--port', '0', '--no-reload', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  let err = '';
  child.stderr.on('data', (d) => {
    err += d.toString();
    const lines = err.split('\n');
    err = lines.pop();
    logs.push(...lines);
    if (logs.length > 400) logs.splice(0, logs.length - 400);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d.toString();
      const m = out.match(/at (https?:\/\/[^\s]+\/)/);
      if (m) resolve(m[1]);
    });
    exited.then(() => resolve(null));
  });
  return { child, url, exited, logs };
}

test('kill -9 at any moment loses and duplicates nothing: files and acknowledged batches add up exactly after 20+ kills', { timeout: 240_000 }, async () => {
  const cdir = writeProject({
    'sightline.yaml': `
name: crash
sources:
  orders:
    path: data/orders/*.parquet
    mode: append
    refresh: { on_change: true, debounce: 0s }
  events:
    ingest: true
    columns:
      id: BIGINT
      batch: BIGINT
      amount: DECIMAL(12,2)
dashboards: dashboards/*.yaml
`,
    'dashboards/orders.yaml': `
id: orders
title: Orders
source: orders
widgets:
  - id: summary
    type: kpi
    measure: n
    sql: SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(amount) AS total FROM orders WHERE {{ filters }}
`,
    'dashboards/events.yaml': `
id: events
title: Events
source: events
widgets:
  - id: summary
    type: kpi
    measure: n
    sql: SELECT count(*) AS n, count(DISTINCT id) AS ids, count(DISTINCT batch) AS batches, sum(amount) AS total FROM events WHERE {{ filters }}
  - id: all
    type: table
    sql: SELECT id, batch FROM events WHERE {{ filters }}
`,
  });
  const stateDir = tempDir('append-state');
  const ordersDir = path.join(cdir, 'data', 'orders');
  const staging = tempDir('append-staging');
  fs.mkdirSync(ordersDir, { recursive: true });
  // Files to drop in while the server runs: unique ids, 1-40 rows each, made in one oracle call.
  const STAGED = 400;
  const stagedRows = (k) => `SELECT ${k * 1000} + i AS id, CAST(((i * 7919 + ${k} * 31) % 20000) / 100.0 AS DECIMAL(12,2)) AS amount
    FROM range(${1 + (k % 40)}) t(i)`;
  oracleExec(Array.from({ length: STAGED }, (_, k) => `COPY (${stagedRows(k)}) TO '${path.join(staging, `s${k}.parquet`)}' (FORMAT parquet)`).join(';\n'));
  for (const k of [0, 1, 2]) fs.copyFileSync(path.join(staging, `s${k}.parquet`), path.join(ordersDir, `f${k}.parquet`));
  let nextStaged = 3;
  let placed = 3;  // names f0..f{placed-1} were used
  let ops = 0;

  // One change to the folder: mostly a new file (atomically renamed in, or copied in place so a
  // reader may see it half-written), sometimes a rewrite of a file there or a removal.
  async function changeFiles() {
    if (nextStaged >= STAGED) return;
    const present = fs.readdirSync(ordersDir).filter((f) => f.endsWith('.parquet'));
    const staged = path.join(staging, `s${nextStaged++}.parquet`);
    ops++;
    if (ops % 15 === 0 && present.length > 3) {
      await fs.promises.rm(path.join(ordersDir, present[ops % present.length]));
      return;
    }
    const target = ops % 10 === 0 && present.length > 0 ? present[ops % present.length] : `f${placed++}.parquet`;
    if (ops % 7 === 0) {
      await fs.promises.copyFile(staged, path.join(ordersDir, target));
    } else {
      const tmp = path.join(ordersDir, `${target}.partial`);
      await fs.promises.copyFile(staged, tmp);
      await fs.promises.rename(tmp, path.join(ordersDir, target));
    }
  }

  const batches = new Map();  // batch -> { ids, cents }
  const acked = new Set();
  const statuses = {};
  const odd = [];  // 200 answers whose body was not as promised
  let nextId = 1;
  let nextBatch = 1;
  async function sendBatch(url) {
    const b = nextBatch++;
    const ids = [];
    let cents = 0;
    let text = '';
    for (let i = 0; i < BATCH_ROWS; i++) {
      const id = nextId++;
      const c = (id * 7919) % 50_000;
      ids.push(id);
      cents += c;
      text += `{"id":${id},"batch":${b},"amount":${(c / 100).toFixed(2)}}\n`;
    }
    batches.set(b, { ids, cents });
    const res = await fetch(new URL('/api/v1/sources/events/rows', url), {
      method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: text });
    const body = await res.text();
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    if (res.status === 200) {
      acked.add(b);
      const j = JSON.parse(body);
      if (j.rows !== BATCH_ROWS || j.source !== 'events') odd.push(body);
    }
  }

  let kills = 0;
  let duringLoad = 0;  // kills before the server printed its URL
  for (let round = 0; round < ROUNDS; round++) {
    const s = launch(cdir, ['--state-dir', stateDir]);
    let stopped = false;
    const writer = (async () => {
      while (!stopped) {
        await changeFiles();
        await sleep(50);
      }
    })();
    const senders = [];
    const killAfterSpawn = round % 3 === 2;  // every third round: counted from the spawn, often while it loads
    const startSenders = (url) => {
      for (let k = 0; k < 2; k++) {
        senders.push((async () => {
          while (!stopped) {
            try { await sendBatch(url); } catch { break; /* the server is gone */ }
            await sleep(15);
          }
        })());
      }
    };
    if (killAfterSpawn) {
      s.url.then((url) => { if (url && !stopped) startSenders(url); });
      await sleep(Math.random() * 400);
    } else {
      const url = await s.url;
      if (!url) {
        stopped = true;
        await writer;
        assert.fail(`round ${round}: the server did not start after the previous kill:\n${s.logs.join('\n')}`);
      }
      startSenders(url);
      await sleep(Math.random() * 800);
    }
    stopped = true;
    const alive = s.child.exitCode === null && s.child.signalCode === null;
    if (alive && !(await Promise.race([s.url, sleep(0).then(() => null)]))) duringLoad++;
    s.child.kill('SIGKILL');
    const end = await s.exited;
    await writer;
    await Promise.all(senders);
    if (alive) {
      assert.equal(end.signal, 'SIGKILL', `round ${round}: the server exited by itself (${JSON.stringify(end)}):\n${s.logs.join('\n')}`);
      kills++;
    }
  }
  assert.ok(kills >= 20, `at least 20 kills (${kills})`);
  assert.ok(acked.size > 20, `batches were acknowledged between the kills (${JSON.stringify(statuses)})`);
  assert.deepEqual(odd, [], 'every 200 answer names the source and the rows');
  for (const code of Object.keys(statuses)) assert.ok(['200', '429', '503'].includes(code), `a valid batch answered ${code} (${JSON.stringify(statuses)})`);

  // Once more, left to run: it catches up with the files, and everything adds up.
  const final = await start(cdir, ['--state-dir', stateDir]);
  const [fileRows, fileTotal, fileIds] = oracle(`SELECT count(*), sum(amount), count(DISTINCT id) FROM read_parquet('${ordersDir}/*.parquet')`).rows[0];
  const want = { n: Number(fileRows), ids: Number(fileIds), total: money(fileTotal) };
  assert.equal(want.n, want.ids, 'the files themselves have unique ids');
  const ordersNow = async () => {
    const [n, ids, total] = (await queryJson(final, 'orders', 'summary')).data.rows[0];
    return { n: Number(n), ids: Number(ids), total: money(total) };
  };
  await eventually(ordersNow, want, `orders equal DuckDB over the ${fs.readdirSync(ordersDir).length} files on disk`, 60_000);
  const settled = await until(() => source(final, 'orders'), (st) => !st.refresh.running && !st.refresh.requested, 'a settled source');
  assert.equal(settled.refresh.failing, false, JSON.stringify(settled));
  await sleep(1500);
  assert.deepEqual(await ordersNow(), want, 'and stay so');

  const [n, ids, nBatches, total] = (await queryJson(final, 'events', 'summary')).data.rows[0].map(Number);
  const all = (await queryJson(final, 'events', 'all', { limit: 100_000 })).data.rows;
  assert.equal(all.length, n);
  assert.equal(ids, n, 'no id appears twice');
  const seen = new Map();
  for (const [id, b] of all) seen.set(Number(id), Number(b));
  assert.equal(seen.size, n, 'no id appears twice (rows)');
  const present = new Map();  // batch -> rows present
  for (const [id, b] of seen) {
    assert.ok(batches.has(b) && batches.get(b).ids.includes(id), `row ${id} of batch ${b} was sent`);
    present.set(b, (present.get(b) ?? 0) + 1);
  }
  assert.equal(present.size, nBatches);
  for (const [b, rows] of present) assert.equal(rows, BATCH_ROWS, `batch ${b} is all there or not at all`);
  const lost = [...acked].filter((b) => !present.has(b));
  assert.deepEqual(lost, [], 'every acknowledged batch is there');
  const cents = [...present.keys()].reduce((sum, b) => sum + batches.get(b).cents, 0);
  assert.equal(Number(total).toFixed(2), (cents / 100).toFixed(2));
  // For the record: how much was exercised.
  console.log(`crash rounds: ${ROUNDS}, kills: ${kills} (${duringLoad} while loading), file changes: ${ops}, files now: ${want.n} rows in ${fs.readdirSync(ordersDir).length} files; ` +
    `batches sent: ${batches.size}, acknowledged: ${acked.size}, present: ${present.size}; answers: ${JSON.stringify(statuses)}`);
  await final.stop();
});
