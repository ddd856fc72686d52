// Helpers about filter values: what a filter currently means, and how to say it in a chip.

import type { FilterSpec, FilterValue, Scalar, Selection } from '../types';

/** The value a filter has in effect: the state's (null when cleared), else its default. */
export function effectiveValue(spec: FilterSpec, filters: Map<string, FilterValue | null>): FilterValue | null {
  return filters.has(spec.id) ? (filters.get(spec.id) ?? null) : spec.default;
}

/** Whether a value narrows anything ([] and "" and {} do not). */
export function isActive(v: FilterValue | null): boolean {
  if (v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return v.from !== undefined || v.to !== undefined;
  if (typeof v === 'string') return v !== '';
  return true;
}

export function isIntegerType(columnType: string | undefined): boolean {
  return columnType !== undefined && /^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|INT\d+|UINTEGER|LONG|SHORT)$/i.test(columnType.trim());
}

/** Decimal places of a DECIMAL(p,s) column, else null. */
export function decimalScale(columnType: string | undefined): number | null {
  const m = columnType ? /^(?:DECIMAL|NUMERIC)\s*\(\s*\d+\s*,\s*(\d+)\s*\)$/i.exec(columnType.trim()) : null;
  return m && m[1] !== undefined ? Number(m[1]) : null;
}

const num = new Intl.NumberFormat('en-US', { maximumFractionDigits: 6 });

export function scalarText(v: Scalar): string {
  if (v === null) return '(empty)';
  if (typeof v === 'number') return num.format(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return v === '' ? '""' : v;
}

function listText(values: Scalar[]): string {
  if (values.length <= 3) return values.map(scalarText).join(', ');
  return `${values.slice(0, 2).map(scalarText).join(', ')} +${values.length - 2} more`;
}

function rangeText(lo: Scalar, hi: Scalar): string {
  if (lo !== null && hi !== null) return `${scalarText(lo)} – ${scalarText(hi)}`;
  if (lo !== null) return `≥ ${scalarText(lo)}`;
  if (hi !== null) return `≤ ${scalarText(hi)}`;
  return 'any';
}

/** "North", "Online, Partner", "5 – 10", "from 2024-01-01", "contains “tent”". */
export function describeValue(spec: Pick<FilterSpec, 'type'>, v: FilterValue | null): string {
  if (v === null) return 'any';
  if (spec.type === 'text' && typeof v === 'string') return `“${v}”`;
  if (Array.isArray(v)) {
    if (spec.type === 'range' && v.length === 2) return rangeText(v[0] ?? null, v[1] ?? null);
    return listText(v);
  }
  if (typeof v === 'object') {
    if (v.from !== undefined && v.to !== undefined) return v.from === v.to ? v.from : `${v.from} – ${v.to}`;
    if (v.from !== undefined) return `from ${v.from}`;
    if (v.to !== undefined) return `until ${v.to}`;
    return 'any';
  }
  return scalarText(v);
}

export function describeSelection(sel: Selection): string {
  if (sel.values) return listText(sel.values);
  if (sel.range) return rangeText(sel.range[0], sel.range[1]);
  return 'any';
}
