// End to end: every kind of filter in the sidebar, driven as a user drives it, with the numbers
// the KPIs show checked against the independent DuckDB oracle; then chips, Clear all and Reset
// take the filters away again, and the URL reproduces the filtered view in a fresh page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { salesProject, oracle, ordersScan, BUILD_DIR } from '../integration/harness.mjs';
import { openPage, screenshotter, waitForDrawn, kpiValue, kpiDelta, afterChange, pickOption } from './browser.mjs';
import { serveAndBrowse } from './setup.mjs';

const ROWS = 100_000;
const scan = () => ordersScan(ROWS);
const near = (a, b) => a !== null && Math.abs(a - b) <= 0.005 + 1e-9 * Math.abs(b);
const KPIS = ['revenue', 'orders', 'avg_order', 'units_sold'];
const shot = screenshotter(BUILD_DIR, 'filters');

// YYYY-MM-DD `days` days before `iso`, in UTC.
const daysBefore = (iso, days) => new Date(Date.parse(`${iso}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);

// The four overview KPIs as DuckDB computes them under `where` (SQL conditions joined with AND).
function expectedKpis(conds) {
  const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
  const [r] = oracle(`SELECT sum(revenue), count(*), sum(revenue) / count(*), sum(units) FROM ${scan()} ${where}`).rows;
  return Object.fromEntries(KPIS.map((id, i) => [id, r[i] === null ? null : Number(r[i])]));
}

async function assertKpis(page, conds, what) {
  const want = expectedKpis(conds);
  for (const id of KPIS) {
    const got = await kpiValue(page, id);
    if (want[id] === null) assert.equal(got, null, `${id} ${what}`);
    else assert.ok(near(got, want[id]), `${id} ${what}: page ${got}, DuckDB ${want[id]}`);
  }
  return want;
}

const app = serveAndBrowse(() => salesProject(ROWS));

test('multiselect, date presets, range, text: the KPIs follow each filter; chips, Clear all and Reset undo them; the URL reproduces them', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(app.url('/d/sales'));
  await waitForDrawn(page);
  await shot(page, 'unfiltered');
  const unfiltered = await assertKpis(page, [], 'unfiltered');
  assert.equal(await kpiDelta(page, 'revenue'), null, 'no delta without a date range');

  // Multiselect: two channels, each found by typing part of its name and clicking the option.
  await pickOption(page, 'channel', 'onl', 'Online');
  await pickOption(page, 'channel', 'partn', 'Partner');
  const channelBox = page.locator('[data-filter-id="channel"]');
  await channelBox.locator('input[role=combobox]').press('Escape');
  await shot(page, 'channels');
  const conds = ["channel IN ('Online', 'Partner')"];
  await assertKpis(page, conds, 'for Online and Partner');
  assert.equal(await page.locator('[data-chip="filter:channel"]').count(), 1);
  assert.match(await page.locator('[data-chip="filter:channel"]').innerText(), /Online.*Partner/s);

  // Date range preset "90 days": the 90 days that end at the data's last day.
  const [[maxDate]] = oracle(`SELECT max(order_date) FROM ${scan()}`).rows;
  const from = daysBefore(maxDate, 89);
  const period = page.locator('[data-filter-id="period"]');
  await afterChange(page, () => period.locator('[data-preset="last90"]').click());
  await shot(page, 'last-90-days');
  assert.equal(await period.locator('[data-preset="last90"]').getAttribute('aria-pressed'), 'true');
  assert.deepEqual(await period.locator('input[type=date]').evaluateAll((els) => els.map((e) => e.value)), [from, maxDate]);
  conds.push(`order_date BETWEEN DATE '${from}' AND DATE '${maxDate}'`);
  const now = await assertKpis(page, conds, `from ${from} to ${maxDate}`);
  // The delta compares with the 90 days just before.
  const prevFrom = daysBefore(from, 90);
  const prevTo = daysBefore(from, 1);
  const previous = Number(oracle(`SELECT sum(revenue) FROM ${scan()} WHERE ${conds[0]} AND order_date BETWEEN DATE '${prevFrom}' AND DATE '${prevTo}'`).rows[0][0]);
  const change = (now.revenue - previous) / Math.abs(previous);
  const delta = await kpiDelta(page, 'revenue');
  assert.ok(delta !== null && Math.abs(delta - change) < 1e-9, `revenue delta ${delta}, DuckDB (${now.revenue} - ${previous}) / ${previous} = ${change}`);
  const direction = await page.locator('.widget[data-widget-id="revenue"] [data-kpi-delta]').getAttribute('data-direction');
  assert.equal(direction, change > 0 ? 'up' : change < 0 ? 'down' : 'flat');

  // Range through its numeric inputs: 5 to 10 units, inclusive.
  const units = page.locator('[data-filter-id="units"]');
  const [lowInput, highInput] = [units.locator('input[type=number]').first(), units.locator('input[type=number]').last()];
  await afterChange(page, async () => { await lowInput.fill('5'); await lowInput.press('Tab'); });
  await afterChange(page, async () => { await highInput.fill('10'); await highInput.press('Tab'); });
  await shot(page, 'units-5-10');
  conds.push('units BETWEEN 5 AND 10');
  await assertKpis(page, conds, 'for 5 to 10 units');
  assert.match(await page.locator('[data-chip="filter:units"]').innerText(), /5\s*–\s*10/);

  // Text: products containing "Tent", matched case-insensitively.
  const text = page.locator('[data-filter-id="product"] input');
  await afterChange(page, () => text.fill('Tent'));
  await shot(page, 'product-tent');
  conds.push("strpos(lower(product), 'tent') > 0");
  const filtered = await assertKpis(page, conds, 'for products containing tent');
  assert.ok(filtered.orders > 0 && filtered.orders < unfiltered.orders, `a real narrowing: ${filtered.orders} orders`);
  assert.equal(await page.locator('[data-chip^="filter:"]').count(), 4);

  // The URL reproduces the view in a fresh page: numbers, chips and the controls' values.
  const link = page.url();
  const second = await openPage(app.browser);
  await second.page.goto(link);
  await waitForDrawn(second.page);
  await shot(second.page, 'pasted-link');
  for (const id of KPIS) assert.equal(await kpiValue(second.page, id), await kpiValue(page, id), `${id} from the pasted link`);
  assert.equal(await kpiDelta(second.page, 'revenue'), await kpiDelta(page, 'revenue'));
  assert.equal(await second.page.locator('[data-chip^="filter:"]').count(), 4);
  assert.deepEqual(await second.page.locator('[data-filter-id="period"] input[type=date]').evaluateAll((els) => els.map((e) => e.value)), [from, maxDate]);
  assert.deepEqual(await second.page.locator('[data-filter-id="units"] input[type=number]').evaluateAll((els) => els.map((e) => e.value)), ['5', '10']);
  assert.equal(await second.page.locator('[data-filter-id="product"] input').inputValue(), 'Tent');
  assert.deepEqual(
    (await second.page.locator('[data-chip="filter:channel"]').innerText()).match(/Online|Partner/g), ['Online', 'Partner']);
  await second.context.close();

  // Chips: each removal drops exactly its filter.
  const removeChip = (id) => afterChange(page, () => page.locator(`[data-chip="filter:${id}"]`).getByRole('button').click());
  await removeChip('product');
  conds.pop();
  await assertKpis(page, conds, 'without the product chip');
  await removeChip('units');
  conds.pop();
  await assertKpis(page, conds, 'without the units chip');
  await removeChip('period');
  conds.pop();
  await assertKpis(page, conds, 'without the period chip');
  assert.equal(await kpiDelta(page, 'revenue'), null, 'no delta once the date range is gone');
  await removeChip('channel');
  await shot(page, 'chips-removed');
  await assertKpis(page, [], 'with every chip removed');
  assert.equal(await page.locator('[data-chip]').count(), 0);
  assert.equal(new URL(page.url()).search, '', 'no filter left in the URL');

  // Clear all, from the link with every filter.
  await page.goto(link);
  await waitForDrawn(page);
  await afterChange(page, () => page.locator('[data-clear-all]').click());
  await shot(page, 'cleared-all');
  await assertKpis(page, [], 'after Clear all');
  assert.equal(await page.locator('[data-chip]').count(), 0);

  // Reset, from the link again: the unfiltered numbers, empty controls, an unfiltered URL.
  await page.goto(link);
  await waitForDrawn(page);
  await afterChange(page, () => page.locator('[data-reset]').click());
  await shot(page, 'reset');
  await assertKpis(page, [], 'after Reset');
  assert.equal(await page.locator('[data-chip]').count(), 0);
  assert.equal(new URL(page.url()).search, '');
  assert.equal(await page.locator('[data-filter-id="product"] input').inputValue(), '');
  assert.deepEqual(await page.locator('[data-filter-id="units"] input[type=number]').evaluateAll((els) => els.map((e) => e.value)), ['', '']);
  assert.deepEqual(await page.locator('[data-filter-id="period"] input[type=date]').evaluateAll((els) => els.map((e) => e.value)), ['', '']);
  assert.equal(await page.locator('[data-filter-id="channel"] [role=option][aria-selected=true]').count(), 0);
  assert.ok(await page.locator('[data-reset]').isDisabled(), 'nothing left to reset');
  assert.deepEqual(problems, []);
});
