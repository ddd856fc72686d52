// End to end: data freshness in the header. A materialized CSV source that everyone may refresh
// (auth mode none): the header says "Data as of <time>" with the data version in its tooltip;
// new rows, then "Refresh data", bring the new count to the KPI and the table while the filter
// and the table's scroll position stay; a refresh that finds nothing new says "Data is up to
// date"; a broken file makes the refresh fail, the error and the warning badge show, and the
// page keeps the last good data. Also on a phone, in the dark theme, with the keyboard alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { writeProject, BUILD_DIR } from '../integration/harness.mjs';
import { openPage, screenshotter, waitForDrawn, kpiValue, afterChange } from './browser.mjs';
import { serveAndBrowse } from './setup.mjs';

const shot = screenshotter(BUILD_DIR, 'freshness');
const REGIONS = ['North', 'South', 'East'];
const ROW_HEIGHT = 32;  // web/src/table/window.ts

// CSV lines for ids from..to (region by id, amount = id).
function lines(from, to) {
  let s = '';
  for (let i = from; i <= to; i += 1) s += `${i},${REGIONS[i % 3]},${i}\n`;
  return s;
}
const northIn = (from, to) => { let n = 0; for (let i = from; i <= to; i += 1) if (i % 3 === 0) n += 1; return n; };

let dir;
const dataFile = (name) => path.join(dir, 'data', name);
const app = serveAndBrowse(() => {
  dir = writeProject({
    'sightline.yaml': `
name: freshness
sources:
  orders:
    path: data/*.csv
    format: csv
    materialize: true
    types: { amount: INTEGER }
    refresh: { roles: [] }
dashboards: dashboards/*.yaml
`,
    'dashboards/fresh.yaml': `
id: fresh
title: Freshness
source: orders
filters:
  - { id: region, type: select, column: region }
widgets:
  - { id: orders, type: kpi, title: Orders, measure: count(*), width: 4 }
  - { id: rows, type: table, title: Rows, columns: [id, region, amount], sort: id, width: 12 }
`,
    'data/a.csv': 'id,region,amount\n' + lines(1, 900),
  });
  return dir;
});

const label = (page) => page.locator('[data-data-as-of]');
const refreshButton = (page) => page.getByRole('button', { name: 'Refresh data' });
const scroller = (page) => page.locator('.widget[data-widget-id="rows"] .table-scroll');

// The table's rows on screen have all arrived (no placeholder rows left).
async function tableSettled(page) {
  await page.waitForFunction(() => {
    const w = document.querySelector('.widget[data-widget-id="rows"]');
    return w && w.dataset.state === 'ready' && w.querySelectorAll('[role=row]:has([role=cell])').length > 0 && !w.querySelector('.tr.is-placeholder');
  }, null, { timeout: 30_000, polling: 'raf' });
}

// The first row the table shows at its scroll position: its id cell, once drawn (a row the
// virtual table has just placed may still be empty for a frame on a loaded machine).
async function firstVisibleId(page) {
  for (let i = 0; i < 50; i += 1) {
    const id = await visibleId(page);
    if (id) return id;
    await page.waitForTimeout(100);
  }
  return visibleId(page);
}
function visibleId(page) {
  return scroller(page).evaluate((el) => {
    const top = el.getBoundingClientRect().top + el.querySelector('.thead').getBoundingClientRect().height;
    const rows = [...el.querySelectorAll('.tbody [role=row]')].filter((r) => r.getBoundingClientRect().bottom > top + 1);
    rows.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
    return rows[0]?.querySelector('[role=cell]')?.textContent.trim() ?? null;
  });
}

test('"Data as of" in the header; new rows and "Refresh data" bring the new count, keeping the filter and the table scroll', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/fresh?f.region=North'));
  await waitForDrawn(page);
  assert.equal(await kpiValue(page, 'orders'), northIn(1, 900));

  // The label: a time, and the full data version in its tooltip.
  assert.ok(await label(page).isVisible(), 'the "Data as of" label shows');
  assert.match(await label(page).innerText(), /^Data as of .*\d/);
  const before = await label(page).getAttribute('data-version');
  assert.match(before, /^\d+-[0-9a-f]{16}$/);
  assert.match(await label(page).getAttribute('title'), new RegExp(`Data version ${before}`));
  assert.ok(await refreshButton(page).isVisible(), 'everyone may refresh with auth mode none');
  assert.equal(await page.locator('[data-refresh-failing]').isVisible(), false);

  // Scroll the table down to the 150th row of North.
  await tableSettled(page);
  await scroller(page).evaluate((el, y) => { el.scrollTop = y; }, 150 * ROW_HEIGHT);
  await tableSettled(page);
  const scrolledTo = await scroller(page).evaluate((el) => el.scrollTop);
  assert.ok(scrolledTo > 100 * ROW_HEIGHT, `scrolled to ${scrolledTo}`);
  const firstId = await firstVisibleId(page);
  assert.equal(firstId, '453', 'North ids are multiples of 3, sorted by id');
  await shot(page, 'before-refresh');

  // More rows in a new file of the source's glob; then the button. The state key moves on when
  // the refreshed data is asked for, and every widget draws it.
  fs.writeFileSync(dataFile('b.csv'), 'id,region,amount\n' + lines(901, 1200));
  await afterChange(page, async () => {
    await refreshButton(page).click();
    // Busy until the refresh is over (the first status poll comes a second after the request).
    const busy = page.locator('[data-refresh-data]');
    assert.equal(await busy.isDisabled(), true, 'the button is disabled while refreshing');
    assert.equal(await busy.getAttribute('aria-busy'), 'true');
    assert.equal((await busy.innerText()).trim(), 'Refreshing…');
    await shot(page, 'refreshing');
  }, { timeout: 60_000 });
  await shot(page, 'after-refresh');
  assert.equal(await kpiValue(page, 'orders'), northIn(1, 1200), 'the KPI counts the new rows');
  assert.match(page.url(), /f\.region=North/, 'the filter stays');
  assert.equal(await page.locator('[data-chip="filter:region"]').count(), 1);
  const table = page.locator('.widget[data-widget-id="rows"]');
  assert.equal(Number(await table.locator('[data-total-count]').getAttribute('data-value')), northIn(1, 1200), 'the table counts them too');
  assert.equal(await scroller(page).evaluate((el) => el.scrollTop), scrolledTo, 'the table kept its scroll position');
  await tableSettled(page);
  assert.equal(await firstVisibleId(page), firstId, 'and shows the same rows');

  const after = await label(page).getAttribute('data-version');
  assert.notEqual(after, before, 'the label shows the new version');
  assert.ok(Number(after.split('-')[0]) > Number(before.split('-')[0]), `${after} is newer than ${before}`);
  assert.match(await label(page).getAttribute('title'), new RegExp(`Data version ${after}`));
  assert.ok(await label(page).isVisible());
  assert.equal(await refreshButton(page).isEnabled(), true, 'the button is back');
  assert.equal(await page.locator('[data-refresh-status]').innerText(), 'Data refreshed');

  // Nothing changed since: the refresh says so, and asks for nothing again.
  const key = await page.evaluate(() => document.documentElement.dataset.stateKey);
  await refreshButton(page).click();
  await page.waitForFunction(() => document.querySelector('[data-refresh-status]')?.textContent === 'Data is up to date', null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => document.documentElement.dataset.stateKey), key);
  assert.equal(await page.locator('[data-refresh-message]').isVisible(), false);
  assert.equal(await label(page).getAttribute('data-version'), after);
  assert.deepEqual(problems, []);
});

test('the label is in the viewer\'s locale and time zone', async () => {
  const context = await app.browser.newContext({ locale: 'de-DE', timezoneId: 'Asia/Tokyo' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(app.url('/d/fresh'));
  await waitForDrawn(page);
  const asOf = await label(page).getAttribute('data-as-of');
  const tokyo = new Date(Date.parse(asOf) + 9 * 3600_000);
  const pad = (n) => String(n).padStart(2, '0');
  const want = `${pad(tokyo.getUTCDate())}.${pad(tokyo.getUTCMonth() + 1)}.${tokyo.getUTCFullYear()}, ${pad(tokyo.getUTCHours())}:${pad(tokyo.getUTCMinutes())}`;
  assert.equal(await label(page).innerText(), `Data as of ${want}`);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a refresh that fails shows why and the warning badge, and the page keeps the last good data', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/fresh'));
  await waitForDrawn(page);
  const good = await kpiValue(page, 'orders');
  assert.equal(good, 1200);
  const version = await label(page).getAttribute('data-version');

  // A file whose typed column holds text.
  fs.writeFileSync(dataFile('c.csv'), 'id,region,amount\n1201,North,ten\n');
  await refreshButton(page).click();
  const badge = page.locator('[data-refresh-failing]');
  await badge.waitFor({ state: 'visible', timeout: 60_000 });
  await shot(page, 'refresh-failed');
  assert.match(await badge.innerText(), /^⚠\s*Refresh failed — showing data as of .*\d/);
  const alert = page.locator('[data-refresh-message] [role=alert]');
  assert.ok(await alert.isVisible(), 'the error shows in the notice area');
  assert.match(await alert.innerText(), /Refreshing the data failed/);
  assert.match(await alert.locator('[data-refresh-error]').innerText(), /amount/, 'with the server\'s reason');
  assert.match(await badge.getAttribute('title'), /amount/, 'the badge has it in its tooltip');
  assert.equal(await refreshButton(page).isEnabled(), true);
  assert.equal(await kpiValue(page, 'orders'), good, 'the KPI still shows the last good count');
  assert.equal(await label(page).getAttribute('data-version'), version);
  await page.locator('[data-refresh-message] [data-dismiss]').click();
  assert.equal(await page.locator('[data-refresh-message]').isVisible(), false, 'the message goes when dismissed');
  assert.ok(await badge.isVisible(), 'the badge stays while the source fails');

  // Opened again, the page says it too (the dashboard reports the failing source), with the
  // reason in the badge's tooltip, and the last good data.
  await page.reload();
  await waitForDrawn(page);
  assert.equal(await kpiValue(page, 'orders'), good);
  await badge.waitFor({ state: 'visible' });
  await page.waitForFunction(() => /amount/.test(document.querySelector('[data-refresh-failing]')?.title ?? ''), null, { timeout: 10_000 });
  assert.equal(await label(page).isVisible(), false, 'the badge says the time instead of the label');
  assert.equal(await label(page).getAttribute('data-version'), version);

  // The file fixed, the next refresh clears the badge.
  fs.rmSync(dataFile('c.csv'));
  await refreshButton(page).click();
  await badge.waitFor({ state: 'hidden', timeout: 60_000 });
  assert.ok(await label(page).isVisible());
  assert.equal(await kpiValue(page, 'orders'), good);
  assert.deepEqual(problems, []);
});

test('at 390px wide in the dark theme the header keeps its layout, and the keyboard refreshes', async () => {
  const { page, problems } = await openPage(app.browser, { width: 390, height: 844, colorScheme: 'dark' });
  await page.goto(app.url('/d/fresh'));
  await waitForDrawn(page);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  await shot(page, 'narrow-dark');
  const layout = await page.evaluate(() => {
    const se = document.scrollingElement;
    const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }; };
    return { scrollWidth: se.scrollWidth, clientWidth: se.clientWidth, freshness: box('[data-freshness]'), title: box('.dash-title'), button: box('[data-refresh-data]'), switcher: box('#dashboard-switcher') };
  });
  assert.ok(layout.scrollWidth <= layout.clientWidth, `no sideways scroll (${layout.scrollWidth} > ${layout.clientWidth})`);
  assert.ok(layout.button.right <= layout.clientWidth && layout.button.left >= 0, `the button fits: ${JSON.stringify(layout.button)}`);
  assert.ok(layout.freshness.top >= layout.title.bottom - 1, 'the freshness row sits under the title');
  assert.ok(layout.switcher.bottom <= layout.title.top + 1, 'the controls stay on the first row');

  // Tab to the button and press Enter.
  let reached = false;
  for (let i = 0; i < 20 && !reached; i += 1) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.hasAttribute('data-refresh-data') ?? false);
  }
  assert.ok(reached, 'the button is a Tab stop');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-refresh-status]')?.textContent === 'Data is up to date', null, { timeout: 60_000 });
  assert.ok(await page.evaluate(() => document.activeElement?.hasAttribute('data-refresh-data')), 'the focus is back on the button');
  await shot(page, 'narrow-dark-up-to-date');
  assert.deepEqual(problems, []);
});
