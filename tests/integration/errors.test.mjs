// Errors that leak nothing (issue: trust at the edges). Every kind of engine failure a widget can
// meet is provoked for real, as a regional user under a row policy (proxy sign-in): each answers
// 5xx with a stable problem type, a message written by Sightline and the request id, and no
// response carries a cell value, a file path, a secret or the engine's own words. The server log
// has the full story under the request id, with the secret redacted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ORACLE, writeProject, startServer, post } from './harness.mjs';

// Part of a folder name read through ${env:}: a secret as far as the project is concerned.
const SECRET = 'tenant-8f3a9c2e71b4';
// Values only rows a North user may not see hold.
const SOUTH_VALUES = ['SOUTH-SECRET-ROW', '987654', '424242'];

function exec(sql) {
  const r = spawnSync(ORACLE, ['--exec', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`oracle: ${r.stderr}`);
}

const POLICY_YAML = `
auth:
  mode: proxy
  proxy:
    trusted_proxies: [127.0.0.1]
roles:
  north: { groups: [north] }
policies:
  regional: { north: "region = 'North'" }
  events: { north: "region = 'North'" }
  shaped: { north: "region = 'North'" }
`;

const DASHBOARDS = {
  'dashboards/regional.yaml': `
id: regional
title: Regional
source: regional
filters:
  - { id: region, type: select, column: region }
widgets:
  - { id: total, type: kpi, measure: sum(amount) }
  - { id: rows, type: table, columns: [id, region, amount] }
`,
  'dashboards/events.yaml': `
id: events
title: Events
source: events
filters:
  - { id: region, type: select, column: region }
widgets:
  - { id: total, type: kpi, measure: sum(amount) }
  - { id: by_region, type: bar, x: region, y: sum(amount) }
  - id: own
    type: kpi
    measure: total
    sql: SELECT sum(amount) AS total FROM events WHERE {{ filters }}
  - id: hungry
    type: table
    sql: SELECT list(a.id) AS ids FROM (SELECT * FROM events WHERE {{ filters }}) a, events b WHERE a.id < 4000
  - id: slow
    type: kpi
    measure: n
    sql: SELECT count(*) AS n FROM (SELECT * FROM events WHERE {{ filters }}) a, events b WHERE (a.id * 31 + b.id) % 1000003 = 7
`,
  'dashboards/shaped.yaml': `
id: shaped
title: Shaped
source: shaped
widgets:
  - { id: total, type: kpi, measure: sum(amount) }
  - id: own
    type: kpi
    measure: total
    sql: SELECT sum(amount) AS total FROM shaped
`,
};

let dir;
let server;
const north = { 'X-Forwarded-User': 'nora', 'X-Forwarded-Groups': 'north' };

before(async () => {
  dir = writeProject({
    'sightline.yaml': `
name: errors
engine:
  memory_limit: 200MB
  query_timeout: 1s
  threads: 2
sources:
  regional:
    path: data/\${env:TENANT_DIR}/regional.csv
    types: { amount: INTEGER }
  events:
    path: data/events/*.parquet
  shaped:
    path: data/shaped/*.parquet
dashboards: dashboards/*.yaml
${POLICY_YAML}`,
    ...DASHBOARDS,
    [`data/${SECRET}/regional.csv`]:
      'id,region,amount\n1,North,10\n2,North,20\n3,South,"SOUTH-SECRET-ROW"\n4,South,987654\n5,North,5\n',
  });
  fs.mkdirSync(path.join(dir, 'data', 'events'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'data', 'shaped'), { recursive: true });
  exec(`COPY (SELECT range AS id, CASE WHEN range % 2 = 0 THEN 'North' ELSE 'South' END AS region,
               CASE WHEN range % 2 = 0 THEN 1.5 ELSE 424242 END AS amount FROM range(200000))
        TO '${path.join(dir, 'data', 'events', 'a.parquet')}' (FORMAT parquet)`);
  exec(`COPY (SELECT range AS id, 'North' AS region, range AS amount FROM range(1000))
        TO '${path.join(dir, 'data', 'shaped', 'a.parquet')}' (FORMAT parquet)`);
  server = await startServer(dir, [], { TENANT_DIR: SECRET });
}, { timeout: 120_000 });

after(async () => {
  await server?.stop();
});

async function ask(dashboard, widget, { format = 'json', body = {} } = {}) {
  const res = await post(server, `/api/v1/dashboards/${dashboard}/widgets/${widget}/query?format=${format}`, body, north);
  return { res, text: await res.text() };
}

// What no response may ever hold: rows the caller may not see, paths, the secret, engine words.
function assertLeaksNothing(text, what) {
  for (const value of [...SOUTH_VALUES, SECRET, dir, 'data/', '.csv', '.parquet', 'Error:', 'Original Line', 'Conversion',
    'Binder', 'Catalog', 'INTERRUPT', 'Out of Memory', 'read_csv', 'read_parquet', 'SELECT']) {
    assert.ok(!text.includes(value), `${what}: the response holds '${value}':\n${text}`);
  }
}

// A problem document of `status`/`type`, with nothing but Sightline's own words.
function assertProblem({ res, text }, status, type, what) {
  assert.equal(res.status, status, `${what}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/, what);
  const body = JSON.parse(text);
  assert.equal(body.type, `urn:sightline:problem:${type}`, what);
  assert.equal(body.status, status, what);
  assert.equal(body.request_id, res.headers.get('x-request-id'), `${what}: the request id to quote`);
  assert.deepEqual(Object.keys(body).sort().filter((k) => !['hint'].includes(k)), ['detail', 'request_id', 'status', 'title', 'type'], what);
  assertLeaksNothing(text, what);
  return body;
}

// The server log's line for this request: the full detail, for the operator.
async function failureLogged(requestId) {
  for (let i = 0; i < 50; i++) {
    const line = server.jsonLogs().find((l) => l.event === 'request_failed' && l.request_id === requestId);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no request_failed line for ${requestId}:\n${server.logs.slice(-10).join('\n')}`);
}

test('a value that does not convert, on a row the caller may not see: 502, the source named, nothing of the row', async () => {
  for (const [widget, format] of [['total', 'json'], ['total', 'arrow'], ['rows', 'csv'], ['rows', 'json']]) {
    const asked = await ask('regional', widget, { format });
    const body = assertProblem(asked, 502, 'source-error', `${widget} as ${format}`);
    assert.equal(body.detail, "the data of 'regional' could not be read");
    assert.match(body.hint, /server log/);
    const logged = await failureLogged(body.request_id);
    assert.equal(logged.kind, 'source-error');
    assert.equal(logged.user, 'nora');
    assert.match(logged.detail, /SOUTH-SECRET-ROW/, 'the operator sees which value');
    assert.match(logged.detail, /\[redacted\]\/regional\.csv/, 'and where, without the secret');
  }
  const all = server.logs.join('\n');
  assert.ok(!all.includes(SECRET), 'the secret never reaches the log');
  // Found at load too: the background read of the sources that convert at query time.
  const found = server.jsonLogs().find((l) => l.event === 'source_unreadable');
  assert.equal(found?.source, 'regional', server.logs.join('\n'));
  // With sign-in on, the open /readyz names no source.
  const ready = await (await fetch(new URL('/readyz', server.url))).text();
  assert.ok(!ready.includes('regional'), ready);
  // Reading only the column that converts fine still answers: only the caller's regions.
  const options = await fetch(new URL('/api/v1/dashboards/regional/filters/region/options', server.url), { headers: north });
  assert.equal(options.status, 200);
  assert.deepEqual((await options.json()).values, ['North']);
});

test('memory beyond the limit: 503 with Retry-After; a query past its time: 504', async () => {
  const hungry = await ask('events', 'hungry');
  assertProblem(hungry, 503, 'unavailable', 'out of memory');
  assert.equal(hungry.res.headers.get('retry-after'), '1');
  assert.match((await failureLogged(JSON.parse(hungry.text).request_id)).detail, /Out of Memory/);

  const started = Date.now();
  const slow = await ask('events', 'slow');
  assertProblem(slow, 504, 'timeout', 'time limit');
  assert.ok(Date.now() - started < 10_000, 'stopped near its 1 s limit');
  assert.match((await failureLogged(JSON.parse(slow.text).request_id)).detail, /INTERRUPT/);
});

test('files that change under a view: schema gone, corrupt file, no files at all', async () => {
  const before = await ask('shaped', 'total');
  assert.equal(before.res.status, 200, before.text);
  const file = path.join(dir, 'data', 'shaped', 'a.parquet');
  // The column the widgets read is gone from the new file: binder errors at run time.
  fs.rmSync(file);
  exec(`COPY (SELECT range AS id, 'North' AS region FROM range(10)) TO '${file}' (FORMAT parquet)`);
  for (const widget of ['total', 'own']) {
    const asked = await ask('shaped', widget);
    const body = assertProblem(asked, 502, 'source-error', `${widget} after the column vanished`);
    assert.equal(body.detail, "the data of 'shaped' could not be read");
  }
  // A file that is not Parquet at all.
  fs.writeFileSync(path.join(dir, 'data', 'shaped', 'b.parquet'), 'not a parquet file, South 987654');
  assertProblem(await ask('shaped', 'total'), 502, 'source-error', 'a corrupt file');
  // No file left.
  fs.rmSync(path.join(dir, 'data', 'shaped'), { recursive: true });
  const gone = await ask('shaped', 'total');
  assertProblem(gone, 502, 'source-error', 'no files');
  assert.match((await failureLogged(JSON.parse(gone.text).request_id)).detail, /No files found/);
});

test('what a caller sent wrong is still a 400 that says what', async () => {
  const asked = await ask('events', 'total', { body: { filters: { region: 42 } } });
  assert.equal(asked.res.status, 400, asked.text);
  const body = JSON.parse(asked.text);
  assert.equal(body.type, 'urn:sightline:problem:invalid-input');
  assert.match(body.detail, /filter 'region': expected text, got a number/);
  // The request line carries who asked.
  await new Promise((r) => setTimeout(r, 50));
  const line = server.jsonLogs().find((l) => l.event === 'request' && l.request_id === body.request_id);
  assert.equal(line?.user, 'nora');
});
