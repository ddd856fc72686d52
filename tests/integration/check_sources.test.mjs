// `sightline check` finds what would break at run time (issue: trust at the edges): it reads
// every source that is read at query time completely, so a value that does not convert on any
// row is a check error with file, line and column; and a broken source does not hide the
// problems of the dashboards over the other sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BIN, writeProject } from './harness.mjs';

const check = (dir) => spawnSync(BIN, ['check', dir], { encoding: 'utf8', timeout: 120_000 });

// A CSV whose declared type fails far past DuckDB's sniffing sample (20,480 rows).
function bigCsv(badLine) {
  const lines = ['id,region,amount'];
  for (let i = 1; i < 30_000; i++) lines.push(i === badLine - 1 ? `${i},South,n/a` : `${i},${i % 2 ? 'North' : 'South'},${i % 97}`);
  return `${lines.join('\n')}\n`;
}

const DASHBOARD = `
id: d
title: D
source: t
widgets:
  - { id: total, type: kpi, measure: sum(amount) }
`;

test('a value that does not convert on row 25,000 is a check error with file, line and column', () => {
  const dir = writeProject({
    'sightline.yaml': 'sources:\n  t:\n    path: data/t.csv\n    types: { amount: INTEGER }\ndashboards: dashboards/*.yaml\n',
    'dashboards/d.yaml': DASHBOARD,
    'data/t.csv': bigCsv(25_000),
  });
  const r = check(dir);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /sightline\.yaml:2:3: error: source 't' cannot be read: data\/t\.csv:25000: column "amount": could not convert string "n\/a" to 'INTEGER'/);
  assert.match(r.stderr, /hint: .*types:/);
  assert.ok(!r.stderr.includes(dir), `paths are relative to the project:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /delimiter = |sample_size/, 'not the reader\'s settings');
});

test('a clean project says how much it read', () => {
  const dir = writeProject({
    'sightline.yaml': 'sources:\n  t:\n    path: data/t.csv\n    types: { amount: INTEGER }\ndashboards: dashboards/*.yaml\n',
    'dashboards/d.yaml': DASHBOARD,
    'data/t.csv': 'id,region,amount\n1,North,10\n2,South,20\n',
  });
  const r = check(dir);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok: 1 sources, 0 models, 1 dashboards, 1 widgets; read 2 rows of 1 source\(s\) and model\(s\) read at query time/);
});

test('a broken source and a broken dashboard over another source are reported together', () => {
  const dir = writeProject({
    'sightline.yaml': `
sources:
  t:
    path: data/t.csv
    types: { amount: INTEGER }
  u:
    path: data/u.csv
dashboards: dashboards/*.yaml
`,
    'dashboards/d.yaml': DASHBOARD,
    'dashboards/e.yaml': 'id: e\ntitle: E\nsource: u\nwidgets:\n  - { id: by, type: bar, x: regoin, y: count(*) }\n',
    'data/t.csv': 'id,region,amount\n1,North,ten\n',
    'data/u.csv': 'id,region\n1,North\n',
  });
  const r = check(dir);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error: source 't' cannot be read: data\/t\.csv:2: column "amount"/);
  assert.match(r.stderr, /dashboards\/e\.yaml:\d+:\d+: error: widget 'by': unknown column 'regoin' in 'u'/);
  assert.doesNotMatch(r.stderr, /dashboards\/d\.yaml/, 'the dashboard over the broken source does not repeat its error');
  assert.match(r.stderr, /check failed: 2 error\(s\)/);
});
