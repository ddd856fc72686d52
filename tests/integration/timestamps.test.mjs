// Nanosecond timestamps: a selection on a TIMESTAMP_NS column matches the exact value a client
// sends back (the UI keeps every digit), not a value cut to microseconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeProject, startServer, queryJson } from './harness.mjs';

let server;

before(async () => {
  const dir = writeProject({
    'sightline.yaml': `name: nanoseconds
sources:
  events:
    path: events.csv
    csv: { header: true }
    types: { ts: TIMESTAMP_NS }
dashboards: dashboards/*.yaml
`,
    'events.csv': 'ts,v\n2025-06-30 23:59:59.999999999,1\n2025-07-01 00:00:00,2\n2025-06-30 23:59:59.999999998,4\n2025-06-30 12:00:00.000000001,8\n',
    'dashboards/ns.yaml': `title: Nanoseconds
source: events
dimensions: [ts]
widgets:
  - { id: total, type: kpi, title: Total, measure: { expr: sum(v), as: total } }
  - { id: by_ts, type: bar, title: By time, x: ts, y: { expr: sum(v), as: v } }
`,
  });
  server = await startServer(dir, ['--no-rollups']);
});

after(async () => { await server?.stop(); });

test('a picked nanosecond value selects exactly its rows', async () => {
  const pick = async (selection) => Number((await queryJson(server, 'ns', 'total', { selections: [selection] })).data.rows[0][0]);
  assert.equal(await pick({ column: 'ts', values: ['2025-06-30T23:59:59.999999999'] }), 1);
  assert.equal(await pick({ column: 'ts', values: ['2025-06-30T23:59:59.999999998', '2025-06-30T12:00:00.000000001'] }), 12);
  assert.equal(await pick({ column: 'ts', range: ['2025-06-30T23:59:59.999999998', '2025-06-30T23:59:59.999999999'] }), 5);
  assert.equal(await pick({ column: 'ts', range: ['2025-06-30T23:59:59.999999999', '2025-07-01T00:00:00'] }), 3);
});
