// Hostile and malformed input: every answer is a 4xx problem+json with a useful message, the
// server never answers 500, never crashes, and injected text is only ever a value.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { salesProject, startServer, post, queryJson, oracle, ordersScan } from './harness.mjs';

const ROWS = 100_000;
let server;
before(async () => { server = await startServer(salesProject(ROWS)); });
after(async () => { assert.equal(await server.stop(), 0); });

const QUERY = '/api/v1/dashboards/sales/widgets/revenue/query';

async function expectProblem(res, status, pattern) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}`);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const body = await res.json();
  assert.equal(body.status, status);
  assert.ok(body.request_id, 'problem carries the request id');
  if (pattern) assert.match(body.detail, pattern);
  return body;
}

test('SQL fragments in filter values are values, not SQL', async () => {
  const attempts = [
    "North' OR '1'='1",
    "North'; DROP TABLE orders; --",
    'North" OR 1=1 --',
    "') UNION SELECT * FROM duckdb_settings() --",
    "North\\'; SELECT 1",
  ];
  for (const value of attempts) {
    const { data } = await queryJson(server, 'sales', 'orders', { filters: { region: value } });
    assert.equal(String(data.rows[0][0]), '0', `"${value}" matches no region`);
  }
  const { data } = await queryJson(server, 'sales', 'orders', { filters: { product: "%' OR 1=1 --" } });
  assert.equal(String(data.rows[0][0]), '0');
  const total = oracle(`SELECT count(*) FROM ${ordersScan(ROWS)}`).rows[0][0];
  const after = await queryJson(server, 'sales', 'orders');
  assert.equal(String(after.data.rows[0][0]), total, 'the data is intact');
});

test('quotes, unicode and emoji round-trip as values', async () => {
  for (const value of ["O'Brien", 'Zürich — 東京', '🙂🚀', '\\', '%_%', 'a'.repeat(1024)]) {
    const { data } = await queryJson(server, 'sales', 'orders', { filters: { region: value } });
    assert.equal(String(data.rows[0][0]), '0');
  }
});

test('NUL bytes and over-long text are refused', async () => {
  await expectProblem(await post(server, QUERY, { filters: { region: 'North\u0000' } }), 400, /NUL/);
  await expectProblem(await post(server, QUERY, { filters: { product: 'x'.repeat(5000) } }), 400, /longer than/);
});

test('wrong value types name the filter and what it expects', async () => {
  await expectProblem(await post(server, QUERY, { filters: { region: 42 } }), 400, /filter 'region': expected text, got a number/);
  await expectProblem(await post(server, QUERY, { filters: { region: ['North'] } }), 400, /takes one value/);
  await expectProblem(await post(server, QUERY, { filters: { channel: 'Online' } }), 400, /takes a list/);
  await expectProblem(await post(server, QUERY, { filters: { units: [1] } }), 400, /\[low, high\]/);
  await expectProblem(await post(server, QUERY, { filters: { units: ['1', 5] } }), 400, /expected a whole number/);
  await expectProblem(await post(server, QUERY, { filters: { units: [9, 2] } }), 400, /low end is above the high end/);
  await expectProblem(await post(server, QUERY, { filters: { period: { from: '2024-13-01' } } }), 400, /YYYY-MM-DD/);
  await expectProblem(await post(server, QUERY, { filters: { period: { from: '2024-02-30' } } }), 400, /YYYY-MM-DD/);
  await expectProblem(await post(server, QUERY, { filters: { period: { from: '2024-05-01', to: '2024-01-01' } } }), 400, /after/);
  await expectProblem(await post(server, QUERY, { filters: { period: '2024' } }), 400, /daterange/);
  await expectProblem(await post(server, QUERY, { filters: { product: { $ne: 1 } } }), 400, /takes text/);
  await expectProblem(await post(server, QUERY, { filters: { nope: 1 } }), 400, /unknown filter 'nope'/);
  await expectProblem(await post(server, QUERY, { filter: {} }), 400, /unknown field 'filter'/);
  await expectProblem(await post(server, QUERY, { offset: -1 }), 400, /offset/);
  await expectProblem(await post(server, QUERY, { offset: 1e12 }), 400, /offset/);
  await expectProblem(await post(server, QUERY, { limit: 'all' }), 400, /limit/);
  await expectProblem(await post(server, QUERY, [1, 2]), 400, /JSON object/);
});

test('selections only on declared dimensions', async () => {
  const body = await expectProblem(await post(server, QUERY, { selections: [{ column: 'customer', values: ['x'] }] }), 400,
    /not a declared dimension/);
  assert.match(body.hint, /region/);
  await expectProblem(await post(server, QUERY, { selections: [{ column: 'region"; DROP TABLE orders; --', values: ['x'] }] }), 400,
    /not a declared dimension/);
  await expectProblem(await post(server, QUERY, { selections: [{ column: 'region' }] }), 400, /exactly one of/);
  await expectProblem(await post(server, QUERY, { selections: [{ column: 'units', range: [1, 2, 3] }] }), 400, /range/);
  await expectProblem(await post(server, QUERY, { selections: Array(1001).fill({ column: 'region', values: ['x'] }) }), 400, /at most/);
});

test('sorting a custom-SQL widget by a column it does not return is a 400', async () => {
  const res = await post(server, '/api/v1/dashboards/customers/widgets/top_managers/query', { sort: [{ column: 'nope' }] });
  const body = await expectProblem(res, 400, /cannot sort by 'nope'/);
  assert.match(body.hint, /account_manager/);
  const ok = await queryJson(server, 'customers', 'top_managers', { sort: [{ column: 'customers', desc: true }], filters: { period: null } });
  const counts = ok.data.rows.map((r) => Number(r[2]));
  assert.deepEqual(counts, [...counts].sort((a, b) => b - a));
});

test('malformed, oversized and deeply nested bodies', async () => {
  await expectProblem(await post(server, QUERY, '{"filters": '), 400, /not valid JSON/);
  await expectProblem(await post(server, QUERY, '{"filters": {}}', { 'content-type': 'text/plain' }), 400, /must be JSON/);
  const deep = '['.repeat(100000) + ']'.repeat(100000);
  await expectProblem(await post(server, QUERY, deep), 400, /nested deeper/);
  const big = JSON.stringify({ filters: { product: 'x'.repeat(10 * 1024 * 1024) } });
  const res = await post(server, QUERY, big);
  assert.equal(res.status, 413);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  assert.equal((await res.json()).type, 'urn:sightline:problem:too-large');
});

test('unknown ids are 404, wrong methods 405, bad URLs 400', async () => {
  await expectProblem(await post(server, '/api/v1/dashboards/nope/widgets/revenue/query', {}), 404, /no dashboard 'nope'/);
  await expectProblem(await post(server, '/api/v1/dashboards/sales/widgets/nope/query', {}), 404, /no widget 'nope'/);
  await expectProblem(await fetch(new URL('/api/v1/dashboards/sales/filters/nope/options', server.url)), 404, /no filter/);
  await expectProblem(await fetch(new URL('/api/v1/nothing', server.url)), 404);
  await expectProblem(await fetch(new URL('/api/v1/dashboards/sales/widgets/about/query', server.url), { method: 'POST' }), 400, /text widget/);
  const get = await fetch(new URL(QUERY, server.url));
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  await expectProblem(await fetch(new URL('/api/v1/dashboards/%zz', server.url)), 400, /percent-encoding/);
  await expectProblem(await fetch(new URL('/api/v1/dashboards/sales/filters/product/options?limit=0', server.url)), 400, /limit/);
  await expectProblem(await fetch(new URL('/api/v1/dashboards/sales/filters/product/options?q=%00', server.url)), 400, /NUL/);
  await expectProblem(await post(server, `${QUERY}?format=xml`, {}), 400, /unknown format/);
});

test('garbage on the socket gets a 400 and the server keeps serving', async () => {
  const reply = await new Promise((resolve) => {
    const url = new URL(server.url);
    const sock = net.connect(Number(url.port), url.hostname, () => sock.write('THIS IS NOT HTTP\r\n\r\n'));
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('close', () => resolve(data));
    sock.on('error', () => resolve(data));
  });
  assert.match(reply, /^HTTP\/1.1 400/);
  const ok = await fetch(new URL('/healthz', server.url));
  assert.equal(ok.status, 200);
});

test('no request in this file made the server answer 500', async () => {
  const statuses = server.jsonLogs().filter((l) => l.event === 'request').map((l) => l.status);
  assert.ok(statuses.length > 30);
  assert.ok(statuses.every((s) => s < 500), `statuses: ${[...new Set(statuses)].join(',')}`);
});

test('a date range too long to have a previous period answers without a comparison, not an error', async () => {
  const res = await post(server, '/api/v1/dashboards/sales/widgets/revenue/query',
    { filters: { period: { from: '2024-01-01', to: '9999-12-31' } } }, { accept: 'application/json' });
  assert.equal(res.status, 200, await res.clone().text());
  const body = await res.json();
  assert.equal(body.rows[0][1], null, 'no previous period before year 1');
  assert.notEqual(body.rows[0][0], null);
});

test('credentials in the URL are refused, however the parameter is repeated', async () => {
  for (const q of ['access_token=slt_abc', 'access_token=&access_token=slt_abc', 'id_token=x.y.z']) {
    const res = await fetch(new URL(`/api/v1/dashboards?${q}`, server.url));
    assert.equal(res.status, 400, q);
  }
});
