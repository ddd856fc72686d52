// Sources in object storage (docs/freshness.md, "Object storage"), against emulators started on
// loopback by this file: an S3 server behind a front that verifies every AWS Signature V4 as S3
// does, and Azurite (Azure Blob, which verifies SharedKey and SAS itself). Answers over s3:// and
// az:// sources equal DuckDB over the same files; every request the server sent was signed and
// accepted; a manual refresh reads new, rewritten and removed objects; an append source polls
// its objects and takes new ones; a restart fetches nothing unchanged; wrong credentials and an
// unreachable store give precise errors that carry no secret, while the last good copy serves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { writeProject, startServer, queryJson, oracle, oracleExec, post, tempDir, BIN } from './harness.mjs';
import { startS3, startAzurite, containerSas } from './object_stores.mjs';

let s3;
let azure;
let dir;
let server;
const stage = tempDir('objects-stage');  // the files as uploaded: what the oracle reads

// Rows with a DECIMAL amount, a region (some NULL) and a timestamp; `seed` varies the values.
const rows = (n, seed) => `SELECT (i * 7 + ${seed}) % 1000 AS id,
    CAST(((i * 37 + ${seed}) % 100000) / 100.0 AS DECIMAL(10,2)) AS amount,
    CASE WHEN i % 11 = 0 THEN NULL ELSE ['North','South','East'][1 + (i % 3)] END AS region,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_minutes(i) AS at
  FROM range(${n}) t(i)`;

// Writes `sql`'s rows as `key` (Parquet or CSV by its name) under the stage, and returns its bytes.
function stageFile(area, key, sql) {
  const file = path.join(stage, area, key);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const format = key.endsWith('.csv') ? 'csv, header true' : 'parquet';
  oracleExec(`COPY (${sql}) TO '${file.replaceAll("'", "''")}' (FORMAT ${format})`);
  return fs.readFileSync(file);
}
const unstage = (area, key) => fs.rmSync(path.join(stage, area, key));

async function putS3(key, sql) { await s3.put('lake', key, stageFile('s3', key, sql)); }
async function putBlob(key, sql) { await azure.put('box', key, stageFile('az', key, sql)); }

// What DuckDB says over the staged files.
function expected(scan) {
  const [n, total] = oracle(`SELECT count(*), CAST(sum(amount) AS DECIMAL(18,2)) FROM ${scan}`).rows[0];
  return { rows: Number(n), total: Number(total).toFixed(2) };
}
const s3Orders = () => `read_parquet('${stage}/s3/orders/**/*.parquet', hive_partitioning=true)`;

async function kpis(dashboard) {
  const count = await queryJson(server, dashboard, 'rows');
  const sum = await queryJson(server, dashboard, 'total');
  return { rows: Number(count.data.rows[0][0]), total: Number(sum.data.rows[0][0]).toFixed(2) };
}

async function source(name) {
  const res = await fetch(new URL(`/api/v1/sources/${name}`, server.url));
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

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

const kpiDashboard = (id, src) => `
id: ${id}
title: ${id}
source: ${src}
widgets:
  - { id: rows, type: kpi, measure: { expr: count(*), as: rows } }
  - { id: total, type: kpi, measure: { expr: sum(amount), as: total } }
`;

function project(env) {
  return writeProject({
    'sightline.yaml': `
name: objects
object_stores:
  lake:
    type: s3
    endpoint: "\${env:S3_ENDPOINT}"
    region: us-east-1
    access_key_id: "\${env:S3_KEY_ID}"
    secret_access_key: "\${env:S3_SECRET}"
    parallel: 3
  blobs:
    type: azure
    endpoint: "\${env:AZ_ENDPOINT}"
    account: devstoreaccount1
    key: "\${env:AZ_KEY}"
  blobs_sas:
    type: azure
    endpoint: "\${env:AZ_ENDPOINT}"
    account: devstoreaccount1
    sas: "\${env:AZ_SAS}"
sources:
  orders:
    path: s3://lake/orders/**/*.parquet
    materialize: true
    refresh: { cron: "0 3 * * *" }
  events:
    path: s3://lake/events/*.parquet
    mode: append
    refresh: { on_change: true, poll: 1s, debounce: 200ms }
  sales:
    path: az://box/sales/*.csv
    store: blobs
    materialize: true
    types: { amount: "DECIMAL(10,2)" }
  sales_sas:
    path: az://box/sales/*.csv
    store: blobs_sas
    types: { amount: "DECIMAL(10,2)" }
dashboards: dashboards/*.yaml
`,
    'dashboards/orders.yaml': `${kpiDashboard('orders', 'orders')}  - { id: by_day, type: bar, x: day, y: { expr: sum(amount), as: total } }
`,
    'dashboards/events.yaml': kpiDashboard('events', 'events'),
    'dashboards/sales.yaml': kpiDashboard('sales', 'sales'),
    'dashboards/sales_sas.yaml': kpiDashboard('sales_sas', 'sales_sas'),
  });
}

let env;

before(async () => {
  s3 = await startS3({ dir: tempDir('s3') });
  azure = await startAzurite({ dir: tempDir('azurite') });
  await s3.createBucket('lake');
  await azure.createContainer('box');
  await putS3('orders/day=2026-01-01/part 1-ü.parquet', rows(4000, 1));
  await putS3('orders/day=2026-01-02/b.parquet', rows(3000, 2));
  await s3.put('lake', 'orders/readme.txt', 'not data');
  await putS3('events/a.parquet', rows(500, 3));
  await putBlob('sales/2026 (1).csv', rows(700, 4));
  await putBlob('sales/b.csv', rows(300, 5));
  env = {
    S3_ENDPOINT: s3.endpoint, S3_KEY_ID: s3.accessKeyId, S3_SECRET: s3.secretAccessKey,
    AZ_ENDPOINT: azure.endpoint, AZ_KEY: azure.key, AZ_SAS: containerSas({ container: 'box' }),
  };
  dir = project(env);
  server = await startServer(dir, ['--no-reload'], env);
}, { timeout: 120_000 });

after(async () => {
  await server?.stop();
  await s3?.stop();
  await azure?.stop();
});

test('answers over s3:// and az:// sources equal DuckDB over the same files, and every request was signed and accepted', async () => {
  const want = expected(s3Orders());
  assert.deepEqual(await kpis('orders'), want);
  assert.equal(want.rows, 7000);
  const byDay = await queryJson(server, 'orders', 'by_day');
  const days = oracle(`SELECT CAST(day AS VARCHAR), CAST(sum(amount) AS DECIMAL(18,2)) FROM ${s3Orders()} GROUP BY 1 ORDER BY 1`).rows;
  assert.equal(days.length, 2);
  assert.deepEqual(byDay.data.rows.map((r) => [String(r[0]).slice(0, 10), Number(r[1]).toFixed(2)]).sort(),
    days.map(([day, total]) => [day, Number(total).toFixed(2)]));
  assert.deepEqual(await kpis('events'), expected(`read_parquet('${stage}/s3/events/*.parquet')`));
  const sales = expected(`read_csv('${stage}/az/sales/*.csv', header=true, types={'amount': 'DECIMAL(10,2)'})`);
  assert.equal(sales.rows, 1000);
  assert.deepEqual(await kpis('sales'), sales);
  assert.deepEqual(await kpis('sales_sas'), sales);

  const fromServer = s3.requests.filter((r) => (r.headers['user-agent'] ?? '').startsWith('Sightline/'));
  assert.ok(fromServer.length >= 4, `the server listed and fetched (${fromServer.length} requests)`);
  for (const r of fromServer) {
    assert.match(r.headers.authorization, /^AWS4-HMAC-SHA256 Credential=S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request/);
    assert.ok([200, 206].includes(r.status), `${r.method} ${r.url} answered ${r.status}`);
  }
  const events = await source('events');
  assert.deepEqual(events.stored_in, { type: 's3', store: 'lake' });
  assert.deepEqual(events.refresh.policy, { on_change: true, debounce_seconds: 0.2, poll_seconds: 1 });
  assert.deepEqual((await source('sales_sas')).stored_in, { type: 'azure', store: 'blobs_sas' });
  const fetched = server.jsonLogs().filter((l) => l.event === 'objects_fetched');
  // Each source fetched at load (events, polled every second, may have looked again since).
  assert.deepEqual([...new Set(fetched.map((l) => l.source))].sort(), ['events', 'orders', 'sales', 'sales_sas']);
  assert.equal(fetched.find((l) => l.source === 'orders').objects, 2, 'readme.txt matches no pattern');
});

test('a manual refresh reads new, rewritten and removed objects; answers follow', async () => {
  const before = await source('orders');
  await putS3('orders/day=2026-01-03/c.parquet', rows(250, 6));
  await putS3('orders/day=2026-01-02/b.parquet', rows(3000, 7));  // the same key, new content
  await s3.remove('lake', 'orders/day=2026-01-01/part 1-ü.parquet');
  unstage('s3', 'orders/day=2026-01-01/part 1-ü.parquet');
  const res = await post(server, '/api/v1/sources/orders/refresh', '');
  assert.equal(res.status, 202);
  const after = await waitFor('orders', (s) => s.version_number > before.version_number && settled(s), 'the refresh');
  assert.equal(after.refresh.last_outcome, 'refreshed');
  const want = expected(s3Orders());
  assert.equal(want.rows, 3250);
  assert.deepEqual(await kpis('orders'), want);
  const last = server.jsonLogs().filter((l) => l.event === 'objects_fetched' && l.source === 'orders').at(-1);
  assert.deepEqual([last.objects, last.fetched, last.removed], [2, 2, 1]);
});

test('an append source polls its objects and appends new ones', async () => {
  const before = await source('events');
  await putS3('events/b.parquet', rows(120, 8));
  await waitFor('events', (s) => s.version_number > before.version_number && settled(s), 'the poll and append');
  assert.deepEqual(await kpis('events'), expected(`read_parquet('${stage}/s3/events/*.parquet')`));
});

// `sightline check dir` without blocking this process (the S3 front runs in it).
function check(checkDir, withEnv) {
  return new Promise((resolve) => {
    const child = spawn(BIN, ['check', checkDir], { env: { ...process.env, ...withEnv } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

test('sightline check fetches object sources and names refused credentials without the secret', async () => {
  const wrong = { ...env, S3_SECRET: 'wrong-secret-5d1f0a', AZ_KEY: Buffer.from('not-the-key').toString('base64') };
  const checkDir = project(wrong);
  const r = await check(checkDir, wrong);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(out, /source 'orders': its objects could not be fetched: listing s3:\/\/lake\/orders\/: the object store at 127\.0\.0\.1:\d+ answered 403 \(SignatureDoesNotMatch\)/);
  assert.match(out, /source 'sales': its objects could not be fetched: listing az:\/\/box\/sales\/: .* answered 403 \(AuthorizationFailure\)/);
  assert.ok(!out.includes('wrong-secret-5d1f0a'), 'no secret in the output');
  assert.ok(!out.includes('Signature='), 'no signature in the output');
  assert.ok(!out.includes('sig='), 'no SAS in the output');
  // The good credentials check clean, over the same objects.
  const good = await check(project(env), env);
  assert.equal(good.status, 0, good.stdout + good.stderr);
});

test('a restart fetches nothing unchanged; with the store down, a refresh fails precisely and the copy serves', async () => {
  const want = await kpis('orders');
  await server.stop();
  server = await startServer(dir, ['--no-reload'], env);
  const orders = server.jsonLogs().find((l) => l.event === 'objects_fetched' && l.source === 'orders');
  assert.deepEqual([orders.objects, orders.fetched], [2, 0]);
  assert.deepEqual(await kpis('orders'), want);

  await s3.stop();
  await post(server, '/api/v1/sources/orders/refresh', '');
  const s = await waitFor('orders', (x) => x.refresh.failing && settled(x), 'the failed refresh');
  assert.equal(s.refresh.last_outcome, 'failed');
  assert.match(s.refresh.last_error, /object store at 127\.0\.0\.1:\d+/);
  assert.ok(!s.refresh.last_error.includes(dir), 'no path in the error');
  assert.deepEqual(await kpis('orders'), want);
  const ready = await (await fetch(new URL('/readyz', server.url))).json();
  assert.deepEqual(ready.sources_failing_refresh, ['orders']);
  s3 = null;
});
