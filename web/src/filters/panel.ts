// The filter sidebar: one control per filter of the dashboard, and a Reset button.

import type { DashboardSpec, FilterSpec } from '../types';
import { h } from '../app/dom';
import type { ViewState } from '../state/url';
import { createCombobox } from './combobox';
import { createDateRangeFilter } from './daterange';
import { createRangeFilter } from './range';
import { createTextFilter } from './text';
import type { FilterControl, FilterHost } from './types';
import { effectiveValue } from './values';

export interface FilterPanel {
  el: HTMLElement;
  sync(state: ViewState): void;
  dispose(): void;
}

function createControl(spec: FilterSpec, host: FilterHost): FilterControl {
  switch (spec.type) {
    case 'select':
    case 'multiselect':
      return createCombobox(spec, host);
    case 'range':
      return createRangeFilter(spec, host);
    case 'daterange':
      return createDateRangeFilter(spec, host);
    default:
      return createTextFilter(spec, host);
  }
}

export function createFilterPanel(spec: DashboardSpec, host: FilterHost, onReset: () => void): FilterPanel {
  const controls = spec.filters.map((f) => ({ spec: f, control: createControl(f, host) }));
  const reset = h('button', { type: 'button', class: 'btn btn-quiet', 'data-reset': '' }, 'Reset');
  reset.addEventListener('click', onReset);
  const el = h(
    'div',
    { class: 'filter-panel' },
    h('div', { class: 'panel-head' }, h('h2', { class: 'panel-title', id: 'filters-title' }, 'Filters'), reset),
    ...controls.map((c) => c.control.el),
  );
  if (controls.length === 0) el.appendChild(h('p', { class: 'muted' }, 'This dashboard has no filters.'));
  return {
    el,
    sync(state: ViewState): void {
      for (const c of controls) c.control.set(effectiveValue(c.spec, state.filters));
      reset.disabled = state.filters.size === 0 && state.selections.length === 0;
    },
    dispose(): void {
      for (const c of controls) c.control.dispose();
    },
  };
}
