// HTTP client side of the benchmark and the equivalence check: one widget query timed to its
// last byte, a dashboard interaction (every data widget at once, as the UI issues them), and the
// server's memory from /proc.
import fs from 'node:fs';
import { requestBody, resolveOffset, needsTotal, PAGE_SIZE } from './states.mjs';

const REQUEST_TIMEOUT_MS = 180_000;

// POST a widget query. Never throws: a failure is an answer with status 0 and the error's text.
export async function queryWidget(base, dashboard, widgetId, body, { format = 'arrow', keepText = false } = {}) {
  const url = new URL(`/api/v1/dashboards/${encodeURIComponent(dashboard)}/widgets/${encodeURIComponent(widgetId)}/query`, base);
  const headers = { 'content-type': 'application/json', accept: format === 'json' ? 'application/json' : 'application/vnd.apache.arrow.stream' };
  const start = performance.now();
  try {
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const ttfb = performance.now() - start;
    const buf = Buffer.from(await res.arrayBuffer());
    const ms = performance.now() - start;
    const out = {
      status: res.status, ms, ttfb, bytes: buf.byteLength,
      total: res.headers.get('x-total-count'), truncated: res.headers.get('x-sightline-truncated'), cache: res.headers.get('x-sightline-cache'),
    };
    if (keepText || res.status !== 200) out.text = buf.toString('utf8');
    if (res.status !== 200) out.error = problemSummary(out.text);
    return out;
  } catch (e) {
    return { status: 0, ms: performance.now() - start, ttfb: null, bytes: 0, error: `${e.name}: ${e.message}`, text: '' };
  }
}

function problemSummary(text) {
  try { const p = JSON.parse(text); return `${p.type ?? ''} ${p.detail ?? ''}`.trim(); } catch { return String(text).slice(0, 200); }
}

// A table's row count under `state` (a page of 0 rows), for pages counted from the end.
export async function tableTotal(base, dashboard, widget, state) {
  const r = await queryWidget(base, dashboard, widget.id, { ...requestBody(state, widget, 0), limit: 0 }, { format: 'json' });
  return r.status === 200 && r.total !== null ? Number(r.total) : null;
}

// Offsets of the state's table pages; {fromEnd} pages need the table's count first (asked here,
// before any timing starts, as the UI knows it from the first page). `totals` may be given.
export async function resolveTables(base, dashboard, widgets, state, totals = {}) {
  const offsets = {};
  for (const w of widgets) {
    if (w.type !== 'table') continue;
    if (needsTotal(state, w) && totals[w.id] === undefined) totals[w.id] = await tableTotal(base, dashboard, w, state);
    offsets[w.id] = resolveOffset(state, w, totals[w.id]);
  }
  return offsets;
}

// One interaction: every widget of `widgets` requested at once; timed from the first request to
// the last byte of the last answer.
export async function interaction(base, dashboard, widgets, state, offsets = {}, options = {}) {
  const t0 = performance.now();
  const per = await Promise.all(widgets.map(async (w) => {
    const body = requestBody(state, w, offsets[w.id] ?? 0);
    const r = await queryWidget(base, dashboard, w.id, body, options);
    return { id: w.id, body, ...r };
  }));
  return { ms: performance.now() - t0, per };
}

// VmRSS and VmHWM (peak) of a process, in MiB.
export function memoryOf(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status) ?? [])[1]);
    return { rss_mib: kb('VmRSS') / 1024, hwm_mib: kb('VmHWM') / 1024 };
  } catch {
    return { rss_mib: null, hwm_mib: null };
  }
}

export { PAGE_SIZE };
