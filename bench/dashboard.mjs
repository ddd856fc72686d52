// Dashboard interaction benchmark over HTTP, as the UI issues it: for each random filter
// state, every data widget of the demo dashboard is requested at once (Arrow), and the
// interaction ends when the last answer has arrived.
//
//   node bench/dashboard.mjs --rows 10000000 --states 200 [--seed 1] [--cache-mb 256] [--naive 1] [--slowest 10]
//
// Prints p50/p95/p99 of full interactions, first-load time, per-widget time to first byte and
// bytes, and writes the raw numbers to bench/results/dashboard-<rows>.json.
import fs from 'node:fs';
import path from 'node:path';
import { here, root, parseArgs, prng, benchProject, startBenchServer, stateGenerator, filterValues, quantile, machine } from './common.mjs';

const args = parseArgs();
const rows = Number(args.rows ?? 1_000_000);
const states = Number(args.states ?? 200);
const seed = Number(args.seed ?? 1);
const cacheMb = String(args['cache-mb'] ?? 256);
const bin = args.bin ?? path.join(root, 'build', 'sightline');
// --naive 1: no rollups and no cache, every widget query scans the source (the baseline).
const naive = args.naive === '1';
const rand = prng(seed);

async function main() {
  const project = benchProject(bin, rows);
  const server = await startBenchServer(bin, project, naive ? ['--no-rollups', '--cache-mb', '0'] : ['--cache-mb', cacheMb]);
  const get = async (p) => (await fetch(new URL(p, server.url))).json();
  const spec = await get('/api/v1/dashboards/sales');
  const widgets = spec.pages.flatMap((p) => p.widgets).filter((w) => w.type !== 'text');
  const randomState = stateGenerator(rand, await filterValues(server.url));

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
    rows, states, widgets: widgets.length, machine: machine(),
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
  // --slowest N: the N slowest interactions, with their state and the widgets that took longest.
  const slowest = Number(args.slowest ?? 0);
  for (const r of [...results].sort((a, b) => b.ms - a.ms).slice(0, slowest)) {
    const top = [...r.per].sort((a, b) => b.ttfb - a.ttfb).slice(0, 3).map((x) => `${x.id} ${f(x.ttfb)}`).join(', ');
    console.log(`  slow ${f(r.ms)} ms: ${JSON.stringify(r.state)} | ${top}`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
