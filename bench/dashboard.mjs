// Dashboard interaction benchmark over HTTP, as the UI issues it: for each random filter
// state, every data widget of the demo dashboard is requested at once (Arrow), and the
// interaction ends when the last answer has arrived.
//
//   node bench/dashboard.mjs --rows 10000000 --states 200 [--seed 1] [--cache-mb 256] [--naive 1]
//
// Prints p50/p95/p99 of full interactions, first-load time, per-widget time to first byte and
// bytes, and writes the raw numbers to bench/results/dashboard-<rows>.json.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const rows = Number(args.rows ?? 1_000_000);
const states = Number(args.states ?? 200);
const seed = Number(args.seed ?? 1);
const cacheMb = String(args['cache-mb'] ?? 256);
const bin = args.bin ?? path.join(root, 'build', 'sightline');
// --naive 1: no rollups and no cache, every widget query scans the source (the baseline).
const naive = args.naive === '1';

// Deterministic PRNG (mulberry32) so every run asks the same questions.
function prng(s) {
  return () => {
    s |= 0; s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(seed);
const pick = (arr) => arr[Math.floor(rand() * arr.length)];
const some = (arr, max) => [...arr].sort(() => rand() - 0.5).slice(0, 1 + Math.floor(rand() * max));

function ensureData() {
  const dir = path.join(here, 'data', `rows-${rows}`);
  if (!fs.existsSync(path.join(dir, '.complete'))) {
    console.error(`generating ${rows} rows into ${path.relative(root, dir)} ...`);
    execFileSync(bin, ['demo-data', '--rows', String(rows), '--out', dir], { stdio: 'inherit' });
    fs.writeFileSync(path.join(dir, '.complete'), 'ok');
  }
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'sightline-bench-'));
  fs.cpSync(path.join(root, 'examples', 'sales'), project, { recursive: true, filter: (s) => !s.includes(`${path.sep}data`) });
  fs.symlinkSync(dir, path.join(project, 'data'));
  return project;
}

async function startServer(project) {
  const extra = naive ? ['--no-rollups', '--cache-mb', '0'] : ['--cache-mb', cacheMb];
  const child = spawn(bin, ['serve', project, '--port', '0', '--no-reload', ...extra], { stdio: ['ignore', 'pipe', 'ignore'] });
  const started = Date.now();
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; const m = out.match(/at (http:\/\/\S+\/)/); if (m) resolve(m[1]); });
    child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  const listening = (Date.now() - started) / 1000;
  // Measure the steady state: wait until the background pre-aggregation is in place.
  for (;;) {
    const ready = await (await fetch(new URL('/readyz', url))).json();
    if (!String(ready.rollups).includes('building')) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, url, startSeconds: listening, readySeconds: (Date.now() - started) / 1000 };
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function main() {
  const project = ensureData();
  const server = await startServer(project);
  const get = async (p) => (await fetch(new URL(p, server.url))).json();
  const spec = await get('/api/v1/dashboards/sales');
  const widgets = spec.pages.flatMap((p) => p.widgets).filter((w) => w.type !== 'text');
  const regions = (await get('/api/v1/dashboards/sales/filters/region/options')).values;
  const channels = (await get('/api/v1/dashboards/sales/filters/channel/options')).values;
  const categories = (await get('/api/v1/dashboards/sales/filters/category/options')).values;
  const products = (await get('/api/v1/dashboards/sales/filters/product/options?limit=200')).values;

  // A random state like a user's: each filter set with some probability, sometimes a chart pick.
  function randomState() {
    const filters = {};
    if (rand() < 0.5) filters.region = pick(regions);
    if (rand() < 0.4) filters.channel = some(channels, 2);
    if (rand() < 0.4) filters.category = some(categories, 3);
    if (rand() < 0.7) {
      // Half whole months (month pickers, "this quarter"), half any days ("last 30 days").
      const iso = (d) => d.toISOString().slice(0, 10);
      const last = new Date(Date.UTC(2025, 11, 31));
      let start, end;
      if (rand() < 0.5) {
        start = new Date(Date.UTC(2023, Math.floor(rand() * 30), 1));
        end = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1 + Math.floor(rand() * 12), 0));
      } else {
        start = new Date(Date.UTC(2023, 0, 1 + Math.floor(rand() * 1060)));
        end = new Date(start.getTime() + (7 + Math.floor(rand() * 358)) * 86400000);
      }
      filters.period = { from: iso(start), to: iso(end > last ? last : end) };
    }
    if (rand() < 0.2) { const lo = 1 + Math.floor(rand() * 10); filters.units = [lo, lo + Math.floor(rand() * 20)]; }
    if (rand() < 0.1) { const p = pick(products); const i = Math.floor(rand() * (p.length - 3)); filters.product = p.slice(i, i + 3); }
    const selections = rand() < 0.2 ? [{ column: 'category', values: [pick(categories)], widget: 'category_channel' }] : [];
    return { filters, selections };
  }

  async function interaction(state) {
    const t0 = performance.now();
    const per = await Promise.all(widgets.map(async (w) => {
      const body = { ...state };
      if (w.type === 'table') Object.assign(body, { offset: 0, limit: 100 });
      const s = performance.now();
      const res = await fetch(new URL(`/api/v1/dashboards/sales/widgets/${w.id}/query`, server.url), {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      const ttfb = performance.now() - s;
      const buf = await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${w.id}: ${res.status} ${Buffer.from(buf).toString()}`);
      return { id: w.id, ttfb, total: performance.now() - s, bytes: buf.byteLength, cache: res.headers.get('x-sightline-cache') };
    }));
    return { ms: performance.now() - t0, per };
  }

  const first = await interaction({ filters: {}, selections: [] });
  for (let i = 0; i < 5; i++) await interaction(randomState());  // warm-up, not counted
  const results = [];
  for (let i = 0; i < states; i++) {
    const state = randomState();
    results.push({ state, ...(await interaction(state)) });
  }
  server.child.kill('SIGTERM');

  const totals = results.map((r) => r.ms);
  const perWidget = {};
  for (const w of widgets) {
    const xs = results.map((r) => r.per.find((p) => p.id === w.id));
    perWidget[w.id] = {
      ttfb_p50: quantile(xs.map((x) => x.ttfb), 0.5), ttfb_p95: quantile(xs.map((x) => x.ttfb), 0.95),
      bytes_p50: quantile(xs.map((x) => x.bytes), 0.5),
    };
  }
  const hits = results.flatMap((r) => r.per).filter((p) => p.cache === 'hit').length;
  const summary = {
    rows, states, widgets: widgets.length, machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0].model}`,
    server_start_s: server.startSeconds, rollups_ready_s: server.readySeconds, first_load_ms: first.ms,
    interaction_ms: { p50: quantile(totals, 0.5), p95: quantile(totals, 0.95), p99: quantile(totals, 0.99), max: Math.max(...totals) },
    cache_hit_ratio: hits / (results.length * widgets.length), per_widget: perWidget,
  };
  fs.mkdirSync(path.join(here, 'results'), { recursive: true });
  fs.writeFileSync(path.join(here, 'results', `dashboard-${rows}${naive ? '-naive' : ''}.json`), JSON.stringify({ summary, results }, null, 1));
  const f = (x) => x.toFixed(1);
  console.log(`rows=${rows} states=${states} widgets=${widgets.length}${naive ? ' NAIVE (no rollups, no cache)' : ''} machine: ${summary.machine}`);
  console.log(`serving after ${f(summary.server_start_s)} s (load + check), rollups ready after ${f(summary.rollups_ready_s)} s; first load (no filters): ${f(first.ms)} ms`);
  console.log(`full interaction: p50 ${f(summary.interaction_ms.p50)} ms, p95 ${f(summary.interaction_ms.p95)} ms, p99 ${f(summary.interaction_ms.p99)} ms; cache hits ${(100 * summary.cache_hit_ratio).toFixed(1)}%`);
  for (const [id, s] of Object.entries(perWidget)) console.log(`  ${id.padEnd(18)} ttfb p50 ${f(s.ttfb_p50).padStart(7)} ms  p95 ${f(s.ttfb_p95).padStart(7)} ms  bytes ${s.bytes_p50}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
