// Random dashboard states derived generically from a dashboard's description, shared by the
// benchmark (bench/dashboard.mjs) and the equivalence test (tests/integration/equivalence.test.mjs).
//
// loadCatalog() asks a running server what a client may know: the dashboard's description
// (GET /api/v1/dashboards/{id}), every filter's options or bounds (/filters/{id}/options), and
// each data widget's answer with no filter values (its result columns and the values it shows,
// which are what a user can click). stateGenerator(catalog, seed) then returns a function that
// makes one state per call, deterministically from the seed and the catalog:
//
//   { filters:    { <filter id>: value | null },                  as in the query body
//     selections: [ { column, values | range, widget } ],         cross-filter picks on charts
//     tables:     { <table widget id>: { sort: [...] | undefined, page: { offset } | { fromEnd } } } }
//
// - each filter is set with some probability (a filter with a default is sometimes set to null);
//   select: one option; multiselect: 1-3 options (rarely with null); range: bounds inside the
//   column's min/max (skewed towards the low end, sometimes open-ended; whole numbers for integer
//   columns, cents for DECIMAL(_,2); nine in ten moved to the nearest announced bin edge, as the
//   UI's slider does, the rest as typed); daterange: arbitrary days or whole months inside the
//   bounds, also on TIMESTAMP columns (sometimes open-ended); text: a 2-6 character substring of
//   a real value (options, or values seen in widget answers), sometimes in other case.
// - selections name a dashboard dimension that a chart shows (x, color, heatmap y) with a value
//   seen in that chart's answer, the way the UI makes them (a date with a grain picks the whole
//   period; sometimes a second value); histograms (and scatter charts whose answer is not a
//   sample) give a range of 1-5 neighbouring bins on their column.
// - tables get a random sort (a result column, asc or desc) some of the time, and a page: offset
//   0 usually, sometimes 10,000 or more, sometimes near the end ({fromEnd: k}: the runner turns
//   it into X-Total-Count - k, as the UI knows the count from the first page).
//
// requestBody(state, widget, offset) gives the body a widget is asked with.

import { stableRows } from './compare.mjs';

export const PAGE_SIZE = 100;  // the UI's table page (web/src/table/window.ts)

// Deterministic PRNG (mulberry32).
export function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(s) {
  let h = 2166136261;
  for (const c of s) h = Math.imul(h ^ c.codePointAt(0), 16777619);
  return h >>> 0;
}

export const dataWidgets = (spec) => spec.pages.flatMap((p) => p.widgets.map((w) => ({ ...w, page: p.id }))).filter((w) => w.type !== 'text');

async function getJson(base, p) {
  const res = await fetch(new URL(p, base));
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${p} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

// What a client can know about dashboard `id` from the server at `base`.
export async function loadCatalog(base, id) {
  const dash = encodeURIComponent(id);
  const spec = await getJson(base, `/api/v1/dashboards/${dash}`);
  const filters = [];
  for (const f of spec.filters) {
    const enumerated = ['select', 'multiselect', 'text'].includes(f.type);
    const options = await getJson(base, `/api/v1/dashboards/${dash}/filters/${encodeURIComponent(f.id)}/options${enumerated ? '?limit=1000' : ''}`);
    filters.push({ ...f, options });
  }
  const answers = {};
  for (const w of dataWidgets(spec)) {
    const body = w.type === 'table' ? { offset: 0, limit: PAGE_SIZE } : {};
    const res = await fetch(new URL(`/api/v1/dashboards/${dash}/widgets/${encodeURIComponent(w.id)}/query`, base), {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) { answers[w.id] = { status: res.status, columns: [], values: {} }; continue; }
    const data = JSON.parse(text);
    // Values in a canonical order, and only those every correct server shows (not the rows a
    // top-N cut among ties, not a sample's), so that the states depend on the seed and the data.
    const rows = stableRows(w, data.columns, data.rows);
    const values = {};
    data.columns.forEach((c, i) => {
      const seen = new Map();
      for (const row of rows) seen.set(JSON.stringify(row[i]), row[i]);
      values[c.name] = [...seen.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, 300).map((e) => e[1]);
    });
    answers[w.id] = { status: 200, columns: data.columns, values };
    if (w.type === 'histogram') {
      const [i, j] = ['bin_start', 'bin_end'].map((n) => data.columns.findIndex((c) => c.name === n));
      if (i >= 0 && j >= 0) answers[w.id].bins = data.rows.map((r) => [r[i], r[j]]);
    }
  }
  return { id, spec, filters, answers, widgets: dataWidgets(spec) };
}

const isInteger = (t) => /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT\d*)$/i.test(t ?? '');
const decimalScale = (t) => { const m = /^DECIMAL\(\d+,\s*(\d+)\)$/i.exec(t ?? ''); return m ? Number(m[1]) : null; };
const isNumericArrow = (t) => /^(u?int\d+|float\d+|halffloat|double|decimal)/.test(t ?? '');
const isTemporalArrow = (t) => /^(date|timestamp)/.test(t ?? '');

const DAY = 86_400_000;
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const dayMs = (s) => Date.parse(`${String(s).slice(0, 10)}T00:00:00Z`);

// The last day of the period of `grain` starting at the day `start` (as web/src/charts/data.ts).
function periodEnd(startMs, grain) {
  const d = new Date(startMs);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (grain) {
    case 'week': return startMs + 6 * DAY;
    case 'month': return Date.UTC(y, m + 1, 0);
    case 'quarter': return Date.UTC(y, Math.floor(m / 3) * 3 + 3, 0);
    case 'year': return Date.UTC(y, 12, 0);
    default: return startMs;
  }
}

// The selection a click on `value` of a dimension makes in the UI (pickValue): the value, or for
// a date with a grain the whole period (bounds with a time of day on timestamp columns).
export function pickSelection(widgetId, enc, arrowType, value) {
  if (enc.grain && isTemporalArrow(arrowType) && value !== null) {
    const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
    if (!Number.isNaN(ms)) {
      const first = isoDay(ms);
      const last = isoDay(periodEnd(dayMs(first), enc.grain));
      const range = arrowType.startsWith('timestamp') ? [`${first}T00:00:00`, `${last}T23:59:59.999999999`] : [first, last];
      return { column: enc.column, range, widget: widgetId };
    }
  }
  return { column: enc.column, values: [value], widget: widgetId };
}

// What a user can click: per chart, the dimensions (in the dashboard's `dimensions`) it shows
// and the values seen in its answer.
function clickables(catalog) {
  const dims = new Set(catalog.spec.dimensions ?? []);
  const out = [];
  for (const w of catalog.widgets) {
    const answer = catalog.answers[w.id];
    if (!answer || answer.status !== 200 || w.custom_sql) continue;
    const enc = w.encoding ?? {};
    const type = (field) => answer.columns.find((c) => c.name === field)?.type;
    const roles = w.type === 'scatter' ? [] : w.type === 'heatmap' ? [enc.x, enc.y] : [enc.x, enc.color];
    if (['bar', 'line', 'area', 'pie', 'heatmap'].includes(w.type)) {
      for (const e of roles) {
        if (!e || Array.isArray(e) || !e.column || !dims.has(e.column)) continue;
        const values = answer.values[e.field] ?? [];
        if (values.length) out.push({ kind: 'pick', widget: w.id, enc: e, arrowType: type(e.field), values });
      }
    }
    if (w.type === 'scatter') {
      // A brushed range on the x axis of a scatter chart (when the answer holds every row: a
      // sample's values differ between two servers).
      const e = enc.x;
      if (e?.column && dims.has(e.column) && isNumericArrow(type(e.field))) {
        const xs = (answer.values[e.field] ?? []).filter((v) => v !== null).map(Number).filter(Number.isFinite).sort((a, b) => a - b);
        if (xs.length > 1) out.push({ kind: 'brush', widget: w.id, column: e.column, edges: xs.map((x) => [x, x]) });
      }
    }
    if (w.type === 'histogram') {
      // A click on a bin or a brush over several: [first bin's start, last bin's end].
      const column = enc.x?.column;
      if (column && dims.has(column) && answer.bins?.length) out.push({ kind: 'brush', widget: w.id, column, edges: answer.bins });
    }
  }
  return out;
}

// Candidate strings for text searches: the filter's options and values of its column seen in
// widget answers (options come sorted, so answers add variety).
function textPool(catalog, f) {
  const pool = new Set((f.options.values ?? []).filter((v) => typeof v === 'string'));
  for (const w of catalog.widgets) {
    const answer = catalog.answers[w.id];
    if (!answer || answer.status !== 200) continue;
    const enc = w.encoding ?? {};
    for (const e of [enc.x, enc.y, enc.color, ...(enc.columns ?? [])]) {
      if (e && !Array.isArray(e) && e.column === f.column) for (const v of answer.values[e.field] ?? []) if (typeof v === 'string') pool.add(v);
    }
  }
  return [...pool];
}

export function stateGenerator(catalog, seed = 1) {
  const rand = prng((Number(seed) * 2654435761) ^ hashString(catalog.id));
  const chance = (p) => rand() < p;
  const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));  // inclusive
  const pick = (arr) => arr[Math.floor(rand() * arr.length)];
  const some = (arr, k) => {
    const copy = [...arr];
    const out = [];
    while (out.length < k && copy.length) out.push(copy.splice(Math.floor(rand() * copy.length), 1)[0]);
    return out;
  };
  const clicks = clickables(catalog);
  const pools = Object.fromEntries(catalog.filters.filter((f) => f.type === 'text').map((f) => [f.id, textPool(catalog, f)]));

  function dateRange(f) {
    const lo = dayMs(f.options.min);
    const hi = dayMs(f.options.max);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return null;
    let from, to;
    if (chance(0.5)) {
      // Whole months: a month picker, "this quarter", "last year".
      const first = new Date(lo);
      const months = (new Date(hi).getUTCFullYear() - first.getUTCFullYear()) * 12 + new Date(hi).getUTCMonth() - first.getUTCMonth();
      const start = int(0, Math.max(0, months));
      from = Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + start, 1);
      to = Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + start + int(1, 12), 0);
    } else {
      // Arbitrary days: "last 30 days", a dragged range (1 day to ~1 year, sometimes longer).
      from = lo + int(0, Math.max(0, Math.round((hi - lo) / DAY))) * DAY;
      to = from + (chance(0.85) ? int(0, 364) : int(365, 1200)) * DAY;
    }
    to = Math.min(to, hi);
    from = Math.min(from, to);
    const value = { from: isoDay(from), to: isoDay(to) };
    const open = rand();
    if (open < 0.05) delete value.from;
    else if (open < 0.1) delete value.to;
    return value;
  }

  function numberRange(f) {
    const min = Number(f.options.min);
    const max = Number(f.options.max);
    if (!Number.isFinite(min) || !Number.isFinite(max)) return null;
    const scale = decimalScale(f.column_type);
    const round = (x) => (isInteger(f.column_type) ? Math.round(x) : scale !== null ? Number(x.toFixed(scale)) : x);
    // Skewed towards the low end, where most rows of skewed columns are.
    let lo = round(min + (max - min) * rand() ** 3);
    let hi = round(lo + (max - lo) * rand() ** 2);
    if (hi < lo) [lo, hi] = [hi, lo];
    // The UI's slider stops on the bin edges the spec announces (filters[].bins.edges); one
    // range in ten is typed by hand and goes as typed.
    const edges = f.bins?.edges;
    if (Array.isArray(edges) && edges.length > 1 && chance(0.9)) {
      const nearest = (x) => edges.reduce((b, e) => (Math.abs(e - x) < Math.abs(b - x) ? e : b), edges[0]);
      lo = nearest(lo);
      hi = nearest(hi);
      if (hi <= lo) hi = edges[Math.min(edges.length - 1, edges.indexOf(lo) + 1)];
    }
    const open = rand();
    if (open < 0.15) return [null, hi];
    if (open < 0.3) return [lo, null];
    return [lo, hi];
  }

  function textSearch(f) {
    const pool = pools[f.id];
    if (!pool?.length) return null;
    const chars = Array.from(pick(pool));
    const len = Math.min(chars.length, int(2, 6));
    const start = int(0, chars.length - len);
    let s = chars.slice(start, start + len).join('');
    if (chance(0.3)) s = chance(0.5) ? s.toLowerCase() : s.toUpperCase();
    return s.trim() === '' ? null : s;
  }

  return function nextState() {
    const filters = {};
    for (const f of catalog.filters) {
      const values = (f.options.values ?? []);
      let v;
      switch (f.type) {
        case 'select': if (values.length && chance(0.35)) v = pick(values); break;
        case 'multiselect':
          if (values.length && chance(0.35)) {
            v = some(values, int(1, 3));
            if (chance(0.05)) v.push(null);
          }
          break;
        case 'range': if (chance(0.2)) v = numberRange(f); break;
        case 'daterange': if (chance(0.7)) v = dateRange(f); break;
        case 'text': if (chance(0.12)) v = textSearch(f); break;
        default: break;
      }
      if (v !== undefined && v !== null) filters[f.id] = v;
      else if (f.default !== null && f.default !== undefined && chance(0.15)) filters[f.id] = null;  // "no filter", overriding the default
    }

    const selections = [];
    if (clicks.length && chance(0.25)) {
      const n = chance(0.2) ? 2 : 1;
      for (const c of some(clicks, n)) {
        if (selections.some((s) => s.column === (c.enc?.column ?? c.column))) continue;
        if (c.kind === 'pick') {
          const sel = pickSelection(c.widget, c.enc, c.arrowType, pick(c.values));
          // Sometimes a second value of the same chart (ctrl-click).
          if (sel.values && c.values.length > 1 && chance(0.2)) {
            const other = pick(c.values);
            if (JSON.stringify(other) !== JSON.stringify(sel.values[0])) sel.values.push(other);
          }
          selections.push(sel);
        } else {
          // One to five neighbouring bins (or points).
          const i = int(0, c.edges.length - 1);
          const j = Math.min(c.edges.length - 1, i + int(0, 4));
          selections.push({ column: c.column, range: [c.edges[i][0], c.edges[j][1]], widget: c.widget });
        }
      }
    }

    const tables = {};
    for (const w of catalog.widgets.filter((x) => x.type === 'table')) {
      const columns = catalog.answers[w.id]?.columns ?? [];
      const t = {};
      if (columns.length && chance(0.4)) t.sort = [{ column: pick(columns).name, desc: chance(0.5) }];
      const p = rand();
      t.page = p < 0.8 ? { offset: 0 } : p < 0.9 ? { offset: 10_000 + int(0, 50) * PAGE_SIZE } : { fromEnd: int(1, 3 * PAGE_SIZE) };
      tables[w.id] = t;
    }
    return { filters, selections, tables };
  };
}

// The states of a run: `warmup` first (not measured), then `count` measured ones.
export function makeStates(catalog, { seed = 1, count = 200, warmup = 0 } = {}) {
  const next = stateGenerator(catalog, seed);
  const all = Array.from({ length: warmup + count }, () => next());
  return { warmup: all.slice(0, warmup), states: all.slice(warmup) };
}

// The body a widget is queried with in `state`; a table's page offset is resolved by the caller
// (`offset`, from the state's page and, for {fromEnd}, the table's X-Total-Count).
export function requestBody(state, widget, offset = 0) {
  const body = {};
  if (Object.keys(state.filters ?? {}).length) body.filters = state.filters;
  if (state.selections?.length) body.selections = state.selections;
  if (widget.type === 'table') {
    const t = state.tables?.[widget.id] ?? {};
    if (t.sort) body.sort = t.sort;
    body.offset = offset;
    body.limit = PAGE_SIZE;
  }
  return body;
}

// A table's offset in `state` given the total row count of its unpaged result (for {fromEnd}).
export function resolveOffset(state, widget, total) {
  const page = state.tables?.[widget.id]?.page ?? { offset: 0 };
  if (page.fromEnd === undefined) return page.offset;
  return Math.max(0, Math.min(100_000_000, (total ?? 0) - page.fromEnd));
}

export const needsTotal = (state, widget) => widget.type === 'table' && state.tables?.[widget.id]?.page?.fromEnd !== undefined;
