// Sources that read an MQTT topic filter (docs/freshness.md, "MQTT topics"), against a real
// mosquitto broker started on loopback by this file (a user and password required): messages
// published while the server runs and while it is away (its session is kept) reach the answers,
// with their topic; messages that do not fit are dropped and logged while the rest of their batch
// is kept; kill -9 at random moments while messages arrive loses none (QoS 1: at least once, so a
// batch being committed at the kill may arrive twice, at most one batch per kill); a broker that is
// down or refuses the credentials is reported, and messages flow once it is up. The password never
// reaches the log or the API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { writeProject, startServer, queryJson, tempDir, BIN } from './harness.mjs';
import { startBroker, freePort } from './mosquitto.mjs';

const USER = 'sightline';
const PASSWORD = 'mq-pw-5d81e0';
const BATCH = 200;
let broker;

// Messages with ids from..to-1: value in cents is id * 7 % 1000.
const messages = (from, to) => {
  const out = [];
  for (let i = from; i < to; i += 1) out.push({ id: i, value: ((i * 7) % 1000 / 100).toFixed(2) });
  return out;
};
const cents = (from, to) => { let c = 0; for (let i = from; i < to; i += 1) c += (i * 7) % 1000; return c; };

function project(name) {
  return writeProject({
    'sightline.yaml': `
name: ${name}
sources:
  readings:
    mqtt: { url: "\${env:READINGS_MQTT}", topic: "plant/+/reading", topic_column: topic, batch: ${BATCH} }
    columns:
      id: BIGINT
      value: "DECIMAL(12,2)"
      topic: VARCHAR
dashboards: dashboards/*.yaml
`,
    'dashboards/readings.yaml': `
id: readings
title: Readings
source: readings
widgets:
  - { id: rows, type: kpi, measure: count(*) }
  - { id: ids, type: kpi, measure: count(DISTINCT id) }
  - { id: total, type: kpi, measure: sum(value) }
  - { id: topics, type: bar, x: topic, y: count(*) }
`,
  });
}

const env = (url = broker.url()) => ({ READINGS_MQTT: url });

async function kpis(server) {
  const [rows, ids, total] = await Promise.all(['rows', 'ids', 'total'].map((w) => queryJson(server, 'readings', w)));
  return {
    rows: Number(rows.data.rows[0][0]),
    ids: Number(ids.data.rows[0][0]),
    cents: Math.round(Number(total.data.rows[0][0] ?? 0) * 100),
    version: rows.res.headers.get('x-sightline-data-version'),
  };
}

async function waitFor(server, want, { timeoutMs = 30_000, on = 'rows' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await kpis(server);
    if (last[on] >= want) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected ${want} ${on}, last ${JSON.stringify(last)}`);
}

async function source(server) {
  return (await fetch(new URL('/api/v1/sources/readings', server.url))).json();
}

async function connected(server, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.jsonLogs().some((l) => l.event === 'stream_connected')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the reader did not connect:\n${server.logs.join('\n')}`);
}

before(async () => {
  broker = await startBroker({ user: USER, password: PASSWORD });
});

after(async () => {
  await broker?.stop();
});

test('messages published while the server runs and while it is away reach the answers, with their topic', async () => {
  const dir = project('p1');
  const stateDir = tempDir('mqtt-state');
  let server = await startServer(dir, ['--state-dir', stateDir], env());
  try {
    await connected(server);
    broker.publish('plant/a/reading', messages(0, 300));
    const first = await waitFor(server, 300);
    assert.deepEqual({ rows: first.rows, ids: first.ids, cents: first.cents }, { rows: 300, ids: 300, cents: cents(0, 300) });
    await server.stop();
    // Away: the broker keeps the session and queues for it.
    broker.publish('plant/b/reading', messages(300, 1800));
    server = await startServer(dir, ['--state-dir', stateDir], env());
    const second = await waitFor(server, 1800);
    assert.deepEqual({ rows: second.rows, ids: second.ids, cents: second.cents }, { rows: 1800, ids: 1800, cents: cents(0, 1800) });
    assert.notEqual(second.version, first.version);
    const topics = await queryJson(server, 'readings', 'topics');
    assert.deepEqual(Object.fromEntries(topics.data.rows.map(([t, n]) => [t, Number(n)])), { 'plant/a/reading': 300, 'plant/b/reading': 1500 });
    const s = await source(server);
    assert.equal(s.mode, 'mqtt');
    assert.equal(s.rows, 1800);
    // The client sets how many unacknowledged messages the broker may send (Receive Maximum):
    // batches are not held to mosquitto's own default of 20.
    const biggest = Math.max(...server.jsonLogs().filter((l) => l.event === 'stream_appended').map((l) => l.entries));
    assert.ok(biggest > 20 && biggest <= BATCH, `the largest batch held ${biggest} messages`);
    assert.ok(server.jsonLogs().some((l) => l.event === 'stream_connected' && l.session_present === true), 'the session was kept');
    assert.ok(!server.logs.join('\n').includes(PASSWORD), 'the password is not in the log');
  } finally {
    await server.stop();
  }
});

test('messages that do not fit are dropped and logged; the rest of their batch is kept', async () => {
  const dir = project('p2');
  const server = await startServer(dir, [], env());
  try {
    await connected(server);
    const batch = messages(0, 20);
    batch[3] = 'not json {';
    batch[5] = { id: 5, value: 'abc' };
    batch[9] = { id: 9, value: '1.00', oops: 'x' };
    batch[12] = '[1, 2]';
    broker.publish('plant/c/reading', batch);
    await waitFor(server, 16);
    await new Promise((r) => setTimeout(r, 700));
    const settled = await kpis(server);
    assert.equal(settled.rows, 16);
    assert.equal(settled.cents, cents(0, 20) - [3, 5, 9, 12].reduce((a, i) => a + ((i * 7) % 1000), 0));
    const refused = server.jsonLogs().filter((l) => l.event === 'stream_entry_refused');
    assert.equal(refused.length, 4, JSON.stringify(refused));
    const errors = refused.map((l) => l.error).join('\n');
    assert.match(errors, /column "value": 'abc' is not a DECIMAL\(12,2\)/);
    assert.match(errors, /unknown column 'oops'/);
    assert.equal(refused.filter((l) => l.error === 'the message is not a JSON object').length, 2);
    assert.ok(refused.every((l) => l.id === 'plant/c/reading'));
    assert.equal((await source(server)).refresh.failing, false);
  } finally {
    await server.stop();
  }
});

test('kill -9 while messages arrive loses none and repeats at most the batch being committed', { timeout: 180_000 }, async (t) => {
  const dir = project('p3');
  const stateDir = tempDir('mqtt-kill');
  // A first start makes the session at the broker; from then on it queues while the server is away.
  const first = await startServer(dir, ['--state-dir', stateDir], env());
  await connected(first);
  await first.stop();
  let next = 0;
  let kills = 0;
  for (let round = 0; round < 10; round += 1) {
    const child = spawn(BIN, ['serve', dir, '--port', '0', '--state-dir', stateDir], { env: { ...process.env, ...env() }, stdio: 'ignore' });
    const stopAt = Date.now() + 200 + Math.floor(Math.random() * 1300);
    while (Date.now() < stopAt) {
      broker.publish('plant/k/reading', messages(next, next + 40));
      next += 40;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    kills += 1;
  }
  const server = await startServer(dir, ['--state-dir', stateDir], env());
  try {
    const final = await waitFor(server, next, { timeoutMs: 60_000, on: 'ids' });
    await new Promise((r) => setTimeout(r, 1500));
    const settled = await kpis(server);
    const repeated = settled.rows - next;
    assert.ok(kills >= 10);
    assert.equal(settled.ids, next, `after ${kills} kills every one of ${next} messages is there (first look ${JSON.stringify(final)})`);
    assert.ok(repeated >= 0 && repeated <= kills * BATCH, `${repeated} rows repeated after ${kills} kills`);
    if (repeated === 0) assert.equal(settled.cents, cents(0, next));
    const files = fs.readdirSync(path.join(stateDir, 'ingest', 'readings')).length;
    t.diagnostic(`${kills} kills, ${next} messages, ${repeated} repeated, ${files} batch files`);
  } finally {
    await server.stop();
  }
});

test('a broker that is down or refuses the credentials is reported; messages flow once it is up', { timeout: 60_000 }, async () => {
  const wrong = await startServer(project('p4'), [], env(broker.url(`${USER}:wrong-${PASSWORD}@`)));
  try {
    let s;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !(s = await source(wrong)).refresh.failing) await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.refresh.failing, true, JSON.stringify(s));
    assert.match(s.refresh.last_error, /refused the connection: (bad user name or password|not authorized)/);
    assert.ok(!JSON.stringify(s).includes(PASSWORD));
    assert.ok(!wrong.logs.join('\n').includes(PASSWORD), 'the password is not in the log');
  } finally {
    await wrong.stop();
  }

  const downPort = await freePort();
  const server = await startServer(project('p5'), [], env(`mqtt://${USER}:${PASSWORD}@127.0.0.1:${downPort}`));
  let second;
  try {
    let s;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !(s = await source(server)).refresh.failing) await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.refresh.failing, true, JSON.stringify(s));
    assert.match(s.refresh.last_error, /cannot reach the MQTT broker at 127\.0\.0\.1:\d+/);
    assert.match(await (await fetch(new URL('/readyz', server.url))).text(), /readings/);
    // Up: the reader connects (and subscribes) again by itself.
    second = await startBroker({ port: downPort, user: USER, password: PASSWORD });
    await connected(server, 20_000);
    second.publish('plant/d/reading', messages(0, 50));
    const got = await waitFor(server, 50);
    assert.equal(got.rows, 50);
    assert.equal((await source(server)).refresh.failing, false);
  } finally {
    await server.stop();
    await second?.stop();
  }
});
