// End to end: the data page (/data). From a dashboard's header "Data" opens a page listing each
// source: how it is kept, its data version and rows, its refresh status, and its checks with the
// failing ones' sample values; Refresh reads a changed source again and the page shows the new
// rows; the dashboard switcher leads back to a dashboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { writeProject, BUILD_DIR } from '../integration/harness.mjs';
import { openPage, screenshotter, waitForDrawn } from './browser.mjs';
import { serveAndBrowse } from './setup.mjs';

const shot = screenshotter(BUILD_DIR, 'data-page');

let dir;
const rows = (from, to) => {
  let s = '';
  for (let i = from; i < to; i += 1) s += `${i},${['North', 'South', 'Nord'][i % 3]},${i}\n`;
  return s;
};

const app = serveAndBrowse(() => {
  dir = writeProject({
    'sightline.yaml': `
name: data page
sources:
  orders:
    path: data/orders/*.csv
    format: csv
    mode: append
    types: { amount: INTEGER }
    checks:
      - { not_null: id }
      - { accepted_values: { column: region, values: [North, South] } }
  events:
    ingest: true
    columns: { id: BIGINT }
dashboards: dashboards/*.yaml
`,
    'dashboards/orders.yaml': `
id: orders
title: Orders
source: orders
widgets:
  - { id: n, type: kpi, title: Orders, measure: count(*) }
`,
    'data/orders/a.csv': 'id,region,amount\n' + rows(0, 30),
  });
  return dir;
});

test('the data page lists sources with their freshness and checks; Refresh reads new files', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/orders'));
  await waitForDrawn(page);
  await page.click('[data-data-link]');
  await page.waitForURL(/\/data$/);
  await page.waitForSelector('[data-sources]');
  assert.equal(await page.title(), 'Data · Sightline');
  assert.deepEqual(await page.locator('[data-source]').evaluateAll((els) => els.map((e) => e.getAttribute('data-source'))), ['orders', 'events']);
  const orders = page.locator('[data-source="orders"]');
  assert.equal(await orders.locator('[data-mode]').textContent(), 'append');
  assert.equal(await orders.locator('[data-rows]').getAttribute('data-rows'), '30');
  assert.match(await orders.locator('[data-version]').textContent(), /^\d+-[0-9a-f]{16}$/);
  const accepted = orders.locator('[data-check="accepted_values: region"]');
  assert.equal(await accepted.getAttribute('data-check-state'), 'warning');
  assert.match(await accepted.textContent(), /fails: 10 e\.g\. “Nord”/);
  assert.equal(await orders.locator('[data-check="not_null: id"]').getAttribute('data-check-state'), 'passed');
  assert.equal(await page.locator('[data-source="events"] [data-mode]').textContent(), 'rows sent over HTTP');
  await shot(page, 'sources');

  // A new file, then Refresh: the page shows the new rows once the refresh is done.
  fs.writeFileSync(path.join(dir, 'data', 'orders', 'b.csv'), 'id,region,amount\n' + rows(30, 45));
  const before = await page.evaluate(() => document.documentElement.dataset.dataPage);
  await orders.locator('[data-refresh-source="orders"]').click();
  await page.waitForFunction((b) => document.documentElement.dataset.dataPage !== b &&
    document.querySelector('[data-source="orders"] [data-rows]')?.getAttribute('data-rows') === '45', before, { timeout: 30_000 });
  assert.match(await page.locator('[data-source="orders"] [data-refresh-status]').textContent(), /Last checked .*: refreshed/);
  await shot(page, 'refreshed');

  // Back to a dashboard through the switcher.
  await page.selectOption('#dashboard-switcher', 'orders');
  await page.waitForURL(/\/d\/orders/);
  await waitForDrawn(page);
  assert.deepEqual(problems, []);
});
