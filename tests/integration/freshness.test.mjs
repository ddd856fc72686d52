// Answers are never older than the files (issue: trust at the edges). A source read at query
// time over a glob: once a file is added or rewritten, every widget, filter option and text
// search answers from the new files at once (no cached answer, rollup or distinct-value table
// made from the old files is used), and the rollups are rebuilt in the background, after which
// widgets read them again with the same answers as DuckDB over the files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { writeProject, startServer, queryJson, oracle, oracleExec } from './harness.mjs';

const ROWS = 150_000;  // above the size rollups are made for
let dir;
let server;

// Rows in the source's shape; `sql` selects them (columns day, region, product, amount).
function writeParquet(name, sql) {
  oracleExec(`COPY (${sql}) TO '${path.join(dir, 'data', 'flat', name)}' (FORMAT parquet)`);
}

const glob = () => `read_parquet('${path.join(dir, 'data', 'flat', '*.parquet')}')`;

before(async () => {
  dir = writeProject({
    'sightline.yaml': `
name: freshness
sources:
  sales:
    path: data/flat/*.parquet
dashboards: dashboards/*.yaml
`,
    'dashboards/sales.yaml': `
id: sales
title: Sales
source: sales
filters:
  - { id: region, type: select, column: region }
  - { id: product, type: text, column: product }
widgets:
  - { id: orders, type: kpi, measure: count(*) }
  - { id: revenue, type: kpi, measure: sum(amount) }
  - { id: by_region, type: bar, x: region, y: sum(amount), sort: x }
`,
  });
  fs.mkdirSync(path.join(dir, 'data', 'flat'), { recursive: true });
  writeParquet('a.parquet', `SELECT DATE '2024-01-01' + CAST(range % 366 AS INTEGER) AS day,
      ['North', 'South', 'East', 'West'][1 + range % 4] AS region, 'p-' || (range % 300) AS product,
      CAST((range % 1000) / 7 AS DECIMAL(12, 2)) AS amount FROM range(${ROWS})`);
  server = await startServer(dir);
  await waitForLog((l) => l.event === 'rollups_ready');
}, { timeout: 120_000 });

after(async () => {
  await server?.stop();
});

async function waitForLog(match, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = server.jsonLogs().find(match);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no such log line:\n${server.logs.slice(-10).join('\n')}`);
}

// Each widget against DuckDB over the files as they are now.
async function assertAnswersMatchTheFiles(what, filters = {}) {
  const where = filters.product ? `WHERE contains(lower(product), lower('${filters.product}'))` : '';
  const expected = oracle(`SELECT count(*) AS n, sum(amount) AS s FROM ${glob()} ${where}`).rows[0];
  const orders = await queryJson(server, 'sales', 'orders', { filters });
  assert.equal(String(orders.data.rows[0][0]), expected[0], `${what}: orders`);
  const revenue = await queryJson(server, 'sales', 'revenue', { filters });
  assert.equal(Number(revenue.data.rows[0][0]), Number(expected[1]), `${what}: revenue`);
  const bars = await queryJson(server, 'sales', 'by_region', { filters });
  const expectedBars = oracle(`SELECT region, sum(amount) FROM ${glob()} ${where} GROUP BY region ORDER BY region`).rows;
  assert.deepEqual(bars.data.rows.map((r) => [r[0], Number(r[1])]), expectedBars.map((r) => [r[0], Number(r[1])]), `${what}: by region`);
  return { orders, revenue, bars };
}

test('a new file reaches every widget, option and search at once, and the rollups catch up', async () => {
  const first = await assertAnswersMatchTheFiles('before');
  assert.ok(server.jsonLogs().some((l) => l.event === 'rollup_built'), 'rollups were made from the first file');
  const again = await queryJson(server, 'sales', 'orders');
  assert.equal(again.res.headers.get('x-sightline-cache'), 'hit', 'unchanged files: the cached answer');
  assert.equal(first.orders.data.rows[0][0], ROWS);

  writeParquet('b.parquet', `SELECT DATE '2025-02-01' AS day, 'Atlantis' AS region, 'zz-fresh-' || range AS product,
      CAST(2.5 AS DECIMAL(12, 2)) AS amount FROM range(100)`);
  const after = await assertAnswersMatchTheFiles('right after a file was added');
  assert.equal(after.orders.data.rows[0][0], ROWS + 100);
  assert.equal(after.orders.res.headers.get('x-sightline-cache'), 'miss', 'the old answer is not served');
  assert.ok(after.bars.data.rows.some((r) => r[0] === 'Atlantis'));
  const options = await (await fetch(new URL('/api/v1/dashboards/sales/filters/region/options', server.url))).json();
  assert.ok(options.values.includes('Atlantis'), JSON.stringify(options));
  // A text search finds values only the new file has (the distinct-value table predates it).
  const searched = await assertAnswersMatchTheFiles('a search for new values', { product: 'zz-fresh' });
  assert.equal(searched.orders.data.rows[0][0], 100);

  // In the background, once the files settle, the rollups are made again from the new files.
  const refreshed = await waitForLog((l) => l.event === 'rollups_refreshed' && l.applied === true);
  assert.ok(refreshed.rollups > 0, JSON.stringify(refreshed));
  const logStart = server.logs.length;
  await assertAnswersMatchTheFiles('after the rollups caught up');
  const read = server.logs.slice(logStart).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
    .filter((l) => l.event === 'query' && l.statement === 'sales/by_region' && l.read_from);
  assert.ok(read.some((l) => l.read_from.startsWith('__sightline_rollup_')), `a rollup answers again:\n${JSON.stringify(read)}`);
});

test('a file rewritten in place with as many rows is a new version too', async () => {
  const before = await queryJson(server, 'sales', 'revenue');
  writeParquet('b.parquet', `SELECT DATE '2025-02-01' AS day, 'Atlantis' AS region, 'zz-fresh-' || range AS product,
      CAST(7.25 AS DECIMAL(12, 2)) AS amount FROM range(100)`);
  const after = await assertAnswersMatchTheFiles('after a rewrite');
  assert.notEqual(String(after.revenue.data.rows[0][0]), String(before.data.rows[0][0]));
});
