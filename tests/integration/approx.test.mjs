// `approx: true` on a distinct count, seen from outside: the spec marks it and labels it "≈",
// and the answer (read from the rows of a source too small for pre-aggregates) is near the exact
// count the test computes itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, writeProject, queryJson } from './harness.mjs';

let server;
let exact;
before(async () => {
  const lines = ['visitor,page'];
  const seen = new Set();
  for (let i = 0; i < 30_000; i++) {
    const visitor = `v${(i * 7919) % 12_345}`;
    seen.add(visitor);
    lines.push(`${visitor},p${i % 17}`);
  }
  exact = seen.size;
  const dir = writeProject({
    'sightline.yaml': 'sources:\n  visits:\n    path: data/visits.csv\ndashboards: dashboards/*.yaml\n',
    'data/visits.csv': lines.join('\n') + '\n',
    'dashboards/d.yaml': 'id: d\ntitle: Visits\nsource: visits\nwidgets:\n'
      + '  - { id: visitors, type: kpi, measure: { expr: count(DISTINCT visitor), as: visitors, label: Visitors, approx: true } }\n'
      + '  - { id: exact, type: kpi, measure: { expr: count(DISTINCT visitor), as: visitors, label: Visitors } }\n',
  });
  server = await startServer(dir, ['--no-reload']);
});
after(async () => { await server?.stop(); });

test('an approximate distinct count is marked, labelled and near the exact one', async () => {
  const spec = await (await fetch(new URL('/api/v1/dashboards/d', server.url))).json();
  const widgets = spec.widgets ?? spec.pages.flatMap((p) => p.widgets);
  const measureOf = (id) => JSON.stringify(widgets.find((w) => w.id === id));
  assert.match(measureOf('visitors'), /"label":"≈ Visitors"/);
  assert.match(measureOf('visitors'), /"approx":true/);
  assert.doesNotMatch(measureOf('exact'), /≈|approx/);
  const approx = Number((await queryJson(server, 'd', 'visitors')).data.rows[0][0]);
  const counted = Number((await queryJson(server, 'd', 'exact')).data.rows[0][0]);
  assert.equal(counted, exact, 'the exact measure is exact');
  assert.ok(approx > 0 && Math.abs(approx - exact) <= exact * 0.05, `approx ${approx} vs exact ${exact}`);
});
