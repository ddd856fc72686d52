// The state directory across restarts, with the real binary: a restart over unchanged data serves
// at full speed from the state file (no source read, no rollup built) with the same answers; a
// server killed with SIGKILL at any moment of its load leaves a state the next start can use, and
// answers stay equal to a server that keeps nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { BIN, startServer, salesProject, post } from './harness.mjs';

const ROWS = 300_000;  // large enough for rollups
const servers = [];
after(async () => { for (const s of servers) await s.stop(); });

async function start(dir, args = []) {
  const s = await startServer(dir, ['--no-reload', ...args]);
  servers.push(s);
  return s;
}

async function ready(server) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const r = await (await fetch(new URL('/readyz', server.url))).json();
    // The rollups_ready line is written after the swap readyz reports, so once it has arrived every
    // earlier line of the build has too (the log pipe and the HTTP socket are read independently).
    const logged = server.jsonLogs().some((l) => l.event === 'rollups_ready');
    if (r.status === 'ready' && !String(r.rollups).includes('building') && logged) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail('the server did not become ready');
}

// Every data widget of both demo dashboards under a few filter states, as JSON.
const STATES = {
  sales: [{}, { filters: { region: 'North' } }, { filters: { period: { from: '2024-02-03', to: '2024-09-17' }, channel: ['Online'], product: 'a' } }],
  customers: [{}, { filters: { region: 'North', period: { from: '2024-02-03', to: '2024-09-17' } } }],
};
async function answers(server) {
  const out = {};
  for (const dashboard of ['sales', 'customers']) {
    const spec = await (await fetch(new URL(`/api/v1/dashboards/${dashboard}`, server.url))).json();
    const widgets = spec.pages.flatMap((p) => p.widgets).filter((w) => w.type !== 'text');
    for (const w of widgets) {
      for (const [i, state] of STATES[dashboard].entries()) {
        const res = await post(server, `/api/v1/dashboards/${dashboard}/widgets/${w.id}/query`, state, { accept: 'application/json' });
        const text = await res.text();
        out[`${dashboard}/${w.id}/${i}`] = res.status === 200 ? JSON.parse(text).rows : `${res.status}`;
      }
    }
  }
  return out;
}

test('a restart over unchanged data reuses the state file and answers the same', async () => {
  const dir = salesProject(ROWS);
  const first = await start(dir);
  await ready(first);
  assert.ok(first.jsonLogs().some((l) => l.event === 'rollup_built'), 'the first start builds rollups');
  const expected = await answers(first);
  for (const [key, v] of Object.entries(expected)) assert.ok(Array.isArray(v), `${key} answers (got ${v})`);
  assert.equal(await first.stop(), 0);

  const files = fs.readdirSync(path.join(dir, '.sightline', 'state'));
  assert.ok(files.some((f) => /^state-\d+\.duckdb$/.test(f)), `a state file (${files})`);
  assert.equal(fs.statSync(path.join(dir, '.sightline', 'state')).mode & 0o077, 0, 'only the owner may read the state');

  const second = await start(dir);
  const started = Date.now();
  await ready(second);
  const loaded = second.jsonLogs().find((l) => l.event === 'project_loaded');
  assert.equal(loaded.state, 'file');
  assert.deepEqual(loaded.reused, ['orders'], 'the materialized source is not read again');
  const events = second.jsonLogs().map((l) => l.event).join(', ');
  assert.ok(second.jsonLogs().some((l) => l.event === 'rollups_reused'), `rollups come from the state file (events: ${events})`);
  assert.ok(!second.jsonLogs().some((l) => l.event === 'rollup_built'), `no rollup is built again (events: ${events})`);
  assert.ok(Date.now() - started < 15_000, 'full speed within seconds');
  assert.deepEqual(await answers(second), expected);
  await second.stop();

  // --no-state: the same answers from memory, and nothing reused.
  const memory = await start(dir, ['--no-state']);
  await ready(memory);
  assert.equal(memory.jsonLogs().find((l) => l.event === 'project_loaded').state, 'memory');
  assert.deepEqual(await answers(memory), expected);
  await memory.stop();
});

test('a server killed at any moment of its load leaves a state the next start uses correctly', async () => {
  const dir = salesProject(ROWS);
  const reference = await start(dir, ['--no-state']);
  await ready(reference);
  const expected = await answers(reference);
  await reference.stop();

  const stateDir = path.join(dir, 'state-under-test');
  // Killed while loading the source, while building rollups, and right after: each time the next
  // start must serve the same answers.
  for (const delayMs of [150, 900, 2500, 6000]) {
    const doomed = spawn(BIN, ['serve', dir, '--port', '0', '--no-reload', '--state-dir', stateDir], { stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, delayMs));
    doomed.kill('SIGKILL');
    await new Promise((res) => (doomed.exitCode !== null || doomed.signalCode ? res() : doomed.on('exit', res)));
    const next = await start(dir, ['--state-dir', stateDir]);
    await ready(next);
    assert.deepEqual(await answers(next), expected, `after a kill at ${delayMs} ms`);
    await next.stop();
  }
});

test('a second server over the same project runs from memory and says why', async () => {
  const dir = salesProject(ROWS);
  const a = await start(dir);
  await ready(a);
  const b = await start(dir);
  await ready(b);
  assert.equal(b.jsonLogs().find((l) => l.event === 'project_loaded').state, 'memory');
  assert.ok(b.logs.some((l) => l.includes('another process is using it')), 'a warning names the reason');
  const warnings = b.logs.filter((l) => l.includes('state directory'));
  assert.ok(warnings.length > 0 && warnings.every((l) => !l.includes(dir)), 'no path in the warning');
  const { rows } = await (await post(b, '/api/v1/dashboards/sales/widgets/revenue/query', {}, { accept: 'application/json' })).json();
  assert.equal(rows.length, 1);
});
