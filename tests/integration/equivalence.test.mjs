// Equivalence: the optimized server (rollups, result cache, subsets, two-step plans) answers
// exactly what the naive one (`--no-rollups --cache-mb 0`, every widget over the source) does,
// over random states of every dashboard of both bench data sets: the demo project and the rides
// project (bench/projects/rides: TIMESTAMPTZ, DECIMAL, NULLs everywhere, odd column names).
// States come from the benchmark's generator (bench/states.mjs), answers are compared by
// bench/compare.mjs (what is compared, and where order is left open, is written there). Sources
// have 300,000 rows so that rollups are built (>= 100,000).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, ORACLE, SOURCE_DIR, salesProject, startServer } from './harness.mjs';
import { loadCatalog, makeStates } from '../../bench/states.mjs';
import { verifyDashboard, describeMismatch } from '../../bench/verify.mjs';
import { compareAnswers } from '../../bench/compare.mjs';
import { linkProject, PROJECTS } from '../../bench/projects.mjs';
import { generateRides } from '../../bench/projects/rides/generate.mjs';

const ROWS = 300_000;
const STATES = Number(process.env.EQUIVALENCE_STATES ?? 40);
const SEED = Number(process.env.EQUIVALENCE_SEED ?? 7);
const servers = [];
const projectDirs = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  for (const dir of projectDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function ridesProject(rows) {
  const dataDir = path.join(BUILD_DIR, 'test-data', `rides-${rows}`);
  generateRides({ rows, dataDir, oracle: ORACLE });
  const dir = linkProject(path.join(SOURCE_DIR, 'bench', 'projects', 'rides'), dataDir);
  projectDirs.push(dir);
  return dir;
}

async function readyz(server) {
  for (;;) {
    const r = await (await fetch(new URL('/readyz', server.url))).json();
    if (!String(r.rollups).includes('building')) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function startPair(dir, env) {
  const [optimized, naive] = await Promise.all([
    startServer(dir, ['--no-reload'], env),
    startServer(dir, ['--no-reload', '--no-rollups', '--cache-mb', '0'], env),
  ]);
  servers.push(optimized, naive);
  const [ro, rn] = await Promise.all([readyz(optimized), readyz(naive)]);
  assert.match(ro.rollups, /^[1-9]\d* ready$/, 'the optimized server built rollups (else this test compares nothing)');
  assert.equal(rn.rollups, 'disabled');
  return { optimized, naive };
}

async function checkProject(dir, env) {
  const { optimized, naive } = await startPair(dir, env);
  const list = (await (await fetch(new URL('/api/v1/dashboards', naive.url))).json()).dashboards;
  const report = [];
  const errors = [];
  for (const { id } of list) {
    const catalog = await loadCatalog(naive.url, id);
    const { states } = makeStates(catalog, { seed: SEED, count: STATES });
    const r = await verifyDashboard({ candidate: optimized.url, reference: naive.url, catalog, states: [{ filters: {}, selections: [], tables: {} }, ...states] });
    assert.equal(r.compared, (STATES + 1) * catalog.widgets.length);
    report.push(...r.mismatches.map((m) => describeMismatch(id, m)));
    errors.push(...r.errors.map((e) => `${id}/${e.widget} ${e.side} (state ${e.state_index}): ${e.status} ${e.error}\n    request: ${JSON.stringify(e.body)}`));
  }
  await Promise.all([optimized.stop(), naive.stop()]);
  assert.deepEqual(report.slice(0, 10), [], `${report.length} answers differ between the optimized and the naive server`);
  assert.deepEqual(errors.slice(0, 10), [], `${errors.length} answers were not 200`);
}

test('the demo project: the optimized server answers random states as the naive one does', async () => {
  await checkProject(salesProject(ROWS), PROJECTS.sales.env);
});

test('the rides project: the optimized server answers random states as the naive one does', async () => {
  await checkProject(ridesProject(ROWS), PROJECTS.rides.env);
});

test('the comparison tells answers apart where they differ, and only there', () => {
  const answer = (columns, rows, extra = {}) => ({ status: 200, text: JSON.stringify({ columns, rows }), ...extra });
  const bar = { id: 'b', type: 'bar', encoding: { x: { field: 'x', column: 'x' }, y: [{ field: 'v' }] }, limit: 3 };
  const cols = [{ name: 'x', type: 'utf8' }, { name: 'v', type: 'decimal(38,2)' }];
  const base = [['a', 9], ['b', 5], ['c', 5]];
  assert.deepEqual(compareAnswers(bar, answer(cols, base), answer(cols, [['a', 9], ['c', 5], ['b', 5]])), [], 'ties in any order');
  assert.deepEqual(compareAnswers(bar, answer(cols, base), answer(cols, [['a', 9], ['b', 5], ['d', 5]])), [], 'the rows tied at a top-N cut may differ');
  assert.notDeepEqual(compareAnswers(bar, answer(cols, base), answer(cols, [['a', 9.01], ['b', 5], ['c', 5]])), []);
  assert.notDeepEqual(compareAnswers(bar, answer(cols, base), answer(cols, [['b', 5], ['a', 9], ['c', 5]])), [], 'out of the documented order');
  // Decimals exactly, beyond double precision; floats within 1e-9.
  const kpi = { id: 'k', type: 'kpi', encoding: {} };
  const dec = [{ name: 'v', type: 'decimal(38,2)' }];
  const exact = (a, b) => compareAnswers(kpi, { status: 200, text: `{"columns":${JSON.stringify(dec)},"rows":[[${a}]]}` }, { status: 200, text: `{"columns":${JSON.stringify(dec)},"rows":[[${b}]]}` });
  assert.deepEqual(exact('12345678901234567.10', '12345678901234567.1'), []);
  assert.notDeepEqual(exact('12345678901234567.10', '12345678901234567.11'), []);
  const flt = [{ name: 'v', type: 'float64' }];
  assert.deepEqual(compareAnswers(kpi, answer(flt, [[0.1 + 0.2]]), answer(flt, [[0.3]])), []);
  assert.notDeepEqual(compareAnswers(kpi, answer(flt, [[1]]), answer(flt, [[1 + 1e-7]])), []);
  assert.notDeepEqual(compareAnswers(kpi, answer(flt, [[null]]), answer(flt, [[0]])), []);
  assert.notDeepEqual(compareAnswers(kpi, answer(dec, [[1]]), answer(flt, [[1]])), [], 'column types');
  // Tables are fully ordered: a swap is a difference; so is another total.
  const table = { id: 't', type: 'table', encoding: {} };
  assert.notDeepEqual(compareAnswers(table, answer(cols, base), answer(cols, [['a', 9], ['c', 5], ['b', 5]])), []);
  assert.notDeepEqual(compareAnswers(table, answer(cols, base, { total: '3' }), answer(cols, base, { total: '4' })), []);
  assert.notDeepEqual(compareAnswers(table, answer(cols, base), { status: 500, text: '{}' }), []);
});
