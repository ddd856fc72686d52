// Table widgets: virtual scrolling over server-side pages. The scroll container holds a spacer
// as tall as all rows (X-Total-Count); only the rows on screen (plus a margin) exist in the DOM,
// filled from pages of PAGE_SIZE rows fetched around the viewport and cached per query state.

import type { DataType, Table } from 'apache-arrow';
import { DOWNLOAD_ALL_ROWS, buildQueryBody, isAbort, queryWidget, toApiError, type ApiError, type QueryBody } from '../api/client';
import { arrowTypeName, cellValue, formatCell, isNumericTypeName, type CellValue } from '../format';
import type { FieldEncoding, SortKey, WidgetSpec } from '../types';
import { clear, h } from '../app/dom';
import { PAGE_SIZE, ROW_HEIGHT, contentTop, pageRequest, pagesFor, rangeLabel, renderRows, rowTop, spacerHeight, visibleRows, type RowRange } from './window';

export interface TableHost {
  dashboard: string;
  widget: WidgetSpec;
  /** The user asked for another sort (null: the widget's declared one). */
  onSort(keys: SortKey[] | null): void;
  /** The rows on screen show the data of `stateKey`. */
  onDrawn(stateKey: string): void;
  onLoading(): void;
  onError(e: ApiError, stateKey: string): void;
  /** A page came with this data version and as-of time. */
  onData(version: string | null, asOf: string | null, relation: string | null): void;
}

interface Column {
  field: string;
  label: string;
  typeName: string;
  numeric: boolean;
  format: string | undefined;
  width: number;
}

interface Entry {
  key: string;
  base: QueryBody;
  total: number | null;
  pages: Map<number, Table>;
  columns: Column[] | null;
  /**
   * Fetched again after a data refresh, in place: the rows on screen stay until every page the
   * viewport shows has arrived, and the scroll position is kept.
   */
  inPlace?: boolean;
}

const OVERSCAN = 8;
const PREFETCH = 40;
const MAX_CACHED_STATES = 6;

function columnsOf(table: Table, widget: WidgetSpec): Column[] {
  const encoded = new Map<string, FieldEncoding>();
  for (const f of [...(widget.encoding?.columns ?? []), ...(widget.encoding?.measures ?? [])]) encoded.set(f.field, f);
  return table.schema.fields.map((f) => {
    const typeName = arrowTypeName(f.type as DataType);
    const enc = encoded.get(f.name);
    const numeric = isNumericTypeName(typeName);
    const temporal = /^(date|timestamp)/.test(typeName);
    return {
      field: f.name,
      label: enc?.label ?? f.name,
      typeName,
      numeric,
      format: enc?.format,
      width: numeric ? 116 : temporal ? (typeName.startsWith('timestamp') ? 180 : 116) : 170,
    };
  });
}

export class TableView {
  private readonly scroller: HTMLDivElement;
  private readonly head: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private readonly countEl: HTMLSpanElement;
  private readonly emptyEl: HTMLDivElement;
  private readonly cache = new Map<string, Entry>();
  private current: Entry | null = null;
  /** The entry on screen: the previous state's until the new state's first page arrives. */
  private shown: Entry | null = null;
  private stateKey = '';
  private sort: SortKey[] | null = null;
  private readonly inflight = new Map<number, AbortController>();
  private frame = 0;
  private fetchTimer: ReturnType<typeof setTimeout> | null = null;
  private headerFor: string | null = null;
  /** How many times the data was refreshed, as of the cached pages. */
  private dataEpoch = 0;

  constructor(
    readonly el: HTMLElement,
    private readonly host: TableHost,
  ) {
    const w = host.widget;
    this.head = h('div', { class: 'thead', role: 'rowgroup' });
    this.body = h('div', { class: 'tbody', role: 'rowgroup' });
    this.emptyEl = h('div', { class: 'table-empty', hidden: true }, 'No rows match the filters.');
    this.scroller = h(
      'div',
      { class: 'table-scroll', role: 'table', 'aria-label': w.title, tabindex: 0, 'aria-rowcount': -1 },
      this.head,
      this.body,
    );
    this.countEl = h('span', { class: 'table-count', 'data-total-count': '', 'aria-live': 'off' });
    el.append(this.scroller, this.emptyEl, h('div', { class: 'table-foot' }, this.countEl));
    if (w.layout.height) this.scroller.style.height = `${w.layout.height}px`;
    this.scroller.addEventListener('scroll', () => this.schedule(), { passive: true });
  }

  /**
   * Shows the query state `base` (filters, selections, sort; no paging). A new `dataEpoch` (the
   * data was refreshed) drops every cached page and fetches the pages on screen again, keeping
   * the scroll position.
   */
  apply(spec: Parameters<typeof buildQueryBody>[0], state: Parameters<typeof buildQueryBody>[1], stateKey: string, dataEpoch = this.dataEpoch): void {
    const base = buildQueryBody(spec, state, this.host.widget);
    this.sort = state.sort.get(this.host.widget.id) ?? null;
    this.stateKey = stateKey;
    const key = JSON.stringify(base);
    const refreshed = dataEpoch !== this.dataEpoch;
    this.dataEpoch = dataEpoch;
    if (!refreshed && this.current && this.current.key === key) {
      this.renderHeader(true);
      this.render();
      return;
    }
    for (const c of this.inflight.values()) c.abort();
    this.inflight.clear();
    // Pages of the data before the refresh are never shown for the new state (the rows on
    // screen stay, as `shown`, until the new ones arrive).
    if (refreshed) this.cache.clear();
    const inPlace = refreshed && this.shown !== null && this.shown.key === key && this.shown.total !== null;
    let entry = this.cache.get(key);
    if (!entry) {
      entry = { key, base, total: null, pages: new Map(), columns: null };
      this.cache.set(key, entry);
      if (this.cache.size > MAX_CACHED_STATES) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined && oldest !== key && this.cache.get(oldest) !== this.shown) this.cache.delete(oldest);
      }
    } else {
      // Most recently used last.
      this.cache.delete(key);
      this.cache.set(key, entry);
    }
    const hadData = this.shown !== null;
    this.current = entry;
    if (hadData && !inPlace) this.scroller.scrollTop = 0;
    if (entry.total !== null && entry.pages.has(0)) {
      this.shown = entry;
      this.renderHeader(true);
      this.render();
    } else if (inPlace && this.shown) {
      entry.inPlace = true;
      this.host.onLoading();
      for (const p of pagesFor(this.range(this.shown), PAGE_SIZE, this.shown.total ?? 0)) this.fetchPage(entry, p);
      if (this.inflight.size === 0) this.fetchPage(entry, 0);
    } else {
      this.host.onLoading();
      this.renderHeader(true);
      this.fetchPage(entry, 0);
    }
  }

  /** Every page holding the rows the viewport shows of `entry` has arrived. */
  private onScreen(entry: Entry): boolean {
    if (entry.total === null) return false;
    return pagesFor(this.range(entry), PAGE_SIZE, entry.total).every((p) => entry.pages.has(p));
  }

  private viewport(): number {
    return Math.max(0, this.scroller.clientHeight - this.head.offsetHeight);
  }

  /** The rows on screen, and the offset into all rows' height that the scroll position shows. */
  private range(entry: Entry): RowRange & { scrollTop: number; content: number } {
    const scrollTop = this.scroller.scrollTop;
    const viewport = this.viewport() || ROW_HEIGHT * 12;
    const total = entry.total ?? 0;
    const content = contentTop(scrollTop, viewport, ROW_HEIGHT, total);
    return { ...visibleRows(content, viewport, ROW_HEIGHT, total), scrollTop, content };
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
    if (this.fetchTimer !== null) clearTimeout(this.fetchTimer);
    this.fetchTimer = setTimeout(() => {
      this.fetchTimer = null;
      this.ensurePages();
    }, 60);
  }

  private ensurePages(): void {
    const entry = this.current;
    if (!entry || entry.total === null) return;
    const needed = new Set(pagesFor(this.range(entry), PAGE_SIZE, entry.total, PREFETCH));
    for (const [page, c] of this.inflight) {
      if (!needed.has(page)) {
        c.abort();
        this.inflight.delete(page);
      }
    }
    for (const p of needed) if (!entry.pages.has(p) && !this.inflight.has(p)) this.fetchPage(entry, p);
  }

  private fetchPage(entry: Entry, page: number): void {
    const ctl = new AbortController();
    this.inflight.set(page, ctl);
    const body: QueryBody = { ...entry.base, ...pageRequest(page, PAGE_SIZE) };
    queryWidget(this.host.dashboard, this.host.widget.id, body, ctl.signal).then(
      (r) => {
        if (this.inflight.get(page) === ctl) this.inflight.delete(page);
        entry.pages.set(page, r.table);
        if (r.totalCount !== null) entry.total = r.totalCount;
        else if (entry.total === null) entry.total = page * PAGE_SIZE + r.table.numRows;
        if (!entry.columns) entry.columns = columnsOf(r.table, this.host.widget);
        if (entry !== this.current) return;
        this.host.onData(r.dataVersion, r.dataAsOf, r.dataRelation);
        const first = this.shown !== entry;
        if (first && entry.inPlace && !this.onScreen(entry)) {
          // Refreshed in place: the old rows stay until the viewport's pages are all here.
          this.ensurePages();
          return;
        }
        this.shown = entry;
        if (first) this.renderHeader(true);
        this.render();
        if (first) this.ensurePages();
      },
      (e: unknown) => {
        if (this.inflight.get(page) === ctl) this.inflight.delete(page);
        if (isAbort(e) || entry !== this.current) return;
        this.host.onError(toApiError(e), this.stateKey);
      },
    );
  }

  private renderHeader(force = false): void {
    const entry = this.shown;
    const cols = entry?.columns ?? null;
    if (!cols) return;
    const sortKey = JSON.stringify(this.sort) + '|' + cols.map((c) => c.field).join(',');
    if (!force && this.headerFor === sortKey) return;
    this.headerFor = sortKey;
    const template = cols.map((c) => `minmax(${c.width}px, ${c.numeric ? 1 : 1.6}fr)`).join(' ');
    const minWidth = cols.reduce((a, c) => a + c.width, 0);
    this.scroller.style.setProperty('--cols', template);
    this.scroller.style.setProperty('--min-width', `${minWidth}px`);
    this.scroller.setAttribute('aria-colcount', String(cols.length));
    const effective = this.sort ?? (this.host.widget.sort ? [{ column: this.host.widget.sort.field, desc: this.host.widget.sort.desc }] : []);
    const row = h('div', { class: 'tr tr-head', role: 'row', 'aria-rowindex': 1 });
    cols.forEach((c, i) => {
      const active = effective[0]?.column === c.field ? effective[0] : undefined;
      const ariaSort = active ? (active.desc ? 'descending' : 'ascending') : 'none';
      const override = this.sort?.[0]?.column === c.field ? this.sort[0] : undefined;
      const next = !override ? 'ascending' : !override.desc ? 'descending' : 'the default order';
      const btn = h(
        'button',
        { type: 'button', class: 'sort-btn', title: `Sort by ${c.label}, ${next}` },
        h('span', { class: 'th-text' }, c.label),
        h('span', { class: 'sort-icon', 'aria-hidden': 'true' }, active ? (active.desc ? '↓' : '↑') : '↕'),
      );
      btn.addEventListener('click', () => {
        if (!override) this.host.onSort([{ column: c.field, desc: false }]);
        else if (!override.desc) this.host.onSort([{ column: c.field, desc: true }]);
        else this.host.onSort(null);
      });
      row.appendChild(
        h(
          'div',
          {
            class: 'th' + (c.numeric ? ' num' : '') + (active ? ' is-sorted' : ''),
            role: 'columnheader',
            'aria-sort': ariaSort,
            'aria-colindex': i + 1,
            'data-column': c.field,
          },
          btn,
        ),
      );
    });
    clear(this.head);
    this.head.appendChild(row);
  }

  private render(): void {
    const entry = this.shown;
    if (!entry || entry.total === null || !entry.columns) return;
    const total = entry.total;
    const cols = entry.columns;
    this.body.style.height = `${spacerHeight(total, ROW_HEIGHT)}px`;
    this.scroller.setAttribute('aria-rowcount', String(total + 1));
    this.emptyEl.hidden = total > 0;
    const visible = this.range(entry);
    const rows = renderRows(visible, OVERSCAN, total);
    const frag = document.createDocumentFragment();
    let complete = true;
    for (let i = rows.first; i < rows.end; i++) {
      const page = Math.floor(i / PAGE_SIZE);
      const data = entry.pages.get(page);
      const inPage = i - page * PAGE_SIZE;
      const row = h('div', { class: 'tr', role: 'row', 'aria-rowindex': i + 2 });
      row.style.transform = `translateY(${rowTop(i, visible.scrollTop, visible.content, ROW_HEIGHT)}px)`;
      if (!data || inPage >= data.numRows) {
        if (i >= visible.first && i < visible.end) complete = false;
        row.classList.add('is-placeholder');
        for (const c of cols) row.appendChild(h('div', { class: 'td' + (c.numeric ? ' num' : ''), role: 'cell' }, h('span', { class: 'cell-skeleton' })));
      } else {
        for (const c of cols) {
          let v: CellValue;
          try {
            v = cellValue(data, inPage, c.field);
          } catch {
            v = null;
          }
          const text = formatCell(v, c.typeName, c.format, c.field);
          row.appendChild(
            h('div', { class: 'td' + (c.numeric ? ' num' : '') + (v === null ? ' is-null' : ''), role: 'cell', title: text.length > 18 ? text : null }, text),
          );
        }
      }
      frag.appendChild(row);
    }
    clear(this.body);
    this.body.appendChild(frag);
    this.countEl.textContent = rangeLabel(visible, total);
    this.countEl.dataset.value = String(total);
    if (entry === this.current && complete) this.host.onDrawn(this.stateKey);
    else if (!complete) this.ensurePagesSoon();
  }

  private ensurePagesSoon(): void {
    if (this.fetchTimer === null) {
      this.fetchTimer = setTimeout(() => {
        this.fetchTimer = null;
        this.ensurePages();
      }, 30);
    }
  }

  /** Drops what is cached for the current state, so the next apply() fetches it again. */
  forget(): void {
    for (const c of this.inflight.values()) c.abort();
    this.inflight.clear();
    if (this.current) this.cache.delete(this.current.key);
    this.current = null;
  }

  /** Re-reads the viewport size (after a resize). */
  resize(): void {
    this.schedule();
  }

  /** The body of a download of the whole result: every row, in the shown order. */
  downloadBody(): QueryBody | null {
    const e = this.current;
    if (!e) return null;
    return { ...e.base, offset: 0, limit: Math.max(1, e.total ?? DOWNLOAD_ALL_ROWS) };
  }

  dispose(): void {
    for (const c of this.inflight.values()) c.abort();
    this.inflight.clear();
    if (this.frame) cancelAnimationFrame(this.frame);
    if (this.fetchTimer !== null) clearTimeout(this.fetchTimer);
  }
}
