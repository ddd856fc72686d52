import { describe, expect, it } from 'vitest';
import { richText } from '../src/app/dom';
import { renderChips } from '../src/filters/chips';
import { describeValue } from '../src/filters/values';
import { daysBefore, PRESETS } from '../src/filters/daterange';
import { emptyState } from '../src/state/url';
import type { DashboardSpec } from '../src/types';

describe('text rendering', () => {
  it('renders backtick spans as <code> and markup literally', () => {
    const div = document.createElement('div');
    div.appendChild(richText('Run `sightline demo-data` <img src=x onerror=alert(1)>\n\nSecond `<b>` para'));
    expect(div.querySelectorAll('img, b').length).toBe(0);
    const codes = [...div.querySelectorAll('code')].map((c) => c.textContent);
    expect(codes).toEqual(['sightline demo-data', '<b>']);
    expect(div.querySelectorAll('p').length).toBe(2);
    expect(div.textContent).toContain('<img src=x onerror=alert(1)>');
  });

  it('leaves an unpaired backtick as text', () => {
    const div = document.createElement('div');
    div.appendChild(richText('a `b` c ` d'));
    expect(div.querySelectorAll('code').length).toBe(1);
    expect(div.textContent).toBe('a b c ` d');
  });
});

describe('chips', () => {
  const spec: DashboardSpec = {
    id: 'd',
    title: 'D',
    dimensions: ['channel'],
    filters: [
      { id: 'region', type: 'select', label: 'Region <i>', column: 'region', default: null },
      { id: 'period', type: 'daterange', label: 'Order date', column: 'order_date', default: { from: '2025-01-01', to: '2025-12-31' } },
      { id: 'units', type: 'range', label: 'Units', column: 'units', default: null },
    ],
    pages: [{ id: 'p', title: 'P', widgets: [{ id: 'pie', type: 'pie', title: 'Pie', layout: { width: 4 }, options: {}, encoding: { x: { field: 'channel', column: 'channel', label: 'Channel' } } }] }],
  };
  const noop = { removeFilter: () => {}, removeSelection: () => {}, clearAll: () => {} };

  it('shows set filters, defaults and selections with labelled remove buttons, literally', () => {
    const box = document.createElement('div');
    const s = emptyState('d');
    s.filters.set('region', '<script>alert(1)</script>');
    s.filters.set('units', [5, null]);
    s.selections.push({ column: 'channel', values: ['Online'], widget: 'pie' });
    renderChips(box, spec, s, noop);
    const chips = [...box.querySelectorAll('[data-chip]')];
    expect(chips.map((c) => c.getAttribute('data-chip'))).toEqual(['filter:region', 'filter:period', 'filter:units', 'selection:pie']);
    expect(box.querySelector('script')).toBeNull();
    expect(chips[0]?.textContent).toContain('<script>alert(1)</script>');
    for (const c of chips) expect(c.querySelector('button')?.getAttribute('aria-label')).toMatch(/^Remove (filter|selection) /);
    expect(chips[3]?.textContent).toContain('Channel');
  });

  it('hides a default that was explicitly cleared', () => {
    const box = document.createElement('div');
    const s = emptyState('d');
    s.filters.set('period', null);
    renderChips(box, spec, s, noop);
    expect(box.querySelectorAll('[data-chip]').length).toBe(0);
    expect(box.hidden).toBe(true);
  });

  it('describes values', () => {
    expect(describeValue({ type: 'range' }, [5, null])).toBe('≥ 5');
    expect(describeValue({ type: 'range' }, [null, 10])).toBe('≤ 10');
    expect(describeValue({ type: 'daterange' }, { from: '2024-01-01' })).toBe('from 2024-01-01');
    expect(describeValue({ type: 'multiselect' }, ['a', 'b', 'c', 'd'])).toBe('a, b +2 more');
    expect(describeValue({ type: 'text' }, 'tent')).toBe('“tent”');
  });
});

describe('date presets', () => {
  it('count back from the data’s last day', () => {
    expect(daysBefore('2025-12-31', 6)).toBe('2025-12-25');
    expect(daysBefore('2024-03-01', 1)).toBe('2024-02-29');
    const byId = new Map(PRESETS.map((p) => [p.id, p]));
    expect(byId.get('last7')?.range('2025-12-31')).toEqual({ from: '2025-12-25', to: '2025-12-31' });
    expect(byId.get('last30')?.range('2025-12-31')).toEqual({ from: '2025-12-02', to: '2025-12-31' });
    expect(byId.get('last90')?.range('2025-12-31')).toEqual({ from: '2025-10-03', to: '2025-12-31' });
    expect(byId.get('ytd')?.range('2025-06-15')).toEqual({ from: '2025-01-01', to: '2025-06-15' });
    expect(byId.get('all')?.range('2025-12-31')).toBeNull();
  });
});
