// The errors docs/api.md documents, provoked against real servers (issue: trust at the edges):
// every status of its table answers with the documented type and an example detail the docs
// quote, and every documented problem type is met. A new status, type or wording that the docs
// do not show (or the other way round) fails here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR, salesProject, startServer, post } from './harness.mjs';
import { brokenProject, leaksIn, NORTH, ENV } from './broken_project.mjs';

const API_MD = fs.readFileSync(path.join(SOURCE_DIR, 'docs', 'api.md'), 'utf8');

// The `type` list of the fields table, and the status table: status, type, example details.
function documented() {
  const typeRow = API_MD.split('\n').find((l) => l.startsWith('| `type` |'));
  const types = [...typeRow.split('|')[2].matchAll(/`([a-z-]+)`/g)].map((m) => m[1]);
  const statuses = new Map();
  for (const line of API_MD.split('\n')) {
    const m = line.match(/^\| (\d{3}) \| `([a-z-]+)` \| (.*) \| (.*) \|$/);
    if (!m) continue;
    // Only the quoted examples that are details (not the hints in parentheses).
    const examples = [...m[4].replace(/\(hint[^)]*\)/g, '').matchAll(/`([^`]+)`/g)].map((e) => e[1]);
    statuses.set(Number(m[1]), { type: m[2], examples });
  }
  return { types, statuses };
}

// "the server is busy: ..." matches any detail that starts so.
function matchesExample(detail, example) {
  const pattern = example.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${pattern}$`).test(detail);
}

let demo;     // the sales demo, no sign-in
let broken;   // data that breaks every way, proxy sign-in, one query at a time per user
let brokenDir;

before(async () => {
  brokenDir = brokenProject({ extraAuth: '  limits:\n    concurrent_queries_per_user: 1' });
  [demo, broken] = await Promise.all([startServer(salesProject(20_000)), startServer(brokenDir, [], ENV)]);
}, { timeout: 180_000 });

after(async () => {
  await Promise.all([demo?.stop(), broken?.stop()]);
});

const widget = (server, dashboard, id, body, headers = {}) =>
  post(server, `/api/v1/dashboards/${dashboard}/widgets/${id}/query`, body, { accept: 'application/json', ...headers });

// One way to meet each documented status, against the server where it happens.
const PROVOKE = {
  400: () => widget(demo, 'sales', 'revenue', { filters: { channel: 'Online' } }),
  401: () => widget(broken, 'events', 'total', {}),
  403: () => widget(broken, 'events', 'total', {}, { ...NORTH, origin: 'https://evil.example' }),
  404: () => widget(demo, 'sales', 'nope', {}),
  405: () => fetch(new URL('/api/v1/dashboards/sales/widgets/revenue/query', demo.url)),
  409: () => post(broken, '/api/v1/sources/events/rows', 'id\n1\n', { ...NORTH, 'content-type': 'text/csv' }),
  413: () => widget(demo, 'sales', 'revenue', `{"filters": {"region": "${'x'.repeat((1 << 20) + 16)}"}}`),
  415: () => post(broken, '/api/v1/sources/inbox/rows', 'id\n1\n', { ...NORTH, 'content-type': 'text/plain' }),
  429: async () => {
    // One query at a time per user: a second one while the slow one runs is refused.
    const slow = widget(broken, 'events', 'slow', {}, NORTH);
    await new Promise((r) => setTimeout(r, 200));
    const second = await widget(broken, 'events', 'total', {}, NORTH);
    await slow;
    return second;
  },
  431: () => fetch(new URL('/api/v1/dashboards', demo.url), { headers: { 'x-padding': 'y'.repeat(17 * 1024) } }),
  502: () => widget(broken, 'regional', 'total', {}, NORTH),
  503: () => widget(broken, 'events', 'hungry', {}, NORTH),
  504: () => widget(broken, 'events', 'slow', {}, NORTH),
};
// Documented, and not provoked on purpose: a 500 is a bug.
const CANNOT_PROVOKE = new Set([500]);

test('every documented status answers with its documented type and an example the docs quote', async () => {
  const { types, statuses } = documented();
  assert.ok(statuses.size >= 12, `the status table was found in docs/api.md (${statuses.size} rows)`);
  const met = new Set(['internal']);
  for (const [status, doc] of statuses) {
    if (CANNOT_PROVOKE.has(status)) continue;
    assert.ok(PROVOKE[status], `docs/api.md documents ${status}, and this test does not provoke it`);
    const res = await PROVOKE[status]();
    const text = await res.text();
    assert.equal(res.status, status, `provoking ${status}: ${text}`);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/, `${status}`);
    const body = JSON.parse(text);
    assert.equal(body.status, status, `${status}: the body's status`);
    assert.equal(body.type, `urn:sightline:problem:${doc.type}`, `${status}: the documented type`);
    assert.ok(doc.examples.some((e) => matchesExample(body.detail, e)),
      `${status}: the detail '${body.detail}' is none of the documented examples ${JSON.stringify(doc.examples)}`);
    if (status >= 500) assert.deepEqual(leaksIn(text, brokenDir), [], `${status} holds nothing of the data`);
    met.add(doc.type);
  }
  for (const status of Object.keys(PROVOKE)) assert.ok(statuses.has(Number(status)), `${status} happens and is not documented`);
  assert.deepEqual([...met].sort(), [...types].sort(), 'every documented type is met, and only those');
});

test('the sign-in endpoints and /api/v1/me answer wrong methods like the API does', async () => {
  for (const [server, p] of [[broken, '/api/v1/me'], [demo, '/api/v1/dashboards']]) {
    const res = await fetch(new URL(p, server.url), { method: 'DELETE', headers: NORTH });
    const body = await res.json();
    assert.equal(res.status, 405, p);
    assert.equal(body.status, 405, p);
    assert.equal(body.type, 'urn:sightline:problem:method-not-allowed', p);
    assert.ok(res.headers.get('allow'), p);
  }
});
