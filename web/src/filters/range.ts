// Range filters: a two-thumb slider (two overlaid range inputs) plus two number inputs, bounded
// by the column's min and max from the options endpoint. Commits on change, not while dragging.
// An end at the column's bound is sent as open (null). When the server announces bin edges for
// the column, the slider stops on them (its positions are edge indexes), so the ranges it picks
// are answered from pre-aggregates; a value typed into a box is taken as it is.

import type { FilterSpec, FilterValue } from '../types';
import { h, uid } from '../app/dom';
import { decimalScale, isIntegerType } from './values';
import { boundedControl } from './bounds';
import { edgeIndex } from './edges';
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
  const edges = spec.bins && spec.bins.edges.length >= 2 ? spec.bins.edges : null;
  // Slider position <-> value: identity, or edge index <-> edge.
  let lowestPos = 0;
  let highestPos = 0;
  const posValue = (pos: number): number => (edges ? (edges[pos] ?? pos) : pos);
  const valuePos = (v: number, side: 'low' | 'high'): number => (edges ? edgeIndex(edges, v, side) : v);

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
    lowSlider.value = String(a === null ? lowestPos : valuePos(lo, 'low'));
    highSlider.value = String(b === null ? highestPos : valuePos(hi, 'high'));
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
    let lowPos = Number(lowSlider.value);
    let highPos = Number(highSlider.value);
    if (lowPos > highPos) {
      if (which === 'low') lowPos = highPos;
      else highPos = lowPos;
      lowSlider.value = String(lowPos);
      highSlider.value = String(highPos);
    }
    const lo = posValue(lowPos);
    const hi = posValue(highPos);
    lowInput.value = lowPos <= lowestPos ? '' : String(lo);
    highInput.value = highPos >= highestPos ? '' : String(hi);
    paint(Math.max(min, lo), Math.min(max, hi));
    // The thumb dragged last stays on top, so thumbs that meet can be pulled apart again.
    lowSlider.classList.toggle('on-top', which === 'low');
  }

  lowSlider.addEventListener('input', () => sliders('low'));
  highSlider.addEventListener('input', () => sliders('high'));
  // A thumb at its end of the track is an open end, even when the outer edges lie beyond the data.
  const sliderChange = (): void => {
    const lowPos = Number(lowSlider.value);
    const highPos = Number(highSlider.value);
    commit(lowPos <= lowestPos ? null : posValue(lowPos), highPos >= highestPos ? null : posValue(highPos));
  };
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
      lowestPos = edges ? edgeIndex(edges, min, 'low') : min;
      highestPos = edges ? edgeIndex(edges, max, 'high') : max;
      for (const s of [lowSlider, highSlider]) {
        s.min = String(lowestPos);
        s.max = String(highestPos);
        s.step = edges ? '1' : st;
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
