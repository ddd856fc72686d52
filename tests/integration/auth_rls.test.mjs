// Row-level security, table-driven: for each kind of user, every widget of both demo dashboards,
// every filter's options and a download answer exactly what Sightline answers, with auth off,
// over a project whose data is only the rows that user is granted. The reference projects are
// built with plain SQL models, so the two answers come from independent paths (row policies and
// scoped plans on one side, unrestricted plans and rollups on the other). Then adversarial
// requests change nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, SOURCE_DIR, demoData, salesProject, startServer, post, tempDir, oracle, ordersScan } from './harness.mjs';

const ROWS = 100000;  // large enough that the secured server builds rollups

const SECURED = `
auth:
  mode: proxy
  proxy:
    trusted_proxies: [127.0.0.1]

roles:
  admin: { groups: [admins] }
  north: { groups: [sales-north] }
  southeast: { groups: [sales-south-east] }
  regional: { groups: [region-west, region-central] }
  qualified: { groups: [qualified-north] }

policies:
  orders:
    admin: all
    north: region = 'North'
    southeast: "region IN ('South', 'East')"
    regional: "list_contains({{ user.groups }}, 'region-' || lower(region))"
    qualified: orders.region = 'North'
  orders_enriched:
    admin: all
    north: region = 'North'
    southeast: "region IN ('South', 'East')"
    regional: "list_contains({{ user.groups }}, 'region-' || lower(region))"
    qualified: orders_enriched.region = 'North'
  customers:
    admin: all
`;

// Who asks, how, and which orders they may see (the reference projects' model predicate).
const USERS = [
  { name: 'admin', groups: ['admins'], granted: 'TRUE', dashboards: ['customers', 'sales'] },
  { name: 'north', groups: ['sales-north'], granted: "region = 'North'", dashboards: ['customers', 'sales'] },
  { name: 'southeast', groups: ['sales-south-east'], granted: "region IN ('South', 'East')", dashboards: ['sales'] },
  { name: 'westy', groups: ['region-west', 'unrelated'], granted: "region = 'West'", dashboards: ['sales'] },
  { name: 'nobody', groups: [], granted: 'FALSE', dashboards: ['sales'] },
  // A policy naming its relation (orders.region): no rollup can answer it, the rows are read.
  { name: 'qualified', groups: ['qualified-north'], granted: "region = 'North'", dashboards: ['sales'] },
  { name: 'token', token: true, granted: "region = 'North'", dashboards: ['customers', 'sales'] },
];

let secured;
let token;
const references = new Map();  // granted predicate -> server over exactly those rows

function referenceProject(granted) {
  const dir = tempDir('granted');
  fs.cpSync(path.join(SOURCE_DIR, 'examples', 'sales', 'dashboards'), path.join(dir, 'dashboards'), { recursive: true });
  fs.symlinkSync(demoData(ROWS), path.join(dir, 'data'));
  fs.writeFileSync(path.join(dir, 'sightline.yaml'), `name: granted rows
sources:
  all_orders:
    path: data/orders/**/*.parquet
    hive_partitioning: true
  customers:
    path: data/customers.csv
    csv: { header: true }
    types: { signup_date: DATE }
models:
  orders: SELECT * FROM all_orders WHERE ${granted}
  orders_enriched: |
    SELECT o.*, c.segment, c.account_manager
    FROM orders o LEFT JOIN customers c USING (customer)
dashboards: dashboards/*.yaml
`);
  return dir;
}

function headersFor(user) {
  if (user.token) return { authorization: `Bearer ${token}` };
  return { 'x-forwarded-user': `${user.name}-subject`, 'x-forwarded-email': `${user.name}@example.com`, 'x-forwarded-groups': user.groups.join(',') };
}

async function getJson(server, p, headers = {}) {
  const res = await fetch(new URL(p, server.url), { headers });
  return { status: res.status, body: await res.json() };
}

async function widgetRows(server, dashboard, widget, body, headers = {}) {
  const res = await post(server, `/api/v1/dashboards/${dashboard}/widgets/${widget}/query`, body, { accept: 'application/json', ...headers });
  const text = await res.text();
  assert.equal(res.status, 200, `${dashboard}/${widget} answered ${res.status}: ${text}`);
  return { rows: JSON.parse(text).rows, total: res.headers.get('x-total-count'), cache: res.headers.get('x-sightline-cache') };
}

before(async () => {
  const dir = salesProject(ROWS, (d) => {
    fs.appendFileSync(path.join(d, 'sightline.yaml'), SECURED);
    // The customers dashboard is for admins and the north team only.
    const file = path.join(d, 'dashboards', 'customers.yaml');
    fs.writeFileSync(file, `roles: [admin, north]\n${fs.readFileSync(file, 'utf8')}`);
  });
  token = execFileSync(BIN, ['token', 'create', dir, '--subject', 'etl-bot', '--name', 'rls test', '--roles', 'north', '--expires', '1d'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  assert.match(token, /^slt_[A-Za-z0-9_-]{40,}$/);
  const listed = execFileSync(BIN, ['token', 'list', dir], { encoding: 'utf8' });
  assert.ok(!listed.includes(token), 'token list never shows the token itself');
  assert.match(listed, /etl-bot\s+north/);
  const stored = fs.readFileSync(path.join(dir, '.sightline', 'tokens.json'), 'utf8');
  assert.ok(!stored.includes(token), 'the tokens file keeps only a hash');
  secured = await startServer(dir);
  secured.dir = dir;
  // Rollups are built in the background: compare only once they answer.
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = await (await fetch(new URL('/readyz', secured.url))).json();
    if (/ready$/.test(String(ready.rollups)) && !/^0 /.test(String(ready.rollups))) break;
    if (Date.now() > deadline) throw new Error(`rollups not ready: ${JSON.stringify(ready)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const grants = [...new Set(USERS.map((u) => u.granted))];
  await Promise.all(grants.map(async (g) => references.set(g, await startServer(referenceProject(g)))));
});

after(async () => {
  await secured?.stop();
  await Promise.all([...references.values()].map((s) => s.stop()));
});

// Widgets whose rows have no defined order (a sample of points): compared by count.
const UNORDERED = new Set(['units_vs_revenue']);
const STATES = {
  sales: [
    {},
    { filters: { channel: ['Online', 'Retail'], units: [1, 6] } },
    { filters: { period: { from: '2024-03-01', to: '2024-09-30' } }, selections: [{ column: 'category', values: ['Electronics'] }] },
  ],
  customers: [
    {},
    { filters: { region: 'North', period: { from: '2024-01-01', to: '2024-12-31' } } },
    { selections: [{ column: 'region', values: ['North', 'West'] }] },
  ],
};

for (const user of USERS) {
  test(`${user.name}: every widget, filter option list and download equals the answer over the granted rows`, async () => {
    const headers = headersFor(user);
    const reference = references.get(user.granted);
    const list = await getJson(secured, '/api/v1/dashboards', headers);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.dashboards.map((d) => d.id).sort(), user.dashboards);
    for (const dashboardId of ['customers', 'sales']) {
      const spec = await getJson(secured, `/api/v1/dashboards/${dashboardId}`, headers);
      if (!user.dashboards.includes(dashboardId)) {
        // Hidden: exactly like an id that does not exist.
        const missing = await getJson(secured, '/api/v1/dashboards/no-such-dashboard', headers);
        assert.equal(spec.status, 404);
        assert.equal(spec.body.detail, missing.body.detail.replace('no-such-dashboard', dashboardId));
        const q = await post(secured, `/api/v1/dashboards/${dashboardId}/widgets/revenue/query`, {}, headers);
        assert.equal(q.status, 404);
        continue;
      }
      assert.equal(spec.status, 200);
      const widgets = spec.body.pages.flatMap((p) => p.widgets).filter((w) => w.type !== 'text');
      assert.ok(widgets.length >= 4, `${dashboardId} has ${widgets.length} data widgets`);
      for (const state of STATES[dashboardId]) {
        for (const w of widgets) {
          const body = w.type === 'table' ? { ...state, sort: [{ column: 'order_id' }], limit: 50 } : state;
          const got = await widgetRows(secured, dashboardId, w.id, body, headers);
          const want = await widgetRows(reference, dashboardId, w.id, body);
          const what = `${user.name} ${dashboardId}/${w.id} ${JSON.stringify(state)}`;
          if (UNORDERED.has(w.id)) assert.equal(got.rows.length, want.rows.length, what);
          else assert.deepEqual(got.rows, want.rows, what);
          assert.equal(got.total, want.total, `${what}: total count`);
        }
      }
      for (const f of spec.body.filters) {
        const p = `/api/v1/dashboards/${dashboardId}/filters/${f.id}/options`;
        const got = await getJson(secured, p, headers);
        const want = await getJson(reference, p);
        assert.equal(got.status, 200, JSON.stringify(got.body));
        assert.deepEqual(got.body, want.body, `${user.name} options of ${dashboardId}/${f.id}`);
      }
    }
    const download = async (server, h) => {
      const res = await post(server, '/api/v1/dashboards/sales/widgets/top_products/query?format=csv', { filters: { channel: ['Online'] } }, h);
      assert.equal(res.status, 200);
      return res.text();
    };
    assert.equal(await download(secured, headers), await download(reference, {}), `${user.name} CSV download`);
    // A download of more rows than an answer holds (engine.max_rows: 100,000): the whole table
    // under the policy, spooled and sent, row for row the reference's.
    const whole = async (server, h) => {
      const res = await post(server, '/api/v1/dashboards/sales/widgets/orders_table/query?format=csv',
        { sort: [{ column: 'order_id' }], limit: 2 * ROWS }, h);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-sightline-cache'), 'bypass', 'the download path');
      return { text: await res.text(), total: res.headers.get('x-total-count') };
    };
    const [got, want] = [await whole(secured, headers), await whole(reference, {})];
    assert.equal(got.total, want.total, `${user.name} whole-table download: count`);
    assert.equal(got.text.split('\r\n').length - 2, Number(want.total), `${user.name} whole-table download: rows`);
    assert.ok(got.text === want.text, `${user.name} whole-table download equals the granted rows`);
    const audited = secured.jsonLogs().filter((l) => l.event === 'audit' && l.action === 'download' && l.widget === 'orders_table');
    assert.ok(audited.some((l) => l.rows === Number(want.total)), `${user.name}: the download is audited`);
  });
}

test('the numbers are DuckDB\'s own over the granted rows (independent oracle)', async () => {
  for (const user of USERS) {
    const [revenue, n] = oracle(`SELECT sum(revenue), count(*) FROM ${ordersScan(ROWS)} WHERE ${user.granted}`).rows[0];
    const row = { revenue, n };
    const got = await widgetRows(secured, 'sales', 'revenue', {}, headersFor(user));
    const orders = await widgetRows(secured, 'sales', 'orders', {}, headersFor(user));
    if (row.revenue === null) assert.equal(got.rows[0][0], null, user.name);
    else assert.equal(Number(got.rows[0][0]).toFixed(2), Number(row.revenue).toFixed(2), user.name);
    assert.equal(Number(orders.rows[0][0]), Number(row.n), user.name);
  }
});

test('adversarial requests do not widen what a user sees', async () => {
  const north = headersFor(USERS[1]);
  const admin = headersFor(USERS[0]);
  const northRevenue = Number(oracle(`SELECT sum(revenue) FROM ${ordersScan(ROWS)} WHERE region = 'North'`).rows[0][0]).toFixed(2);

  // Another user's cached answer is never served: admin asks first, north asks the same.
  const adminFirst = await widgetRows(secured, 'sales', 'revenue', { filters: { units: [1, 3] } }, admin);
  const northSame = await widgetRows(secured, 'sales', 'revenue', { filters: { units: [1, 3] } }, north);
  assert.notEqual(northSame.rows[0][0], adminFirst.rows[0][0]);
  assert.equal(northSame.cache, 'miss');
  const expected = oracle(`SELECT sum(revenue) FROM ${ordersScan(ROWS)} WHERE region = 'North' AND units BETWEEN 1 AND 3`).rows[0][0];
  assert.equal(Number(northSame.rows[0][0]).toFixed(2), Number(expected).toFixed(2));

  // Filters and selections only narrow: another region's value gives nothing, not its rows.
  const south = await widgetRows(secured, 'sales', 'revenue', { filters: { region: 'South' } }, north);
  assert.equal(south.rows[0][0], null);
  const picked = await widgetRows(secured, 'sales', 'revenue', { selections: [{ column: 'region', values: ['South', 'North'] }] }, north);
  assert.equal(Number(picked.rows[0][0]).toFixed(2), northRevenue);

  // Hostile strings are values, never SQL.
  for (const hostile of ["North' OR '1'='1", "x') OR TRUE --", 'North"; DROP TABLE orders; --']) {
    const r = await widgetRows(secured, 'sales', 'revenue', { filters: { region: hostile } }, north);
    assert.equal(r.rows[0][0], null, hostile);
    const opts = await getJson(secured, `/api/v1/dashboards/sales/filters/product/options?q=${encodeURIComponent(hostile)}`, north);
    assert.ok(opts.status === 200 || opts.status === 404 || opts.status === 400, `${hostile}: ${opts.status}`);
  }
  const allAgain = await widgetRows(secured, 'sales', 'revenue', {}, north);
  assert.equal(Number(allAgain.rows[0][0]).toFixed(2), northRevenue);

  // Selections on columns the dashboard does not declare are refused.
  const undeclared = await post(secured, '/api/v1/dashboards/sales/widgets/revenue/query', { selections: [{ column: 'customer', values: ['x'] }] }, north);
  assert.equal(undeclared.status, 400);
  // Options of every region for a regional user hold only theirs.
  const regions = await getJson(secured, '/api/v1/dashboards/sales/filters/region/options', north);
  assert.deepEqual(regions.body.values, ['North']);

  // A revoked token stops working on the next request.
  const id = execFileSync(BIN, ['token', 'list', secured.dir], { encoding: 'utf8' }).split('\n').find((l) => l.includes('etl-bot')).split(/\s+/)[0];
  execFileSync(BIN, ['token', 'revoke', secured.dir, id], { encoding: 'utf8' });
  const revoked = await post(secured, '/api/v1/dashboards/sales/widgets/revenue/query', {}, headersFor(USERS.find((u) => u.token)));
  assert.equal(revoked.status, 401);
  const bad = await post(secured, '/api/v1/dashboards/sales/widgets/revenue/query', {}, { authorization: 'Bearer slt_not-a-real-token' });
  assert.equal(bad.status, 401);

  // Regional users' aggregates came from rollups under their policy (checked above to be exact).
  const before = secured.jsonLogs().length;
  const trend = await widgetRows(secured, 'sales', 'trend', { filters: { channel: ['Online'] } }, north);
  assert.equal(trend.cache, 'miss');
  const read = secured.jsonLogs().slice(before).find((l) => l.event === 'query' && l.statement === 'sales/trend');
  assert.match(read.read_from, /^__sightline_rollup_/, 'a regional user\'s trend is answered by a rollup');
  assert.ok(trend.rows.every((r) => r.includes('North')), 'and holds only their region');

  // Audit lines name the user, roles and the policies applied, and never a token.
  const audit = secured.logs.filter((l) => l.includes('"audit"'));
  assert.ok(audit.some((l) => l.includes('"query"') && l.includes('north-subject') && l.includes('orders/north')), 'audit of a data request');
  assert.ok(audit.some((l) => l.includes('"token_used"')), 'audit of token use');
  assert.ok(!secured.logs.some((l) => l.includes(token)), 'the token never appears in the log');
});
