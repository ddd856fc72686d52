// Sources that read a Redis stream (docs/freshness.md, "Redis streams"), against a real
// redis-server started on loopback by this file (password required): entries added before and
// after the start reach the answers; entries whose fields do not fit the columns are dropped and
// logged while the rest of their batch is kept, and nothing stays pending; kill -9 at random
// moments while entries arrive loses and duplicates none; a Redis that is down is reported, and
// entries flow once it is up. The password never reaches the log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { writeProject, startServer, queryJson, tempDir, BIN } from './harness.mjs';

const PASSWORD = 'r3dis-pw-7f2c91';
let redis;
let port;

const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});

async function startRedis(p) {
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--requirepass', PASSWORD, '--daemonize', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (cli('PING').stdout.trim() === 'PONG') return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not start (is the redis-server package installed? scripts/install-deps.sh --browser)');
}

function cli(...args) {
  return spawnSync('redis-cli', ['-p', String(port), '-a', PASSWORD, '--no-auth-warning', ...args], { encoding: 'utf8' });
}

// XADDs entries (objects of fields) through one redis-cli reading commands from stdin.
function add(stream, entries) {
  const text = entries.map((e) => `XADD ${stream} * ${Object.entries(e).map(([k, v]) => `${k} ${v}`).join(' ')}`).join('\n') + '\n';
  const r = spawnSync('redis-cli', ['-p', String(port), '-a', PASSWORD, '--no-auth-warning'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

// Entries with ids from..to-1: amount in cents is id * 7 % 1000, kind by id.
const entries = (from, to) => {
  const out = [];
  for (let i = from; i < to; i += 1) out.push({ id: i, kind: ['click', 'view', 'buy'][i % 3], amount: ((i * 7) % 1000 / 100).toFixed(2) });
  return out;
};
const cents = (from, to) => { let c = 0; for (let i = from; i < to; i += 1) c += (i * 7) % 1000; return c; };

function project(stream) {
  return writeProject({
    'sightline.yaml': `
name: streams
sources:
  clicks:
    redis: { url: "\${env:CLICKS_REDIS}", stream: ${stream}, batch: 200 }
    columns:
      id: BIGINT
      kind: VARCHAR
      amount: "DECIMAL(12,2)"
dashboards: dashboards/*.yaml
`,
    'dashboards/clicks.yaml': `
id: clicks
title: Clicks
source: clicks
widgets:
  - { id: rows, type: kpi, measure: count(*) }
  - { id: ids, type: kpi, measure: count(DISTINCT id) }
  - { id: total, type: kpi, measure: sum(amount) }
`,
  });
}

const env = () => ({ CLICKS_REDIS: `redis://:${PASSWORD}@127.0.0.1:${port}/0` });

async function kpis(server) {
  const [rows, ids, total] = await Promise.all(['rows', 'ids', 'total'].map((w) => queryJson(server, 'clicks', w)));
  return {
    rows: Number(rows.data.rows[0][0]),
    ids: Number(ids.data.rows[0][0]),
    cents: Math.round(Number(total.data.rows[0][0] ?? 0) * 100),
    version: rows.res.headers.get('x-sightline-data-version'),
  };
}

async function waitForRows(server, want, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await kpis(server);
    if (last.rows >= want) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected ${want} rows, last ${JSON.stringify(last)}`);
}

before(async () => {
  port = await freePort();
  redis = await startRedis(port);
});

after(async () => {
  redis?.kill('SIGKILL');
});

test('entries added before and after the start reach the answers; the password stays out of the log', async () => {
  const dir = project('s1');
  add('s1', entries(0, 300));
  const server = await startServer(dir, [], env());
  try {
    const first = await waitForRows(server, 300);
    assert.deepEqual({ rows: first.rows, ids: first.ids, cents: first.cents }, { rows: 300, ids: 300, cents: cents(0, 300) });
    add('s1', entries(300, 800));
    const second = await waitForRows(server, 800);
    assert.deepEqual({ rows: second.rows, ids: second.ids, cents: second.cents }, { rows: 800, ids: 800, cents: cents(0, 800) });
    assert.notEqual(second.version, first.version);
    const source = await (await fetch(new URL('/api/v1/sources/clicks', server.url))).json();
    assert.equal(source.mode, 'redis');
    assert.equal(source.rows, 800);
    // Everything read was acknowledged.
    assert.match(cli('XPENDING', 's1', 'sightline').stdout, /^0\n/);
    assert.ok(!server.logs.join('\n').includes(PASSWORD), 'the password is not in the log');
  } finally {
    await server.stop();
  }
});

test('entries that do not fit the columns are dropped and logged; the rest of their batch is kept', async () => {
  const dir = project('s2');
  const server = await startServer(dir, [], env());
  try {
    const batch = entries(0, 20);
    batch[5] = { id: 5, kind: 'click', amount: 'abc' };
    batch[9] = { id: 9, kind: 'click', amount: '1.00', oops: 'x' };
    add('s2', batch);
    const got = await waitForRows(server, 18);
    await new Promise((r) => setTimeout(r, 500));
    const settled = await kpis(server);
    assert.equal(settled.rows, 18);
    assert.equal(settled.cents, cents(0, 20) - ((5 * 7) % 1000) - ((9 * 7) % 1000));
    assert.ok(got.rows <= 18);
    const refused = server.jsonLogs().filter((l) => l.event === 'stream_entry_refused');
    assert.equal(refused.length, 2, JSON.stringify(refused));
    assert.match(refused.map((l) => l.error).join('\n'), /column "amount": 'abc' is not a DECIMAL\(12,2\)/);
    assert.match(refused.map((l) => l.error).join('\n'), /unknown column 'oops'/);
    assert.match(cli('XPENDING', 's2', 'sightline').stdout, /^0\n/);
  } finally {
    await server.stop();
  }
});

test('kill -9 while entries arrive loses and duplicates none', { timeout: 180_000 }, async (t) => {
  const dir = project('s3');
  const stateDir = tempDir('redis-state');
  let next = 0;
  let kills = 0;
  for (let round = 0; round < 10; round += 1) {
    const child = spawn(BIN, ['serve', dir, '--port', '0', '--state-dir', stateDir], { env: { ...process.env, ...env() }, stdio: 'ignore' });
    const stopAt = Date.now() + 200 + Math.floor(Math.random() * 1300);
    while (Date.now() < stopAt) {
      add('s3', entries(next, next + 40));
      next += 40;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    kills += 1;
  }
  const server = await startServer(dir, ['--state-dir', stateDir], env());
  try {
    const final = await waitForRows(server, next, 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    const settled = await kpis(server);
    assert.ok(kills >= 10);
    assert.deepEqual({ rows: settled.rows, ids: settled.ids, cents: settled.cents }, { rows: next, ids: next, cents: cents(0, next) },
      `after ${kills} kills, ${next} entries (first look ${JSON.stringify(final)})`);
    assert.match(cli('XPENDING', 's3', 'sightline').stdout, /^0\n/);
    const files = fs.readdirSync(path.join(stateDir, 'ingest', 'clicks')).length;
    t.diagnostic(`${kills} kills, ${next} entries, ${files} batch files; the first look after the restart had ${final.rows} rows`);
  } finally {
    await server.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});

test('a Redis that is down is reported; entries flow once it is up', { timeout: 60_000 }, async () => {
  const downPort = await freePort();
  const dir = project('s4');
  const server = await startServer(dir, [], { CLICKS_REDIS: `redis://:${PASSWORD}@127.0.0.1:${downPort}` });
  let second;
  try {
    const deadline = Date.now() + 15_000;
    let source;
    while (Date.now() < deadline) {
      source = await (await fetch(new URL('/api/v1/sources/clicks', server.url))).json();
      if (source.refresh.failing) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(source.refresh.failing, true, JSON.stringify(source));
    assert.match(source.refresh.last_error, /cannot reach Redis at 127\.0\.0\.1:\d+/);
    assert.ok(!source.refresh.last_error.includes(PASSWORD));
    const ready = await fetch(new URL('/readyz', server.url));
    assert.match(await ready.text(), /clicks/);
    // Up: the reader connects again by itself.
    const saved = port;
    port = downPort;
    second = await startRedis(downPort);
    add('s4', entries(0, 50));
    port = saved;
    const got = await waitForRows(server, 50);
    assert.equal(got.rows, 50);
    const after = await (await fetch(new URL('/api/v1/sources/clicks', server.url))).json();
    assert.equal(after.refresh.failing, false, JSON.stringify(after.refresh));
    assert.ok(!server.logs.join('\n').includes(PASSWORD), 'the password is not in the log');
  } finally {
    await server.stop();
    second?.kill('SIGKILL');
  }
});
