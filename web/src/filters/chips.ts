// The active filters and cross-filter picks, as removable chips above the grid.

import type { DashboardSpec, Selection } from '../types';
import { clear, h } from '../app/dom';
import type { ViewState } from '../state/url';
import { describeSelection, describeValue, effectiveValue, isActive } from './values';

export interface ChipActions {
  removeFilter(filterId: string): void;
  removeSelection(widgetId: string): void;
  clearAll(): void;
}

function columnLabel(spec: DashboardSpec, sel: Selection): string {
  for (const page of spec.pages ?? [{ widgets: spec.widgets ?? [] }]) {
    for (const w of page.widgets) {
      if (w.id !== sel.widget) continue;
      const enc = w.encoding;
      const ys = Array.isArray(enc?.y) ? [] : enc?.y ? [enc.y] : [];
      for (const f of [enc?.x, enc?.color, ...ys]) if (f?.column === sel.column && f.label) return f.label;
    }
  }
  return sel.column;
}

function widgetTitle(spec: DashboardSpec, id: string | undefined): string | null {
  for (const page of spec.pages ?? [{ widgets: spec.widgets ?? [] }]) {
    for (const w of page.widgets) if (w.id === id) return w.title;
  }
  return null;
}

export function renderChips(box: HTMLElement, spec: DashboardSpec, state: ViewState, actions: ChipActions): void {
  clear(box);
  const items: HTMLElement[] = [];
  for (const f of spec.filters) {
    const v = effectiveValue(f, state.filters);
    if (!isActive(v)) continue;
    const isDefault = !state.filters.has(f.id);
    const text = describeValue(f, v);
    const remove = h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove filter ${f.label}: ${text}` }, '×');
    remove.addEventListener('click', () => actions.removeFilter(f.id));
    items.push(
      h(
        'li',
        { class: 'chip', 'data-chip': `filter:${f.id}`, title: isDefault ? 'The dashboard’s default' : null },
        h('span', { class: 'chip-key' }, f.label),
        h('span', { class: 'chip-value' }, text),
        isDefault ? h('span', { class: 'chip-tag' }, 'default') : null,
        remove,
      ),
    );
  }
  for (const sel of state.selections) {
    const label = columnLabel(spec, sel);
    const text = describeSelection(sel);
    const from = widgetTitle(spec, sel.widget);
    const remove = h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove selection ${label}: ${text}` }, '×');
    remove.addEventListener('click', () => actions.removeSelection(sel.widget ?? ''));
    items.push(
      h(
        'li',
        { class: 'chip chip-selection', 'data-chip': `selection:${sel.widget ?? ''}`, title: from ? `Picked on “${from}”` : null },
        h('span', { class: 'chip-key' }, label),
        h('span', { class: 'chip-value' }, text),
        remove,
      ),
    );
  }
  box.hidden = items.length === 0;
  if (items.length === 0) return;
  const list = h('ul', { class: 'chip-list', 'aria-label': 'Active filters' }, ...items);
  const all = h('button', { type: 'button', class: 'btn btn-link', 'data-clear-all': '' }, 'Clear all');
  all.addEventListener('click', actions.clearAll);
  box.append(list, all);
}
