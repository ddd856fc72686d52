// The binary's life: CLI, `check`, query time limits, hot reload, $PORT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, salesProject, startServer, post, queryJson, writeProject, demoData } from './harness.mjs';

const ROWS = 100_000;
const run = (...args) => spawnSync(BIN, args, { encoding: 'utf8', timeout: 120_000 });

test('--version and --help', () => {
  const v = run('--version');
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^sightline \d+\.\d+\.\d+ \(DuckDB v1\.4\.\d+\)/);
  for (const cmd of [[], ['serve'], ['check'], ['demo-data']]) {
    const h = run(...cmd, '--help');
    assert.equal(h.status, 0, `${cmd.join(' ')} --help`);
    assert.match(h.stdout, /Usage|OPTIONS|Options/);
  }
  const unknown = run('frobnicate');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^error: unknown command 'frobnicate'\ncommands:\n  serve .*\n  check .*\n  demo-data .*\n  token /);
  const typo = run('chek', '.');
  assert.equal(typo.status, 2);
  assert.match(typo.stderr, /unknown command 'chek'\n  hint: did you mean 'check'\?/);
  const none = run();
  assert.equal(none.status, 2, 'no command is a usage error');
  assert.match(none.stderr, /error: name a command: serve, check, token or demo-data/);
});

test('check passes on the demo project and prints a summary', () => {
  const r = run('check', salesProject(ROWS));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok: 2 sources, 1 models, 2 dashboards, \d+ widgets/);
});

test('check reports an unknown column with file:line:column and a hint', () => {
  const dir = salesProject(ROWS, (d) => {
    const f = path.join(d, 'dashboards', 'sales.yaml');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('x: product', 'x: prodcut'));
  });
  const r = run('check', dir);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /dashboards\/sales\.yaml:\d+:\d+: error: widget 'top_products': unknown column 'prodcut' in 'orders'/);
  assert.match(r.stderr, /hint: did you mean 'product'\?/);
});

test('check reports an unknown column inside a measure at the measure', () => {
  const dir = salesProject(ROWS, (d) => {
    const f = path.join(d, 'dashboards', 'sales.yaml');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('expr: sum(units)', 'expr: sum(unitz)'));
  });
  const r = run('check', dir);
  assert.equal(r.status, 1);
  const line = fs.readFileSync(path.join(dir, 'dashboards', 'sales.yaml'), 'utf8').split('\n').findIndex((l) => l.includes('sum(unitz)')) + 1;
  assert.match(r.stderr, new RegExp(`dashboards/sales\\.yaml:${line}:\\d+: error: widget 'units_sold' does not compile.*unitz`));
  assert.match(r.stderr, /hint: did you mean 'units'\?/);
});

test('check reports YAML mistakes precisely', () => {
  const cases = [
    [{ 'sightline.yaml': 'sources:\n  orders: {path: data/x.parquet, materialise: true}\n' }, /sightline\.yaml:2:\d+: error: unknown key 'materialise'.*\n  hint: did you mean 'materialize'\?/],
    [{ 'sightline.yaml': 'sources:\n  orders: [unclosed\n' }, /sightline\.yaml:\d+:\d+: error: YAML syntax error/],
    [{ 'sightline.yaml': 'sources:\n  orders: data/missing/*.parquet\n' }, /sightline\.yaml:2:3: error: source 'orders' cannot be read.*\n  hint: no file matches/],
    [{ 'sightline.yaml': 'engine: {query_timeout: soon}\nsources:\n  t: data/t.csv\n' }, /engine\.query_timeout must be a duration/],
    [{ 'sightline.yaml': 'sources:\n  t: {path: data/t.csv, table: "${env:SIGHTLINE_TEST_UNSET_VAR}"}\n' }, /environment variable 'SIGHTLINE_TEST_UNSET_VAR' is not set/],
    [{
      'sightline.yaml': 'sources:\n  t: data/t.csv\n',
      'data/t.csv': 'a,b\n1,x\n',
      'dashboards/d.yaml': 'source: t\nwidgets:\n  - {id: k, type: kpi, measure: sum(a)}\n  - {id: k, type: kpi, measure: sum(a)}\n  - {id: z, type: chart}\n',
    }, /d\.yaml:4:\d+: error: widget id 'k' is used twice[\s\S]*d\.yaml:5:\d+: error: unknown widget type 'chart'/],
    [{
      'sightline.yaml': 'sources:\n  t: data/t.csv\n',
      'data/t.csv': 'a,b\n1,x\n',
      'dashboards/d.yaml': 'source: tt\nwidgets: []\n',
    }, /d\.yaml:1:9: error: unknown source or model 'tt'\n  hint: did you mean 't'\?/],
    [{
      'sightline.yaml': 'sources:\n  t: data/t.csv\n',
      'data/t.csv': 'a,b\n1,x\n',
      'dashboards/d.yaml': 'source: t\nfilters:\n  - {id: f, type: daterange, column: b}\nwidgets: []\n',
    }, /d\.yaml:3:\d+: error: filter 'f' is a daterange but column 'b' is VARCHAR/],
  ];
  for (const [files, pattern] of cases) {
    const r = run('check', writeProject(files));
    assert.equal(r.status, 1, JSON.stringify(files));
    assert.match(r.stderr, pattern);
  }
});

test('check refuses measures that do not aggregate, at the measure, with the aggregate meant', () => {
  const line = (text, needle) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  const dashboard = `source: t
widgets:
  - id: k
    type: kpi
    measure: revenue
  - id: by_region
    type: bar
    x: region
    y: { expr: revenue * 2, as: doubled }
  - id: constant
    type: kpi
    measure: 42
`;
  const r = run('check', writeProject({
    'sightline.yaml': 'sources:\n  t: data/t.csv\n',
    'data/t.csv': 'region,revenue\nNorth,10\nSouth,20\nNorth,5\n',
    'dashboards/d.yaml': dashboard,
  }));
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`d\\.yaml:${line(dashboard, 'measure: revenue')}:\\d+: error: widget 'k': measure 'revenue' is not an aggregate: `
    + 'a KPI would show the value of one arbitrary row\n  hint: did you mean sum\\(revenue\\)\\?'));
  assert.match(r.stderr, new RegExp(`d\\.yaml:${line(dashboard, 'revenue * 2')}:\\d+: error: widget 'by_region': measure 'revenue \\* 2' is not an aggregate`));
  assert.match(r.stderr, /check failed: 2 error\(s\)/, 'the constant is fine, and each problem is reported once');
});

test('check names an unknown placeholder in own SQL and warns when the filters do not reach it', () => {
  const project = (sql) => writeProject({
    'sightline.yaml': 'sources:\n  t: data/t.csv\n',
    'data/t.csv': 'region,revenue\nNorth,10\n',
    'dashboards/d.yaml': `source: t\nfilters:\n  - { id: region, column: region }\nwidgets:\n  - id: own\n    type: kpi\n    sql: ${sql}\n`,
  });
  const typo = run('check', project('SELECT sum(revenue) AS revenue FROM t WHERE {{ filter }}'));
  assert.equal(typo.status, 1);
  assert.match(typo.stderr, /d\.yaml:7:\d+: error: widget 'own': unknown placeholder \{\{ filter \}\} in its sql\n  hint: did you mean \{\{ filters \}\}\?/);
  assert.doesNotMatch(typo.stderr, /Parser Error/);
  const none = run('check', project('SELECT sum(revenue) AS revenue FROM t'));
  assert.equal(none.status, 0, none.stderr);
  assert.match(none.stderr, /d\.yaml:7:\d+: warning: widget 'own': the dashboard's filters do not apply to this widget/);
});

test('secrets from ${file:} are used but never printed', () => {
  const dir = writeProject({
    'sightline.yaml': 'sources:\n  t: {path: "data/${file:secret.txt}.csv"}\n',
    'secret.txt': 'hunter2-table\n',
    'data/other.csv': 'a\n1\n',
  });
  const r = run('check', dir);
  assert.equal(r.status, 1);
  assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
});

test('a query past its time limit is stopped with a 504 and a clear message', async () => {
  const dir = writeProject({
    'sightline.yaml': 'engine: {query_timeout: 300ms, threads: 1}\nsources:\n  t: data/t.csv\n',
    'data/t.csv': 'a\n1\n',
    'dashboards/slow.yaml': `source: t
widgets:
  - id: slow
    type: kpi
    sql: SELECT count(*) AS n FROM range(100000000000) r, t WHERE {{ filters }} AND hash(r.range) % 7 = 1
  - id: fast
    type: kpi
    measure: count(*)
`,
  });
  const server = await startServer(dir);
  try {
    const started = Date.now();
    const res = await post(server, '/api/v1/dashboards/slow/widgets/slow/query', {});
    assert.equal(res.status, 504);
    const body = await res.json();
    assert.match(body.detail, /ran past its time limit/);
    assert.ok(Date.now() - started < 5000, 'interrupted promptly');
    const { data } = await queryJson(server, 'slow', 'fast');
    assert.equal(String(data.rows[0][0]), '1', 'the connection is usable after an interrupt');
  } finally {
    await server.stop();
  }
});

test('hot reload picks up edits; a broken edit keeps the last good version', async () => {
  const dir = salesProject(ROWS);
  const file = path.join(dir, 'dashboards', 'sales.yaml');
  const original = fs.readFileSync(file, 'utf8');
  const server = await startServer(dir);
  const title = async () => (await (await fetch(new URL('/api/v1/dashboards/sales', server.url))).json()).title;
  const waitFor = async (predicate, what) => {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (await predicate()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  try {
    assert.equal(await title(), 'Sales overview');
    fs.writeFileSync(file, original.replace('title: Sales overview', 'title: Sales, edited'));
    await waitFor(async () => (await title()) === 'Sales, edited', 'the edited title');

    fs.writeFileSync(file, original.replace('title: Sales overview', 'title: Broken').replace('x: product', 'x: nonexistent'));
    await waitFor(async () => server.jsonLogs().some((l) => l.event === 'reload_failed'), 'the reload error in the log');
    assert.equal(await title(), 'Sales, edited', 'the last good version keeps serving');
    const ready = await (await fetch(new URL('/readyz', server.url))).json();
    assert.match(ready.last_reload_error, /unknown column 'nonexistent'/);
    const { data } = await queryJson(server, 'sales', 'top_products');
    assert.equal(data.rows.length, 20, 'widgets still answer');

    fs.writeFileSync(file, original);
    await waitFor(async () => (await title()) === 'Sales overview', 'the fixed version');
    const reload = server.jsonLogs().filter((l) => l.event === 'reloaded').at(-1);
    assert.equal(reload.engine_reused, true, 'dashboard edits do not reload the data');

    // A measure edit changes the rollups: the new ones replace the old, and answers stay right.
    const before = Number((await queryJson(server, 'sales', 'units_sold')).data.rows[0][0]);
    fs.writeFileSync(file, original.replace('expr: sum(units), as: units', 'expr: sum(units) * 2, as: units'));
    await waitFor(async () => {
      const r = await post(server, '/api/v1/dashboards/sales/widgets/units_sold/query', {}, { accept: 'application/json' });
      return r.status === 200 && Number((await r.json()).rows[0][0]) === 2 * before;
    }, 'the doubled measure');
    for (const w of ['revenue', 'trend', 'by_channel', 'region_category']) {
      const r = await post(server, `/api/v1/dashboards/sales/widgets/${w}/query`, { filters: { region: 'North' } });
      assert.equal(r.status, 200, `${w} still answers after the rollups were rebuilt`);
    }
  } finally {
    await server.stop();
  }
});

test('limits edited in sightline.yaml take effect on reload', async () => {
  const dir = salesProject(ROWS);
  const server = await startServer(dir);
  try {
    assert.equal((await queryJson(server, 'sales', 'top_products')).data.rows.length, 20);
    const f = path.join(dir, 'sightline.yaml');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('max_rows: 100000', 'max_rows: 5'));
    const deadline = Date.now() + 30_000;
    let rows = 20;
    while (Date.now() < deadline && rows !== 5) {
      await new Promise((r) => setTimeout(r, 300));
      rows = (await queryJson(server, 'sales', 'top_products')).data.rows.length;
    }
    assert.equal(rows, 5);
  } finally {
    await server.stop();
  }
});

test('SIGTERM lets a running request finish and answer', async () => {
  const dir = writeProject({
    'sightline.yaml': 'engine: {threads: 1}\nsources:\n  t: data/t.csv\n',
    'data/t.csv': 'a\n1\n',
    'dashboards/slow.yaml': `source: t
widgets:
  - id: slowish
    type: kpi
    sql: SELECT count(*) AS n FROM range(300000000) r, t WHERE {{ filters }} AND hash(r.range) % 7 = 1
`,
  });
  const server = await startServer(dir);
  const pending = post(server, '/api/v1/dashboards/slow/widgets/slowish/query', {}, { accept: 'application/json' });
  await new Promise((r) => setTimeout(r, 300));
  server.child.kill('SIGTERM');
  const res = await pending;
  assert.equal(res.status, 200);
  assert.ok(Number((await res.json()).rows[0][0]) > 0);
  assert.equal(await new Promise((resolve) => server.child.on('exit', resolve)), 0);
});

test('--no-rollups serves from the sources and says so', async () => {
  const server = await startServer(salesProject(ROWS), ['--no-rollups', '--no-reload']);
  try {
    const ready = await (await fetch(new URL('/readyz', server.url))).json();
    assert.equal(ready.rollups, 'disabled');
    const { data } = await queryJson(server, 'sales', 'orders', { filters: { region: 'North' } });
    assert.ok(Number(data.rows[0][0]) > 0);
    await new Promise((r) => setTimeout(r, 100));
    const q = server.jsonLogs().filter((l) => l.event === 'query' && l.statement === 'sales/orders');
    assert.ok(q.length > 0 && q.every((l) => l.read_from === 'orders'));
  } finally {
    await server.stop();
  }
});

test('$PORT is honoured when --port is not given', async () => {
  const dir = salesProject(ROWS);
  const net = await import('node:net');
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const { spawn } = await import('node:child_process');
  const child = spawn(BIN, ['serve', dir, '--no-reload'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('no start')), 60_000);
      child.stdout.on('data', (d) => { out += d; const m = out.match(/at (http:\/\/\S+\/)/); if (m) { clearTimeout(t); resolve(m[1]); } });
    });
    assert.equal(new URL(url).port, String(port));
    assert.equal((await fetch(new URL('/healthz', url))).status, 200);
  } finally {
    child.kill('SIGTERM');
  }
});

test('a port in use is a clear start-up error', async () => {
  const dir = salesProject(ROWS);
  const first = await startServer(dir);
  try {
    const r = run('serve', dir, '--port', new URL(first.url).port);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+.*\n  hint: another program uses that port/);
  } finally {
    await first.stop();
  }
});

test('demo-data is deterministic and refuses nonsense', () => {
  const a = demoData(ROWS);
  assert.ok(fs.existsSync(path.join(a, 'customers.csv')));
  const bad = run('demo-data', '--rows', '-5', '--out', '/tmp/x');
  assert.notEqual(bad.status, 0);
});
