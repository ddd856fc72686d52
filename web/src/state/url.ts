// The view state (dashboard, page, filter values, selections, table sort) and its URL form.
//
//   /d/sales?page=orders&f.region=North&f.channel=!(Online,Partner)&f.period=(from:2024-01-01)
//           &f.units=!(5,!n)&f.product=!n&sel.by_channel=(column:channel,values:!(Online))
//           &sort.orders_table=-revenue
//
// - `f.<filter id>`: the filter's value in the notation of notation.ts. A filter that is absent
//   is "not set" (its default applies); `!n` is "explicitly cleared" (sent as null).
// - `sel.<widget id>`: that widget's cross-filter pick, {column, values | range}.
// - `sort.<widget id>`: comma-separated sort keys, `-` in front for descending.
// - `page`: the page id (absent: the first page).
// Parameters appear in the order of the state; the canonical stateKey sorts them.

import type { FilterValue, Scalar, Selection, SortKey } from '../types';
import { NotationReader, decodeValue, encodeString, encodeValue, type NValue } from './notation';

export interface ViewState {
  dashboard: string;
  /** null: the first page. */
  page: string | null;
  /** Absent: not set (the default applies). null: explicitly cleared. */
  filters: Map<string, FilterValue | null>;
  /** At most one per widget; every one names its widget. */
  selections: Selection[];
  /** Per table widget: the sort that replaces the widget's declared one. */
  sort: Map<string, SortKey[]>;
}

export function emptyState(dashboard: string): ViewState {
  return { dashboard, page: null, filters: new Map(), selections: [], sort: new Map() };
}

export function cloneState(s: ViewState): ViewState {
  return {
    dashboard: s.dashboard,
    page: s.page,
    filters: new Map(s.filters),
    selections: s.selections.slice(),
    sort: new Map(s.sort),
  };
}

// ---- percent-encoding that keeps the notation readable -------------------------------------

export function encodeComponent(text: string): string {
  return encodeURIComponent(text)
    .replace(/%2C/g, ',')
    .replace(/%3A/g, ':')
    .replace(/%40/g, '@')
    .replace(/%2F/g, '/')
    .replace(/%20/g, '+');
}

export function decodeComponent(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}

// ---- values ---------------------------------------------------------------------------------

function isScalar(v: NValue): v is Scalar {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** A decoded value if it has the shape of a filter value (docs/api.md), else undefined. */
export function asFilterValue(v: NValue): FilterValue | null | undefined {
  if (isScalar(v)) return v;
  if (Array.isArray(v)) return v.every(isScalar) ? (v as Scalar[]) : undefined;
  const keys = Object.keys(v);
  if (keys.every((k) => k === 'from' || k === 'to') && keys.every((k) => typeof v[k] === 'string')) {
    const out: { from?: string; to?: string } = {};
    if (typeof v.from === 'string') out.from = v.from;
    if (typeof v.to === 'string') out.to = v.to;
    return out;
  }
  return undefined;
}

function filterToNotation(v: FilterValue | null): NValue {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v as NValue;
  const out: { [k: string]: NValue } = {};
  if (v.from !== undefined) out.from = v.from;
  if (v.to !== undefined) out.to = v.to;
  return out;
}

function selectionToNotation(s: Selection): NValue {
  const out: { [k: string]: NValue } = { column: s.column };
  if (s.values) out.values = s.values;
  if (s.range) out.range = s.range;
  return out;
}

function selectionFromNotation(v: NValue, widget: string): Selection | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const column = v.column;
  if (typeof column !== 'string') return undefined;
  const values = v.values;
  const range = v.range;
  if (Array.isArray(values) && values.every(isScalar) && range === undefined) {
    return { column, values: values as Scalar[], widget };
  }
  if (
    Array.isArray(range) &&
    range.length === 2 &&
    range.every((x) => x === null || typeof x === 'string' || typeof x === 'number') &&
    values === undefined
  ) {
    return { column, range: range as [string | number | null, string | number | null], widget };
  }
  return undefined;
}

export function encodeSort(keys: SortKey[]): string {
  return keys.map((k) => (k.desc ? '-' : '') + encodeString(k.column, { noLeadingDash: true })).join(',');
}

export function decodeSort(text: string): SortKey[] {
  const r = new NotationReader(text);
  const keys: SortKey[] = [];
  if (r.done) return keys;
  do {
    const desc = r.eat('-');
    keys.push({ column: r.string(), desc });
  } while (r.eat(','));
  if (!r.done) r.fail('trailing text');
  return keys;
}

// ---- query strings ----------------------------------------------------------------------------

function params(state: ViewState, page: string | null): [string, string][] {
  const out: [string, string][] = [];
  if (page !== null) out.push(['page', encodeString(page)]);
  for (const [id, v] of state.filters) out.push(['f.' + id, encodeValue(filterToNotation(v))]);
  for (const s of state.selections) {
    if (s.widget !== undefined) out.push(['sel.' + s.widget, encodeValue(selectionToNotation(s))]);
  }
  for (const [w, keys] of state.sort) if (keys.length > 0) out.push(['sort.' + w, encodeSort(keys)]);
  return out;
}

function join(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => encodeComponent(k) + '=' + encodeComponent(v)).join('&');
}

/** The query string (without '?') for a state. */
export function encodeQuery(state: ViewState): string {
  return join(params(state, state.page));
}

/** The path and query for a state: /d/{id}?... */
export function urlFor(state: ViewState): string {
  const q = encodeQuery(state);
  return '/d/' + encodeURIComponent(state.dashboard) + (q ? '?' + q : '');
}

/**
 * A canonical string for the query state: the dashboard, the page actually shown, and every
 * parameter sorted by name. Equal states give equal keys however they were reached.
 */
export function stateKey(state: ViewState, resolvedPage: string): string {
  const pairs = params(state, null).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return join([['d', encodeString(state.dashboard)], ['page', encodeString(resolvedPage)], ...pairs]);
}

/** Reads a query string (with or without '?'); parameters that do not parse are skipped. */
export function decodeQuery(dashboard: string, search: string): ViewState {
  const state = emptyState(dashboard);
  const text = search.startsWith('?') ? search.slice(1) : search;
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let name: string;
    let raw: string;
    try {
      name = decodeComponent(eq < 0 ? part : part.slice(0, eq));
      raw = eq < 0 ? '' : decodeComponent(part.slice(eq + 1));
    } catch {
      continue;
    }
    try {
      if (name === 'page') {
        const p = decodeValue(raw);
        if (typeof p === 'string') state.page = p;
      } else if (name.startsWith('f.') && name.length > 2) {
        const v = asFilterValue(decodeValue(raw));
        if (v !== undefined) state.filters.set(name.slice(2), v);
      } else if (name.startsWith('sel.') && name.length > 4) {
        const widget = name.slice(4);
        const sel = selectionFromNotation(decodeValue(raw), widget);
        if (sel) {
          state.selections = state.selections.filter((s) => s.widget !== widget);
          state.selections.push(sel);
        }
      } else if (name.startsWith('sort.') && name.length > 5) {
        const keys = decodeSort(raw);
        if (keys.length > 0) state.sort.set(name.slice(5), keys);
      }
    } catch {
      // A hand-edited parameter that does not parse is left out rather than breaking the page.
    }
  }
  return state;
}

/** The dashboard id of a path like /d/{id}, or null for / and anything else. */
export function dashboardFromPath(pathname: string): string | null {
  const m = /^\/d\/([^/]+)\/?$/.exec(pathname);
  if (!m || m[1] === undefined) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

/** Selections with `widget`'s replaced by `sel` (null removes it), keeping the others' order. */
export function withSelection(list: Selection[], widget: string, sel: Selection | null): Selection[] {
  const i = list.findIndex((s) => s.widget === widget);
  if (sel === null) return i < 0 ? list.slice() : list.filter((_, j) => j !== i);
  const next = { ...sel, widget };
  if (i < 0) return [...list, next];
  const out = list.slice();
  out[i] = next;
  return out;
}
