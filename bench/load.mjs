// Load benchmark: what a platform team sees under overload.
//
//   node bench/load.mjs --url http://127.0.0.1:8501 [--dashboard sales] [--widget W]
//       [--clients 40] [--seconds 20] [--cached-connections 50] [--soak-minutes 0]
//
// 1. cached: `--cached-connections` clients repeat one widget request (answered from the result
//    cache) as fast as they can: requests per second.
// 2. overload: `--clients` clients each send uncached heavy widget queries (a date range no one
//    asked before) back to back for `--seconds`, while a prober asks /healthz every 100 ms:
//    completed and shed (503) queries per second, the longest any client waited for an answer
//    or a 503, every other status, and /healthz latency (p50/p99/max).
// 3. soak (`--soak-minutes N`): 50 clients with a mix of cached and uncached requests for N
//    minutes; RSS, open descriptors, the result cache's and DuckDB's memory from /metrics every 30 s.
// Prints a summary and writes it as JSON to bench/results/load-<time>.json.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : 'true']);
  return acc;
}, []));
const url = args.url ?? 'http://127.0.0.1:8501';
const clients = Number(args.clients ?? 40);
const seconds = Number(args.seconds ?? 20);
const cachedConnections = Number(args['cached-connections'] ?? 50);
const soakMinutes = Number(args['soak-minutes'] ?? 0);

function quantile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const round = (v) => (v === null ? null : Math.round(v * 10) / 10);

async function spec() {
  const list = await (await fetch(new URL('/api/v1/dashboards', url))).json();
  const id = args.dashboard ?? list.dashboards[0].id;
  const d = await (await fetch(new URL(`/api/v1/dashboards/${id}`, url))).json();
  const widgets = d.pages.flatMap((p) => p.widgets).filter((w) => w.type !== 'text');
  const daterange = (d.filters ?? []).find((f) => f.type === 'daterange');
  // The heaviest kinds first: a table or chart over the rows rather than a KPI.
  const widget = args.widget ?? (widgets.find((w) => w.type === 'table') ?? widgets[0]).id;
  return { id, widget, daterange, widgets };
}

// A filter state no one asked before: a date range starting on a random day (or, without a date
// filter, a page offset), so the result cache cannot answer.
// Where the request counter starts (--seed): a new one per run by default, so that a second run
// against the same server does not find the first run's answers in its cache.
const seed = Number(args.seed ?? Date.now() % 1_000_000);
let counter = seed;
// Each request's date range: start and length both scattered by the counter, so that every phase
// (one at a time, overload, soak) draws from the same mix of short and long ranges. (A length
// that grew with the counter gave the first phase the shortest, cheapest ranges and made the
// overload look slower than it is.)
function uncachedBody(s) {
  counter += 1;
  if (s.daterange) {
    const start = new Date(Date.UTC(2021, 0, 1) + ((counter * 7919) % 1400) * 86400000);
    const end = new Date(start.getTime() + (30 + ((counter * 104729) % 300)) * 86400000);
    return { filters: { [s.daterange.id]: { from: start.toISOString().slice(0, 10), to: end.toISOString().slice(0, 10) } } };
  }
  return { page: { offset: counter * 37, limit: 100 } };
}

async function post(s, widget, body) {
  const started = performance.now();
  try {
    const res = await fetch(new URL(`/api/v1/dashboards/${s.id}/widgets/${widget}/query`, url), {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - started, retryAfter: res.headers.get('retry-after') };
  } catch (e) {
    return { status: 'error', ms: performance.now() - started, error: String(e.cause?.code ?? e.message) };
  }
}

async function cached(s) {
  const body = {};
  await post(s, s.widget, body);
  const until = performance.now() + 5000;
  let done = 0;
  await Promise.all(Array.from({ length: cachedConnections }, async () => {
    while (performance.now() < until) {
      const r = await post(s, s.widget, body);
      if (r.status === 200) done += 1;
    }
  }));
  return { connections: cachedConnections, requests_per_second: Math.round(done / 5) };
}

async function overload(s) {
  const until = performance.now() + seconds * 1000;
  const statuses = {};
  const waits = [];
  let completed = 0;
  let shed = 0;
  let shedWithoutRetryAfter = 0;
  const health = [];
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const t = performance.now();
      try {
        const r = await fetch(new URL('/healthz', url));
        await r.arrayBuffer();
        health.push(performance.now() - t);
      } catch {
        health.push(Infinity);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < until) {
      const r = await post(s, s.widget, uncachedBody(s));
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      waits.push(r.ms);
      if (r.status === 200) completed += 1;
      if (r.status === 503) {
        shed += 1;
        if (!r.retryAfter) shedWithoutRetryAfter += 1;
        // A well-behaved client backs off as Retry-After says (here: a short pause).
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  }));
  probing = false;
  await prober;
  waits.sort((a, b) => a - b);
  health.sort((a, b) => a - b);
  return {
    clients, seconds, dashboard: s.id, widget: s.widget,
    completed_per_second: round(completed / seconds), shed_per_second: round(shed / seconds), shed_without_retry_after: shedWithoutRetryAfter,
    statuses, wait_ms: { p50: round(quantile(waits, 0.5)), p99: round(quantile(waits, 0.99)), max: round(waits.at(-1) ?? null) },
    healthz_ms: { p50: round(quantile(health, 0.5)), p99: round(quantile(health, 0.99)), max: round(health.at(-1) ?? null), probes: health.length },
  };
}

async function unloaded(s) {
  // Heavy queries one at a time: the rate the engine sustains without contention.
  const until = performance.now() + 5000;
  let done = 0;
  while (performance.now() < until) if ((await post(s, s.widget, uncachedBody(s))).status === 200) done += 1;
  return { completed_per_second: round(done / 5) };
}

async function metricValue(name) {
  const text = await (await fetch(new URL('/metrics', url))).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : null;
}

async function soak(s) {
  const until = performance.now() + soakMinutes * 60_000;
  const samples = [];
  const statuses = {};
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push({ minute: round((soakMinutes * 60_000 - (until - performance.now())) / 60_000),
                     rss_mib: round((await metricValue('process_resident_memory_bytes')) / 2 ** 20), fds: await metricValue('process_open_fds'),
                     // What holds the memory: the result cache and DuckDB's buffer manager.
                     cache_mib: round((await metricValue('sightline_query_cache_bytes')) / 2 ** 20),
                     duckdb_mib: round((await metricValue('sightline_duckdb_memory_bytes')) / 2 ** 20) });
      await new Promise((r) => setTimeout(r, 30_000));
    }
  })();
  await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    while (performance.now() < until) {
      const w = s.widgets[i % s.widgets.length].id;
      const r = await post(s, w, i % 2 ? {} : uncachedBody(s));
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 503) await new Promise((res) => setTimeout(res, 200));
    }
  }));
  sampling = false;
  await sampler;
  return { minutes: soakMinutes, clients: 50, statuses, samples };
}

const s = await spec();
const result = { url, seed, started: new Date().toISOString() };
result.cached = await cached(s);
console.log(`cached: ${result.cached.requests_per_second} requests/s with ${cachedConnections} connections`);
result.unloaded = await unloaded(s);
console.log(`heavy queries one at a time: ${result.unloaded.completed_per_second}/s`);
result.overload = await overload(s);
const o = result.overload;
console.log(`overload (${clients} clients, ${seconds} s, ${s.id}/${s.widget}): completed ${o.completed_per_second}/s, shed ${o.shed_per_second}/s, ` +
  `statuses ${JSON.stringify(o.statuses)}, wait p50/p99/max ${o.wait_ms.p50}/${o.wait_ms.p99}/${o.wait_ms.max} ms, ` +
  `healthz p50/p99/max ${o.healthz_ms.p50}/${o.healthz_ms.p99}/${o.healthz_ms.max} ms`);
if (soakMinutes > 0) {
  result.soak = await soak(s);
  console.log(`soak: ${JSON.stringify(result.soak)}`);
}
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
const out = path.join(here, 'results', `load-${Date.now()}.json`);
fs.writeFileSync(out, JSON.stringify(result, null, 2));
console.log(`wrote ${path.relative(process.cwd(), out)}`);
