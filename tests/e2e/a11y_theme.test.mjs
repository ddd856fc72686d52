// End to end: the dashboard used with the keyboard alone, accessible names on every control,
// light and dark themes (toggle, persistence, the system preference), text contrast in both
// themes, and a phone-sized viewport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { salesProject, oracle, ordersScan, BUILD_DIR } from '../integration/harness.mjs';
import { openPage, screenshotter, waitForDrawn, kpiValue, afterChange } from './browser.mjs';
import { serveAndBrowse } from './setup.mjs';

const ROWS = 100_000;
const scan = () => ordersScan(ROWS);
const near = (a, b) => a !== null && Math.abs(a - b) <= 0.005 + 1e-9 * Math.abs(b);
const shot = screenshotter(BUILD_DIR, 'a11y_theme');
const app = serveAndBrowse(() => salesProject(ROWS));
const sales = () => app.url('/d/sales');

// What has the keyboard focus, named by the hooks the UI documents.
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'body';
    if (el.classList.contains('skip-link')) return 'skip';
    if (el.id === 'dashboard-switcher') return 'switcher';
    if (el.hasAttribute('data-theme-toggle')) return 'theme';
    if (el.id === 'main') return 'main';
    if (el.getAttribute('role') === 'tab') return `tab:${el.dataset.page}`;
    const filter = el.closest('[data-filter-id]');
    if (filter) return `filter:${filter.dataset.filterId}`;
    return `${el.tagName.toLowerCase()}:${(el.getAttribute('aria-label') || el.textContent || '').trim().slice(0, 30)}`;
  });
}

async function tabUntil(page, want, max = 80) {
  const seen = [];
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(f);
    if (want(f)) return seen;
  }
  throw new Error(`Tab never reached the target; focus went through ${seen.join(', ')}`);
}

test('keyboard only: skip link first, then switcher, theme toggle and filters; arrow keys move between page tabs; the region combobox picks with arrows and Enter', async () => {
  const { page, problems } = await openPage(app.browser);
  await page.goto(sales());
  await waitForDrawn(page);

  // The order of the focus stops, from the top of the page to the first page tab.
  const order = await tabUntil(page, (f) => f.startsWith('tab:'));
  assert.equal(order[0], 'skip', `the skip link is the first stop: ${order.join(', ')}`);
  const at = (name) => order.indexOf(name);
  const firstFilter = order.findIndex((f) => f.startsWith('filter:'));
  assert.ok(at('switcher') > 0 && at('theme') > at('switcher') && firstFilter > at('theme'), `switcher, theme, filters in order: ${order.join(', ')}`);
  const filters = [...new Set(order.filter((f) => f.startsWith('filter:')))];
  assert.deepEqual(filters, ['filter:region', 'filter:channel', 'filter:category', 'filter:period', 'filter:units', 'filter:product']);
  assert.equal(order.at(-1), 'tab:overview', 'the selected tab is the one stop of the tab list');
  assert.equal(order.filter((f) => f.startsWith('tab:')).length, 1);

  // The skip link jumps over the header and the filters.
  await page.goto(sales());
  await waitForDrawn(page);
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'skip');
  assert.ok(await page.locator('.skip-link').isVisible(), 'the skip link shows when focused');
  await shot(page, 'skip-link');
  await page.keyboard.press('Enter');
  assert.equal(await focused(page), 'main');
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'tab:overview');

  // Arrow keys move between the tabs and show their page; Home and End jump.
  const selectedPage = () => page.locator('[role=tab][aria-selected=true]').getAttribute('data-page');
  await afterChange(page, () => page.keyboard.press('ArrowRight'));
  assert.equal(await focused(page), 'tab:orders');
  assert.equal(await selectedPage(), 'orders');
  assert.equal(await page.locator('.widget[data-widget-id="orders_table"]').count(), 1);
  await shot(page, 'arrow-right-orders');
  await afterChange(page, () => page.keyboard.press('ArrowLeft'));
  assert.equal(await focused(page), 'tab:overview');
  assert.equal(await selectedPage(), 'overview');
  await afterChange(page, () => page.keyboard.press('End'));
  assert.equal(await selectedPage(), 'orders');
  await afterChange(page, () => page.keyboard.press('Home'));
  assert.equal(await selectedPage(), 'overview');
  // Enter and Space activate a focused tab.
  await page.locator('[role=tab][data-page="orders"]').focus();
  await afterChange(page, () => page.keyboard.press('Enter'));
  assert.equal(await selectedPage(), 'orders');
  await page.locator('[role=tab][data-page="overview"]').focus();
  await afterChange(page, () => page.keyboard.press(' '));
  assert.equal(await selectedPage(), 'overview');

  // The region combobox: Tab to it, ArrowDown opens the list, ArrowDown highlights the first
  // value, Enter picks it; the KPIs then show that region.
  await page.goto(sales());
  await waitForDrawn(page);
  await tabUntil(page, (f) => f === 'filter:region');
  const combo = page.locator('[data-filter-id="region"] input[role=combobox]');
  await page.keyboard.press('ArrowDown');
  assert.equal(await combo.getAttribute('aria-expanded'), 'true');
  await page.locator('[data-filter-id="region"] [role=option]').first().waitFor();
  await page.keyboard.press('ArrowDown');
  const activeId = await combo.getAttribute('aria-activedescendant');
  assert.ok(activeId, 'an option is highlighted');
  const region = await page.locator(`[id="${activeId}"]`).getAttribute('data-value');
  const [[firstRegion]] = oracle(`SELECT min(region) FROM ${scan()}`).rows;
  assert.equal(region, firstRegion, 'the first option is the first region');
  await shot(page, 'combobox-open');
  await afterChange(page, () => page.keyboard.press('Enter'));
  await shot(page, 'combobox-picked');
  assert.equal(await combo.getAttribute('aria-expanded'), 'false');
  assert.equal(await combo.inputValue(), region);
  const want = Number(oracle(`SELECT sum(revenue) FROM ${scan()} WHERE region = '${region}'`).rows[0][0]);
  assert.ok(near(await kpiValue(page, 'revenue'), want), `revenue for ${region}: ${await kpiValue(page, 'revenue')} vs ${want}`);
  assert.equal(await page.locator('[data-chip="filter:region"]').count(), 1);
  assert.match(await page.locator('[data-announcer]').innerText(), /Updated \d+ widgets/);
  assert.deepEqual(problems, []);
});

test('every input, select and button has an accessible name', async () => {
  const { page, problems } = await openPage(app.browser);
  const unnamed = () => page.evaluate(() => {
    const textOf = (node) => {
      if (node.nodeType === Node.TEXT_NODE) return node.textContent;
      if (node.nodeType !== Node.ELEMENT_NODE || node.getAttribute('aria-hidden') === 'true') return '';
      return [...node.childNodes].map(textOf).join('');
    };
    const nameOf = (el) => {
      const by = el.getAttribute('aria-labelledby');
      if (by) return by.split(/\s+/).map((id) => { const t = document.getElementById(id); return t ? textOf(t) : ''; }).join(' ');
      const label = el.getAttribute('aria-label');
      if (label && label.trim()) return label;
      const labels = el.labels ? [...el.labels].map(textOf).join(' ') : '';
      if (labels.trim()) return labels;
      if (el.tagName === 'BUTTON' || el.getAttribute('role') === 'tab' || el.tagName === 'A') {
        const t = textOf(el);
        if (t.trim()) return t;
      }
      return el.getAttribute('title') || '';
    };
    const controls = [...document.querySelectorAll('input, select, textarea, button, a[href], [role=combobox], [role=tab], [tabindex="0"]')]
      .filter((el) => el.type !== 'hidden' && !el.closest('[aria-hidden=true]'));
    return {
      count: controls.length,
      unnamed: controls.filter((el) => !nameOf(el).trim()).map((el) => el.outerHTML.slice(0, 160)),
    };
  });
  await page.goto(sales());
  await waitForDrawn(page);
  const overview = await unnamed();
  assert.ok(overview.count > 30, `controls found: ${overview.count}`);
  assert.deepEqual(overview.unnamed, [], 'unnamed controls on the overview');
  await page.goto(app.url('/d/sales?page=orders&f.region=North'));
  await waitForDrawn(page);
  const orders = await unnamed();
  assert.deepEqual(orders.unnamed, [], 'unnamed controls on the orders page, with a filter set');
  assert.ok(await page.locator('[role=columnheader] button').count() > 0, 'the table has sort buttons');
  assert.deepEqual(problems, []);
});

test('the theme toggle switches html[data-theme] and persists across reloads; a dark system preference starts dark', async () => {
  const { page, context, problems } = await openPage(app.browser, { colorScheme: 'light' });
  await page.goto(sales());
  await waitForDrawn(page);
  const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
  const toggle = page.locator('[data-theme-toggle]');
  const bg = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  assert.equal(await theme(), 'light');
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
  const lightBg = await bg();

  await tabUntil(page, (f) => f === 'theme');
  await page.keyboard.press('Enter');
  assert.equal(await theme(), 'dark');
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  assert.notEqual(await bg(), lightBg, 'the page really changes color');
  await waitForDrawn(page);
  await shot(page, 'dark');

  await page.reload();
  await waitForDrawn(page);
  assert.equal(await theme(), 'dark', 'the choice survives a reload');
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  await toggle.click();
  assert.equal(await theme(), 'light');
  await page.reload();
  await waitForDrawn(page);
  assert.equal(await theme(), 'light', 'and so does switching back');
  await context.close();

  const dark = await openPage(app.browser, { colorScheme: 'dark' });
  await dark.page.goto(sales());
  await waitForDrawn(dark.page);
  assert.equal(await dark.page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'a dark system preference starts dark');
  assert.equal(await dark.page.locator('[data-theme-toggle]').getAttribute('aria-pressed'), 'true');
  await shot(dark.page, 'system-dark');
  assert.deepEqual([...problems, ...dark.problems], []);
  await dark.context.close();
});

// Contrast ratios (WCAG 2) of text against what is behind it, from the computed colors: the
// text color (with the opacity of it and its ancestors) over the backgrounds of its ancestors.
// A horizontal `linear-gradient(to right, color Npx, ...)` background (the sidebar's edge) counts
// with every color it has across the text's width; the worst case is reported.
function contrasts(page, selector) {
  return page.evaluate((sel) => {
    const parse = (c) => {
      const m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)$/.exec(c.trim());
      if (!m) throw new Error(`unexpected color ${c}`);
      const a = m[4] === undefined ? 1 : m[4].endsWith('%') ? Number(m[4].slice(0, -1)) / 100 : Number(m[4]);
      return [Number(m[1]), Number(m[2]), Number(m[3]), a];
    };
    // Source-over compositing of two straight-alpha colors.
    const over = (top, bottom) => {
      const a = top[3] + bottom[3] * (1 - top[3]);
      if (a === 0) return [0, 0, 0, 0];
      return [0, 1, 2].map((i) => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a).concat(a);
    };
    const lum = (c) => {
      const [r, g, b] = c.slice(0, 3).map((v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    // The colors a left-to-right gradient of px stops shows between x0 and x1 (its box's coordinates).
    const gradientColors = (image, x0, x1) => {
      const m = /^linear-gradient\(to right, (.*)\)$/.exec(image);
      if (!m) throw new Error(`${sel}: a background image behind the text (${image})`);
      const stops = [...m[1].matchAll(/(rgba?\([^)]*\))((?:\s+-?[\d.]+px)+)/g)].flatMap((s) =>
        s[2].trim().split(/\s+/).map((px) => ({ color: parse(s[1]), at: parseFloat(px) })));
      if (stops.length === 0) throw new Error(`${sel}: unreadable gradient ${image}`);
      const out = [];
      if (x0 <= stops[0].at) out.push(stops[0].color);
      for (let i = 1; i < stops.length; i += 1) {
        if (stops[i - 1].at <= x1 && stops[i].at >= x0 && stops[i].at > stops[i - 1].at) out.push(stops[i - 1].color, stops[i].color);
      }
      if (x1 >= stops.at(-1).at) out.push(stops.at(-1).color);
      return out;
    };
    const out = [];
    for (const el of document.querySelectorAll(sel)) {
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0 || !el.textContent.trim()) continue;
      // Backgrounds from the element up to the first opaque one, each a list of possible colors.
      const layers = [];
      let opacity = 1;
      let opaque = false;
      for (let n = el; n; n = n.parentElement) {
        const cs = getComputedStyle(n);
        opacity *= Number(cs.opacity);
        if (opaque) continue;
        const colors = [parse(cs.backgroundColor)];
        if (cs.backgroundImage !== 'none') {
          const box = n.getBoundingClientRect();
          colors.splice(0, 1, ...gradientColors(cs.backgroundImage, rect.left - box.left, rect.right - box.left).map((g) => over(g, colors[0])));
        }
        layers.push(colors);
        opaque = colors.every((c) => c[3] >= 1);
      }
      let backs = [[255, 255, 255, 1]];
      for (const l of layers.reverse()) backs = backs.flatMap((b) => l.map((c) => over(c, b)));
      const color = getComputedStyle(el).color;
      let worst = Infinity;
      for (const back of backs) {
        const fg = parse(color);
        fg[3] *= opacity;
        const [hi, lo] = [lum(over(fg, back)), lum(back)].sort((a, b) => b - a);
        worst = Math.min(worst, (hi + 0.05) / (lo + 0.05));
      }
      out.push({ text: el.textContent.trim().slice(0, 40), color, ratio: worst });
    }
    return out;
  }, selector);
}

for (const scheme of ['light', 'dark']) {
  test(`text contrast is at least 4.5:1 in the ${scheme} theme`, async () => {
    const { page, context, problems } = await openPage(app.browser, { colorScheme: scheme });
    await page.goto(sales());
    await waitForDrawn(page);
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), scheme);
    await shot(page, `contrast-${scheme}`);
    const checks = {
      'body text': 'body',
      'the dashboard title': '.dash-title',
      'the description': '.dash-desc',
      'widget titles': '.widget-title',
      'page tabs': '[role=tab]',
      'KPI values': '[data-kpi-value]',
    };
    const low = [];
    for (const [what, sel] of Object.entries(checks)) {
      const found = await contrasts(page, sel);
      assert.ok(found.length > 0, `${what} (${sel}) found`);
      for (const c of found) if (c.ratio < 4.5) low.push(`${what} “${c.text}” ${c.color}: ${c.ratio.toFixed(2)}:1`);
    }
    assert.ok((await contrasts(page, '.widget-title')).length >= 10, 'every widget title was measured');
    assert.deepEqual(low, []);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test(`KPI deltas are readable (at least 4.5:1) in the ${scheme} theme`, async () => {
    const { page, context, problems } = await openPage(app.browser, { colorScheme: scheme });
    // Two periods where revenue rises and falls, so both colors show.
    const low = [];
    for (const period of ['(from:2025-10-03,to:2025-12-31)', '(from:2025-01-01,to:2025-01-31)']) {
      await page.goto(`${sales()}?f.period=${period}`);
      await waitForDrawn(page);
      const found = await contrasts(page, '[data-kpi-delta]');
      assert.ok(found.length > 0, 'deltas shown');
      for (const c of found) if (c.ratio < 4.5) low.push(`delta “${c.text}” ${c.color}: ${c.ratio.toFixed(2)}:1`);
    }
    await shot(page, `deltas-${scheme}`);
    assert.deepEqual(low, []);
    assert.deepEqual(problems, []);
    await context.close();
  });
}

test('at 390px wide the widgets stack full width and the page does not scroll sideways', async () => {
  const { page, problems } = await openPage(app.browser, { width: 390, height: 844 });
  await page.goto(sales());
  await waitForDrawn(page);
  await shot(page, 'narrow');
  const layout = () => page.evaluate(() => {
    const grid = document.getElementById('grid');
    const g = grid.getBoundingClientRect();
    const widgets = [...grid.querySelectorAll('.widget[data-widget-id]')].map((w) => {
      const r = w.getBoundingClientRect();
      return { id: w.dataset.widgetId, left: r.left, width: r.width, top: r.top, bottom: r.bottom };
    });
    const se = document.scrollingElement;
    return { gridLeft: g.left, gridWidth: g.width, widgets, scrollWidth: se.scrollWidth, clientWidth: se.clientWidth };
  });
  const check = (l, where) => {
    assert.ok(l.scrollWidth <= l.clientWidth, `${where}: no sideways scroll (${l.scrollWidth} > ${l.clientWidth})`);
    assert.ok(l.widgets.length >= 10);
    for (const w of l.widgets) {
      assert.ok(Math.abs(w.width - l.gridWidth) <= 1 && Math.abs(w.left - l.gridLeft) <= 1, `${where}: ${w.id} is ${w.width}px at ${w.left}, the grid ${l.gridWidth}px at ${l.gridLeft}`);
    }
    const byTop = [...l.widgets].sort((a, b) => a.top - b.top);
    for (let i = 1; i < byTop.length; i += 1) assert.ok(byTop[i].top >= byTop[i - 1].bottom - 1, `${where}: ${byTop[i].id} overlaps ${byTop[i - 1].id}`);
  };
  check(await layout(), 'overview');

  // The filters open from the header and fit too.
  const toggle = page.locator('.filters-toggle');
  assert.ok(await toggle.isVisible(), 'a Filters button in the header');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  assert.ok(await page.locator('[data-filter-id="region"]').isVisible());
  await shot(page, 'narrow-filters');
  check(await layout(), 'filters open');

  await afterChange(page, () => page.locator('[role=tab][data-page="orders"]').click());
  await shot(page, 'narrow-orders');
  const l = await layout();
  assert.ok(l.scrollWidth <= l.clientWidth, `orders page: no sideways page scroll (${l.scrollWidth} > ${l.clientWidth})`);
  assert.deepEqual(problems, []);
});
