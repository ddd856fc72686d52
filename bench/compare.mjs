// Comparing two answers of one widget (JSON format, docs/api.md) for the equivalence check: the
// optimized server's against the naive one's (no rollups, no cache), which reads the source for
// everything. compareAnswers() returns a list of differences (empty when the answers agree).
//
// What is compared, exactly:
// - HTTP status (and the problem type when both fail), X-Total-Count, X-Sightline-Truncated.
// - Column names and types, in order.
// - Values, by the column's type: integers exactly (as decimal text, so 64-bit values beyond
//   2^53 too), DECIMAL exactly (by value, from the number's own text: the JSON is parsed without
//   going through doubles), floats with a relative tolerance (1e-9; 1e-12 absolute near zero,
//   where sums that cancel out are only noise), text, dates, timestamps and booleans exactly,
//   NULL only equal to NULL.
// - Row order where docs/api.md and docs/project-format.md define it, and only there:
//   * tables (declarative): fully ordered (the sort, then every other column ascending), so rows
//     are compared position by position;
//   * bar, line, area, pie, heatmap: ordered by the widget's sort (declared, or the default: a
//     time axis or a heatmap by x ascending, otherwise the first measure descending), then by
//     the color value (heatmaps: y) when there is one; rows with equal keys may come in any
//     order, and when a limit cut the result, which of the rows tied at the cut made it is not
//     defined either: those are compared by count and key only;
//   * histograms: by bin_start; KPIs: one row;
//   * custom SQL: the order and any LIMIT of its own SQL are unknown to the client, so rows are
//     compared as a multiset; as a table, its page is ordered by the client's sort only (no tie
//     breaker), so a page that is not the whole result is compared by its sort keys, and rows
//     only in the tie groups it does not cut; without a sort, only by its row count;
//   * scatter: a sample of at most `limit` of the filtered rows. Which rows a full sample holds
//     depends on the physical order of the loaded rows (ties of a source's order_by come in any
//     order), which differs between two server processes even over the same files (measured: two
//     naive servers disagree), so a sample of `limit` rows is compared by its size only; a
//     smaller answer holds every filtered row and is compared as a multiset.
//   A pair of answers that is equal position by position always passes; otherwise each side
//   must be ordered as documented, and rows are matched within their sort-key groups.
// NULLs sort last in both directions. Text sorts by its UTF-8 bytes (DuckDB's default).

export const REL_TOL = 1e-9;
export const ABS_TOL = 1e-12;

// ---------------------------------------------------------------------------------------------
// JSON with numbers kept as their text, so decimals and 64-bit integers are compared exactly.

export class Num {
  constructor(raw) { this.raw = raw; }
  toJSON() { return Number(this.raw); }
}

export function parseJson(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const fail = (what) => { throw new SyntaxError(`bad JSON at ${i}: ${what}`); };
  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o = {};
      ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('key');
        const k = string();
        ws();
        if (text[i++] !== ':') fail(':');
        o[k] = value();
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return o; }
        fail('object');
      }
    }
    if (c === '[') {
      i++;
      const a = [];
      ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return a; }
        fail('array');
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    const m = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r) fail('value');
    i = m.lastIndex;
    return new Num(r[0]);
  }
  function string() {
    // The string's JSON text, decoded by JSON.parse (escapes included).
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  }
  const v = value();
  ws();
  if (i !== text.length) fail('trailing text');
  return v;
}

// ---------------------------------------------------------------------------------------------
// Cells

export function typeClass(arrowType) {
  const t = String(arrowType ?? '');
  if (/^u?int\d+$/.test(t)) return 'int';
  if (/^decimal/.test(t)) return 'decimal';
  if (/^(float\d*|halffloat|double)$/.test(t)) return 'float';
  if (/^(date|timestamp|time)/.test(t)) return 'temporal';
  return 'exact';
}

// A decimal's text as [sign, digits without leading/trailing zeros, exponent] for exact equality.
function decimalKey(raw) {
  let s = String(raw).trim();
  let sign = '';
  if (s[0] === '-' || s[0] === '+') { sign = s[0] === '-' ? '-' : ''; s = s.slice(1); }
  let exp = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) { exp = Number(s.slice(e + 1)); s = s.slice(0, e); }
  const dot = s.indexOf('.');
  if (dot >= 0) { exp -= s.length - dot - 1; s = s.slice(0, dot) + s.slice(dot + 1); }
  s = s.replace(/^0+/, '');
  if (s === '') return '0';
  while (s.endsWith('0')) { s = s.slice(0, -1); exp++; }
  return `${sign}${s}e${exp}`;
}

const rawOf = (v) => (v instanceof Num ? v.raw : v);

// A canonical text of a cell for exact comparison and grouping.
export function cellKey(v, cls) {
  if (v === null || v === undefined) return 'null';
  if (cls === 'int' || cls === 'decimal') return `n:${decimalKey(rawOf(v))}`;
  if (cls === 'temporal') return `t:${normalizeTemporal(rawOf(v))}`;
  if (v instanceof Num) return `n:${decimalKey(v.raw)}`;
  return JSON.stringify(v);
}

// Timestamps print fractional seconds only when not zero: pad them so text order is time order.
function normalizeTemporal(s) {
  if (typeof s !== 'string') return String(s);
  const m = /^(-?\d{4,}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return s;
  const [, d, t, frac, zone] = m;
  if (t === undefined) return d + (zone ?? '');
  return `${d}T${t.length === 5 ? `${t}:00` : t}.${(frac ?? '').padEnd(9, '0')}${zone ?? ''}`;
}

export function floatsClose(a, b) {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const d = Math.abs(a - b);
  return d <= ABS_TOL || d <= REL_TOL * Math.max(Math.abs(a), Math.abs(b));
}

export function cellsEqual(a, b, cls) {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  if (cls === 'float') return floatsClose(Number(rawOf(a)), Number(rawOf(b)));
  return cellKey(a, cls) === cellKey(b, cls);
}

const utf8 = (s) => Buffer.from(s, 'utf8');

// Sort comparison of two non-null cells (ascending); 0 for equal (floats: within tolerance).
function compareCells(a, b, cls) {
  if (cls === 'float' || cls === 'int' || cls === 'decimal' || a instanceof Num || b instanceof Num) {
    if (cls === 'float' && floatsClose(Number(rawOf(a)), Number(rawOf(b)))) return 0;
    if (cls !== 'float' && cellKey(a, cls) === cellKey(b, cls)) return 0;
    const x = Number(rawOf(a));
    const y = Number(rawOf(b));
    if (x !== y) return x < y ? -1 : 1;
    // Beyond double precision: compare the exact texts as big integers or decimals.
    try { const bx = BigInt(rawOf(a)); const by = BigInt(rawOf(b)); return bx < by ? -1 : bx > by ? 1 : 0; } catch { return 0; }
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1;
  if (cls === 'temporal') {
    const x = normalizeTemporal(String(a));
    const y = normalizeTemporal(String(b));
    return x === y ? 0 : x < y ? -1 : 1;
  }
  return Buffer.compare(utf8(String(a)), utf8(String(b)));
}

// Order of two rows by sort keys [{index, desc, cls}]: NULLs last in both directions.
function compareByKeys(r, s, keys) {
  for (const k of keys) {
    const a = r[k.index];
    const b = s[k.index];
    const an = a === null || a === undefined;
    const bn = b === null || b === undefined;
    if (an || bn) { if (an !== bn) return an ? 1 : -1; continue; }
    const c = compareCells(a, b, k.cls);
    if (c !== 0) return k.desc ? -c : c;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Rows

const rowText = (row) => JSON.stringify(row, (k, v) => (v instanceof Num ? v.raw : v));

function rowsEqual(r, s, classes) {
  return r.length === s.length && r.every((v, i) => cellsEqual(v, s[i], classes[i]));
}

// Multiset comparison: rows grouped by their exact cells; within a group, float cells are matched
// with the tolerance. Returns a description of the first difference, or null.
export function multisetDiff(a, b, classes) {
  const exactKey = (row) => row.map((v, i) => (classes[i] === 'float' ? '' : cellKey(v, classes[i]))).join('\u0001');
  const group = (rows) => {
    const m = new Map();
    for (const r of rows) { const k = exactKey(r); if (!m.has(k)) m.set(k, []); m.get(k).push(r); }
    return m;
  };
  if (a.length !== b.length) return `${a.length} rows vs ${b.length}`;
  const ga = group(a);
  const gb = group(b);
  for (const [k, ra] of ga) {
    const rb = gb.get(k) ?? [];
    if (ra.length !== rb.length) return `row ${rowText(ra[0])} appears ${ra.length} times vs ${rb.length}`;
    if (!classes.includes('float')) continue;
    const left = [...rb];
    for (const r of ra) {
      const j = left.findIndex((s) => rowsEqual(r, s, classes));
      if (j < 0) return `row ${rowText(r)} has no match (closest: ${rowText(left[0])})`;
      left.splice(j, 1);
    }
  }
  for (const [k, rb] of gb) if (!ga.has(k)) return `row ${rowText(rb[0])} only in the second answer`;
  return null;
}

function firstUnordered(rows, keys) {
  for (let i = 1; i < rows.length; i++) if (compareByKeys(rows[i - 1], rows[i], keys) > 0) return i;
  return -1;
}

// Rows split into runs of equal sort keys.
function tieGroups(rows, keys) {
  const groups = [];
  for (const r of rows) {
    const last = groups[groups.length - 1];
    if (last && compareByKeys(last[0], r, keys) === 0) last.push(r);
    else groups.push([r]);
  }
  return groups;
}

// Sorted rows compared group by group: every group's key and size must match; rows are matched
// as multisets in groups marked comparable (cut groups are compared by key and size only).
function compareTieGroups(a, b, keys, classes, { cutFirst = false, cutLast = false } = {}) {
  const ga = tieGroups(a, keys);
  const gb = tieGroups(b, keys);
  if (ga.length !== gb.length) return `${ga.length} distinct sort keys vs ${gb.length}`;
  for (let g = 0; g < ga.length; g++) {
    const [x, y] = [ga[g], gb[g]];
    if (compareByKeys(x[0], y[0], keys) !== 0) return `sort key group ${g + 1} differs: ${rowText(keys.map((k) => x[0][k.index]))} vs ${rowText(keys.map((k) => y[0][k.index]))}`;
    if (x.length !== y.length) return `sort key ${rowText(keys.map((k) => x[0][k.index]))}: ${x.length} rows vs ${y.length}`;
    const cut = (cutFirst && g === 0) || (cutLast && g === ga.length - 1);
    if (cut) continue;
    const d = multisetDiff(x, y, classes);
    if (d) return `among rows with sort key ${rowText(keys.map((k) => x[0][k.index]))}: ${d}`;
  }
  return null;
}

// The documented order of a widget's rows: sort keys as result column names, and whether it is
// total (rows compared by position).
export function documentedOrder(widget, columns, request = {}) {
  const names = columns.map((c) => c.name);
  const enc = widget.encoding ?? {};
  const key = (field, desc = false) => (names.includes(field) ? [{ field, desc }] : []);
  if (widget.custom_sql) {
    if (widget.type === 'table') return { keys: (request.sort ?? []).flatMap((s) => key(s.column, !!s.desc)), total: false, customTable: true };
    return { keys: [], total: false, unordered: true };
  }
  switch (widget.type) {
    case 'kpi': return { keys: [], total: true };
    case 'table': return { keys: [], total: true };
    case 'histogram': return { keys: key('bin_start'), total: true };
    case 'scatter': return { keys: [], total: false, unordered: true, sample: widget.limit ?? 5000 };
    case 'bar': case 'line': case 'area': case 'pie': case 'heatmap': {
      const keys = [];
      const timeAxis = Boolean(enc.x?.grain) || widget.type === 'line' || widget.type === 'area';
      const first = enc.y && Array.isArray(enc.y) ? enc.y[0]?.field : enc.value?.field;
      if (widget.sort) keys.push(...key(widget.sort.field, widget.sort.desc));
      else if (timeAxis || widget.type === 'heatmap') keys.push(...key(enc.x?.field));
      else keys.push(...key(first, true));
      const second = widget.type === 'heatmap' ? enc.y : enc.color;
      if (second?.field) keys.push(...key(second.field));
      return { keys, total: false };
    }
    default: return { keys: [], total: false, unordered: true };
  }
}

// Compares two answers of `widget` ({status, total, truncated, text}) to the request `request`
// (its body). Returns a list of differences.
export function compareAnswers(widget, x, y, request = {}) {
  const diffs = [];
  if (x.status !== y.status) return [`status ${x.status} vs ${y.status}`];
  if (x.status !== 200) {
    const type = (t) => { try { return JSON.parse(t).type; } catch { return '?'; } };
    return type(x.text) === type(y.text) ? [] : [`problem type ${type(x.text)} vs ${type(y.text)}`];
  }
  if ((x.total ?? null) !== (y.total ?? null)) diffs.push(`X-Total-Count ${x.total} vs ${y.total}`);
  if ((x.truncated ?? null) !== (y.truncated ?? null)) diffs.push(`X-Sightline-Truncated ${x.truncated} vs ${y.truncated}`);
  let a, b;
  try { a = parseJson(x.text); b = parseJson(y.text); } catch (e) { return [...diffs, `unreadable JSON: ${e.message}`]; }
  const ca = a.columns.map((c) => `${c.name}:${c.type}`).join(', ');
  const cb = b.columns.map((c) => `${c.name}:${c.type}`).join(', ');
  if (ca !== cb) {
    diffs.push(`columns [${ca}] vs [${cb}]`);
    if (a.columns.length !== b.columns.length || a.columns.some((c, i) => c.name !== b.columns[i].name)) return diffs;
  }
  // Where the types differ, the looser comparison of the two.
  const rank = { float: 3, decimal: 2, int: 1, temporal: 0, exact: 0 };
  const classes = a.columns.map((c, i) => {
    const p = typeClass(c.type);
    const q = typeClass(b.columns[i].type);
    return rank[p] >= rank[q] ? p : q;
  });
  const ra = a.rows;
  const rb = b.rows;
  if (ra.length === rb.length && ra.every((r, i) => rowsEqual(r, rb[i], classes))) return diffs;

  const order = documentedOrder(widget, a.columns, request);
  const keys = order.keys.map((k) => {
    const index = a.columns.findIndex((c) => c.name === k.field);
    return { index, desc: k.desc, cls: classes[index] };
  });
  const firstDiff = () => {
    const n = Math.min(ra.length, rb.length);
    for (let i = 0; i < n; i++) if (!rowsEqual(ra[i], rb[i], classes)) return `row ${i + 1}: ${rowText(ra[i])} vs ${rowText(rb[i])}`;
    return `${ra.length} rows vs ${rb.length}`;
  };
  if (order.total) { diffs.push(firstDiff()); return diffs; }
  if (order.sample && ra.length === rb.length && ra.length >= order.sample) return diffs;
  if (order.unordered) {
    const d = multisetDiff(ra, rb, classes);
    if (d) diffs.push(d);
    return diffs;
  }
  for (const [side, rows] of [['first', ra], ['second', rb]]) {
    const at = firstUnordered(rows, keys);
    if (at >= 0) diffs.push(`the ${side} answer is not in its documented order (${order.keys.map((k) => `${k.field}${k.desc ? ' desc' : ''}`).join(', ')}) at row ${at + 1}`);
  }
  if (diffs.length) return [...diffs, firstDiff()];
  if (order.customTable) {
    if (ra.length !== rb.length) return [`${ra.length} rows vs ${rb.length}`];
    const page = request.limit ?? 100;
    const whole = (request.offset ?? 0) === 0 && ra.length < page;
    if (whole) { const d = multisetDiff(ra, rb, classes); return d ? [d] : []; }
    if (!keys.length) return [];  // a page of an unordered result: only its size is defined
    const d = compareTieGroups(ra, rb, keys, classes, { cutFirst: (request.offset ?? 0) > 0, cutLast: true });
    return d ? [d] : [];
  }
  // A limit that cut the result: the rows tied with the last one may differ.
  const cut = widget.limit && !(widget.encoding?.color && widget.type !== 'heatmap') && ra.length >= widget.limit;
  const d = compareTieGroups(ra, rb, keys, classes, { cutLast: Boolean(cut) });
  if (d) diffs.push(d);
  return diffs;
}

// The rows of an answer whose presence does not depend on how ties were broken: without the rows
// tied with the last one when a limit cut the result, and none of a full scatter sample.
export function stableRows(widget, columns, rows) {
  const order = documentedOrder(widget, columns);
  if (order.sample) return rows.length >= order.sample ? [] : rows;
  const cut = !widget.custom_sql && widget.limit && !(widget.encoding?.color && widget.type !== 'heatmap') && rows.length >= widget.limit;
  if (!cut || !order.keys.length) return rows;
  const keys = order.keys.map((k) => {
    const index = columns.findIndex((c) => c.name === k.field);
    return { index, desc: k.desc, cls: typeClass(columns[index].type) };
  });
  const last = rows[rows.length - 1];
  return rows.filter((r) => compareByKeys(r, last, keys) !== 0);
}
