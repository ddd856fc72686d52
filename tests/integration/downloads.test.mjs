// Downloads of more rows than an answer holds (engine.max_rows): the server writes them to an
// anonymous spool file as the engine produces them and sends them with their length. Checked
// over real sockets: the rows are exactly the pages the API gives for the same state, in the same
// order, in every format; a download cut at engine.max_export_rows says so; the answers of an
// independent DuckDB agree; nothing is left on disk and no descriptor leaks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { oracle, post, startServer, tempDir, writeProject } from './harness.mjs';
import { tableFromIPC } from '../js/node_modules/apache-arrow/Arrow.node.mjs';

const ROWS = 6000;
const MAX_ROWS = 1000;   // per answer
const MAX_EXPORT = 5000; // per download

// Awkward values: text with separators, quotes, line breaks, formulas and unicode; NULLs; exact
// decimals; instants in several offsets; a column unique per row and one with 6,000 values.
function csvText() {
  const q = (s) => `"${s.replaceAll('"', '""')}"`;
  const lines = ['id,name,amount,at,grp'];
  for (let i = 0; i < ROWS; i += 1) {
    const name = i % 17 === 0 ? '' : i % 5 === 0 ? q(`=SUM(A${i}), "x"\nZürich ${i % 97}`) : q(`name ${(i * 7919) % 3001}, café`);
    const amount = i % 13 === 0 ? '' : `${((i * 37) % 100003) - 5000}.${String(i % 100).padStart(2, '0')}`;
    const offset = ['+00:00', '+05:30', '-08:00'][i % 3];
    const at = `2024-03-${String(1 + (i % 28)).padStart(2, '0')} ${String(i % 24).padStart(2, '0')}:15:00${offset}`;
    lines.push([i, name, amount, at, `g${(i * 4099) % ROWS}`].join(','));
  }
  return lines.join('\n') + '\n';
}

let server;
let dir;
let spoolDir;
before(async () => {
  dir = writeProject({
    'sightline.yaml': `sources:
  t:
    path: data/t.csv
    csv: { header: true }
    types: { amount: "DECIMAL(12,2)", at: TIMESTAMPTZ }
engine:
  max_rows: ${MAX_ROWS}
  max_export_rows: ${MAX_EXPORT}
dashboards: dashboards/*.yaml
`,
    'data/t.csv': csvText(),
    'dashboards/d.yaml': `id: d
title: Downloads
source: t
filters:
  - { id: amount, type: range, column: amount }
widgets:
  - { id: rows, type: table, columns: [id, name, amount, at, grp], sort: -amount }
  - { id: per_group, type: line, x: grp, y: { expr: sum(amount), as: total } }
`,
  });
  spoolDir = tempDir('spool');
  server = await startServer(dir, ['--no-reload'], { TMPDIR: spoolDir });
});
after(async () => { await server?.stop(); });

const url = (w, format) => `/api/v1/dashboards/d/widgets/${w}/query?format=${format}`;
const csvBody = (text) => text.slice(text.indexOf('\r\n') + 2);

async function pagesCsv(body, from, count) {
  let rows = '';
  for (let offset = from; offset < from + count; offset += MAX_ROWS) {
    const res = await post(server, url('rows', 'csv'), { ...body, offset, limit: Math.min(MAX_ROWS, from + count - offset) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-sightline-cache') === 'bypass', false, 'a page is an ordinary answer');
    rows += csvBody(await res.text());
  }
  return rows;
}

test('a CSV download is every page of the table in order, cut at the download limit with a notice', async () => {
  const body = { sort: [{ column: 'name' }, { column: 'amount', desc: true }] };
  const res = await post(server, url('rows', 'csv'), { ...body, limit: ROWS });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-sightline-truncated'), 'true');
  assert.equal(res.headers.get('x-sightline-row-limit'), String(MAX_EXPORT));
  assert.equal(res.headers.get('x-total-count'), String(ROWS));
  assert.equal(res.headers.get('x-sightline-cache'), 'bypass');
  assert.match(res.headers.get('content-disposition'), /attachment; filename="rows\.csv"/);
  // A download says which data it holds, as every answer does.
  const page = await post(server, url('rows', 'csv'), { ...body, limit: 10 });
  for (const h of ['x-sightline-data-relation', 'x-sightline-data-version', 'x-sightline-data-as-of']) {
    assert.ok(res.headers.get(h), `the download has ${h}`);
    assert.equal(res.headers.get(h), page.headers.get(h), `${h} is the page's`);
  }
  assert.equal(res.headers.get('x-sightline-data-relation'), 't');
  await page.text();
  const text = await res.text();
  assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(text));
  assert.equal(csvBody(text), await pagesCsv(body, 0, MAX_EXPORT), 'the download equals the pages');
  // Formula cells arrive neutralized, as in every CSV answer.
  assert.ok(text.includes(`"'=SUM(A`), 'formulas are neutralized');
  assert.ok(!/\r\n=/.test(text));
});

test('a download within the limit is whole and says nothing; a filter and an offset apply', async () => {
  const body = { filters: { amount: [-1000, 60000] }, offset: 700 };
  const [{ n }] = oracle(`SELECT count(*) AS n FROM read_csv('${path.join(dir, 'data', 't.csv')}', header=true,
      types={'amount': 'DECIMAL(12,2)'}) WHERE amount BETWEEN -1000 AND 60000`).rows.map(([n]) => ({ n: Number(n) }));
  assert.ok(n > 2000 && n < MAX_EXPORT, `the filter keeps ${n} rows`);
  const res = await post(server, url('rows', 'csv'), { ...body, limit: ROWS });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-sightline-truncated'), null);
  assert.equal(res.headers.get('x-total-count'), String(n), 'the count is the oracle\'s');
  assert.equal(csvBody(await res.text()), await pagesCsv(body, 700, n - 700));
});

test('Arrow and JSON downloads hold the same rows as the CSV one', async () => {
  const body = { sort: [{ column: 'at', desc: true }], offset: 10, limit: 3500 };
  const arrowRes = await post(server, url('rows', 'arrow'), body);
  assert.equal(arrowRes.status, 200);
  assert.equal(arrowRes.headers.get('content-type'), 'application/vnd.apache.arrow.stream');
  const table = tableFromIPC(new Uint8Array(await arrowRes.arrayBuffer()));
  assert.equal(table.numRows, 3500);
  const jsonRes = await post(server, url('rows', 'json'), body);
  assert.equal(jsonRes.status, 200);
  const json = await jsonRes.json();
  assert.deepEqual(json.columns.map((c) => c.name), ['id', 'name', 'amount', 'at', 'grp']);
  assert.equal(json.rows.length, 3500);
  const ids = Array.from(table.getChild('id').toArray(), Number);
  assert.deepEqual(ids, json.rows.map((r) => Number(r[0])));
  // And the JSON rows are the pages' rows.
  let paged = [];
  for (let offset = 10; offset < 3510; offset += MAX_ROWS) {
    const page = await post(server, url('rows', 'json'), { ...body, offset, limit: Math.min(MAX_ROWS, 3510 - offset) });
    paged = paged.concat((await page.json()).rows);
  }
  assert.deepEqual(json.rows, paged);
});

test('a chart with more points than an answer holds downloads them all, up to the limit', async () => {
  const shown = await post(server, url('per_group', 'json'), {});
  assert.equal(shown.headers.get('x-sightline-truncated'), 'true');
  assert.equal((await shown.json()).rows.length, MAX_ROWS);
  const res = await post(server, url('per_group', 'json'), { limit: 100_000_000 });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-sightline-truncated'), 'true', 'the 6,000 groups are more than a download holds');
  const got = (await res.json()).rows;
  assert.equal(got.length, MAX_EXPORT);
  const want = oracle(`SELECT grp, sum(amount) AS total FROM read_csv('${path.join(dir, 'data', 't.csv')}', header=true,
      types={'amount': 'DECIMAL(12,2)'}) GROUP BY grp ORDER BY grp LIMIT ${MAX_EXPORT}`).rows;
  assert.deepEqual(got.map((r) => r[0]), want.map((r) => r[0]), 'the groups are the oracle\'s, in order');
  assert.deepEqual(got.map((r) => (r[1] === null ? null : Number(r[1]))), want.map((r) => (r[1] === null ? null : Number(r[1]))));
});

test('requests beyond what a download may ask are refused', async () => {
  for (const limit of [100_000_001, -1, 1.5, '10']) {
    const res = await post(server, url('rows', 'csv'), { limit });
    assert.equal(res.status, 400, `limit ${JSON.stringify(limit)}`);
    assert.match((await res.json()).detail, /limit/);
  }
});

test('downloads leave no file behind and no descriptor open, also when the client hangs up', async () => {
  // The spool files the server holds open: anonymous files in the spool folder.
  const spoolFds = () => fs.readdirSync(`/proc/${server.child.pid}/fd`).filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/${server.child.pid}/fd/${fd}`).startsWith(spoolDir);
    } catch {
      return false;  // closed meanwhile
    }
  }).length;
  // A client that reads the headers only, then closes its socket (a browser tab closed mid-download).
  const hangUp = (format) => new Promise((resolve, reject) => {
    const body = JSON.stringify({ limit: ROWS, sort: [{ column: 'grp' }] });
    const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1', () => {
      socket.write(`POST ${url('rows', format)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    let head = '';
    socket.on('data', (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.destroy();
      resolve(head.slice(0, head.indexOf('\r\n')));
    });
    socket.on('error', reject);
  });
  for (let i = 0; i < 6; i += 1) {
    const format = i % 2 ? 'arrow' : 'csv';
    if (i % 3 === 0) {
      assert.equal(await hangUp(format), 'HTTP/1.1 200 OK');
      continue;
    }
    const res = await post(server, url('rows', format), { limit: ROWS, sort: [{ column: 'grp' }] });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  }
  assert.deepEqual(fs.readdirSync(spoolDir), [], 'spool files have no name');
  const deadline = Date.now() + 10_000;
  while (spoolFds() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(spoolFds(), 0, 'every spool file is closed once sent');
  const res = await post(server, url('rows', 'json'), { limit: 3 });
  assert.equal(res.status, 200, 'the server still answers');
  const downloads = server.jsonLogs().filter((l) => l.event === 'query' && l.statement === 'd/rows#export' && l.rows === MAX_EXPORT);
  assert.ok(downloads.length >= 6 && downloads.every((l) => l.cache === 'bypass'), JSON.stringify(downloads));
});

test('spool files share a budget (--spool-mb): a download that would pass it is a 503 to retry, and gives its room back', async () => {
  const big = await startServer(writeProject({
    'sightline.yaml': 'sources:\n  t:\n    path: data/t.csv\nengine:\n  max_rows: 1000\ndashboards: dashboards/*.yaml\n',
    'data/t.csv': 'x\n1\n',
    // 20,000 rows of about 500 bytes: 10 MB of CSV, ten times the budget.
    'dashboards/d.yaml': `id: d\ntitle: D\nsource: t\nwidgets:\n  - { id: wide, type: table, sql: "SELECT i, repeat('x', 500) AS pad FROM range(0, 20000) t(i) WHERE {{ filters }} ORDER BY i" }\n`,
  }), ['--no-reload', '--spool-mb', '1'], { TMPDIR: spoolDir });
  try {
    const wide = (limit) => post(big, '/api/v1/dashboards/d/widgets/wide/query?format=csv', { limit });
    const refused = await wide(20_000);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    const problem = await refused.json();
    assert.equal(problem.detail, 'the server is preparing too many downloads at once');
    assert.ok(!JSON.stringify(problem).includes(spoolDir), 'the answer does not name the folder');
    // The refused download's bytes were given back: one within the budget is whole.
    const fits = await wide(1500);
    assert.equal(fits.status, 200);
    const text = await fits.text();
    assert.equal(text.split('\r\n').length - 2, 1500);
    assert.ok(Buffer.byteLength(text) > 700_000 && Buffer.byteLength(text) < 1 << 20);
    // Once sent (the server's last write may end just after the client read the last byte).
    let metrics = '';
    for (const until = Date.now() + 5000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      metrics = await (await fetch(new URL('/metrics', big.url))).text();
      if (/^sightline_download_spool_bytes 0$/m.test(metrics)) break;
    }
    assert.match(metrics, /^sightline_download_spool_bytes 0$/m, 'sent downloads hold nothing');
  } finally {
    await big.stop();
  }
});
