// Rows sent over HTTP as an Arrow IPC stream (docs/freshness.md, "Rows sent over HTTP"): a batch
// written by apache-arrow JS (an independent implementation) with 64-bit integers, floats,
// plain and dictionary-encoded strings, timestamps with a time zone, booleans and nulls arrives
// with every value as sent; malformed streams, undeclared columns and values that do not fit
// are refused with 400 naming what is wrong, and keep nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeProject, startServer, queryJson } from './harness.mjs';
import {
  Table, tableToIPC, vectorFromArray, Int64, Int32, Float64, Utf8, Bool, Dictionary, TimestampMillisecond,
} from '../js/node_modules/apache-arrow/Arrow.node.mjs';

let dir;
let server;

const ARROW = 'application/vnd.apache.arrow.stream';
const kpi = (id, expr) => `  - { id: ${id}, type: kpi, measure: { expr: "${expr}", as: ${id} } }\n`;

before(async () => {
  dir = writeProject({
    'sightline.yaml': `
name: arrow ingest
sources:
  events:
    ingest: true
    columns: { id: BIGINT, amount: "DECIMAL(12,2)", kind: VARCHAR, region: VARCHAR, seen_at: TIMESTAMPTZ, ok: BOOLEAN }
dashboards: dashboards/*.yaml
`,
    'dashboards/events.yaml': `id: events\ntitle: Events\nsource: events\nwidgets:\n${kpi('rows', 'count(*)')}${kpi('total', 'sum(amount)')}${
      kpi('kinds', 'count(kind)')}${kpi('regions', 'count(DISTINCT region)')}${kpi('oks', 'sum(CASE WHEN ok THEN 1 ELSE 0 END)')}${
      kpi('first', 'min(epoch_ms(seen_at))')}${kpi('last', 'max(epoch_ms(seen_at))')}${kpi('ids', 'sum(id)')}`,
  });
  server = await startServer(dir);
}, { timeout: 120_000 });

after(async () => {
  await server?.stop();
});

// A batch of `n` rows starting at id `from`, and what it adds up to.
function batch(n, from) {
  const ids = [], amounts = [], kinds = [], regions = [], at = [], oks = [];
  let cents = 0, kindCount = 0, okCount = 0, idSum = 0n;
  for (let i = 0; i < n; i += 1) {
    const id = from + i;
    ids.push(BigInt(id) * 1_000_000_007n);  // beyond 2^53: must arrive exact
    idSum += BigInt(id) * 1_000_000_007n;
    const c = i % 9 === 0 ? null : ((id * 37) % 100_000) - 20_000;  // cents, some negative, some NULL
    amounts.push(c === null ? null : c / 100);
    if (c !== null) cents += c;
    const kind = i % 5 === 0 ? null : `kind ${id % 7} ✓`;
    kinds.push(kind);
    if (kind !== null) kindCount += 1;
    regions.push(['Nord', 'Süd', 'Ost', 'West'][id % 4]);
    at.push(Date.UTC(2026, 2, 29, 0, 0, 0) + id * 61_000);  // across Europe's DST change
    const ok = i % 3 === 0 ? null : id % 2 === 0;
    oks.push(ok);
    if (ok) okCount += 1;
  }
  const table = new Table({
    id: vectorFromArray(ids, new Int64()),
    amount: vectorFromArray(amounts, new Float64()),
    kind: vectorFromArray(kinds, new Utf8()),
    region: vectorFromArray(regions, new Dictionary(new Utf8(), new Int32())),
    seen_at: vectorFromArray(at, new TimestampMillisecond('UTC')),
    ok: vectorFromArray(oks, new Bool()),
  });
  return { bytes: Buffer.from(tableToIPC(table, 'stream')), n, cents, kindCount, okCount, idSum, first: at[0], last: at[n - 1] };
}

// The body's bytes as they are (the harness's post() sends text or JSON).
const send = (body, type = ARROW) =>
  fetch(new URL('/api/v1/sources/events/rows', server.url), { method: 'POST', headers: { 'content-type': type }, body });

async function answers() {
  const out = {};
  for (const id of ['rows', 'total', 'kinds', 'regions', 'oks', 'first', 'last', 'ids']) {
    const v = (await queryJson(server, 'events', id)).data.rows[0][0];
    out[id] = v === null ? null : String(v);
  }
  return out;
}

async function refused(body, pattern) {
  const res = await send(body);
  const text = await res.text();
  assert.equal(res.status, 400, text);
  const problem = JSON.parse(text);
  assert.match(problem.detail, pattern);
  assert.ok(!text.includes(dir), 'no path in the answer');
  return problem;
}

test('a batch written by apache-arrow arrives with every value as sent', async () => {
  const a = batch(4000, 1);
  const b = batch(1500, 10_000);
  for (const x of [a, b]) {
    const res = await send(x.bytes);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(JSON.parse(text).rows, x.n);
  }
  const got = await answers();
  assert.deepEqual(got, {
    rows: String(a.n + b.n),
    total: ((a.cents + b.cents) / 100).toFixed(2),
    kinds: String(a.kindCount + b.kindCount),
    regions: '4',
    oks: String(a.okCount + b.okCount),
    first: String(a.first),
    last: String(b.last),
    ids: String(a.idSum + b.idSum),
  });
});

test('malformed streams, undeclared columns and values that do not fit are refused and keep nothing', async () => {
  const before = await answers();
  const good = batch(50, 20_000).bytes;
  await refused(good.subarray(0, Math.floor(good.length / 2)), /Arrow stream ends inside/);
  await refused(Buffer.from('id,amount\n1,2\n'), /Arrow/);
  const colour = new Table({ id: vectorFromArray([1n], new Int64()), colour: vectorFromArray(['red'], new Utf8()) });
  await refused(Buffer.from(tableToIPC(colour, 'stream')), /unknown column 'colour'/);
  const precise = new Table({ id: vectorFromArray([1n, 2n], new Int64()), amount: vectorFromArray([1.5, 1.234], new Float64()) });
  await refused(Buffer.from(tableToIPC(precise, 'stream')), /row 2, column "amount": '1\.234' is not a DECIMAL\(12,2\)/);
  assert.deepEqual(await answers(), before, 'no refused batch kept a row');
});
