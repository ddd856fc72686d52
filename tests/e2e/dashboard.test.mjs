// End to end: the real binary serving the embedded UI, driven in Debian's Chromium. Numbers the
// page shows are checked against the independent DuckDB oracle over the same files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { salesProject, oracle, ordersScan, BUILD_DIR } from '../integration/harness.mjs';
import { openPage, screenshotter, waitForDrawn, kpiValue } from './browser.mjs';
import { serveAndBrowse } from './setup.mjs';

const ROWS = 100_000;
const scan = () => ordersScan(ROWS);
const brokenOnPurpose = (url) => url.includes('/widgets/broken/');
const near = (a, b) => Math.abs(a - b) <= 0.005 + 1e-9 * Math.abs(b);
const shot = screenshotter(BUILD_DIR, 'dashboard');

const app = serveAndBrowse(() => {
  // The demo project plus one widget whose SQL fails at run time, to see errors stay in their box.
  return salesProject(ROWS, (d) => {
    const file = path.join(d, 'dashboards', 'sales.yaml');
    const yaml = fs.readFileSync(file, 'utf8').replace('  - title: Orders\n', `      - id: broken
        type: kpi
        title: Broken on purpose
        sql: "SELECT CAST(max(region) AS INTEGER) AS n FROM orders WHERE {{ filters }}"
        width: 3
  - title: Orders
`);
    fs.writeFileSync(file, yaml);
  });
});

test('the dashboard loads with every widget drawn, filters change the numbers, charts cross-filter the table, links reproduce the view', async () => {
  const { page, problems } = await openPage(app.browser, { expected: brokenOnPurpose });
  await page.goto(app.url('/d/sales'));
  await waitForDrawn(page);
  await shot(page, 'loaded');

  // Every chart drew marks; every KPI shows DuckDB's number; the broken widget says why.
  const widgets = await page.locator('.widget[data-widget-id]').evaluateAll((els) =>
    els.map((e) => ({ id: e.dataset.widgetId, type: e.dataset.widgetType, state: e.dataset.state, marks: e.querySelector('[data-marks]')?.dataset.marks })));
  assert.ok(widgets.length >= 11, `widgets on the first page: ${widgets.map((w) => w.id)}`);
  for (const w of widgets) {
    if (w.id === 'broken') continue;
    assert.equal(w.state, 'ready', `${w.id} is drawn`);
    if (!['kpi', 'text', 'table'].includes(w.type)) assert.ok(Number(w.marks) > 0, `${w.id} drew ${w.marks} marks`);
  }
  const total = Number(oracle(`SELECT sum(revenue) FROM ${scan()}`).rows[0][0]);
  assert.ok(near(await kpiValue(page, 'revenue'), total), `revenue ${await kpiValue(page, 'revenue')} vs ${total}`);
  const broken = page.locator('.widget[data-widget-id="broken"]');
  assert.equal(await broken.getAttribute('data-state'), 'error');
  // It says what failed and what to quote, never the engine's words (they can hold data values).
  const said = await broken.locator('[role=alert]').innerText();
  assert.match(said, /the data of 'orders' could not be read/);
  assert.match(said, /Request id [0-9a-f]{16}/);
  assert.doesNotMatch(said, /Could not convert|Conversion|North|South/);

  // Choose a region in the select filter, as a user does: type, then pick the option.
  const region = page.locator('[data-filter-id="region"] [role=combobox]');
  await region.click();
  await region.fill('nor');
  await page.locator('[data-filter-id="region"] [role=option]', { hasText: 'North' }).first().click();
  await waitForDrawn(page);
  await shot(page, 'region-north');
  const north = Number(oracle(`SELECT sum(revenue) FROM ${scan()} WHERE region = 'North'`).rows[0][0]);
  assert.ok(near(await kpiValue(page, 'revenue'), north), `revenue for North ${await kpiValue(page, 'revenue')} vs ${north}`);
  assert.match(page.url(), /region/);
  assert.equal(await page.locator('[data-chip]').count(), 1);

  // Click the "Online" slice of the channel pie: a real mouse click on the canvas.
  const pie = page.locator('.widget[data-widget-id="by_channel"] [data-marks]');
  const at = await pie.evaluate((el) => el.sightlineChart.pixelOf('Online'));
  assert.ok(at, 'the pie has an Online slice');
  const box = await pie.boundingBox();
  await page.mouse.click(box.x + at[0], box.y + at[1]);
  await waitForDrawn(page);
  assert.equal(await page.locator('[data-chip]').count(), 2, 'the pick shows as a chip');
  await shot(page, 'cross-filter-online');
  const northOnline = Number(oracle(`SELECT sum(revenue) FROM ${scan()} WHERE region = 'North' AND channel = 'Online'`).rows[0][0]);
  assert.ok(near(await kpiValue(page, 'revenue'), northOnline), `cross-filtered revenue ${await kpiValue(page, 'revenue')} vs ${northOnline}`);

  // The table on the next page is cross-filtered too: count and rows.
  await page.getByRole('tab', { name: 'Orders' }).click();
  await waitForDrawn(page);
  await shot(page, 'orders-table');
  const count = Number(oracle(`SELECT count(*) FROM ${scan()} WHERE region = 'North' AND channel = 'Online'`).rows[0][0]);
  assert.equal(Number(await page.locator('[data-total-count]').getAttribute('data-value')), count);
  const table = page.locator('.widget[data-widget-id="orders_table"]');
  const header = await table.locator('[role=columnheader]').allInnerTexts();
  const channelIndex = header.findIndex((h) => /channel/i.test(h));
  const regionIndex = header.findIndex((h) => /region/i.test(h));
  assert.ok(channelIndex >= 0 && regionIndex >= 0, `table header: ${header}`);
  const rows = await table.locator('[role=row]:has([role=cell])').evaluateAll((rs) =>
    rs.slice(0, 20).map((r) => [...r.querySelectorAll('[role=cell]')].map((c) => c.textContent.trim())));
  assert.ok(rows.length >= 10, `visible rows: ${rows.length}`);
  for (const r of rows) assert.deepEqual([r[regionIndex], r[channelIndex]], ['North', 'Online']);

  // The URL reproduces the view in a fresh page.
  const link = page.url();
  await page.getByRole('tab', { name: 'Overview' }).click();
  await waitForDrawn(page);
  const kpis = {};
  for (const id of ['revenue', 'orders', 'avg_order', 'units_sold']) kpis[id] = await kpiValue(page, id);
  const overviewLink = page.url();
  const second = await openPage(app.browser, { expected: brokenOnPurpose });
  await second.page.goto(overviewLink);
  await waitForDrawn(second.page);
  await shot(second.page, 'pasted-link');
  for (const id of Object.keys(kpis)) assert.equal(await kpiValue(second.page, id), kpis[id], `${id} from the pasted link`);
  assert.equal(await second.page.locator('[data-chip]').count(), 2);
  await second.page.goto(link);
  await waitForDrawn(second.page);
  assert.equal(Number(await second.page.locator('[data-total-count]').getAttribute('data-value')), count);

  // Back and forward walk the history of states.
  await page.goBack();  // the Orders page
  await page.goBack();  // the Overview page with the pick
  await page.goBack();  // before the pick
  await waitForDrawn(page);
  assert.ok(near(await kpiValue(page, 'revenue'), north), 'back undoes the pick');
  await page.goForward();
  await waitForDrawn(page);
  assert.ok(near(await kpiValue(page, 'revenue'), northOnline), 'forward redoes it');

  // One click clears the pick.
  await page.locator('[data-chip]', { hasText: 'Online' }).getByRole('button').click();
  await waitForDrawn(page);
  assert.ok(near(await kpiValue(page, 'revenue'), north));
  assert.deepEqual([...problems, ...second.problems], []);
  await second.context.close();
});
