// End to end: the CSV and Arrow downloads of a widget, clicked in the page and caught through the
// browser's download event, compared with what the API answers for the same body and with the
// oracle's count; cells that a spreadsheet would run as formulas arrive neutralized.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { salesProject, post, oracle, ordersScan, BUILD_DIR } from '../integration/harness.mjs';
import { openPage, screenshotter, waitForDrawn, pickOption, downloadFrom } from './browser.mjs';
import { serveAndBrowse } from './setup.mjs';
import { tableFromIPC, Type } from '../js/node_modules/apache-arrow/Arrow.node.mjs';

const ROWS = 100_000;
const MAX_ROWS = 10_000;
const MAX_EXPORT = 60_000;
const scan = () => ordersScan(ROWS);
const shot = screenshotter(BUILD_DIR, 'downloads');

// RFC 4180: rows of fields; CRLF line ends, quoted fields may hold commas, quotes, line breaks.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i += 1; }
    else field += c;
  }
  assert.ok(!quoted, 'the CSV ends inside a quoted field');
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

// An Arrow cell as the CSV writes it (docs/api.md): decimals with their exact scale, dates as
// YYYY-MM-DD, NULL as an empty field. Floats are compared as numbers by the caller.
function arrowText(type, v) {
  if (v === null || v === undefined) return '';
  switch (type.typeId) {
    case Type.Decimal: {
      const unscaled = BigInt(String(v));
      const neg = unscaled < 0n;
      const digits = (neg ? -unscaled : unscaled).toString().padStart(type.scale + 1, '0');
      const text = type.scale === 0 ? digits : `${digits.slice(0, -type.scale)}.${digits.slice(-type.scale)}`;
      return (neg ? '-' : '') + text;
    }
    case Type.Date: return new Date(v).toISOString().slice(0, 10);
    default: return String(v);
  }
}

function assertArrowMatchesCsv(table, csvRows, what) {
  const [header, ...rows] = csvRows;
  assert.deepEqual(table.schema.fields.map((f) => f.name), header.map((h) => h.replace(/^'/, '')), `${what}: columns`);
  assert.equal(table.numRows, rows.length, `${what}: rows`);
  for (let r = 0; r < Math.min(rows.length, 50); r += 1) {
    table.schema.fields.forEach((f, c) => {
      const v = table.getChild(f.name).get(r);
      const cell = rows[r][c];
      if (f.type.typeId === Type.Float) assert.equal(v, Number(cell), `${what}: row ${r} ${f.name}`);
      else assert.equal(arrowText(f.type, v), cell.replace(/^'(?=[=+\-@\t\r])/, ''), `${what}: row ${r} ${f.name}`);
    });
  }
}

async function apiCsv(dashboard, widget, body) {
  const res = await post(app.server, `/api/v1/dashboards/${dashboard}/widgets/${widget}/query?format=csv`, body);
  assert.equal(res.status, 200);
  return res.text();
}

const app = serveAndBrowse(() => {
  // The demo project plus a dashboard whose only widget returns text a spreadsheet would run.
  return salesProject(ROWS, (d) => {
    // Answers of at most 10,000 rows and downloads of at most 60,000: a filtered download is whole
    // and more than one answer; the unfiltered one (100,000 rows) is cut, and the page says so.
    const yaml = path.join(d, 'sightline.yaml');
    const config = fs.readFileSync(yaml, 'utf8');
    assert.match(config, /max_rows: 100000/);
    fs.writeFileSync(yaml, config.replace('max_rows: 100000', `max_rows: ${MAX_ROWS}\n  max_export_rows: ${MAX_EXPORT}`));
    fs.writeFileSync(path.join(d, 'dashboards', 'formulas.yaml'), `title: Formulas
source: orders
filters:
  - { id: region, type: select, column: region, label: Region }
widgets:
  - id: formulas
    type: table
    title: Formula cells
    sql: >-
      SELECT '=1+1' AS formula, '+SUM(A1)' AS plus, '-2+3' AS minus, '@cmd' AS at, 'plain' AS text,
      count(*) AS "=n" FROM orders WHERE {{ filters }}
    width: 12
`);
  });
});

test('the orders table downloads as CSV and Arrow under a filter, the same rows the API gives', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/sales?page=orders'));
  await waitForDrawn(page);
  await pickOption(page, 'region', 'nor', 'North');
  await shot(page, 'orders-north');
  const count = Number(oracle(`SELECT count(*) FROM ${scan()} WHERE region = 'North'`).rows[0][0]);
  assert.ok(count > MAX_ROWS && count < MAX_EXPORT, `North has ${count} orders: more than one answer, fewer than a download's limit`);
  assert.equal(Number(await page.locator('[data-total-count]').getAttribute('data-value')), count);

  const csv = await downloadFrom(page, 'orders_table', 'csv');
  await shot(page, 'downloaded-csv');
  assert.match(csv.name, /^sales-orders_table-\d{4}-\d{2}-\d{2}\.csv$/);
  const text = csv.bytes.toString('utf8');
  const rows = parseCsv(text);
  const api = await apiCsv('sales', 'orders_table', { filters: { region: 'North' }, offset: 0, limit: count });
  const apiRows = parseCsv(api);
  assert.deepEqual(rows[0], ['order_id', 'order_date', 'region', 'country', 'channel', 'category', 'product', 'customer', 'units', 'unit_price', 'discount', 'revenue']);
  assert.deepEqual(rows[0], apiRows[0], 'header');
  assert.deepEqual(rows.slice(1, 101), apiRows.slice(1, 101), 'first rows');
  assert.equal(rows.length - 1, count, 'every row of the filter, not one page');
  assert.equal(apiRows.length - 1, count);
  assert.ok(text === api, 'the whole file equals the API\'s answer for the same body');
  for (const r of rows.slice(1)) assert.equal(r[2], 'North');
  // The first row is the largest revenue (the widget's sort), as DuckDB says.
  const [[top]] = oracle(`SELECT max(revenue) FROM ${scan()} WHERE region = 'North'`).rows;
  assert.equal(rows[1][11], top);
  assert.match(await page.locator('[data-announcer]').innerText(), /Downloaded Orders as CSV/);
  assert.equal(await page.locator('.widget[data-widget-id="orders_table"] [data-download-notice]').isVisible(), false, 'a whole download says nothing');

  const arrow = await downloadFrom(page, 'orders_table', 'arrow');
  assert.match(arrow.name, /^sales-orders_table-\d{4}-\d{2}-\d{2}\.arrows$/);
  const table = tableFromIPC(new Uint8Array(arrow.bytes));
  assertArrowMatchesCsv(table, rows, 'Arrow download');
  assert.deepEqual(problems, []);
});

test('cells starting with = + - @ download neutralized in CSV and as they are in Arrow', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/formulas'));
  await waitForDrawn(page);
  await pickOption(page, 'region', 'sou', 'South');
  await shot(page, 'formulas-south');
  const count = oracle(`SELECT count(*) FROM ${scan()} WHERE region = 'South'`).rows[0][0];
  // The page shows the text as it is.
  const cells = await page.locator('.widget[data-widget-id="formulas"] [role=row]:has([role=cell]) [role=cell]').allInnerTexts();
  assert.deepEqual(cells.slice(0, 5).map((c) => c.trim()), ['=1+1', '+SUM(A1)', '-2+3', '@cmd', 'plain']);

  const csv = await downloadFrom(page, 'formulas', 'csv');
  const text = csv.bytes.toString('utf8');
  assert.equal(text, await apiCsv('formulas', 'formulas', { filters: { region: 'South' }, offset: 0, limit: 1 }), 'the API answers the same file');
  const rows = parseCsv(text);
  assert.deepEqual(rows[0], ['formula', 'plus', 'minus', 'at', 'text', "'=n"], 'a header starting with = is neutralized');
  assert.deepEqual(rows.slice(1), [["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", 'plain', count]]);

  const arrow = tableFromIPC(new Uint8Array((await downloadFrom(page, 'formulas', 'arrow')).bytes));
  assert.equal(arrow.numRows, 1);
  assert.deepEqual(arrow.schema.fields.map((f) => f.name), ['formula', 'plus', 'minus', 'at', 'text', '=n']);
  assert.deepEqual(arrow.schema.fields.map((f) => String(arrow.getChild(f.name).get(0))), ['=1+1', '+SUM(A1)', '-2+3', '@cmd', 'plain', count]);
  assert.deepEqual(problems, []);
});

test('a download cut at the server\'s limit says so on the page, and holds the first rows in order', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/sales?page=orders'));
  await waitForDrawn(page);
  const csv = await downloadFrom(page, 'orders_table', 'csv');
  const rows = parseCsv(csv.bytes.toString('utf8'));
  assert.equal(rows.length - 1, MAX_EXPORT, 'the first rows up to the limit');
  const notice = page.locator('.widget[data-widget-id="orders_table"] [data-download-notice]');
  await notice.waitFor({ state: 'visible' });
  await shot(page, 'download-cut');
  assert.match(await notice.innerText(), /only the first 60,000 rows of 100,000/);
  assert.match(await page.locator('[data-announcer]').innerText(), /only the first 60,000 rows/);
  // The same rows, in the same order, as the API's first pages.
  const first = parseCsv(await apiCsv('sales', 'orders_table', { offset: 0, limit: MAX_ROWS }));
  const last = parseCsv(await apiCsv('sales', 'orders_table', { offset: MAX_EXPORT - MAX_ROWS, limit: MAX_ROWS }));
  assert.deepEqual(rows.slice(0, MAX_ROWS + 1), first);
  assert.deepEqual(rows.slice(MAX_EXPORT - MAX_ROWS + 1), last.slice(1));
  // A whole download afterwards clears the notice.
  await pickOption(page, 'region', 'nor', 'North');
  await downloadFrom(page, 'orders_table', 'csv');
  await notice.waitFor({ state: 'hidden' });
  assert.deepEqual(problems, []);
});
