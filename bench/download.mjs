// Download benchmark: whole-table downloads of every table widget (and each dashboard's chart with
// the most points) as CSV, Arrow and JSON, over the bench projects.
//
//   node bench/download.mjs [--rows 10000000] [--projects sales,rides] [--formats csv,arrow]
//
// Per download: rows, bytes, seconds until the answer's headers (the engine's run and the
// encoding into the spool file), seconds until its last byte, and the server's resident memory
// before and at its peak while the download ran (sampled every 20 ms from /proc). One run, one
// machine: read the figures as such. Writes bench/results/download-<time>.json.
import fs from 'node:fs';
import path from 'node:path';
import { machine, parseArgs, root } from './common.mjs';
import { startBenchServer } from './common.mjs';
import { prepareProject } from './projects.mjs';

const args = parseArgs();
const rows = Number(args.rows ?? 10_000_000);
const projects = String(args.projects ?? 'sales,rides').split(',');
const formats = String(args.formats ?? 'csv,arrow').split(',');
const bin = path.join(root, 'build', 'sightline');
const oracle = path.join(root, 'build', 'tests', 'oracle', 'duckdb_oracle');
const benchDir = path.join(root, 'bench');

const rssBytes = (pid) => {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : 0;
};
const mib = (b) => Math.round(b / 2 ** 20);

async function download(server, dashboard, widget, format) {
  const before = rssBytes(server.pid);
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(server.pid)); }, 20);
  const started = performance.now();
  const res = await fetch(new URL(`/api/v1/dashboards/${dashboard}/widgets/${widget}/query?format=${format}`, server.url), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ limit: 100_000_000 }),
  });
  const headersAt = performance.now();
  let bytes = 0;
  for await (const chunk of res.body) bytes += chunk.byteLength;
  const done = performance.now();
  clearInterval(sampler);
  return {
    dashboard, widget, format, status: res.status,
    rows: Number(res.headers.get('x-total-count') ?? NaN),
    truncated: res.headers.get('x-sightline-truncated') === 'true',
    bytes, mib: mib(bytes),
    headers_s: Math.round(headersAt - started) / 1000,
    total_s: Math.round(done - started) / 1000,
    rss_before_mib: mib(before), rss_peak_mib: mib(peak),
  };
}

const results = [];
for (const name of projects) {
  const project = prepareProject(name, { root, benchDir, rows, bin, oracle });
  const spool = fs.mkdtempSync(path.join(path.dirname(project.dir), 'sightline-spool-'));
  const server = await startBenchServer(bin, project.dir, [], { ...project.env, TMPDIR: spool });
  try {
    const list = await (await fetch(new URL('/api/v1/dashboards', server.url))).json();
    for (const { id } of list.dashboards) {
      const spec = await (await fetch(new URL(`/api/v1/dashboards/${id}`, server.url))).json();
      const widgets = spec.pages.flatMap((p) => p.widgets);
      for (const w of widgets.filter((x) => x.type === 'table' && !x.custom_sql)) {
        for (const format of formats) {
          const r = await download(server, id, w.id, format);
          results.push({ project: name, ...r });
          console.log(JSON.stringify(results.at(-1)));
        }
      }
      // The chart with the most points (by its unfiltered answer), as JSON.
      let widest = null;
      for (const w of widgets.filter((x) => ['line', 'area', 'bar', 'heatmap'].includes(x.type))) {
        const res = await fetch(new URL(`/api/v1/dashboards/${id}/widgets/${w.id}/query?format=json`, server.url), {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        const n = (await res.json()).rows?.length ?? 0;
        if (!widest || n > widest.n) widest = { id: w.id, n };
      }
      if (widest) {
        const r = await download(server, id, widest.id, 'json');
        results.push({ project: name, ...r, rows: widest.n });
        console.log(JSON.stringify(results.at(-1)));
      }
    }
    const left = fs.readdirSync(spool);
    if (left.length) throw new Error(`files left in the spool folder: ${left.join(', ')}`);
  } finally {
    await server.stop();
    fs.rmSync(spool, { recursive: true, force: true });
  }
}

const out = { when: new Date().toISOString(), machine: machine(), rows, results };
fs.mkdirSync(path.join(benchDir, 'results'), { recursive: true });
const file = path.join(benchDir, 'results', `download-${out.when.replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(file, JSON.stringify(out, null, 2));
console.log('\n| project | dashboard/widget | format | rows | MiB | headers s | total s | RSS before → peak MiB |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.project} | ${r.dashboard}/${r.widget} | ${r.format} | ${r.rows.toLocaleString('en-US')}${r.truncated ? ' (cut)' : ''} | ${r.mib} | ${r.headers_s} | ${r.total_s} | ${r.rss_before_mib} → ${r.rss_peak_mib} |`);
}
console.log(`\nwritten to ${path.relative(root, file)}`);
