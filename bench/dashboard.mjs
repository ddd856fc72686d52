// Dashboard interaction benchmark over HTTP: the optimized server against the naive baseline
// (`--no-rollups --cache-mb 0`: every widget query scans the source), side by side in one run,
// over every dashboard of every bench project, at each row count.
//
//   node bench/dashboard.mjs                       # 1M and 10M rows, projects sales and rides
//   node bench/dashboard.mjs --rows 1000000 --states 50 --projects rides
//   node bench/dashboard.mjs --big                 # adds 100M rows (see bench/README.md for time and memory)
//   node bench/dashboard.mjs --verify [--rows 1000000]   # compare every answer instead of timing
//
// Options: --rows N[,N...] (default 1000000,10000000), --big (adds 100000000), --projects
// sales,rides, --dashboards id[,id] (only these), --states 200 (measured states per dashboard),
// --warmup 5, --seed 1, --modes optimized,naive (--naive 1 = naive only, as before),
// --cache-mb 256 (optimized side), --slowest N (print the N slowest interactions), --bin, --oracle.
//
// Per row count and project, the optimized server runs first, then the naive one (never both at
// once, so they do not share the 2 cores). For each server: time until it listens and until
// /readyz no longer says "building" (full speed); then per dashboard the first load (every data
// widget of every page with no filter values, on a fresh cache), 5 warm-up states, and the
// measured states: every data widget of every page requested at once (Arrow), timed from the
// first request to the last byte of the last answer. States come from bench/states.mjs, derived
// from the dashboard's description by the first server, identical for both. Any answer other
// than 200 counts as an error and is reported. Memory: VmRSS after each dashboard and VmHWM
// (peak) from /proc/<pid>/status. Results: one table per row count on stdout and everything
// (summaries, states, every timing) in bench/results/bench-<rows>.json.
//
// --verify starts both servers at once, asks both the same states (and the first load) in JSON
// and compares every answer (bench/compare.mjs says exactly how); mismatches are printed with
// their state and widget, written to bench/results/verify-<rows>.json, and make the exit code 1.
import fs from 'node:fs';
import path from 'node:path';
import { here, root, parseArgs, startBenchServer, quantile, machine } from './common.mjs';
import { prepareProject, PROJECTS } from './projects.mjs';
import { loadCatalog, makeStates } from './states.mjs';
import { interaction, resolveTables, memoryOf } from './client.mjs';
import { verifyDashboard, describeMismatch } from './verify.mjs';

const args = parseArgs();
const list = (s) => String(s).split(',').map((x) => x.trim()).filter(Boolean);
const rowsList = list(args.rows ?? '1000000,10000000').map(Number);
if (args.big === 'true' && !rowsList.includes(100_000_000)) rowsList.push(100_000_000);
const projects = list(args.projects ?? Object.keys(PROJECTS).join(','));
const onlyDashboards = args.dashboards ? new Set(list(args.dashboards)) : null;
const stateCount = Number(args.states ?? 200);
const warmupCount = Number(args.warmup ?? 5);
const seed = Number(args.seed ?? 1);
const cacheMb = String(args['cache-mb'] ?? 256);
const modes = args.naive === '1' ? ['naive'] : list(args.modes ?? 'optimized,naive');
const bin = path.resolve(args.bin ?? path.join(root, 'build', 'sightline'));
const oracle = path.resolve(args.oracle ?? path.join(root, 'build', 'tests', 'oracle', 'duckdb_oracle'));
const verify = args.verify === 'true';
const slowest = Number(args.slowest ?? 0);
// memory: the optimized server without its state directory (everything in DuckDB's memory).
const MODE_FLAGS = { optimized: ['--cache-mb', cacheMb], memory: ['--cache-mb', cacheMb, '--no-state'], naive: ['--no-rollups', '--cache-mb', '0', '--no-state'] };
const resultsDir = path.join(here, 'results');

const f0 = (x) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(0));
const f1 = (x) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(1));
const ratio = (a, b) => (a && b ? `${(b / a).toFixed(1)}x` : '-');
const log = (...a) => console.error(...a);

function dashboardsOf(catalogs) {
  return catalogs.filter((c) => !onlyDashboards || onlyDashboards.has(c.id));
}

async function catalogsOf(url) {
  const list = await (await fetch(new URL('/api/v1/dashboards', url))).json();
  const out = [];
  for (const d of list.dashboards) if (!onlyDashboards || onlyDashboards.has(d.id)) out.push(await loadCatalog(url, d.id));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Timing

async function runInteraction(url, catalog, state) {
  const offsets = await resolveTables(url, catalog.id, catalog.widgets, state);  // untimed
  return interaction(url, catalog.id, catalog.widgets, state, offsets);
}

function summarize(catalog, first, results) {
  const totals = results.map((r) => r.ms);
  const perWidget = {};
  for (const w of catalog.widgets) {
    const xs = results.map((r) => r.per.find((p) => p.id === w.id));
    const ok = xs.filter((x) => x.status === 200);
    perWidget[w.id] = {
      ms_p50: quantile(xs.map((x) => x.ms), 0.5), ms_p95: quantile(xs.map((x) => x.ms), 0.95),
      ttfb_p50: quantile(ok.map((x) => x.ttfb), 0.5),
      bytes_p50: ok.length ? quantile(ok.map((x) => x.bytes), 0.5) : null,
      errors: xs.length - ok.length,
    };
  }
  const all = [...first.per, ...results.flatMap((r) => r.per)];
  const errors = all.filter((p) => p.status !== 200).map((p) => ({ widget: p.id, status: p.status, error: p.error, body: p.body }));
  const byStatus = {};
  for (const e of errors) byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
  const hits = results.flatMap((r) => r.per).filter((p) => p.cache === 'hit').length;
  return {
    widgets: catalog.widgets.length, states: results.length,
    first_load_ms: first.ms,
    interaction_ms: { p50: quantile(totals, 0.5), p95: quantile(totals, 0.95), p99: quantile(totals, 0.99), max: Math.max(...totals) },
    bytes_per_interaction_p50: Object.values(perWidget).reduce((s, w) => s + (w.bytes_p50 ?? 0), 0),
    cache_hit_ratio: results.length ? hits / (results.length * catalog.widgets.length) : 0,
    errors: errors.length, errors_by_status: byStatus, error_samples: errors.slice(0, 5),
    slowest_widgets: Object.entries(perWidget).sort((a, b) => b[1].ms_p95 - a[1].ms_p95).slice(0, 3).map(([id, s]) => ({ id, ms_p95: s.ms_p95, ms_p50: s.ms_p50 })),
    per_widget: perWidget,
  };
}

async function benchProject(rows, projectName, out) {
  const project = prepareProject(projectName, { root, benchDir: here, rows, bin, oracle });
  const entry = out.projects[projectName] = { modes: {} };
  let catalogs = null;
  let plan = null;  // per dashboard: {warmup, states}
  for (const mode of modes) {
    log(`[${rows} rows] ${projectName}: starting the ${mode} server ...`);
    let server;
    try {
      server = await startBenchServer(bin, project.dir, MODE_FLAGS[mode], project.env);
    } catch (e) {
      // A server that does not come up (out of memory at 100M rows, say) is reported, not fatal.
      entry.modes[mode] = { server: { error: String(e.message ?? e) }, dashboards: {} };
      log(`  the ${mode} server did not start: ${e.message}`);
      continue;
    }
    const m = entry.modes[mode] = {
      server: { serving_after_s: server.startSeconds, full_speed_after_s: server.readySeconds, ready_memory: memoryOf(server.pid) },
      dashboards: {},
    };
    try {
      // First loads before anything else has warmed the cache.
      const listed = (await (await fetch(new URL('/api/v1/dashboards', server.url))).json()).dashboards.map((d) => d.id)
        .filter((id) => !onlyDashboards || onlyDashboards.has(id));
      const firsts = {};
      for (const id of listed) {
        const spec = await (await fetch(new URL(`/api/v1/dashboards/${encodeURIComponent(id)}`, server.url))).json();
        const widgets = spec.pages.flatMap((p) => p.widgets).filter((w) => w.type !== 'text');
        firsts[id] = await interaction(server.url, id, widgets, { filters: {}, selections: [], tables: {} });
      }
      if (!catalogs) {
        catalogs = await catalogsOf(server.url);
        plan = Object.fromEntries(catalogs.map((c) => [c.id, makeStates(c, { seed, count: stateCount, warmup: warmupCount })]));
        entry.catalogs = catalogs;
        entry.states = Object.fromEntries(Object.entries(plan).map(([id, p]) => [id, p.states]));
      }
      for (const catalog of dashboardsOf(catalogs)) {
        const { warmup, states } = plan[catalog.id];
        for (const s of warmup) await runInteraction(server.url, catalog, s);
        const results = [];
        for (let i = 0; i < states.length; i++) {
          const r = await runInteraction(server.url, catalog, states[i]);
          results.push({ state_index: i, ms: r.ms, per: r.per.map(({ id, status, ms, ttfb, bytes, cache, error, body }) => ({ id, status, ms, ttfb, bytes, cache, error, body: status === 200 ? undefined : body })) });
          if ((i + 1) % 50 === 0) log(`  ${mode} ${catalog.id}: ${i + 1}/${states.length} states`);
        }
        const summary = summarize(catalog, firsts[catalog.id], results);
        summary.memory_after = memoryOf(server.pid);
        m.dashboards[catalog.id] = { summary, first: firsts[catalog.id].per.map(({ id, status, ms, bytes }) => ({ id, status, ms, bytes })), results };
        log(`  ${mode} ${catalog.id}: p50 ${f0(summary.interaction_ms.p50)} ms, p95 ${f0(summary.interaction_ms.p95)} ms, errors ${summary.errors}`);
      }
      m.server.end_memory = memoryOf(server.pid);
    } finally {
      const code = await server.stop();
      m.server.exit = code;
    }
    if (mode === 'optimized' && m.server.exit === 0) {
      // A restart over the same data: the state directory (DIR/.sightline/state) is reused.
      try {
        const again = await startBenchServer(bin, project.dir, MODE_FLAGS[mode], project.env);
        m.server.restart = { serving_after_s: again.startSeconds, full_speed_after_s: again.readySeconds, ready_memory: memoryOf(again.pid) };
        await again.stop();
        log(`  restart: serving after ${again.startSeconds.toFixed(1)} s, full speed after ${again.readySeconds.toFixed(1)} s`);
      } catch (e) {
        m.server.restart = { error: String(e.message ?? e) };
      }
    }
  }
  // The project copy holds the state directory (gigabytes at 100M rows); its data is a link.
  fs.rmSync(project.dir, { recursive: true, force: true });
}

function printTables(rows, out) {
  const line = (cells, widths) => cells.map((c, i) => String(c)[i === 0 ? 'padEnd' : 'padStart'](widths[i])).join('  ');
  const both = modes.includes('optimized') && modes.includes('naive');
  console.log(`\n== ${rows.toLocaleString('en-US')} rows: ${both ? 'optimized vs naive (--no-rollups --cache-mb 0)' : modes.join(', ')}; ${stateCount} states per dashboard (+${warmupCount} warm-up), seed ${seed}; ${out.machine}; one run ==`);
  const head = ['dashboard', 'widgets', 'p50 ms', 'p95 ms', 'p99 ms', 'first load ms', 'KiB/interaction', 'errors'];
  const widths = [22, 7, 22, 22, 22, 22, 17, 9];
  console.log(line(head, widths));
  const pair = (o, n, fmt = f0) => (both ? `${fmt(o)} / ${fmt(n)} ${ratio(o, n).padStart(6)}` : fmt(o ?? n));
  for (const [pname, p] of Object.entries(out.projects)) {
    const ids = [...new Set(modes.flatMap((m) => Object.keys(p.modes[m]?.dashboards ?? {})))];
    for (const id of ids) {
      const o = p.modes.optimized?.dashboards[id]?.summary;
      const n = p.modes.naive?.dashboards[id]?.summary;
      const s = o ?? n;
      console.log(line([
        `${pname}/${id}`, s.widgets,
        pair(o?.interaction_ms.p50, n?.interaction_ms.p50), pair(o?.interaction_ms.p95, n?.interaction_ms.p95),
        pair(o?.interaction_ms.p99, n?.interaction_ms.p99), pair(o?.first_load_ms, n?.first_load_ms),
        both ? `${f0(o?.bytes_per_interaction_p50 / 1024)} / ${f0(n?.bytes_per_interaction_p50 / 1024)}` : f0(s.bytes_per_interaction_p50 / 1024),
        both ? `${o?.errors ?? '-'} / ${n?.errors ?? '-'}` : s.errors,
      ], widths));
    }
  }
  console.log('(cells: optimized / naive and how many times faster the optimized side is; KiB: sum over widgets of each widget\'s median answer)');
  const sh = ['project', 'serving after s', 'full speed after s', 'VmHWM MiB', 'VmRSS MiB (end)', 'restart: full speed s'];
  const sw = [22, 18, 20, 17, 17, 22];
  console.log(`\n${line(sh, sw)}`);
  for (const [pname, p] of Object.entries(out.projects)) {
    const o = p.modes.optimized?.server;
    const n = p.modes.naive?.server;
    const two = (a, b, fmt) => (both ? `${fmt(a)} / ${fmt(b)}` : fmt(a ?? b));
    console.log(line([pname, two(o?.serving_after_s, n?.serving_after_s, f1), two(o?.full_speed_after_s, n?.full_speed_after_s, f1),
      two(o?.end_memory?.hwm_mib, n?.end_memory?.hwm_mib, f0), two(o?.end_memory?.rss_mib, n?.end_memory?.rss_mib, f0),
      o?.restart?.full_speed_after_s !== undefined ? f1(o.restart.full_speed_after_s) : '-'], sw));
    for (const mode of modes) if (p.modes[mode]?.server?.error) console.log(`  ${mode} server did not start: ${p.modes[mode].server.error.split('\n').slice(0, 6).join(' | ')}`);
  }
  console.log('\nslowest widgets (p95 ms of the widget\'s own answer, within interactions):');
  for (const [pname, p] of Object.entries(out.projects)) {
    for (const mode of modes) {
      for (const [id, d] of Object.entries(p.modes[mode]?.dashboards ?? {})) {
        console.log(`  ${`${pname}/${id}`.padEnd(20)} ${mode.padEnd(9)} ${d.summary.slowest_widgets.map((w) => `${w.id} ${f0(w.ms_p95)}`).join(', ')}`);
      }
    }
  }
  console.log('\nper widget: p50 / p95 ms (optimized | naive), median bytes, errors');
  for (const [pname, p] of Object.entries(out.projects)) {
    for (const id of [...new Set(modes.flatMap((m) => Object.keys(p.modes[m]?.dashboards ?? {})))]) {
      const o = p.modes.optimized?.dashboards[id]?.summary.per_widget;
      const n = p.modes.naive?.dashboards[id]?.summary.per_widget;
      console.log(`  ${pname}/${id}`);
      for (const w of Object.keys(o ?? n)) {
        const a = o?.[w];
        const b = n?.[w];
        const cell = (x) => (x ? `${f0(x.ms_p50).padStart(6)} / ${f0(x.ms_p95).padStart(6)}` : ''.padStart(15));
        console.log(`    ${w.padEnd(20)} ${cell(a)} | ${cell(b)}   ${String((a ?? b).bytes_p50 ?? '-').padStart(9)} B   errors ${a ? a.errors : '-'} / ${b ? b.errors : '-'}`);
      }
    }
  }
  for (const [pname, p] of Object.entries(out.projects)) {
    for (const mode of modes) {
      for (const [id, d] of Object.entries(p.modes[mode]?.dashboards ?? {})) {
        if (!d.summary.errors) continue;
        console.log(`\nERRORS ${pname}/${id} ${mode}: ${d.summary.errors} non-200 answers ${JSON.stringify(d.summary.errors_by_status)}`);
        for (const e of d.summary.error_samples) console.log(`  ${e.widget}: ${e.status} ${e.error ?? ''}${e.body ? `  request ${JSON.stringify(e.body)}` : ''}`);
      }
    }
  }
  if (slowest > 0) {
    for (const [pname, p] of Object.entries(out.projects)) {
      for (const mode of modes) {
        for (const [id, d] of Object.entries(p.modes[mode]?.dashboards ?? {})) {
          console.log(`\nslowest interactions ${pname}/${id} ${mode}:`);
          for (const r of [...d.results].sort((a, b) => b.ms - a.ms).slice(0, slowest)) {
            const top = [...r.per].sort((a, b) => b.ms - a.ms).slice(0, 3).map((x) => `${x.id} ${f0(x.ms)}`).join(', ');
            console.log(`  ${f0(r.ms)} ms: ${JSON.stringify(p.states[id][r.state_index])} | ${top}`);
          }
        }
      }
    }
  }
}

async function bench(rows) {
  const out = { rows, machine: machine(), seed, states: stateCount, warmup: warmupCount, modes, cache_mb: cacheMb, started: new Date().toISOString(), projects: {} };
  for (const p of projects) await benchProject(rows, p, out);
  out.finished = new Date().toISOString();
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `bench-${rows}.json`);
  fs.writeFileSync(file, JSON.stringify(out));
  printTables(rows, out);
  console.log(`\nwrote ${path.relative(root, file)}`);
}

// ---------------------------------------------------------------------------------------------
// Verification

async function verifyRows(rows) {
  const out = { rows, seed, states: stateCount, machine: machine(), projects: {} };
  let mismatches = 0;
  for (const projectName of projects) {
    const project = prepareProject(projectName, { root, benchDir: here, rows, bin, oracle });
    log(`[${rows} rows] ${projectName}: starting the optimized and the naive server ...`);
    const optimized = await startBenchServer(bin, project.dir, MODE_FLAGS.optimized, project.env);
    const naive = await startBenchServer(bin, project.dir, MODE_FLAGS.naive, project.env);
    try {
      const catalogs = await catalogsOf(naive.url);
      out.projects[projectName] = {};
      for (const catalog of catalogs) {
        const { states } = makeStates(catalog, { seed, count: stateCount });
        const all = [{ filters: {}, selections: [], tables: {} }, ...states];  // the first load, then the random states
        const r = await verifyDashboard({
          candidate: optimized.url, reference: naive.url, catalog, states: all,
          onMismatch: (m) => console.log(`MISMATCH ${projectName}/${describeMismatch(catalog.id, m)}`),
        });
        out.projects[projectName][catalog.id] = r;
        mismatches += r.mismatches.length;
        console.log(`${rows} rows ${projectName}/${catalog.id}: ${r.states} states x ${catalog.widgets.length} widgets = ${r.compared} answers compared, ${r.mismatches.length} mismatches, ${r.errors.length} non-200 answers`);
        for (const e of r.errors.slice(0, 5)) console.log(`  error ${e.side} ${e.widget} (state ${e.state_index}): ${e.status} ${e.error}  request ${JSON.stringify(e.body)}`);
      }
    } finally {
      await optimized.stop();
      await naive.stop();
      fs.rmSync(project.dir, { recursive: true, force: true });
    }
  }
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `verify-${rows}.json`);
  fs.writeFileSync(file, JSON.stringify(out));
  console.log(`wrote ${path.relative(root, file)}`);
  return mismatches;
}

async function main() {
  for (const p of projects) if (!PROJECTS[p]) throw new Error(`unknown project '${p}' (known: ${Object.keys(PROJECTS).join(', ')})`);
  for (const m of modes) if (!MODE_FLAGS[m]) throw new Error(`unknown mode '${m}' (optimized, naive)`);
  let failed = 0;
  for (const rows of rowsList) {
    if (verify) failed += await verifyRows(rows);
    else await bench(rows);
  }
  if (failed) { console.log(`${failed} mismatching answers`); process.exit(1); }
}

main().catch((e) => { console.error(e); process.exit(1); });
