// End to end: rows sent over HTTP (POST /api/v1/sources/{name}/rows) reach a dashboard that is
// open in Chromium by themselves (Server-Sent Events), within the 2 s the freshness issue asks
// for, measured from the batch's 200 to the new value on screen; the filter stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeProject, BUILD_DIR, post } from '../integration/harness.mjs';
import { openPage, screenshotter, waitForDrawn, kpiValue } from './browser.mjs';
import { serveAndBrowse } from './setup.mjs';

const shot = screenshotter(BUILD_DIR, 'ingest');

const app = serveAndBrowse(() =>
  writeProject({
    'sightline.yaml': `
name: ingest
sources:
  events:
    ingest: true
    columns:
      id: BIGINT
      kind: VARCHAR
      amount: "DECIMAL(12,2)"
dashboards: dashboards/*.yaml
`,
    'dashboards/events.yaml': `
id: events
title: Events
source: events
filters:
  - { id: kind, type: select, column: kind }
widgets:
  - { id: events, type: kpi, title: Events, measure: count(*), width: 4 }
  - { id: amount, type: kpi, title: Amount, measure: sum(amount), width: 4 }
`,
  }),
);

async function send(lines) {
  const res = await post(app.server, '/api/v1/sources/events/rows', lines.map((l) => JSON.stringify(l)).join('\n') + '\n', {
    'content-type': 'application/x-ndjson',
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

async function kpiBecomes(page, widgetId, want, timeout) {
  await page.waitForFunction(([id, n]) => {
    const v = document.querySelector(`.widget[data-widget-id="${id}"] [data-kpi-value]`)?.getAttribute('data-value');
    return v !== null && v !== undefined && v !== '' && Number(v) === n;
  }, [widgetId, want], { timeout, polling: 'raf' });
}

test('a batch sent to an ingest source shows on the open dashboard within 2 s, filter kept', async (t) => {
  await send([{ id: 1, kind: 'click', amount: '1.50' }, { id: 2, kind: 'view', amount: '2.00' }, { id: 3, kind: 'click', amount: '3.25' }]);
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/events?f.kind=click'));
  await waitForDrawn(page);
  assert.equal(await kpiValue(page, 'events'), 2);
  await page.waitForFunction(() => document.documentElement.dataset.live === 'open', null, { timeout: 30_000 });
  await shot(page, 'before');

  const delays = [];
  let clicks = 2;
  for (let round = 0; round < 3; round += 1) {
    const batch = [];
    for (let i = 0; i < 5; i += 1) batch.push({ id: 100 + round * 10 + i, kind: i % 2 ? 'view' : 'click', amount: '1.00' });
    clicks += batch.filter((r) => r.kind === 'click').length;
    await send(batch);
    const sent = Date.now();
    await kpiBecomes(page, 'events', clicks, 10_000);
    delays.push(Date.now() - sent);
  }
  t.diagnostic(`from the batch's 200 to the new value on screen: ${delays.join(', ')} ms`);
  await waitForDrawn(page);
  await shot(page, 'after');
  for (const d of delays) assert.ok(d < 2000, `a batch reached the open dashboard in ${d} ms (all: ${delays.join(', ')} ms)`);
  assert.match(page.url(), /f\.kind=click/, 'the filter stays');
  assert.equal(await kpiValue(page, 'amount'), 1.5 + 3.25 + clicks - 2);
  assert.deepEqual(problems, []);
});
