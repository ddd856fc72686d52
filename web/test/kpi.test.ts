import { Table } from 'apache-arrow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createColorRegistry } from '../src/charts/colors';
import { createKpiView, formatKpiValue, kpiDelta } from '../src/kpi/index';
import type { WidgetContext, WidgetSpec } from '../src/types';
import { dec, f64, i64 } from './fixtures';

const ctx: WidgetContext = { theme: 'light', colors: createColorRegistry(), onSelect: () => undefined };

const revenue: WidgetSpec = {
  id: 'revenue',
  type: 'kpi',
  title: 'Revenue',
  layout: { width: 3 },
  options: {},
  encoding: {
    value: { field: 'revenue', label: 'Revenue', format: 'currency' },
    compare: { field: 'revenue_previous', label: 'previous period', period: 'previous_period' },
  },
};

describe('kpiDelta', () => {
  it('computes the fractional change and its direction', () => {
    expect(kpiDelta(112.3, 100)).toMatchObject({ direction: 'up', good: true, text: '+12.3%' });
    expect(kpiDelta(112.3, 100)?.change).toBeCloseTo(0.123, 12);
    expect(kpiDelta(80, 100)).toMatchObject({ change: -0.2, direction: 'down', good: false, text: '-20%' });
    expect(kpiDelta(80, 100, true)).toMatchObject({ direction: 'down', good: true });
    expect(kpiDelta(-50, -100)).toMatchObject({ change: 0.5, direction: 'up' });
    expect(kpiDelta(100, 100)).toMatchObject({ change: 0, direction: 'flat' });
    expect(kpiDelta(5, 0)).toBeNull();
    expect(kpiDelta(null, 10)).toBeNull();
    expect(kpiDelta(10, null)).toBeNull();
  });
});

describe('formatKpiValue', () => {
  it('abbreviates large values and keeps small ones exact', () => {
    expect(formatKpiValue(43385044.77, 'currency')).toBe('$43.39M');
    expect(formatKpiValue(216.92522385, 'currency')).toBe('$216.93');
    expect(formatKpiValue(200000, 'compact')).toBe('200K');
    expect(formatKpiValue(0.1234, 'percent')).toBe('12.3%');
    expect(formatKpiValue(24018)).toBe('24,018');
    expect(formatKpiValue(null, 'currency')).toBe('—');
  });
});

describe('createKpiView', () => {
  let el: HTMLElement;
  beforeEach(() => {
    el = document.createElement('div');
    document.body.append(el);
  });
  afterEach(() => el.remove());

  it('shows the value, its label and the delta against the previous period', () => {
    const view = createKpiView(el, revenue, ctx);
    view.update(new Table({ revenue: dec([12345.67]), revenue_previous: dec([10990]) }), ctx);
    const value = el.querySelector<HTMLElement>('[data-kpi-value]')!;
    expect(value.textContent).toBe('$12,345.67');
    expect(value.dataset.value).toBe('12345.67');
    expect(value.title).toBe('$12,345.67');
    expect(el.textContent).toContain('Revenue');
    const delta = el.querySelector<HTMLElement>('[data-kpi-delta]')!;
    expect(delta.hidden).toBe(false);
    expect(delta.textContent).toBe('▲ +12.3% vs previous period');
    expect(Number(delta.dataset.delta)).toBeCloseTo((12345.67 - 10990) / 10990, 12);
    expect(delta.dataset.direction).toBe('up');
    expect(delta.style.color).toContain('--sl-positive');
  });

  it('colors a drop red, or green when lower is better', () => {
    const table = new Table({ revenue: dec([80]), revenue_previous: dec([100]) });
    const view = createKpiView(el, revenue, ctx);
    view.update(table, ctx);
    const delta = el.querySelector<HTMLElement>('[data-kpi-delta]')!;
    expect(delta.textContent).toBe('▼ -20% vs previous period');
    expect(delta.dataset.delta).toBe('-0.2');
    expect(delta.style.color).toContain('--sl-negative');
    view.dispose();
    const inverted = createKpiView(el, { ...revenue, options: { invert_delta: true } }, ctx);
    inverted.update(table, ctx);
    const d2 = el.querySelector<HTMLElement>('[data-kpi-delta]')!;
    expect(d2.dataset.good).toBe('true');
    expect(d2.style.color).toContain('--sl-positive');
  });

  it('hides the delta when the previous value is null or not configured', () => {
    const view = createKpiView(el, revenue, ctx);
    view.update(new Table({ revenue: dec([5]), revenue_previous: dec([null]) }), ctx);
    expect(el.querySelector<HTMLElement>('[data-kpi-delta]')!.hidden).toBe(true);
    expect(el.querySelector<HTMLElement>('[data-kpi-delta]')!.dataset.delta).toBeUndefined();
    view.dispose();
    const orders: WidgetSpec = { ...revenue, id: 'orders', encoding: { value: { field: 'orders', label: 'Orders', format: 'compact' } } };
    const v2 = createKpiView(el, orders, ctx);
    v2.update(new Table({ orders: i64([200000]) }), ctx);
    const value = el.querySelector<HTMLElement>('[data-kpi-value]')!;
    expect(value.textContent).toBe('200K');
    expect(value.dataset.value).toBe('200000');
    expect(value.title).toBe('200,000');
    expect(el.querySelector<HTMLElement>('[data-kpi-delta]')!.hidden).toBe(true);
  });

  it('shows a dash and an empty data-value for null or no rows', () => {
    const view = createKpiView(el, revenue, ctx);
    view.update(new Table({ revenue: dec([null]), revenue_previous: dec([1]) }), ctx);
    const value = el.querySelector<HTMLElement>('[data-kpi-value]')!;
    expect(value.textContent).toBe('—');
    expect(value.dataset.value).toBe('');
    view.update(new Table({ revenue: dec([]) }), ctx);
    expect(value.textContent).toBe('—');
  });

  it('never parses data as HTML', () => {
    const w: WidgetSpec = { ...revenue, encoding: { value: { field: 'v', label: '<b>x</b>' } } };
    const view = createKpiView(el, w, ctx);
    view.update(new Table({ v: f64([1.5]) }), ctx);
    expect(el.querySelector('b')).toBeNull();
    expect(el.textContent).toContain('<b>x</b>');
  });
});
