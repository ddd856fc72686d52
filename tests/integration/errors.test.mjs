// Errors that leak nothing (issue: trust at the edges). Every kind of engine failure a widget can
// meet is provoked for real, as a regional user under a row policy (proxy sign-in): each answers
// 5xx with a stable problem type, a message written by Sightline and the request id, and no
// response carries a cell value, a file path, a secret or the engine's own words. The server log
// has the full story under the request id, with the secret redacted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, post, oracleExec } from './harness.mjs';
import { brokenProject, leaksIn, SECRET, NORTH as north, ENV } from './broken_project.mjs';

let dir;
let server;

before(async () => {
  dir = brokenProject();
  server = await startServer(dir, [], ENV);
}, { timeout: 120_000 });

after(async () => {
  await server?.stop();
});

async function ask(dashboard, widget, { format = 'json', body = {} } = {}) {
  const res = await post(server, `/api/v1/dashboards/${dashboard}/widgets/${widget}/query?format=${format}`, body, north);
  return { res, text: await res.text() };
}

function assertLeaksNothing(text, what) {
  assert.deepEqual(leaksIn(text, dir), [], `${what}: the response holds what it may not:\n${text}`);
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
  assert.ok(Date.now() - started < 10_000, 'stopped near its 3 s limit');
  assert.match((await failureLogged(JSON.parse(slow.text).request_id)).detail, /INTERRUPT/);
});

test('files that change under a view: schema gone, corrupt file, no files at all', async () => {
  const before = await ask('shaped', 'total');
  assert.equal(before.res.status, 200, before.text);
  const file = path.join(dir, 'data', 'shaped', 'a.parquet');
  // The column the widgets read is gone from the new file: binder errors at run time.
  fs.rmSync(file);
  oracleExec(`COPY (SELECT range AS id, 'North' AS region FROM range(10)) TO '${file}' (FORMAT parquet)`);
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
