// What the HTTP and browser benchmarks share: arguments, a seeded PRNG, the generated data set,
// starting the server, random filter states like a user's, and quantiles.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');

export function parseArgs(argv = process.argv.slice(2)) {
  // --name value, or a bare --flag (true) when no value follows.
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[argv[i].slice(2)] = 'true';
    else { out[argv[i].slice(2)] = next; i++; }
  }
  return out;
}

// Deterministic PRNG (mulberry32) so every run asks the same questions.
export function prng(s) {
  return () => {
    s |= 0; s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A copy of examples/sales over `rows` generated rows (generated once, kept in bench/data).
export function benchProject(bin, rows) {
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

// Starts `sightline serve` and waits until the background pre-aggregation is in place, so the
// benchmark measures the steady state. startSeconds: until it listens; readySeconds: until
// /readyz no longer says the rollups are "building" (full speed). `env` adds to the environment.
export async function startBenchServer(bin, project, extraArgs = [], env = {}) {
  const child = spawn(bin, ['serve', project, '--port', '0', '--no-reload', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  });
  const tail = [];
  // BENCH_SERVER_LOG=FILE keeps every server's log lines (appended), e.g. to see which query read
  // a rollup and which the rows (the `query` event's read_from and duration_ms).
  const logFile = process.env.BENCH_SERVER_LOG ? fs.openSync(process.env.BENCH_SERVER_LOG, 'a') : null;
  if (logFile !== null) child.stderr.on('data', (d) => fs.writeSync(logFile, d));
  child.stderr.on('data', (d) => { tail.push(...String(d).split('\n').filter(Boolean)); tail.splice(0, Math.max(0, tail.length - 40)); });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const started = Date.now();
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; const m = out.match(/at (http:\/\/\S+\/)/); if (m) resolve(m[1]); });
    exited.then((c) => reject(new Error(`server exited ${c}:\n${tail.join('\n')}`)));
  });
  const listening = (Date.now() - started) / 1000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited:\n${tail.join('\n')}`);
    const ready = await (await fetch(new URL('/readyz', url))).json().catch(() => ({}));
    if (ready.rollups !== undefined && !String(ready.rollups).includes('building')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child, pid: child.pid, url, tail, startSeconds: listening, readySeconds: (Date.now() - started) / 1000,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

// Random filter states like a user's over the demo dashboard: each filter set with some
// probability, sometimes a chart pick. `values` holds the filters' options from the API.
export function stateGenerator(rand, { regions, channels, categories, products }) {
  const pick = (arr) => arr[Math.floor(rand() * arr.length)];
  const some = (arr, max) => [...arr].sort(() => rand() - 0.5).slice(0, 1 + Math.floor(rand() * max));
  return function randomState() {
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
  };
}

export async function filterValues(url) {
  const get = async (p) => (await fetch(new URL(p, url))).json();
  return {
    regions: (await get('/api/v1/dashboards/sales/filters/region/options')).values,
    channels: (await get('/api/v1/dashboards/sales/filters/channel/options')).values,
    categories: (await get('/api/v1/dashboards/sales/filters/category/options')).values,
    products: (await get('/api/v1/dashboards/sales/filters/product/options?limit=200')).values,
  };
}

export const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

export const machine = () => `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0].model}`;
