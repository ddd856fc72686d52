// Text filters: "contains" search, committed 300 ms after typing stops. The first commit of a
// typing session adds a history entry; the following ones replace it.

import type { FilterSpec, FilterValue } from '../types';
import { debounce, h, uid } from '../app/dom';
import type { FilterControl, FilterHost } from './types';

export function createTextFilter(spec: FilterSpec, host: FilterHost): FilterControl {
  const id = uid('filter');
  const input = h('input', { id, type: 'search', class: 'text-input', placeholder: 'Contains…', autocomplete: 'off', spellcheck: 'false' });
  const el = h(
    'div',
    { class: 'filter', 'data-filter-id': spec.id, 'data-filter-type': spec.type },
    h('label', { for: id, class: 'filter-label' }, spec.label),
    input,
  );
  let committed = '';
  let pushedThisSession = false;

  const commit = debounce(() => {
    const text = input.value;
    if (text === committed) return;
    committed = text;
    const mode = pushedThisSession ? 'replace' : 'push';
    pushedThisSession = true;
    if (text === '') host.clear(spec.id, mode);
    else host.set(spec.id, text, mode);
  }, 300);

  input.addEventListener('input', () => commit());
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') commit.flush();
  });
  input.addEventListener('blur', () => {
    commit.flush();
    pushedThisSession = false;
  });

  return {
    el,
    set(v: FilterValue | null): void {
      const text = typeof v === 'string' ? v : v === null ? '' : String(v);
      committed = text;
      // While the user types, the box keeps their text; otherwise it shows the state.
      if (document.activeElement !== input) input.value = text;
    },
    dispose(): void {
      commit.cancel();
    },
  };
}
