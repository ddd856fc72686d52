// Select and multiselect filters: a searchable combobox (WAI-ARIA combobox with a listbox
// popup) whose options come from the filter options endpoint as the user types.

import { fetchValueOptions, isAbort, type ValueOptions } from '../api/client';
import type { FilterSpec, FilterValue, Scalar } from '../types';
import { debounce, h, uid, clear } from '../app/dom';
import { clampActive, listNav, type ListNavState } from './listnav';
import { scalarText } from './values';
import type { FilterControl, FilterHost } from './types';

const MAX_LIMIT = 1000;

type Option = string | number | boolean;

export function createCombobox(spec: FilterSpec, host: FilterHost): FilterControl {
  const multi = spec.type === 'multiselect';
  const inputId = uid('filter');
  const listId = uid('listbox');
  const noteId = uid('note');
  const limit = Math.min(MAX_LIMIT, Math.max(1, spec.options_limit ?? 100));

  let value: FilterValue | null = null;
  let options: Option[] = [];
  let truncated = false;
  let loading = false;
  let failed: string | null = null;
  let nav: ListNavState = { open: false, active: -1, count: 0 };
  let query = '';
  let controller: AbortController | null = null;
  let loadedFor: string | null = null;
  const cache = new Map<string, ValueOptions>();

  const input = h('input', {
    id: inputId,
    type: 'text',
    class: 'combo-input',
    role: 'combobox',
    'aria-expanded': 'false',
    'aria-controls': listId,
    'aria-autocomplete': 'list',
    'aria-describedby': noteId,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: multi ? 'Search values…' : 'Any',
  });
  const clearBtn = h('button', { type: 'button', class: 'icon-btn combo-clear', 'aria-label': `Clear ${spec.label}`, title: 'Clear' }, '×');
  const toggle = h('button', { type: 'button', class: 'icon-btn combo-toggle', tabindex: -1, 'aria-hidden': 'true' }, '▾');
  const list = h('ul', { id: listId, role: 'listbox', class: 'combo-list', 'aria-label': spec.label, hidden: true });
  if (multi) list.setAttribute('aria-multiselectable', 'true');
  const note = h('div', { id: noteId, class: 'combo-note', 'aria-live': 'polite' });
  const tokens = h('ul', { class: 'tokens', 'aria-label': `Chosen ${spec.label}` });
  const popup = h('div', { class: 'combo-popup', hidden: true }, list, note);
  const field = h('div', { class: 'combo-field' }, input, clearBtn, toggle);
  const el = h(
    'div',
    { class: 'filter combo', 'data-filter-id': spec.id, 'data-filter-type': spec.type },
    h('label', { for: inputId, class: 'filter-label' }, spec.label),
    multi ? tokens : null,
    field,
    popup,
  );

  const chosen = (): Scalar[] => {
    if (value === null) return [];
    if (Array.isArray(value)) return value as Scalar[];
    if (typeof value === 'object') return [];
    return [value];
  };
  const isChosen = (o: Option): boolean => chosen().some((c) => c === o);

  function renderTokens(): void {
    if (!multi) return;
    clear(tokens);
    for (const v of chosen()) {
      const text = scalarText(v);
      const remove = h('button', { type: 'button', class: 'token-remove', 'aria-label': `Remove ${text}` }, '×');
      remove.addEventListener('click', () => {
        const next = chosen().filter((c) => c !== v);
        if (next.length === 0) host.clear(spec.id, 'push');
        else host.set(spec.id, next, 'push');
        input.focus();
      });
      tokens.appendChild(h('li', { class: 'token' }, h('span', { class: 'token-text' }, text), remove));
    }
    tokens.hidden = chosen().length === 0;
  }

  function showValueText(): void {
    if (multi) {
      if (document.activeElement !== input) input.value = '';
      return;
    }
    const c = chosen();
    input.value = c.length > 0 && c[0] !== undefined ? scalarText(c[0]) : '';
  }

  function renderList(): void {
    clear(list);
    options.forEach((o, i) => {
      const selected = isChosen(o);
      const li = h(
        'li',
        {
          id: `${listId}-${i}`,
          role: 'option',
          class: 'combo-option' + (i === nav.active ? ' is-active' : ''),
          'aria-selected': selected ? 'true' : 'false',
          'data-value': String(o),
        },
        multi ? h('span', { class: 'check', 'aria-hidden': 'true' }, selected ? '✓' : '') : null,
        h('span', { class: 'option-text' }, scalarText(o)),
      );
      li.addEventListener('mousedown', (e) => e.preventDefault());
      li.addEventListener('click', () => pick(i));
      list.appendChild(li);
    });
    const active = nav.active >= 0 ? `${listId}-${nav.active}` : null;
    if (active) input.setAttribute('aria-activedescendant', active);
    else input.removeAttribute('aria-activedescendant');
    if (nav.open && nav.active >= 0) list.children[nav.active]?.scrollIntoView({ block: 'nearest' });

    let text = '';
    if (failed) text = failed;
    else if (loading && options.length === 0) text = 'Searching…';
    else if (options.length === 0 && loadedFor !== null) text = query ? `No values contain “${query}”` : 'No values';
    else if (truncated) text = 'More values exist, keep typing to narrow the list';
    note.textContent = text;
    note.hidden = text === '';
    note.classList.toggle('is-error', failed !== null);
  }

  function setOpen(open: boolean): void {
    nav = { ...nav, open };
    if (!open) nav.active = -1;
    popup.hidden = !open;
    list.hidden = !open;
    input.setAttribute('aria-expanded', open ? 'true' : 'false');
    el.classList.toggle('is-open', open);
    if (open) load(query, true);
    renderList();
  }

  const loadLater = debounce((q: string) => load(q, true), 150);

  function load(q: string, now: boolean): void {
    if (!now) {
      loadLater(q);
      return;
    }
    loadLater.cancel();
    if (loadedFor === q && !failed) return;
    const cached = cache.get(q);
    if (cached) {
      controller?.abort();
      controller = null;
      receive(q, cached);
      return;
    }
    controller?.abort();
    const ctl = new AbortController();
    controller = ctl;
    loading = true;
    failed = null;
    renderList();
    fetchValueOptions(host.dashboard, spec.id, q, limit, ctl.signal).then(
      (r) => {
        if (controller !== ctl) return;
        controller = null;
        if (cache.size > 50) cache.clear();
        cache.set(q, r);
        receive(q, r);
      },
      (e: unknown) => {
        if (isAbort(e) || controller !== ctl) return;
        controller = null;
        loading = false;
        failed = `Could not load values: ${e instanceof Error ? e.message : String(e)}`;
        renderList();
      },
    );
  }

  function receive(q: string, r: ValueOptions): void {
    loading = false;
    failed = null;
    loadedFor = q;
    options = r.values;
    truncated = r.truncated;
    nav = clampActive(nav, options.length);
    if (nav.open && nav.active < 0 && q !== '' && options.length > 0) nav.active = 0;
    renderList();
  }

  function pick(i: number): void {
    const o = options[i];
    if (o === undefined) return;
    nav = { ...nav, active: i };
    if (multi) {
      const current = chosen();
      const next = isChosen(o) ? current.filter((c) => c !== o) : [...current, o];
      if (next.length === 0) host.clear(spec.id, 'push');
      else host.set(spec.id, next, 'push');
      renderList();
    } else {
      host.set(spec.id, o, 'push');
      query = '';
      setOpen(false);
      input.value = scalarText(o);
    }
  }

  input.addEventListener('input', () => {
    query = input.value;
    if (!nav.open) {
      nav = { ...nav, open: true };
      popup.hidden = false;
      list.hidden = false;
      input.setAttribute('aria-expanded', 'true');
      el.classList.add('is-open');
    }
    nav.active = -1;
    loading = true;
    renderList();
    load(query, false);
  });

  input.addEventListener('keydown', (e) => {
    const r = listNav({ ...nav, count: options.length }, e.key, e.altKey);
    if (r.handled) e.preventDefault();
    switch (r.action) {
      case 'open':
        if (!multi && query === '' && input.value !== '') input.select();
        setOpen(true);
        nav = { ...r.state, active: options.length === 0 ? -1 : r.state.active };
        renderList();
        return;
      case 'close':
        query = '';
        setOpen(false);
        showValueText();
        return;
      case 'pick':
        pick(r.state.active);
        return;
      case 'clear-text':
        if (input.value !== '' && query !== '') {
          query = '';
          showValueText();
        } else if (!multi && chosen().length > 0) {
          host.clear(spec.id, 'push');
        }
        return;
      default:
        nav = r.state;
        renderList();
    }
  });

  input.addEventListener('focus', () => {
    if (!multi) input.select();
  });
  input.addEventListener('click', () => {
    if (!nav.open) {
      query = '';
      setOpen(true);
    }
  });
  toggle.addEventListener('mousedown', (e) => e.preventDefault());
  toggle.addEventListener('click', () => {
    if (nav.open) setOpen(false);
    else {
      query = '';
      input.focus();
      setOpen(true);
    }
  });
  el.addEventListener('focusout', (e) => {
    const to = e.relatedTarget;
    if (to instanceof Node && el.contains(to)) return;
    if (nav.open) setOpen(false);
    query = '';
    loadLater.cancel();
    showValueText();
  });
  clearBtn.addEventListener('click', () => {
    query = '';
    host.clear(spec.id, 'push');
    input.focus();
  });

  return {
    el,
    set(v: FilterValue | null): void {
      value = v;
      renderTokens();
      clearBtn.hidden = chosen().length === 0;
      if (document.activeElement !== input || !nav.open) showValueText();
      if (nav.open) renderList();
    },
    dispose(): void {
      controller?.abort();
      loadLater.cancel();
    },
  };
}
