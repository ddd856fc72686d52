// Drives Debian's Chromium with playwright-core for the end-to-end tests and the browser
// benchmark. No browser is ever downloaded: the tests use /usr/bin/chromium (or $CHROMIUM).
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from '../js/node_modules/playwright-core/index.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: run scripts/install-deps.sh --browser (make test does)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // A closed network: keep Chromium from reaching out at start-up.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

// A page that records console errors, page errors and failed requests, so a test can assert
// there were none. `expected(url)` marks requests whose error answers a test provokes on purpose
// (Chromium logs every 4xx/5xx response as a console error).
export async function openPage(browser, { width = 1440, height = 1000, colorScheme = 'light', expected = () => false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    if (/^Failed to load resource/.test(m.text()) && expected(m.location().url)) return;
    problems.push(`console ${m.type()}: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A superseded request that the app cancelled on purpose is not a problem.
    if (r.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return { context, page, problems };
}

// Screenshots of each step, kept under the build folder as test artifacts.
export function screenshotter(buildDir, suite) {
  const dir = path.join(buildDir, 'e2e-artifacts', suite);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  let n = 0;
  return async (page, name) => {
    n += 1;
    const file = path.join(dir, `${String(n).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
}

// Resolves when every widget of the visible page has drawn data for the app's current state
// (its data-drawn-state equals the root's data-state-key) or shows an error for it.
export async function waitForDrawn(page, { timeout = 30_000 } = {}) {
  await page.waitForFunction(() => {
    const key = document.documentElement.dataset.stateKey;
    if (!key) return false;
    const widgets = [...document.querySelectorAll('.widget[data-widget-id]')];
    if (widgets.length === 0) return false;
    return widgets.every((w) => w.dataset.widgetType === 'text' || (w.dataset.drawnState === key && (w.dataset.state === 'ready' || w.dataset.state === 'error')));
  }, null, { timeout, polling: 'raf' });
}

// The exact numeric value a KPI shows (its data-value), or null.
export async function kpiValue(page, widgetId) {
  const v = await page.locator(`.widget[data-widget-id="${widgetId}"] [data-kpi-value]`).getAttribute('data-value');
  return v === null || v === '' ? null : Number(v);
}

// The root's current state key ('' before the first render).
export async function stateKey(page) {
  return page.evaluate(() => document.documentElement.dataset.stateKey ?? '');
}

// Runs `action` (a user gesture that changes the view state, perhaps after a debounce), waits
// until the state key differs from the one before it, then until every widget drew the new state.
export async function afterChange(page, action, { timeout = 30_000 } = {}) {
  const before = await stateKey(page);
  await action();
  await page.waitForFunction((k) => (document.documentElement.dataset.stateKey ?? '') !== k, before, { timeout, polling: 'raf' });
  await waitForDrawn(page, { timeout });
}

// The fractional change a KPI shows against the previous period (its data-delta), or null when
// the delta is hidden.
export async function kpiDelta(page, widgetId) {
  const el = page.locator(`.widget[data-widget-id="${widgetId}"] [data-kpi-delta]`);
  if (await el.count() === 0 || await el.isHidden()) return null;
  const v = await el.getAttribute('data-delta');
  return v === null || v === '' ? null : Number(v);
}

// Picks `value` in a select or multiselect filter as a user does: types `typed` into its
// combobox, then clicks the option. Resolves once the page drew the new state.
export async function pickOption(page, filterId, typed, value) {
  const input = page.locator(`[data-filter-id="${filterId}"] input[role=combobox]`);
  await input.click();
  await input.fill(typed);
  const option = page.locator(`[data-filter-id="${filterId}"] [role=option][data-value="${value}"]`);
  await afterChange(page, () => option.click());
}

// Clicks a widget's download button (hovering the card first, as the buttons show on hover) and
// returns the file the browser saved: its suggested name and bytes.
export async function downloadFrom(page, widgetId, format) {
  const card = page.locator(`.widget[data-widget-id="${widgetId}"]`);
  await card.hover();
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 30_000 }),
    card.locator(`button[data-download="${format}"]`).click(),
  ]);
  const failure = await download.failure();
  if (failure) throw new Error(`download of ${widgetId} as ${format} failed: ${failure}`);
  return { name: download.suggestedFilename(), bytes: fs.readFileSync(await download.path()) };
}
