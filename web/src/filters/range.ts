// Range filters: a two-thumb slider (two overlaid range inputs) plus two number inputs, bounded
// by the column's min and max from the options endpoint. Commits on change, not while dragging.
// An end at the column's bound is sent as open (null).

import type { FilterSpec, FilterValue } from '../types';
import { h, uid } from '../app/dom';
import { decimalScale, isIntegerType } from './values';
import { boundedControl } from './bounds';
import type { FilterControl, FilterHost } from './types';

const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 4 });

export function createRangeFilter(spec: FilterSpec, host: FilterHost): FilterControl {
  const integer = isIntegerType(spec.column_type);
  const scale = decimalScale(spec.column_type);
  const labelId = uid('label');
  const minId = uid('filter');
  const maxId = uid('filter');

  const lowSlider = h('input', { type: 'range', class: 'thumb thumb-low', 'aria-label': `${spec.label}, minimum`, disabled: true });
  const highSlider = h('input', { type: 'range', class: 'thumb thumb-high', 'aria-label': `${spec.label}, maximum`, disabled: true });
  const lowInput = h('input', { id: minId, type: 'number', class: 'num-input', inputmode: integer ? 'numeric' : 'decimal', disabled: true });
  const highInput = h('input', { id: maxId, type: 'number', class: 'num-input', inputmode: integer ? 'numeric' : 'decimal', disabled: true });
  const fill = h('div', { class: 'track-fill' });
  const bounds = h('div', { class: 'range-bounds', 'aria-hidden': 'true' });
  const el = h(
    'div',
    { class: 'filter range', 'data-filter-id': spec.id, 'data-filter-type': spec.type, role: 'group', 'aria-labelledby': labelId },
    h('span', { id: labelId, class: 'filter-label' }, spec.label),
    h('div', { class: 'slider' }, h('div', { class: 'track' }, fill), lowSlider, highSlider),
    bounds,
    h(
      'div',
      { class: 'range-inputs' },
      h('label', { class: 'mini-label', for: minId }, 'Min'),
      lowInput,
      h('span', { class: 'range-dash', 'aria-hidden': 'true' }, '–'),
      h('label', { class: 'mini-label', for: maxId }, 'Max'),
      highInput,
    ),
  );

  let min = 0;
  let max = 0;
  let ready = false;
  let value: FilterValue | null = null;

  const step = (): number => {
    if (integer) return 1;
    if (scale !== null) return Math.pow(10, -scale);
    const span = max - min;
    if (span <= 0) return 1;
    const raw = span / 200;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    return mag;
  };

  function ends(): [number | null, number | null] {
    if (Array.isArray(value) && value.length === 2) {
      const [a, b] = value;
      return [typeof a === 'number' ? a : null, typeof b === 'number' ? b : null];
    }
    return [null, null];
  }

  function paint(lo: number, hi: number): void {
    const span = max - min || 1;
    fill.style.left = `${((lo - min) / span) * 100}%`;
    fill.style.right = `${100 - ((hi - min) / span) * 100}%`;
    lowSlider.setAttribute('aria-valuetext', fmt.format(lo));
    highSlider.setAttribute('aria-valuetext', fmt.format(hi));
  }

  function show(): void {
    const [a, b] = ends();
    lowInput.value = a === null ? '' : String(a);
    highInput.value = b === null ? '' : String(b);
    lowInput.placeholder = ready ? fmt.format(min) : '';
    highInput.placeholder = ready ? fmt.format(max) : '';
    if (!ready) return;
    const lo = a ?? min;
    const hi = b ?? max;
    lowSlider.value = String(lo);
    highSlider.value = String(hi);
    paint(Math.max(min, lo), Math.min(max, hi));
  }

  function commit(lo: number | null, hi: number | null): void {
    if (lo !== null && hi !== null && lo > hi) [lo, hi] = [hi, lo];
    if (lo !== null && ready && lo <= min) lo = null;
    if (hi !== null && ready && hi >= max) hi = null;
    if (lo === null && hi === null) host.clear(spec.id, 'push');
    else host.set(spec.id, [lo, hi], 'push');
  }

  function sliders(which: 'low' | 'high'): void {
    let lo = Number(lowSlider.value);
    let hi = Number(highSlider.value);
    if (lo > hi) {
      if (which === 'low') lo = hi;
      else hi = lo;
      lowSlider.value = String(lo);
      highSlider.value = String(hi);
    }
    lowInput.value = lo <= min ? '' : String(lo);
    highInput.value = hi >= max ? '' : String(hi);
    paint(lo, hi);
    // The thumb dragged last stays on top, so thumbs that meet can be pulled apart again.
    lowSlider.classList.toggle('on-top', which === 'low');
  }

  lowSlider.addEventListener('input', () => sliders('low'));
  highSlider.addEventListener('input', () => sliders('high'));
  const sliderChange = (): void => commit(Number(lowSlider.value), Number(highSlider.value));
  lowSlider.addEventListener('change', sliderChange);
  highSlider.addEventListener('change', sliderChange);

  const parse = (s: string): number | null => {
    if (s.trim() === '') return null;
    const n = Number(s);
    if (!Number.isFinite(n)) return null;
    return integer ? Math.round(n) : n;
  };
  const inputChange = (): void => commit(parse(lowInput.value), parse(highInput.value));
  lowInput.addEventListener('change', inputChange);
  highInput.addEventListener('change', inputChange);

  return boundedControl(spec, host, el, {
    loaded(b) {
      if (typeof b.min !== 'number' || typeof b.max !== 'number') {
        bounds.textContent = 'No values';
        return;
      }
      min = b.min;
      max = b.max;
      ready = true;
      const st = String(step());
      for (const s of [lowSlider, highSlider]) {
        s.min = String(min);
        s.max = String(max);
        s.step = st;
        s.disabled = false;
      }
      for (const i of [lowInput, highInput]) {
        i.min = String(min);
        i.max = String(max);
        i.step = integer || scale !== null ? st : 'any';
        i.disabled = false;
      }
      bounds.replaceChildren(h('span', {}, fmt.format(min)), h('span', {}, fmt.format(max)));
      show();
    },
    failed() {
      bounds.textContent = 'Could not load the bounds';
      for (const i of [lowInput, highInput]) i.disabled = false;
    },
    set(v) {
      value = v;
      show();
    },
  });
}
