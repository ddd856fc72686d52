// Reading a widget's result into the shapes the chart builders need, and turning picked marks
// into selections (docs/api.md, "selections").

import type { Table } from 'apache-arrow';
import {
  type CellValue,
  columnTypeName,
  columnValues,
  formatDate,
  hasColumn,
  isNumericTypeName,
  isTemporalTypeName,
  isoDate,
  toEpochMs,
} from '../format/index';
import type { FieldEncoding, Scalar, Selection, WidgetSpec } from '../types';
import { NULL_KEY } from './colors';

/** How a null category shows in axes, legends and tooltips. */
export const NULL_LABEL = '(none)';

/** A result column with its role in the encoding. */
export interface Column {
  enc: FieldEncoding;
  name: string;
  typeName: string;
  values: CellValue[];
  /** A date or timestamp, or a dimension with a grain. */
  temporal: boolean;
}

export function readColumn(table: Table, enc: FieldEncoding): Column {
  const typeName = columnTypeName(table, enc.field);
  return {
    enc,
    name: enc.field,
    typeName,
    values: columnValues(table, enc.field),
    temporal: isTemporalTypeName(typeName) || (Boolean(enc.grain) && !isNumericTypeName(typeName)),
  };
}

/** A stable key of a category value (null has its own). */
export function keyOf(value: CellValue): string {
  return value === null ? NULL_KEY : String(value);
}

/** A category value as display text. */
export function labelOf(value: CellValue, grain?: string, temporal = false): string {
  if (value === null) return NULL_LABEL;
  if (temporal && (typeof value === 'string' || typeof value === 'number')) return formatDate(value, grain);
  return String(value);
}

/** Distinct values of a column in order of first appearance (the server's sort order). */
export interface Categories {
  raw: CellValue[];
  keys: string[];
  labels: string[];
  index: Map<string, number>;
}

export function categoriesOf(column: Column): Categories {
  const out: Categories = { raw: [], keys: [], labels: [], index: new Map() };
  for (const v of column.values) {
    const key = keyOf(v);
    if (out.index.has(key)) continue;
    out.index.set(key, out.raw.length);
    out.raw.push(v);
    out.keys.push(key);
    out.labels.push(labelOf(v, column.enc.grain, column.temporal));
  }
  return out;
}

export function asNumber(v: CellValue): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return null;
}

/** Epoch ms of a temporal cell ('YYYY-MM-DD', ISO timestamp) or null. */
export function asTime(v: CellValue): number | null {
  if (typeof v === 'string' || typeof v === 'number') return toEpochMs(v);
  return null;
}

/** The last millisecond a range's high end covers: a whole day for a date, else the moment. */
export function rangeEndTime(hi: number | string): number | null {
  const t = asTime(hi);
  if (t === null) return null;
  return typeof hi === 'string' && /^-?\d{4,}-\d{2}-\d{2}$/.test(hi.trim()) ? t + 86_399_999 : t;
}

/**
 * The widget's measures: `encoding.y` when it is a list, else (custom SQL widgets declare no
 * measures) every numeric result column that plays no other role.
 */
export function measuresOf(widget: WidgetSpec, table: Table, taken: string[]): FieldEncoding[] {
  const y = widget.encoding?.y;
  if (Array.isArray(y) && y.length > 0) return y.filter((m) => hasColumn(table, m.field));
  return table.schema.fields
    .filter((f) => !taken.includes(f.name) && isNumericTypeName(columnTypeName(table, f.name)))
    .map((f) => ({ field: f.name, label: f.name }));
}

export function labelOfField(enc: FieldEncoding | undefined): string {
  return enc?.label ?? enc?.field ?? '';
}

// ---------------------------------------------------------------------------------------------
// Selections

function addDays(iso: string, days: number): string {
  const ms = toEpochMs(iso);
  return ms === null ? iso : isoDate(ms + days * 86_400_000);
}

/** The last day of the period of `grain` that starts on (or contains) the date `start`. */
export function periodEnd(start: string, grain: string): string {
  const ms = toEpochMs(start);
  if (ms === null) return start;
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (grain) {
    case 'week':
      return addDays(isoDate(ms), 6);
    case 'month':
      return isoDate(Date.UTC(y, m + 1, 0));
    case 'quarter':
      return isoDate(Date.UTC(y, Math.floor(m / 3) * 3 + 3, 0));
    case 'year':
      return isoDate(Date.UTC(y, 12, 0));
    default:
      return isoDate(ms);
  }
}

/** Whether a type name is a timestamp (whose selection bounds need a time of day). */
function isTimestampType(typeName: string): boolean {
  return typeName.startsWith('timestamp[');
}

/**
 * The last moment of a day as a selection's high end on a timestamp column: to the nanosecond
 * (the most digits the server reads), so that no moment of the day's last second is left out
 * whatever the column's precision.
 */
const END_OF_DAY = 'T23:59:59.999999999';

/** [first day, last day] of the period starting at `value`, as selection bounds. */
export function periodRange(value: CellValue, grain: string, typeName: string): [string, string] | null {
  const ms = asTime(value);
  if (ms === null) return null;
  const first = isoDate(ms);
  const last = periodEnd(first, grain);
  if (isTimestampType(typeName)) return [`${first}T00:00:00`, `${last}${END_OF_DAY}`];
  return [first, last];
}

/**
 * The selection a click on the category `value` of dimension `dim` makes: the value itself, or
 * for a date dimension with a grain the whole period. undefined when the dimension has no source
 * column (custom SQL widgets): such clicks do nothing.
 */
export function pickValue(widget: WidgetSpec, dim: Column, value: CellValue): Selection | undefined {
  const column = dim.enc.column;
  if (!column) return undefined;
  if (dim.enc.grain && dim.temporal && value !== null) {
    const range = periodRange(value, dim.enc.grain, dim.typeName);
    if (range) return { column, range, widget: widget.id };
  }
  return { column, values: [value as Scalar], widget: widget.id };
}

export function pickValues(widget: WidgetSpec, dim: Column, values: CellValue[]): Selection | undefined {
  const column = dim.enc.column;
  if (!column || values.length === 0) return undefined;
  if (values.length === 1) return pickValue(widget, dim, values[0] ?? null);
  if (dim.enc.grain && dim.temporal) {
    const times = values.map(asTime).filter((t): t is number => t !== null);
    if (times.length > 0) {
      const lo = periodRange(Math.min(...times), dim.enc.grain, dim.typeName);
      const hi = periodRange(Math.max(...times), dim.enc.grain, dim.typeName);
      if (lo && hi) return { column, range: [lo[0], hi[1]], widget: widget.id };
    }
  }
  return { column, values: values as Scalar[], widget: widget.id };
}

export function pickRange(
  widget: WidgetSpec,
  column: string | undefined,
  range: [number | string | null, number | string | null],
): Selection | undefined {
  if (!column) return undefined;
  return { column, range, widget: widget.id };
}

function sameScalars(a: Scalar[] | undefined, b: Scalar[] | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  return a.every((v, i) => v === b[i]);
}

export function sameSelection(a: Selection | undefined | null, b: Selection | undefined | null): boolean {
  if (!a || !b || a.column !== b.column) return false;
  if (a.values || b.values) return sameScalars(a.values, b.values);
  return sameScalars(a.range, b.range);
}

/** Clicking what is already selected clears the pick. */
export function toggle(pick: Selection | undefined, current: Selection | undefined): Selection | null | undefined {
  if (pick === undefined) return undefined;
  return sameSelection(pick, current) ? null : pick;
}

/** Whether a category value is part of `selection` (values or range). */
export function isSelected(selection: Selection | undefined, dim: Column, value: CellValue): boolean {
  if (!selection) return false;
  if (selection.values) return selection.values.some((v) => keyOf(v) === keyOf(value));
  if (selection.range) {
    if (value === null) return false;
    const [lo, hi] = selection.range;
    if (dim.temporal) {
      const t = asTime(value);
      const a = lo === null ? null : asTime(lo);
      const b = hi === null ? null : rangeEndTime(hi);
      if (t === null) return false;
      // A period is selected when it starts inside the range.
      return (a === null || t >= a) && (b === null || t <= b);
    }
    const n = asNumber(value);
    if (n === null) return false;
    return (lo === null || n >= Number(lo)) && (hi === null || n <= Number(hi));
  }
  return false;
}

/** Whether the current selection is about this dimension's column. */
export function selectionOn(selection: Selection | undefined, dim: Column | undefined): Selection | undefined {
  if (!selection || !dim?.enc.column || selection.column !== dim.enc.column) return undefined;
  return selection;
}
