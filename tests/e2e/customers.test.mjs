// End to end: the customers dashboard, reached through the dashboard switcher. Its source is a
// model joining the orders to customers.csv; its numbers are checked against the oracle running
// the same join over the same files, under the dashboard's default period. Hostile text typed
// into a filter shows literally and runs nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { salesProject, oracle, ordersScan, demoData, BUILD_DIR } from '../integration/harness.mjs';
import { openPage, screenshotter, waitForDrawn, kpiValue, kpiDelta, afterChange, pickOption } from './browser.mjs';
import { serveAndBrowse } from './setup.mjs';

const ROWS = 100_000;
const near = (a, b) => a !== null && Math.abs(a - b) <= 0.005 + 1e-9 * Math.abs(b);
const daysBefore = (iso, days) => new Date(Date.parse(`${iso}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);
const HOSTILE = `<img src=x onerror=alert(1)>'"`;
const shot = screenshotter(BUILD_DIR, 'customers');

// The model orders_enriched of examples/sales/sightline.yaml, over the same files.
const enriched = () => `(SELECT o.*, c.segment, c.account_manager FROM ${ordersScan(ROWS)} o
  LEFT JOIN read_csv('${demoData(ROWS)}/customers.csv', header=true, types={'signup_date': 'DATE'}) c USING (customer))`;
const sqlText = (s) => `'${s.replace(/'/g, "''")}'`;

function expected(conds) {
  const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
  const [[revenue, customers]] = oracle(`SELECT sum(revenue), count(DISTINCT customer) FROM ${enriched()} ${where}`).rows;
  return { revenue: revenue === null ? null : Number(revenue), customers: Number(customers) };
}

const app = serveAndBrowse(() => {
  // The demo project, plus a text filter on the customer's name for the hostile-string case.
  return salesProject(ROWS, (d) => {
    const file = path.join(d, 'dashboards', 'customers.yaml');
    const yaml = fs.readFileSync(file, 'utf8');
    const anchor = 'label: Order date, default: { from: "2025-01-01", to: "2025-12-31" } }\n';
    assert.ok(yaml.includes(anchor), 'customers.yaml still has its default period');
    fs.writeFileSync(file, yaml.replace(anchor, `${anchor}  - { id: customer, type: text, column: customer, label: Customer contains }\n`));
  });
});

test('the switcher opens the customers dashboard: every widget draws, the default period applies to the joined data', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/sales'));
  await waitForDrawn(page);
  await afterChange(page, () => page.locator('select#dashboard-switcher').selectOption('customers'));
  await shot(page, 'customers');
  assert.equal(new URL(page.url()).pathname, '/d/customers');
  assert.equal(await page.locator('select#dashboard-switcher').inputValue(), 'customers');
  assert.equal(await page.locator('.dash-title').innerText(), 'Customers');

  const widgets = await page.locator('.widget[data-widget-id]').evaluateAll((els) =>
    els.map((e) => ({ id: e.dataset.widgetId, type: e.dataset.widgetType, state: e.dataset.state, marks: e.querySelector('[data-marks]')?.dataset.marks })));
  assert.deepEqual(widgets.map((w) => w.id), ['customers', 'revenue', 'segment_revenue', 'top_managers', 'units_vs_revenue']);
  for (const w of widgets) {
    assert.equal(w.state, 'ready', `${w.id} is drawn`);
    if (w.type !== 'kpi') assert.ok(Number(w.marks) > 0, `${w.id} drew ${w.marks} marks`);
  }

  // The default period (2025) is in effect, shown as a default chip and in the date inputs.
  const [from, to] = ['2025-01-01', '2025-12-31'];
  const chip = page.locator('[data-chip="filter:period"]');
  assert.equal(await chip.count(), 1);
  assert.match(await chip.innerText(), /2025-01-01\s*–\s*2025-12-31/);
  assert.match(await chip.innerText(), /default/);
  assert.deepEqual(await page.locator('[data-filter-id="period"] input[type=date]').evaluateAll((els) => els.map((e) => e.value)), [from, to]);
  const period = `order_date BETWEEN DATE '${from}' AND DATE '${to}'`;
  const want = expected([period]);
  assert.ok(near(await kpiValue(page, 'revenue'), want.revenue), `revenue ${await kpiValue(page, 'revenue')} vs ${want.revenue}`);
  assert.equal(await kpiValue(page, 'customers'), want.customers);
  const unbounded = expected([]);
  assert.ok(want.revenue < unbounded.revenue, 'the default really narrows');
  // The delta compares with as many days just before.
  const days = (Date.parse(to) - Date.parse(from)) / 86_400_000 + 1;
  const prev = expected([`order_date BETWEEN DATE '${daysBefore(from, days)}' AND DATE '${daysBefore(from, 1)}'`]);
  const delta = await kpiDelta(page, 'revenue');
  const change = (want.revenue - prev.revenue) / Math.abs(prev.revenue);
  assert.ok(delta !== null && Math.abs(delta - change) < 1e-9, `revenue delta ${delta} vs ${change}`);

  // The scatter samples at most its limit of orders.
  const scatter = Number(await page.locator('.widget[data-widget-id="units_vs_revenue"] [data-marks]').getAttribute('data-marks'));
  assert.ok(scatter > 100 && scatter <= 2000, `scatter marks: ${scatter}`);

  // A segment from the joined CSV narrows everything; removing the default period widens it.
  await pickOption(page, 'segment', 'enter', 'Enterprise');
  await page.locator('[data-filter-id="segment"] input[role=combobox]').press('Escape');
  await shot(page, 'enterprise');
  const ent = expected([period, "segment = 'Enterprise'"]);
  assert.ok(near(await kpiValue(page, 'revenue'), ent.revenue), `Enterprise revenue ${await kpiValue(page, 'revenue')} vs ${ent.revenue}`);
  assert.equal(await kpiValue(page, 'customers'), ent.customers);
  await afterChange(page, () => chip.getByRole('button').click());
  await shot(page, 'all-time');
  const all = expected(["segment = 'Enterprise'"]);
  assert.ok(near(await kpiValue(page, 'revenue'), all.revenue), `all-time Enterprise revenue ${await kpiValue(page, 'revenue')} vs ${all.revenue}`);
  assert.equal(await kpiDelta(page, 'revenue'), null, 'no delta without a period');
  assert.match(page.url(), /f\.period=!n/, 'the removed default is explicit in the URL');

  // Back on the sales dashboard through the switcher.
  await afterChange(page, () => page.locator('select#dashboard-switcher').selectOption('sales'));
  assert.equal(new URL(page.url()).pathname, '/d/sales');
  assert.equal(await page.locator('.widget[data-widget-id="orders"]').count(), 1);
  assert.deepEqual(problems, []);
});

test('a hostile filter value shows literally in the chip and runs nothing', async () => {
  const { page, problems } = await openPage(app.browser);
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await page.goto(app.url('/d/customers'));
  await waitForDrawn(page);

  const input = page.locator('[data-filter-id="customer"] input');
  await afterChange(page, () => input.fill(HOSTILE));
  await input.press('Enter');
  await shot(page, 'hostile');
  const chip = page.locator('[data-chip="filter:customer"]');
  assert.equal(await chip.locator('.chip-value').innerText(), `“${HOSTILE}”`);
  assert.match(await chip.getByRole('button').getAttribute('aria-label'), /<img src=x onerror=alert\(1\)>'"/);
  assert.equal(await page.locator('img').count(), 0, 'no element was made from the text');
  for (const w of await page.locator('.widget[data-widget-id]').evaluateAll((els) => els.map((e) => [e.dataset.widgetId, e.dataset.state]))) {
    assert.equal(w[1], 'ready', `${w[0]} answers (no rows match)`);
  }
  const want = expected(["order_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'", `strpos(lower(customer), lower(${sqlText(HOSTILE)})) > 0`]);
  assert.equal(want.customers, 0);
  assert.equal(await kpiValue(page, 'revenue'), want.revenue);
  assert.equal(await kpiValue(page, 'customers'), 0);

  // Typed into a combobox too: the "no values" note quotes it as text.
  const combo = page.locator('[data-filter-id="region"] input[role=combobox]');
  await combo.click();
  await combo.fill(HOSTILE);
  const note = page.locator('[data-filter-id="region"] .combo-note');
  await page.waitForFunction((el) => /No values/.test(el.textContent), await note.elementHandle());
  assert.equal(await note.innerText(), `No values contain “${HOSTILE}”`);
  await combo.press('Escape');

  // The link carries it and a fresh page shows the same text.
  const second = await openPage(app.browser);
  second.page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await second.page.goto(page.url());
  await waitForDrawn(second.page);
  await shot(second.page, 'hostile-pasted');
  assert.equal(await second.page.locator('[data-chip="filter:customer"] .chip-value').innerText(), `“${HOSTILE}”`);
  assert.equal(await second.page.locator('[data-filter-id="customer"] input').inputValue(), HOSTILE);
  assert.equal(await second.page.locator('img').count(), 0);
  await second.page.waitForTimeout(300);  // time for an onerror handler to have fired
  assert.deepEqual(dialogs, [], 'no dialog opened');
  assert.deepEqual([...problems, ...second.problems], []);
  await second.context.close();
});
