// The HTTP API over the demo project: every endpoint, filter semantics checked against the
// independent DuckDB oracle, content negotiation, paging and logs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromIPC } from '../js/node_modules/apache-arrow/Arrow.node.mjs';
import { salesProject, startServer, post, queryJson, oracle, ordersScan, demoData } from './harness.mjs';

const ROWS = 100_000;
let server;
const scan = () => ordersScan(ROWS);
const num = (v) => Number(v);
const close = (a, b) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));

before(async () => { server = await startServer(salesProject(ROWS)); });
after(async () => { assert.equal(await server.stop(), 0, 'server exits cleanly on SIGTERM'); });

test('health and readiness', async () => {
  const h = await fetch(new URL('/healthz', server.url));
  assert.equal(h.status, 200);
  assert.deepEqual(await h.json(), { status: 'ok' });
  const r = await fetch(new URL('/readyz', server.url));
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.status, 'ready');
  assert.equal(body.project, 'Sales analytics');
  assert.equal(body.dashboards, 2);
});

test('the root and /d/<id> serve the embedded UI page, whose assets are cached, compressed and revalidated', async () => {
  if (process.env.SIGHTLINE_WEB_UI !== '1') {
    // A build configured with -DSIGHTLINE_WEB_UI=OFF serves a page that points at the API.
    const r = await fetch(server.url);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /Sightline is running/);
    assert.equal((await fetch(new URL('/d/sales', server.url))).status, 404);
    return;
  }
  const page = await fetch(server.url, { headers: { 'accept-encoding': 'identity' } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  assert.match(page.headers.get('content-security-policy'), /script-src 'self';/);
  const html = await page.text();
  const scripts = [...html.matchAll(/src="(\/assets\/[^"]+\.js)"/g)].map((m) => m[1]);
  assert.ok(scripts.length >= 1, 'the page loads a hashed script bundle');
  assert.doesNotMatch(html, /<script>(?!<)/, 'no inline script');
  const deep = await fetch(new URL('/d/sales?f.region=North', server.url), { headers: { 'accept-encoding': 'identity' } });
  assert.equal(await deep.text(), html);

  // Node's fetch would decode; ask with the raw HTTP module to see the encoded bytes.
  const { request } = await import('node:http');
  const zlib = await import('node:zlib');
  const raw = (p, headers) => new Promise((resolve, reject) => {
    request(new URL(p, server.url), { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
  const plain = await raw(scripts[0], {});
  assert.equal(plain.status, 200);
  assert.match(plain.headers['content-type'], /^text\/javascript/);
  assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(plain.headers['content-encoding'], undefined);
  const br = await raw(scripts[0], { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.ok(br.body.length < plain.body.length / 2, 'brotli pays on the bundle');
  assert.deepEqual(zlib.brotliDecompressSync(br.body), plain.body);
  const gz = await raw(scripts[0], { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.deepEqual(zlib.gunzipSync(gz.body), plain.body);
  assert.notEqual(gz.headers.etag, br.headers.etag, 'each representation has its own tag');

  const again = await raw(scripts[0], { 'accept-encoding': 'br', 'if-none-match': br.headers.etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  const missing = await fetch(new URL('/assets/nope.js', server.url));
  assert.equal(missing.status, 404);
  assert.match(missing.headers.get('content-type'), /problem\+json/);
  const post = await fetch(new URL('/d/sales', server.url), { method: 'POST' });
  assert.equal(post.status, 405);
});

test('dashboards are listed with id and title', async () => {
  const r = await fetch(new URL('/api/v1/dashboards', server.url));
  assert.equal(r.status, 200);
  const { dashboards } = await r.json();
  assert.deepEqual(dashboards.map((d) => d.id).sort(), ['customers', 'sales']);
  assert.equal(dashboards.find((d) => d.id === 'sales').title, 'Sales overview');
});

test('a dashboard spec has filters, pages and widgets but never SQL', async () => {
  const r = await fetch(new URL('/api/v1/dashboards/sales', server.url));
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.doesNotMatch(text, /SELECT |FROM |sum\(|count\(|\{\{/, 'no SQL or measure expressions leak to clients');
  const spec = JSON.parse(text);
  assert.deepEqual(spec.filters.map((f) => [f.id, f.type]), [
    ['region', 'select'], ['channel', 'multiselect'], ['category', 'multiselect'],
    ['period', 'daterange'], ['units', 'range'], ['product', 'text']]);
  assert.equal(spec.pages.length, 2);
  const widgets = spec.pages.flatMap((p) => p.widgets);
  assert.ok(widgets.length >= 10);
  const trend = widgets.find((w) => w.id === 'trend');
  assert.equal(trend.type, 'line');
  assert.equal(trend.layout.width, 8);
  assert.equal(trend.encoding.x.field, 'month');
  assert.equal(trend.encoding.x.grain, 'month');
  assert.equal(trend.encoding.y[0].field, 'revenue');
  assert.equal(trend.encoding.color.field, 'region');
  const custom = (await (await fetch(new URL('/api/v1/dashboards/customers', server.url))).json())
    .pages.flatMap((p) => p.widgets).find((w) => w.id === 'top_managers');
  assert.equal(custom.custom_sql, true);
  assert.equal(custom.sql, undefined);
});

test('KPI without filters equals DuckDB over the files', async () => {
  const { data } = await queryJson(server, 'sales', 'revenue');
  const expected = oracle(`SELECT sum(revenue) FROM ${scan()}`).rows[0][0];
  assert.deepEqual(data.columns.map((c) => c.name), ['revenue', 'revenue_previous']);
  assert.ok(close(num(data.rows[0][0]), num(expected)), `${data.rows[0][0]} vs ${expected}`);
});

test('a KPI with compare: previous_period also answers the same measure over the period before', async () => {
  const { data } = await queryJson(server, 'sales', 'revenue', {
    filters: { period: { from: '2024-04-01', to: '2024-06-30' } },
    selections: [{ column: 'order_date', range: ['2024-05-01', '2024-05-31'], widget: 'trend' }],
  });
  assert.deepEqual(data.columns.map((c) => c.name), ['revenue', 'revenue_previous']);
  // 91 days back (2024 is a leap year): 2024-01-01 .. 2024-03-31. The pick on the date column
  // narrows "now" only.
  const now = oracle(`SELECT sum(revenue) FROM ${scan()} WHERE order_date BETWEEN '2024-05-01' AND '2024-05-31'`).rows[0][0];
  const before = oracle(`SELECT sum(revenue) FROM ${scan()} WHERE order_date BETWEEN '2024-01-01' AND '2024-03-31'`).rows[0][0];
  assert.ok(close(num(data.rows[0][0]), num(now)), `${data.rows[0][0]} vs ${now}`);
  assert.ok(close(num(data.rows[0][1]), num(before)), `${data.rows[0][1]} vs ${before}`);

  const orders = await queryJson(server, 'sales', 'orders', { filters: { period: { from: '2025-01-01', to: '2025-01-31' }, region: 'East' } });
  const ordersBefore = oracle(`SELECT count(*) FROM ${scan()} WHERE order_date BETWEEN '2024-12-01' AND '2024-12-31' AND region = 'East'`).rows[0][0];
  assert.equal(String(orders.data.rows[0][1]), ordersBefore);

  // March 2024 is 31 days: the 31 days before it run from 2024-01-30 to the leap day.
  const march = await queryJson(server, 'sales', 'orders', { filters: { period: { from: '2024-03-01', to: '2024-03-31' } } });
  assert.equal(String(march.data.rows[0][1]),
    oracle(`SELECT count(*) FROM ${scan()} WHERE order_date BETWEEN '2024-01-30' AND '2024-02-29'`).rows[0][0]);

  // No closed date range, no comparison: a typed NULL, not a wrong number.
  const open = await queryJson(server, 'sales', 'revenue', { filters: { period: { from: '2024-01-01' } } });
  assert.deepEqual(open.data.columns.map((c) => c.type), ['decimal(38,2)', 'decimal(38,2)']);
  assert.equal(open.data.rows[0][1], null);
  const spec = await (await fetch(new URL('/api/v1/dashboards/sales', server.url))).json();
  assert.deepEqual(spec.pages[0].widgets[0].encoding.compare,
    { field: 'revenue_previous', filter: 'period', format: 'currency', label: 'previous period', period: 'previous_period' });
});

test('every filter type narrows exactly like the equivalent SQL', async () => {
  const filters = {
    region: 'North',
    channel: ['Online', 'Partner'],
    period: { from: '2024-02-01', to: '2024-11-30' },
    units: [2, 10],
    product: 'a',
  };
  const { data } = await queryJson(server, 'sales', 'orders', { filters });
  const expected = oracle(`SELECT count(*) FROM ${scan()} WHERE region = 'North' AND channel IN ('Online', 'Partner')
    AND order_date BETWEEN DATE '2024-02-01' AND DATE '2024-11-30' AND units BETWEEN 2 AND 10
    AND contains(lower(product), 'a')`).rows[0][0];
  assert.equal(String(data.rows[0][0]), expected);
  assert.ok(num(expected) > 0, 'the filter state selects some rows');
});

test('a text search that matches few values selects rows by the matched values, exactly', async () => {
  for (;;) {  // the distinct-value tables come with the background pre-aggregation
    const ready = await (await fetch(new URL('/readyz', server.url))).json();
    if (!String(ready.rollups).includes('building')) {
      assert.equal(ready.rollups_progress, undefined, 'no progress once built');
      break;
    }
    // While building, how far it has come.
    const p = ready.rollups_progress;
    assert.ok(p && p.dashboards_done <= p.dashboards && p.built >= 0, JSON.stringify(ready));
    await new Promise((r) => setTimeout(r, 200));
  }
  const some = (await (await fetch(new URL('/api/v1/dashboards/sales/filters/product/options?limit=50', server.url))).json()).values;
  for (const name of [some[3], some[40]]) {
    const needle = name.slice(-5, -1).toUpperCase();
    const { data } = await queryJson(server, 'sales', 'orders', { filters: { product: needle, region: 'West' } });
    const expected = oracle(`SELECT count(*) FROM ${scan()} WHERE contains(lower(product), lower('${needle.replace(/'/g, "''")}')) AND region = 'West'`).rows[0][0];
    assert.equal(String(data.rows[0][0]), expected, needle);
  }
  // "e" is in most of the 2000 product names: more than an IN list takes, so the rows are
  // selected by a semi-join on the matching values instead.
  const many = await queryJson(server, 'sales', 'revenue', { filters: { product: 'E', channel: ['Online'] } });
  const manyExpected = oracle(`SELECT sum(revenue) FROM ${scan()} WHERE contains(lower(product), 'e') AND channel = 'Online'`).rows[0][0];
  assert.ok(close(num(many.data.rows[0][0]), num(manyExpected)), `${many.data.rows[0][0]} vs ${manyExpected}`);
  const top = await queryJson(server, 'sales', 'top_products', { filters: { product: 'e' } });
  const topExpected = oracle(`SELECT product, sum(revenue) AS r FROM ${scan()} WHERE contains(lower(product), 'e') GROUP BY product ORDER BY r DESC LIMIT 20`);
  assert.deepEqual(top.data.rows.map((r) => r[0]), topExpected.rows.map((r) => r[0]));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(server.jsonLogs().some((l) => l.event === 'query' && l.statement === 'sales/filter:product#matches'));
});

test('an explicit null clears a filter and open range ends work', async () => {
  const all = oracle(`SELECT count(*) FROM ${scan()} WHERE units >= 5`).rows[0][0];
  const { data } = await queryJson(server, 'sales', 'orders', { filters: { region: null, units: [5, null] } });
  assert.equal(String(data.rows[0][0]), all);
});

test('selections cross-filter other widgets but not the widget they came from', async () => {
  const body = { selections: [{ column: 'category', values: ['Electronics', 'Toys'], widget: 'category_channel' }] };
  const expected = oracle(`SELECT sum(revenue) FROM ${scan()} WHERE category IN ('Electronics', 'Toys')`).rows[0][0];
  const { data } = await queryJson(server, 'sales', 'revenue', body);
  assert.ok(close(num(data.rows[0][0]), num(expected)));
  const own = await queryJson(server, 'sales', 'category_channel', body);
  const categories = new Set(own.data.rows.map((r) => r[0]));
  assert.ok(categories.size > 2, 'the source widget still shows every category');
  const ranged = await queryJson(server, 'sales', 'orders', { selections: [{ column: 'units', range: [3, 4] }] });
  assert.equal(String(ranged.data.rows[0][0]), oracle(`SELECT count(*) FROM ${scan()} WHERE units BETWEEN 3 AND 4`).rows[0][0]);
});

test('charts group, sort and limit as declared', async () => {
  const top = await queryJson(server, 'sales', 'top_products');
  const expected = oracle(`SELECT product, sum(revenue) AS r FROM ${scan()} GROUP BY product ORDER BY r DESC LIMIT 20`);
  assert.deepEqual(top.data.rows.map((r) => r[0]), expected.rows.map((r) => r[0]));
  const trend = await queryJson(server, 'sales', 'trend', { filters: { region: 'West' } });
  assert.deepEqual(trend.data.columns.map((c) => c.name), ['month', 'region', 'revenue']);
  assert.equal(trend.data.rows.length, 36, 'three years of months for one region');
  assert.equal(trend.data.rows[0][0], '2023-01-01');
  const hist = await queryJson(server, 'sales', 'price_histogram');
  assert.equal(hist.data.rows.reduce((s, r) => s + num(r[2]), 0), num(oracle(`SELECT count(unit_price) FROM ${scan()}`).rows[0][0]));
  const heat = await queryJson(server, 'sales', 'region_category');
  assert.equal(heat.data.rows.length, 5 * 8);
});

test('Arrow is the default format and decodes with apache-arrow', async () => {
  const res = await post(server, '/api/v1/dashboards/sales/widgets/top_products/query', {});
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/vnd.apache.arrow.stream');
  const table = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
  assert.equal(table.numRows, 20);
  assert.deepEqual(table.schema.fields.map((f) => f.name), ['product', 'revenue']);
  const expected = oracle(`SELECT product, sum(revenue) AS r FROM ${scan()} GROUP BY product ORDER BY r DESC LIMIT 20`);
  assert.equal(table.getChild('product').get(0), expected.rows[0][0]);
});

test('a table page over Arrow has DuckDB\'s types and values, nulls included', async () => {
  const body = { filters: { region: 'East', period: { from: '2024-03-01', to: '2024-03-31' } }, sort: [{ column: 'order_id', desc: false }], limit: 500 };
  const res = await post(server, '/api/v1/dashboards/sales/widgets/orders_table/query', body);
  assert.equal(res.status, 200);
  const table = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
  const expected = oracle(`SELECT order_id, order_date, region, country, channel, category, product, customer, units, unit_price, discount, revenue
    FROM ${scan()} WHERE region = 'East' AND order_date BETWEEN DATE '2024-03-01' AND DATE '2024-03-31' ORDER BY order_id LIMIT 500`);
  assert.equal(table.numRows, expected.rows.length);
  assert.deepEqual(table.schema.fields.map((f) => f.name), expected.columns);
  const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
  assert.equal(types.order_id, 'Int64');
  assert.equal(types.order_date, 'Date32<DAY>');
  assert.equal(types.units, 'Int32');
  assert.equal(types.discount, 'Float64');
  assert.match(types.unit_price, /^Decimal\[10e\+?-?2\]|Decimal/);
  // A materialized source stores text that repeats few values as an ENUM: it travels as a
  // dictionary of UTF-8 values (and reads as the same strings).
  assert.match(types.region, /^Dictionary<Uint8, Utf8>$/);
  assert.equal(types.customer, 'Utf8');  // too many distinct customers for that
  const render = (name, v) => {
    if (v === null || v === undefined) return null;
    if (name === 'order_date') return new Date(v).toISOString().slice(0, 10);
    if (name === 'unit_price' || name === 'revenue') {
      // apache-arrow gives decimals as 128-bit integers of the unscaled value.
      const unscaled = BigInt(String(v));
      const neg = unscaled < 0n;
      const digits = (neg ? -unscaled : unscaled).toString().padStart(3, '0');
      return `${neg ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`;
    }
    if (name === 'discount') return Number(v);
    return String(v);
  };
  let nulls = 0;
  for (let r = 0; r < expected.rows.length; r++) {
    for (let c = 0; c < expected.columns.length; c++) {
      const name = expected.columns[c];
      const want = expected.rows[r][c];
      const got = render(name, table.getChildAt(c).get(r));
      if (want === null) { nulls++; assert.equal(got, null, `${name} row ${r}`); continue; }
      if (name === 'discount') assert.ok(Math.abs(got - Number(want)) < 1e-12, `${name} row ${r}: ${got} vs ${want}`);
      else assert.equal(got, want, `${name} row ${r}`);
    }
  }
  assert.ok(nulls > 0, 'the page holds some nulls to check');
});

test('tables page on the server with a total count and client sort', async () => {
  const total = oracle(`SELECT count(*) FROM ${scan()} WHERE region = 'South'`).rows[0][0];
  const page = async (offset) => (await queryJson(server, 'sales', 'orders_table', {
    filters: { region: 'South' }, sort: [{ column: 'order_id', desc: false }], offset, limit: 50,
  }));
  const first = await page(0);
  const second = await page(50);
  assert.equal(first.res.headers.get('x-total-count'), total);
  assert.equal(first.data.rows.length, 50);
  const expectedIds = oracle(`SELECT order_id FROM ${scan()} WHERE region = 'South' ORDER BY order_id LIMIT 100`).rows.map((r) => r[0]);
  assert.deepEqual([...first.data.rows, ...second.data.rows].map((r) => String(r[0])), expectedIds);
  const bad = await post(server, '/api/v1/dashboards/sales/widgets/orders_table/query', { sort: [{ column: 'secret_column' }] });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).detail, /cannot sort by 'secret_column'/);
});

test('filter options: values with search and cap, bounds for ranges', async () => {
  const regions = await (await fetch(new URL('/api/v1/dashboards/sales/filters/region/options', server.url))).json();
  assert.deepEqual(regions.values, ['Central', 'East', 'North', 'South', 'West']);
  assert.equal(regions.truncated, false);
  const products = await (await fetch(new URL('/api/v1/dashboards/sales/filters/product/options?q=PRO&limit=5', server.url))).json();
  assert.ok(products.values.length <= 5);
  for (const p of products.values) assert.match(p, /pro/i);
  const units = await (await fetch(new URL('/api/v1/dashboards/sales/filters/units/options', server.url))).json();
  const [min, max] = oracle(`SELECT min(units), max(units) FROM ${scan()}`).rows[0];
  assert.deepEqual([String(units.min), String(units.max)], [min, max]);
  const period = await (await fetch(new URL('/api/v1/dashboards/sales/filters/period/options', server.url))).json();
  assert.equal(period.min, '2023-01-01');
  assert.equal(period.max, '2025-12-31');
});

test('custom SQL widgets get the filter predicate bound in place', async () => {
  const { data } = await queryJson(server, 'customers', 'top_managers', { filters: { region: 'East', period: null } });
  assert.ok(data.rows.length > 0 && data.rows.length <= 15);
  const expected = oracle(`SELECT c.account_manager, sum(o.revenue) r FROM ${scan()} o
    LEFT JOIN read_csv('${demoData(ROWS)}/customers.csv', header=true) c USING (customer)
    WHERE o.region = 'East' GROUP BY 1 ORDER BY r DESC LIMIT 15`);
  assert.deepEqual(data.rows.map((r) => r[0]), expected.rows.map((r) => r[0]));
});

test('filter defaults apply when the request does not mention the filter', async () => {
  const withDefault = await queryJson(server, 'customers', 'revenue');
  const cleared = await queryJson(server, 'customers', 'revenue', { filters: { period: null } });
  const expected2025 = oracle(`SELECT sum(revenue) FROM ${scan()} WHERE year(order_date) = 2025`).rows[0][0];
  assert.ok(close(num(withDefault.data.rows[0][0]), num(expected2025)));
  assert.ok(num(cleared.data.rows[0][0]) > num(withDefault.data.rows[0][0]));
});

test('scatter charts return a bounded, repeatable sample', async () => {
  const a = await queryJson(server, 'customers', 'units_vs_revenue', { filters: { period: null } });
  const b = await queryJson(server, 'customers', 'units_vs_revenue', { filters: { period: null } });
  assert.deepEqual(a.data.columns.map((c) => c.name), ['units', 'revenue', 'segment']);
  assert.equal(a.data.rows.length, 2000);
  assert.deepEqual(a.data.rows, b.data.rows);
});

test('repeated queries are answered from the cache', async () => {
  const body = { filters: { region: 'Central' } };
  await queryJson(server, 'sales', 'by_channel', body);
  const again = await queryJson(server, 'sales', 'by_channel', body);
  assert.equal(again.res.headers.get('x-sightline-cache'), 'hit');
});

test('every response carries a request id, and a sane incoming one is kept', async () => {
  const r = await fetch(new URL('/api/v1/dashboards', server.url), { headers: { 'x-request-id': 'trace-abc-123' } });
  assert.equal(r.headers.get('x-request-id'), 'trace-abc-123');
  const generated = await fetch(new URL('/api/v1/dashboards', server.url), { headers: { 'x-request-id': 'bad id\u00e9' } });
  assert.match(generated.headers.get('x-request-id'), /^[0-9a-f]{16}$/);
});

test('concurrent requests are all answered', async () => {
  const widgets = ['revenue', 'orders', 'avg_order', 'units_sold', 'trend', 'by_channel', 'top_products', 'category_channel'];
  const responses = await Promise.all(Array.from({ length: 64 }, (_, i) =>
    post(server, `/api/v1/dashboards/sales/widgets/${widgets[i % widgets.length]}/query`,
      { filters: { units: [1, 1 + (i % 7)] } }, { accept: 'application/json' })));
  for (const r of responses) assert.equal(r.status, 200);
});

test('requests and queries are logged as JSON lines', async () => {
  await queryJson(server, 'sales', 'units_sold', { filters: { region: 'East' } });
  await new Promise((r) => setTimeout(r, 100));
  const logs = server.jsonLogs();
  const req = logs.filter((l) => l.event === 'request' && l.path === '/api/v1/dashboards/sales/widgets/units_sold/query').at(-1);
  assert.ok(req, 'request log line present');
  for (const key of ['time', 'request_id', 'method', 'path', 'status', 'duration_ms', 'rows', 'bytes']) assert.ok(key in req, key);
  assert.equal(req.status, 200);
  assert.equal(req.rows, 1);
  const q = logs.find((l) => l.event === 'query' && l.statement === 'sales/units_sold');
  assert.ok(q && typeof q.duration_ms === 'number' && q.rows === 1);
});
