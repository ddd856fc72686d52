// Data checks (engine/data_checks.h): a source's `checks:` run whenever its data is read. The API
// shows each rule's result (samples only to those who may refresh the source); a refresh whose new
// data fails an error rule keeps the last good data serving and is reported failing; one that
// fails only a warn rule is accepted and reported; `sightline check --data` prints each failing
// rule and exits non-zero only for error rules.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, writeProject, startServer, queryJson, oracle, oracleExec } from './harness.mjs';

const CHECKS = `
    checks:
      - { not_null: id }
      - { accepted_values: { column: region, values: [North, South, East] } }`;

const projectFiles = (auth = '', roles = '') => ({
  'sightline.yaml': `
name: checks
sources:
  orders:
    path: data/orders/*.parquet
    materialize: true
    refresh: { on_change: true, debounce: 300ms${roles} }${CHECKS}
${auth}
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
});

// `n` orders; every `nullEvery`-th id is NULL (0: none); regions from `regions`.
const rows = (n, seed, { nullEvery = 0, regions = ['North', 'South', 'East'] } = {}) => `SELECT
    CASE WHEN ${nullEvery} > 0 AND i % ${nullEvery || 1} = 0 THEN NULL ELSE i + ${seed * 100000} END AS id,
    CAST(((i * 37 + ${seed}) % 100000) / 100.0 AS DECIMAL(10,2)) AS amount,
    ${JSON.stringify(regions).replaceAll('"', "'")}[1 + (i % ${regions.length})] AS region
  FROM range(${n}) t(i)`;
const write = (dir, name, sql) => oracleExec(`COPY (${sql}) TO '${path.join(dir, 'data', 'orders', name)}' (FORMAT parquet)`);
const expected = (dir, files) => {
  const list = files.map((f) => `'${path.join(dir, 'data', 'orders', f)}'`).join(', ');
  const [n, total] = oracle(`SELECT count(*), sum(amount) FROM read_parquet([${list}])`).rows[0];
  return { rows: Number(n), total: Number(total).toFixed(2) };
};

let dir;
let server;
let guarded;  // the same project behind sign-in (auth mode proxy)
let guardedDir;

before(async () => {
  dir = writeProject(projectFiles());
  fs.mkdirSync(path.join(dir, 'data', 'orders'), { recursive: true });
  write(dir, '2026-01.parquet', rows(3000, 1));
  guardedDir = writeProject(projectFiles(`
auth:
  mode: proxy
  proxy: { trusted_proxies: [127.0.0.1] }
roles:
  ops: { groups: [ops] }
  viewer: { groups: [viewers] }
policies:
  orders: { ops: all, viewer: all }`, ', roles: [ops]'));
  fs.mkdirSync(path.join(guardedDir, 'data', 'orders'), { recursive: true });
  // 5 NULL ids (an error rule failing at the first start: served, reported) and 25 Norths.
  write(guardedDir, 'a.parquet', rows(50, 1, { nullEvery: 10, regions: ['North', 'Nord'] }));
  // --no-reload: the project's files are not watched; refresh policies still run.
  // The guarded server watches its project: edits are reloaded.
  [server, guarded] = await Promise.all([startServer(dir, ['--no-reload']), startServer(guardedDir)]);
}, { timeout: 150_000 });

after(async () => {
  await Promise.all([server?.stop(), guarded?.stop()]);
});

async function source(srv = server, headers = {}) {
  const res = await fetch(new URL('/api/v1/sources/orders', srv.url), { headers });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

// Polls the source until `done(status)` holds (the refresher looks about once a second).
async function waitFor(done, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await source();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what} did not happen; last status ${JSON.stringify(last)}`);
}
const settled = (s) => !s.refresh.running && !s.refresh.requested;

async function kpis() {
  const count = await queryJson(server, 'orders', 'rows');
  const sum = await queryJson(server, 'orders', 'total');
  return { rows: Number(count.data.rows[0][0]), total: Number(sum.data.rows[0][0]).toFixed(2) };
}

test('the API shows each rule with its severity and result, samples to those who may refresh', async () => {
  const s = await source();
  assert.deepEqual(s.checks_failing, { error: 0, warn: 0 });
  assert.deepEqual(s.checks.map((c) => [c.rule, c.severity, c.passed, c.failing]),
    [['not_null: id', 'error', true, 0], ['accepted_values: region', 'warn', true, 0]]);
  for (const c of s.checks) {
    assert.ok(Date.parse(c.ran_at) > 0, c.ran_at);
    assert.deepEqual(c.samples, [], 'auth none: everyone may refresh, so samples are shown');
  }
  assert.equal(s.checks[0].at, 'sightline.yaml:9:9');
  const list = await (await fetch(new URL('/api/v1/sources', server.url))).json();
  assert.deepEqual(list.sources[0].checks, s.checks);
  const logged = server.jsonLogs().find((l) => l.event === 'source_checks');
  assert.equal(logged.source, 'orders');
  assert.deepEqual([logged.error, logged.warn], [0, 0]);

  // Behind sign-in: the failing rules' counts for a viewer, their values only for ops. At the
  // first start there is no last good version: the data serves though an error rule fails.
  const ops = await source(guarded, { 'X-Forwarded-User': 'olga', 'X-Forwarded-Groups': 'ops' });
  assert.deepEqual(ops.checks_failing, { error: 1, warn: 1 });
  assert.deepEqual(ops.checks.map((c) => c.failing), [5, 25]);
  assert.deepEqual(ops.checks[1].samples, ['Nord']);
  assert.equal(ops.rows, 50, 'served');
  const viewer = await source(guarded, { 'X-Forwarded-User': 'vic', 'X-Forwarded-Groups': 'viewers' });
  assert.deepEqual(viewer.checks_failing, { error: 1, warn: 1 });
  assert.equal(viewer.checks[1].failing, 25);
  assert.equal(viewer.checks[1].samples, undefined, 'sample values are data');
  assert.equal(viewer.checks[1].at, undefined);
  assert.equal(viewer.refresh.can_refresh, false);
  const failed = guarded.jsonLogs().find((l) => l.event === 'source_checks_failed');
  assert.equal(failed.level, 'error');
  assert.equal(failed.blocked, false);
  assert.deepEqual(failed.failing.map((f) => [f.rule, f.failing]), [['not_null: id', 5]]);
});

test('new data that fails an error rule is refused: the last good data keeps serving, the source is reported failing', async () => {
  const want = expected(dir, ['2026-01.parquet']);
  assert.deepEqual(await kpis(), want);
  write(dir, '2026-02.parquet', rows(30, 2, { nullEvery: 10 }));  // 3 NULL ids
  const s = await waitFor((x) => x.refresh.failing && settled(x), 'the refused refresh');
  assert.equal(s.refresh.last_outcome, 'failed');
  assert.match(s.refresh.last_error, /sightline\.yaml:9:9: error: check 'not_null: id' failed: 3 rows/);
  assert.equal(s.version_number, 1);
  assert.equal(s.rows, 3000);
  assert.deepEqual(s.checks_failing, { error: 0, warn: 0 }, 'the results are those of the data that serves');
  assert.deepEqual(await kpis(), want, 'answers still equal DuckDB over the old file');
  const ready = await (await fetch(new URL('/readyz', server.url))).json();
  assert.deepEqual(ready.sources_failing_refresh, ['orders']);
  const refused = server.jsonLogs().find((l) => l.event === 'source_checks_failed');
  assert.ok(refused, 'the refusal is logged');
  assert.equal(refused.level, 'error');
  assert.equal(refused.blocked, true);
  assert.deepEqual(refused.failing.map((f) => [f.rule, f.failing]), [['not_null: id', 3]]);
  fs.rmSync(path.join(dir, 'data', 'orders', '2026-02.parquet'));
});

test('new data that fails only a warn rule is accepted and reported', async () => {
  write(dir, '2026-03.parquet', rows(40, 3, { regions: ['North', 'West'] }));  // 20 Wests
  const s = await waitFor((x) => x.version_number === 2 && settled(x), 'the accepted refresh');
  assert.equal(s.refresh.last_outcome, 'refreshed');
  assert.equal(s.refresh.failing, false);
  assert.deepEqual(s.checks_failing, { error: 0, warn: 1 });
  const warned = s.checks[1];
  assert.deepEqual([warned.rule, warned.severity, warned.passed, warned.failing], ['accepted_values: region', 'warn', false, 20]);
  assert.deepEqual(warned.samples, ['West']);
  assert.deepEqual(await kpis(), expected(dir, ['2026-01.parquet', '2026-03.parquet']));
});

test('a reload runs changed rules on the engine it keeps; one that reads the data anew is refused by a failing error rule', async () => {
  const ops = { 'X-Forwarded-User': 'olga', 'X-Forwarded-Groups': 'ops' };
  const yamlPath = path.join(guardedDir, 'sightline.yaml');
  const original = fs.readFileSync(yamlPath, 'utf8');
  const waitLog = async (event, what) => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const found = guarded.jsonLogs().find((l) => l.event === event);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`${what} did not happen`);
  };
  // A new rule: the engine is kept (its data already serves), the rule runs and is reported.
  fs.writeFileSync(yamlPath, original.replace(CHECKS, `${CHECKS}\n      - { row_count: { min: 100 } }`));
  const reloaded = await waitLog('reloaded', 'the reload');
  assert.equal(reloaded.engine_reused, true);
  const s = await source(guarded, ops);
  assert.deepEqual(s.checks.map((c) => [c.rule, c.passed]), [['not_null: id', false], ['accepted_values: region', false], ['row_count', false]]);
  assert.equal(s.checks[2].detail, '50 rows, at least 100 expected');
  assert.deepEqual(s.checks_failing, { error: 1, warn: 2 });

  // Another type for a column: the data is read anew, and its NULL ids now refuse the reload.
  fs.writeFileSync(yamlPath, original.replace('materialize: true', 'materialize: true\n    types: { amount: DOUBLE }'));
  const refused = await waitLog('reload_failed', 'the refused reload');
  assert.match(refused.errors, /sightline\.yaml:10:9: error: check 'not_null: id' failed: 5 rows/);
  const ready = await (await fetch(new URL('/readyz', guarded.url))).json();
  assert.match(ready.last_reload_error, /the last reload failed/);
  assert.equal((await source(guarded, ops)).checks.length, 3, 'the last good snapshot serves');
});

// `sightline check --data DIR` on a copy of the project (the server's refresher is not disturbed).
function checkData(files) {
  const copy = writeProject(projectFiles());
  fs.mkdirSync(path.join(copy, 'data', 'orders'), { recursive: true });
  for (const [name, sql] of Object.entries(files)) write(copy, name, sql);
  return spawnSync(BIN, ['check', '--data', copy], { encoding: 'utf8' });
}

test('sightline check --data prints each failing rule and fails only for error rules', () => {
  const clean = checkData({ 'a.parquet': rows(100, 1) });
  assert.equal(clean.status, 0, clean.stderr);
  assert.match(clean.stdout, /^ok: .*2 data check\(s\) ran, 0 failing/m);

  const warned = checkData({ 'a.parquet': rows(100, 1, { regions: ['North', 'Nord', 'Süd'] }) });
  assert.equal(warned.status, 0, warned.stderr);
  assert.match(warned.stderr, /^sightline\.yaml:10:9: warning: source 'orders': check 'accepted_values: region' failed: 66 rows; e\.g\. 'Nord', 'Süd'$/m);

  const broken = checkData({ 'a.parquet': rows(100, 1, { nullEvery: 25, regions: ['Nord'] }) });
  assert.equal(broken.status, 1);
  assert.match(broken.stderr, /^sightline\.yaml:9:9: error: source 'orders': check 'not_null: id' failed: 4 rows$/m);
  assert.match(broken.stderr, /^sightline\.yaml:10:9: warning: source 'orders': check 'accepted_values: region' failed: 100 rows; e\.g\. 'Nord'$/m);
  assert.match(broken.stderr, /check failed: 1 error\(s\)/);
});

test('sightline profile prints DuckDB\'s SUMMARIZE of a source as a table; an unknown source is a precise error', () => {
  const out = spawnSync(BIN, ['profile', dir, 'orders'], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const lines = out.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^column_name +column_type +min +max +approx_unique .* count +null_percentage$/);
  assert.match(lines[1], /^-+ +-+ /);
  const amount = lines.find((l) => l.startsWith('amount '));
  assert.match(amount, /^amount +DECIMAL\(10,2\) +/);
  // Aligned: every column starts where its header does.
  const at = lines[0].indexOf('column_type');
  for (const l of lines.slice(2)) assert.equal(l.slice(at - 2, at), '  ', l);

  const wrong = spawnSync(BIN, ['profile', dir, 'ordrs'], { encoding: 'utf8' });
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /error: no source 'ordrs' in .*sightline\.yaml\n  hint: did you mean 'orders'\?/);
});
