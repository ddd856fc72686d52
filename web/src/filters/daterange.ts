// Date range filters: two date inputs bounded by the column's min and max, plus presets that
// count back from the latest date in the data (not today: demo data may end in the past).

import type { FilterSpec, FilterValue } from '../types';
import { h, uid } from '../app/dom';
import { boundedControl } from './bounds';
import type { FilterControl, FilterHost } from './types';

/** YYYY-MM-DD of a date that is `days` days before `iso` (also YYYY-MM-DD), in UTC. */
export function daysBefore(iso: string, days: number): string {
  const t = Date.parse(iso.slice(0, 10) + 'T00:00:00Z');
  return new Date(t - days * 86_400_000).toISOString().slice(0, 10);
}

export interface Preset {
  id: string;
  label: string;
  /** The range for the data's latest date, or null for "all". */
  range(max: string): { from: string; to: string } | null;
}

export const PRESETS: Preset[] = [
  { id: 'last7', label: '7 days', range: (m) => ({ from: daysBefore(m, 6), to: m }) },
  { id: 'last30', label: '30 days', range: (m) => ({ from: daysBefore(m, 29), to: m }) },
  { id: 'last90', label: '90 days', range: (m) => ({ from: daysBefore(m, 89), to: m }) },
  { id: 'ytd', label: 'Year to date', range: (m) => ({ from: m.slice(0, 4) + '-01-01', to: m }) },
  { id: 'all', label: 'All', range: () => null },
];

export function createDateRangeFilter(spec: FilterSpec, host: FilterHost): FilterControl {
  const fromId = uid('filter');
  const toId = uid('filter');
  const labelId = uid('label');
  const fromInput = h('input', { id: fromId, type: 'date', class: 'date-input' });
  const toInput = h('input', { id: toId, type: 'date', class: 'date-input' });
  const presetBox = h('div', { class: 'presets', role: 'group', 'aria-label': `${spec.label} presets` });
  const el = h(
    'div',
    { class: 'filter daterange', 'data-filter-id': spec.id, 'data-filter-type': spec.type, role: 'group', 'aria-labelledby': labelId },
    h('span', { id: labelId, class: 'filter-label' }, spec.label),
    h(
      'div',
      { class: 'date-inputs' },
      h('label', { class: 'mini-label', for: fromId }, 'From'),
      fromInput,
      h('label', { class: 'mini-label', for: toId }, 'To'),
      toInput,
    ),
    presetBox,
  );
  const presetNote = h('p', { class: 'filter-note', hidden: true });
  el.appendChild(presetNote);

  let value: FilterValue | null = null;
  let dataMax: string | null = null;
  const buttons = new Map<string, HTMLButtonElement>();

  for (const p of PRESETS) {
    const b = h('button', { type: 'button', class: 'chip-btn', 'data-preset': p.id, 'aria-pressed': 'false' }, p.label);
    b.addEventListener('click', () => {
      const r = dataMax === null ? null : p.range(dataMax);
      if (p.id === 'all' || r === null) host.clear(spec.id, 'push');
      else host.set(spec.id, r, 'push');
    });
    buttons.set(p.id, b);
    presetBox.appendChild(b);
  }

  function current(): { from?: string; to?: string } {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
    return {};
  }

  function show(): void {
    const c = current();
    fromInput.value = c.from?.slice(0, 10) ?? '';
    toInput.value = c.to?.slice(0, 10) ?? '';
    for (const p of PRESETS) {
      let on: boolean;
      if (p.id === 'all') on = c.from === undefined && c.to === undefined;
      else {
        const r = dataMax === null ? null : p.range(dataMax);
        on = r !== null && r.from === c.from && r.to === c.to;
      }
      buttons.get(p.id)?.setAttribute('aria-pressed', on ? 'true' : 'false');
    }
  }

  function commit(changed: 'from' | 'to'): void {
    let from = fromInput.value || undefined;
    let to = toInput.value || undefined;
    if (from !== undefined && to !== undefined && from > to) {
      if (changed === 'from') to = from;
      else from = to;
    }
    if (from === undefined && to === undefined) {
      host.clear(spec.id, 'push');
      return;
    }
    const v: { from?: string; to?: string } = {};
    if (from !== undefined) v.from = from;
    if (to !== undefined) v.to = to;
    host.set(spec.id, v, 'push');
  }
  fromInput.addEventListener('change', () => commit('from'));
  toInput.addEventListener('change', () => commit('to'));

  for (const b of buttons.values()) b.disabled = true;
  buttons.get('all')!.disabled = false;
  return boundedControl(spec, host, el, {
    loaded(b) {
      const lo = typeof b.min === 'string' ? b.min.slice(0, 10) : null;
      const hi = typeof b.max === 'string' ? b.max.slice(0, 10) : null;
      for (const i of [fromInput, toInput]) {
        if (lo) i.min = lo;
        if (hi) i.max = hi;
      }
      if (hi) {
        dataMax = hi;
        presetBox.title = `Presets count back from the latest date in the data (${hi}), not from today`;
        presetNote.textContent = `Presets end at the data's last day, ${hi}`;
        presetNote.title = presetBox.title;
        presetNote.hidden = false;
        for (const btn of buttons.values()) btn.disabled = false;
      }
      show();
    },
    failed() {
      presetBox.title = 'Could not load the date bounds';
    },
    set(v) {
      value = v;
      show();
    },
  });
}
