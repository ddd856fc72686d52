// KPI widgets: one big number, its label, and optionally the change against the previous period.
//
// DOM hooks (stable for tests and styling):
// - `[data-kpi-value]`: the formatted value; `data-value` holds the exact number as a plain JS
//   number string ("12345.67"), empty when the value is null. Its title shows every digit.
// - `[data-kpi-delta]`: present when the widget has `encoding.compare` and the previous value is
//   known; `data-delta` holds the fractional change ((value - previous) / |previous|, "0.123"),
//   `data-direction` is up, down or flat and `data-good` is true or false.
// Everything is written with textContent: no result data ever goes through HTML parsing.

import type { Table } from 'apache-arrow';
import { type CellValue, cellValue, formatNumber, formatPrecise, hasColumn } from '../format/index';
import type { FieldEncoding, WidgetContext, WidgetSpec, WidgetView } from '../types';

export interface KpiDelta {
  /** (value - previous) / |previous|. */
  change: number;
  direction: 'up' | 'down' | 'flat';
  /** Whether the change is good news (up, unless options.invert_delta says lower is better). */
  good: boolean;
  /** "+12.3%" */
  text: string;
}

function asNumber(v: CellValue): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The change from `previous` to `value`, or null when it cannot be computed. */
export function kpiDelta(value: number | null, previous: number | null, invert = false): KpiDelta | null {
  if (value === null || previous === null || previous === 0) return null;
  const change = (value - previous) / Math.abs(previous);
  const direction = change > 0 ? 'up' : change < 0 ? 'down' : 'flat';
  const good = direction === 'flat' ? true : (direction === 'up') !== invert;
  const sign = change > 0 ? '+' : change < 0 ? '-' : '±';
  const text = `${sign}${formatNumber(Math.abs(change), 'percent')}`;
  return { change, direction, good, text };
}

/** The big number: compact above a million (a title shows every digit). */
export function formatKpiValue(value: number | null, format?: string): string {
  if (value === null) return '—';
  const big = Math.abs(value) >= 1_000_000;
  if (format === 'currency') return formatNumber(value, 'currency', { compact: big, digits: 2 });
  if (format === 'compact') return formatNumber(value, 'compact', { digits: Math.abs(value) >= 1000 ? 1 : 2 });
  if (format === undefined || format === 'number') return formatNumber(value, 'number', { compact: big, digits: 2 });
  return formatNumber(value, format);
}

function valueEncoding(widget: WidgetSpec, table: Table): FieldEncoding | undefined {
  const enc = widget.encoding?.value;
  if (enc) return enc;
  const first = table.schema.fields[0];
  return first ? { field: first.name, label: first.name } : undefined;
}

export function createKpiView(el: HTMLElement, widget: WidgetSpec, _ctx: WidgetContext): WidgetView {
  el.classList.add('sl-kpi');
  const root = document.createElement('div');
  root.className = 'sl-kpi-body';
  const valueEl = document.createElement('div');
  valueEl.className = 'sl-kpi-value';
  valueEl.setAttribute('data-kpi-value', '');
  const labelEl = document.createElement('div');
  labelEl.className = 'sl-kpi-label';
  const deltaEl = document.createElement('div');
  deltaEl.className = 'sl-kpi-delta';
  deltaEl.setAttribute('data-kpi-delta', '');
  deltaEl.hidden = true;
  // Defaults only: the page's stylesheet can restyle through the variables or the classes.
  valueEl.style.cssText =
    'font-size:var(--sl-kpi-value-size,2rem);font-weight:var(--sl-kpi-value-weight,600);line-height:1.15;font-variant-numeric:tabular-nums';
  labelEl.style.cssText = 'font-size:var(--sl-kpi-label-size,0.85rem);opacity:0.7;margin-top:2px';
  deltaEl.style.cssText = 'font-size:var(--sl-kpi-delta-size,0.85rem);margin-top:6px;font-variant-numeric:tabular-nums';
  root.append(valueEl, labelEl, deltaEl);
  el.append(root);

  return {
    update(data: Table) {
      const enc = valueEncoding(widget, data);
      const format = enc?.format;
      const value = enc && data.numRows > 0 && hasColumn(data, enc.field) ? asNumber(cellValue(data, 0, enc.field)) : null;
      valueEl.textContent = formatKpiValue(value, format);
      valueEl.dataset.value = value === null ? '' : String(value);
      valueEl.title = value === null ? 'No value for these filters' : formatPrecise(value, format);
      labelEl.textContent = enc?.label ?? widget.title;

      const compare = widget.encoding?.compare;
      const previous =
        compare && data.numRows > 0 && hasColumn(data, compare.field) ? asNumber(cellValue(data, 0, compare.field)) : null;
      const delta = compare ? kpiDelta(value, previous, widget.options.invert_delta === true) : null;
      if (!delta || !compare) {
        deltaEl.hidden = true;
        deltaEl.textContent = '';
        delete deltaEl.dataset.delta;
        delete deltaEl.dataset.direction;
        delete deltaEl.dataset.good;
        return;
      }
      const arrow = delta.direction === 'up' ? '▲' : delta.direction === 'down' ? '▼' : '■';
      const against = compare.label ?? 'previous period';
      deltaEl.hidden = false;
      deltaEl.textContent = `${arrow} ${delta.text} vs ${against}`;
      deltaEl.title = `${against}: ${formatPrecise(previous, format)}`;
      deltaEl.dataset.delta = String(delta.change);
      deltaEl.dataset.direction = delta.direction;
      deltaEl.dataset.good = String(delta.good);
      deltaEl.style.color = delta.direction === 'flat' ? '' : delta.good ? 'var(--sl-positive, #16a34a)' : 'var(--sl-negative, #dc2626)';
    },
    resize() {},
    dispose() {
      root.remove();
      el.classList.remove('sl-kpi');
    },
  };
}
