// Browser-level benchmark: the embedded UI in headless Chromium over the demo data set.
//
//   node bench/browser.mjs --rows 10000000 --states 60 [--seed 1]
//
// Measures (1) first load: from navigation to every widget of the first page drawn, in a fresh
// browser context (empty cache), and (2) filter change: from a new filter state being applied
// to every widget drawn, over random states like a user's. A state is applied the way back and
// forward apply one — a history entry plus popstate — so it takes the app's real path: URL ->
// state -> one request per widget (superseded ones cancelled) -> Arrow decode -> draw.
// "Drawn" means every widget's data-drawn-state equals the page's state key, checked on each
// animation frame, plus one more frame so the drawing has been painted.
import fs from 'node:fs';
import path from 'node:path';
import { here, root, parseArgs, prng, benchProject, startBenchServer, stateGenerator, filterValues, quantile, machine } from './common.mjs';
import { launchBrowser, openPage } from '../tests/e2e/browser.mjs';

const args = parseArgs();
const rows = Number(args.rows ?? 10_000_000);
const states = Number(args.states ?? 60);
const seed = Number(args.seed ?? 1);
const bin = args.bin ?? path.join(root, 'build', 'sightline');
const rand = prng(seed);

// The UI's URL notation (web/src/state/notation.ts): strings quoted, lists !(...), objects (...).
const enc = (v) => {
  if (v === null) return '!n';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return "'" + v.replace(/!/g, '!!').replace(/'/g, "!'") + "'";
  if (Array.isArray(v)) return '!(' + v.map(enc).join(',') + ')';
  return '(' + Object.entries(v).map(([k, x]) => `${k}:${enc(x)}`).join(',') + ')';
};
function urlFor({ filters, selections }) {
  const q = new URLSearchParams();
  for (const [id, v] of Object.entries(filters)) q.set(`f.${id}`, enc(v));
  for (const s of selections) q.set(`sel.${s.widget}`, enc({ column: s.column, values: s.values }));
  const text = q.toString();
  return `/d/sales${text ? `?${text}` : ''}`;
}

// Installed in every page before the app runs (init scripts are not subject to the page's
// Content-Security-Policy, which forbids evaluating strings): window.__allDrawn() tells whether
// every widget has drawn the current state, and window.__allDrawnAt records when that first
// became true after navigation.
function installDrawnProbe() {
  window.__allDrawn = () => {
    const key = document.documentElement.dataset.stateKey;
    const widgets = [...document.querySelectorAll('.widget[data-widget-id]')];
    return !!key && widgets.length > 0 && widgets.every((w) => w.dataset.widgetType === 'text' ||
      (w.dataset.drawnState === key && (w.dataset.state === 'ready' || w.dataset.state === 'error')));
  };
  const tick = () => {
    if (window.__allDrawn()) requestAnimationFrame(() => { window.__allDrawnAt = performance.now(); });
    else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

async function main() {
  const project = benchProject(bin, rows);
  const server = await startBenchServer(bin, project, ['--cache-mb', '256']);
  const randomState = stateGenerator(rand, await filterValues(server.url));
  const browser = await launchBrowser();

  // First loads: a fresh context each time (nothing cached), the server's result cache warm
  // after the first (as for the second visitor of a dashboard).
  const firstLoads = [];
  for (let i = 0; i < 5; i++) {
    const { context, page, problems } = await openPage(browser);
    await page.addInitScript(installDrawnProbe);
    await page.goto(new URL('/d/sales', server.url).href);
    await page.waitForFunction(() => window.__allDrawnAt !== undefined, null, { timeout: 60_000 });
    firstLoads.push(await page.evaluate(() => window.__allDrawnAt));
    if (problems.length) throw new Error(`page problems: ${problems.join('; ')}`);
    await context.close();
  }

  const { page, problems } = await openPage(browser);
  await page.addInitScript(installDrawnProbe);
  await page.goto(new URL('/d/sales', server.url).href);
  await page.waitForFunction(() => window.__allDrawnAt !== undefined, null, { timeout: 60_000 });
  const apply = (url) => page.evaluate(async ({ url }) => {
    const before = document.documentElement.dataset.stateKey;
    // Drawn for the new state: the key must have moved on first (the caller skips a state
    // equal to the current one).
    const isDrawn = () => document.documentElement.dataset.stateKey !== before && window.__allDrawn();
    const t0 = performance.now();
    history.pushState(null, '', url);
    dispatchEvent(new PopStateEvent('popstate'));
    await new Promise((resolve) => {
      const tick = () => (isDrawn() ? requestAnimationFrame(resolve) : requestAnimationFrame(tick));
      requestAnimationFrame(tick);
    });
    return performance.now() - t0;
  }, { url });

  let current = '/d/sales';
  const next = () => {
    for (;;) {
      const state = randomState();
      const url = urlFor(state);
      if (url !== current) { current = url; return { state, url }; }
    }
  };
  for (let i = 0; i < 5; i++) await apply(next().url);  // warm-up, not counted
  const results = [];
  while (results.length < states) {
    const { state, url } = next();
    results.push({ state, ms: await apply(url) });
  }
  if (problems.length) throw new Error(`page problems: ${problems.join('; ')}`);
  await browser.close();
  server.child.kill('SIGTERM');

  const ms = results.map((r) => r.ms);
  const summary = {
    rows, states, machine: machine(), server_start_s: server.startSeconds, rollups_ready_s: server.readySeconds,
    first_load_ms: { cold: firstLoads[0], p50: quantile(firstLoads, 0.5), all: firstLoads },
    filter_change_ms: { p50: quantile(ms, 0.5), p95: quantile(ms, 0.95), p99: quantile(ms, 0.99), max: Math.max(...ms) },
  };
  fs.mkdirSync(path.join(here, 'results'), { recursive: true });
  fs.writeFileSync(path.join(here, 'results', `browser-${rows}.json`), JSON.stringify({ summary, results }, null, 1));
  const f = (x) => x.toFixed(0);
  console.log(`browser: rows=${rows} states=${states} machine: ${summary.machine}`);
  console.log(`first load to all widgets drawn: first ${f(firstLoads[0])} ms, median of 5 ${f(summary.first_load_ms.p50)} ms`);
  console.log(`filter change to all widgets drawn: p50 ${f(summary.filter_change_ms.p50)} ms, p95 ${f(summary.filter_change_ms.p95)} ms, p99 ${f(summary.filter_change_ms.p99)} ms`);
}

main().catch((e) => { console.error(e); process.exit(1); });
