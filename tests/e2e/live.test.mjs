// End to end: live updates. A dashboard over a source refreshed on_change is open in Chromium;
// a new file in the source's folder reaches the page by itself (Server-Sent Events: no click, no
// polling): the KPI shows the new count, the filter stays, "Data as of" shows the newer version.
// Leaving the dashboard closes its stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { writeProject, BUILD_DIR } from '../integration/harness.mjs';
import { openPage, screenshotter, waitForDrawn, kpiValue } from './browser.mjs';
import { serveAndBrowse } from './setup.mjs';

const shot = screenshotter(BUILD_DIR, 'live');
const REGIONS = ['North', 'South', 'East'];

// CSV lines for ids from..to (region by id, amount = id).
function lines(from, to) {
  let s = '';
  for (let i = from; i <= to; i += 1) s += `${i},${REGIONS[i % 3]},${i}\n`;
  return s;
}
const northIn = (from, to) => { let n = 0; for (let i = from; i <= to; i += 1) if (i % 3 === 0) n += 1; return n; };

let dir;
const app = serveAndBrowse(() => {
  dir = writeProject({
    'sightline.yaml': `
name: live
sources:
  orders:
    path: data/*.csv
    format: csv
    materialize: true
    types: { amount: INTEGER }
    refresh: { on_change: true, debounce: 200ms }
dashboards: dashboards/*.yaml
`,
    'dashboards/live.yaml': `
id: live
title: Live
source: orders
filters:
  - { id: region, type: select, column: region }
widgets:
  - { id: orders, type: kpi, title: Orders, measure: count(*), width: 4 }
  - { id: amount, type: kpi, title: Amount, measure: sum(amount), width: 4 }
`,
    'dashboards/other.yaml': `
id: other
title: Other
source: orders
widgets:
  - { id: orders, type: kpi, title: Orders, measure: count(*), width: 4 }
`,
    'data/a.csv': 'id,region,amount\n' + lines(1, 900),
  });
  return dir;
});

const label = (page) => page.locator('[data-data-as-of]');

// The KPI's exact value is `want` (waits on the DOM, as the page draws).
async function kpiBecomes(page, widgetId, want, timeout = 60_000) {
  await page.waitForFunction(([id, n]) => {
    const v = document.querySelector(`.widget[data-widget-id="${id}"] [data-kpi-value]`)?.getAttribute('data-value');
    return v !== null && v !== undefined && v !== '' && Number(v) === n;
  }, [widgetId, want], { timeout, polling: 'raf' });
}

test('new data in the source reaches the open dashboard without a click: the KPI counts it, the filter stays', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/live?f.region=North'));
  await waitForDrawn(page);
  assert.equal(await kpiValue(page, 'orders'), northIn(1, 900));
  const before = await label(page).getAttribute('data-version');
  assert.match(before, /^\d+-[0-9a-f]{16}$/);
  const keyBefore = await page.evaluate(() => document.documentElement.dataset.stateKey);
  // The page listens (its stream is open) before the data changes.
  await page.waitForFunction(() => document.documentElement.dataset.live === 'open', null, { timeout: 30_000 });
  await shot(page, 'before');

  fs.writeFileSync(path.join(dir, 'data', 'b.csv'), 'id,region,amount\n' + lines(901, 1200));
  await kpiBecomes(page, 'orders', northIn(1, 1200));
  await waitForDrawn(page);
  await shot(page, 'after');
  let north = 0;
  for (let i = 1; i <= 1200; i += 1) if (i % 3 === 0) north += i;
  assert.equal(await kpiValue(page, 'amount'), north, 'every widget of the view asked again');
  assert.match(page.url(), /f\.region=North/, 'the filter stays');
  assert.equal(await page.locator('[data-chip="filter:region"]').count(), 1);
  const key = await page.evaluate(() => document.documentElement.dataset.stateKey);
  assert.equal(key, `${keyBefore}&~data=1`, 'one reload, as after the refresh button');

  // "Data as of" shows the newer version.
  await page.waitForFunction((v) => document.querySelector('[data-data-as-of]')?.dataset.version !== v, before, { timeout: 10_000 });
  const after = await label(page).getAttribute('data-version');
  assert.ok(Number(after.split('-')[0]) > Number(before.split('-')[0]), `${after} is newer than ${before}`);
  assert.ok(await label(page).isVisible());
  assert.deepEqual(problems, []);

  // Leaving the dashboard closes its stream (the server logs the stream's end).
  const ended = () => app.server.jsonLogs().filter((l) => l.event === 'request' && l.path === '/api/v1/events' && l.stream_end === 'client_closed').length;
  const endedBefore = ended();
  await page.selectOption('#dashboard-switcher', 'other');
  await waitForDrawn(page);
  await page.waitForFunction(() => document.documentElement.dataset.live === 'open', null, { timeout: 30_000 });
  const until = Date.now() + 10_000;
  while (ended() === endedBefore && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.ok(ended() > endedBefore, 'the first dashboard\'s stream ended when the page left it');
  assert.deepEqual(problems, []);
});
