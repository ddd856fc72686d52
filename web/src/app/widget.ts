// One widget on the grid: its frame (title, description, downloads, states) and what draws
// inside it (a chart or KPI view of the charts helper, the virtual table, or text).

import type { Table } from 'apache-arrow';
import { ApiError, DOWNLOAD_ALL_ROWS, buildQueryBody, downloadWidget, isAbort, queryWidget, toApiError, type QueryBody, type QueryResult } from '../api/client';
import { createKpiView } from '../kpi';
import type { ViewState } from '../state/url';
import { TableView } from '../table/table';
import type { ColorRegistry, DashboardSpec, Selection, SortKey, Theme, WidgetContext, WidgetSpec, WidgetView } from '../types';
import { clear, h, richText, uid } from './dom';

export interface FrameHost {
  spec: DashboardSpec;
  theme(): Theme;
  colors: ColorRegistry;
  onSelect(widgetId: string, sel: Selection | null): void;
  onSort(widgetId: string, keys: SortKey[] | null): void;
  /** The widget now shows the data of `stateKey` (or its error for it). */
  onDrawn(widgetId: string, stateKey: string): void;
  announce(message: string): void;
  /** An answer came with this data version and as-of time (X-Sightline-Data-Version/-As-Of). */
  onData(version: string | null, asOf: string | null, relation: string | null): void;
}

const CHART_TYPES = new Set(['bar', 'line', 'area', 'scatter', 'pie', 'histogram', 'heatmap']);

type ChartModule = typeof import('../charts/view');
let chartModule: ChartModule | null = null;
let chartLoad: Promise<ChartModule> | null = null;

/**
 * The chart code (ECharts) is a chunk of its own, loaded while the page already fetches the
 * dashboard and queries its widgets; call early. A failed load is retried on the next call.
 */
export function loadCharts(): Promise<ChartModule> {
  chartLoad ??= import('../charts/view').then(
    (m) => (chartModule = m),
    (e: unknown) => {
      chartLoad = null;
      throw e;
    },
  );
  return chartLoad;
}

const DEFAULT_HEIGHT: Record<string, number> = { kpi: 0, table: 480 };

function today(): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export function downloadName(dashboard: string, widget: string, format: 'csv' | 'arrow'): string {
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]+/g, '_');
  return `${safe(dashboard)}-${safe(widget)}-${today()}.${format === 'csv' ? 'csv' : 'arrows'}`;
}

export class WidgetFrame {
  readonly el: HTMLElement;
  private readonly body: HTMLDivElement;
  private readonly viewEl: HTMLDivElement;
  private readonly errorEl: HTMLDivElement;
  private readonly skeleton: HTMLDivElement | null;
  private view: WidgetView | null = null;
  private table: TableView | null = null;
  private data: Table | null = null;
  private result: QueryResult | null = null;
  private bodyKey: string | null = null;
  private requestKey: string | null = null;
  private controller: AbortController | null = null;
  private status: 'loading' | 'ready' | 'error' = 'loading';
  /** "Server busy, retrying": shown while a shed query waits to be sent again. */
  // Says that the last download was cut at the server's limit (until the next download).
  private readonly noticeEl = h('p', { class: 'widget-notice', role: 'status', hidden: true, 'data-download-notice': '' });
  private readonly busyEl = h('span', { class: 'server-busy', role: 'status', hidden: true }, 'Server busy, retrying…');
  private stateKey = '';
  private state: ViewState | null = null;
  /** How many times the data was refreshed: a new count asks again for the same body. */
  private dataEpoch = 0;
  private selection: Selection | undefined;
  private resizeObserver: ResizeObserver | null = null;
  private resizeFrame = 0;
  /** The view's size when last laid out, from the observer (so no layout is forced to read it). */
  private size: [number, number] | null = null;

  constructor(
    readonly widget: WidgetSpec,
    private readonly host: FrameHost,
  ) {
    const w = widget;
    const titleId = uid('wtitle');
    const head = h('header', { class: 'widget-head' }, h('h3', { class: 'widget-title', id: titleId }, w.title || w.id));
    if (w.description) {
      const tipId = uid('tip');
      head.appendChild(
        h(
          'span',
          { class: 'info' },
          h('button', { type: 'button', class: 'icon-btn info-btn', 'aria-label': `About ${w.title}`, 'aria-describedby': tipId }, 'i'),
          h('span', { class: 'tooltip', role: 'tooltip', id: tipId }, w.description),
        ),
      );
    }
    // The download buttons overlay the top right corner while the card is hovered or holds the
    // focus, so the title keeps the whole width. Without hover (touch) or on narrow screens a
    // small "⋯" button opens them.
    const toolsId = uid('tools');
    const tools = h('div', { class: 'widget-tools', id: toolsId, role: 'group', 'aria-label': `Download ${w.title}` });
    if (w.type !== 'text') {
      const more = h(
        'button',
        { type: 'button', class: 'icon-btn tools-toggle', 'aria-label': `Downloads for ${w.title}`, 'aria-expanded': 'false', 'aria-controls': toolsId, title: 'Download' },
        '⋯',
      );
      more.addEventListener('click', () => {
        const open = !this.el.classList.contains('tools-open');
        this.el.classList.toggle('tools-open', open);
        more.setAttribute('aria-expanded', String(open));
        if (open) tools.querySelector('button')?.focus();
      });
      tools.addEventListener('keydown', (e) => {
        if (e.key !== 'Escape' || !this.el.classList.contains('tools-open')) return;
        this.el.classList.remove('tools-open');
        more.setAttribute('aria-expanded', 'false');
        more.focus();
      });
      head.appendChild(more);
      for (const format of ['csv', 'arrow'] as const) {
        const label = format === 'csv' ? 'CSV' : 'Arrow';
        const b = h(
          'button',
          { type: 'button', class: 'tool-btn', 'data-download': format, 'aria-label': `Download ${w.title} as ${label}`, title: `Download as ${label}` },
          h('span', { class: 'dl-icon', 'aria-hidden': 'true' }, '⤓'),
          label,
        );
        b.addEventListener('click', () => void this.download(format, b));
        tools.appendChild(b);
      }
      head.appendChild(tools);
    }
    head.appendChild(h('span', { class: 'refreshing', 'aria-hidden': 'true' }));
    head.appendChild(this.busyEl);

    this.viewEl = h('div', { class: 'widget-view' });
    this.errorEl = h('div', { class: 'widget-error', hidden: true });
    this.skeleton = w.type === 'text' ? null : h('div', { class: `skeleton skeleton-${w.type}`, 'aria-hidden': 'true' });
    this.body = h('div', { class: 'widget-body' }, this.noticeEl, this.viewEl, this.errorEl, this.skeleton);
    const height = w.layout.height ?? DEFAULT_HEIGHT[w.type] ?? 300;
    if (height > 0 && w.type !== 'table' && w.type !== 'text') this.body.style.height = `${height}px`;

    const width = Math.min(12, Math.max(1, Math.round(w.layout.width || 6)));
    this.el = h(
      'section',
      {
        class: `widget widget-${w.type}`,
        'data-widget-id': w.id,
        'data-widget-type': w.type,
        'data-state': w.type === 'text' ? 'ready' : 'loading',
        'aria-busy': w.type === 'text' ? 'false' : 'true',
        'aria-labelledby': titleId,
        'data-width': width,
      },
      head,
      this.body,
    );
    this.el.style.setProperty('--span', String(width));

    if (w.type === 'text') {
      this.viewEl.classList.add('prose');
      this.viewEl.appendChild(richText(w.text ?? ''));
    } else if (w.type === 'table') {
      this.table = new TableView(this.viewEl, {
        dashboard: host.spec.id,
        widget: w,
        onSort: (keys) => host.onSort(w.id, keys),
        onDrawn: (key) => {
          this.setStatus('ready');
          this.markDrawn(key);
        },
        onLoading: () => this.setStatus('loading'),
        onError: (e, key) => this.showError(e, key),
        onData: (version, asOf, relation) => host.onData(version, asOf, relation),
      });
    }
    if (typeof ResizeObserver === 'function') {
      this.resizeObserver = new ResizeObserver((entries) => {
        const box = entries[entries.length - 1]?.contentRect;
        if (!box) return;
        const size: [number, number] = [Math.round(box.width), Math.round(box.height)];
        const before = this.size;
        this.size = size;
        // The first report is the size the view was created at; an unchanged one needs nothing.
        if (!before || (before[0] === size[0] && before[1] === size[1])) return;
        if (this.resizeFrame) return;
        this.resizeFrame = requestAnimationFrame(() => {
          this.resizeFrame = 0;
          this.view?.resize();
          this.table?.resize();
        });
      });
      this.resizeObserver.observe(this.viewEl);
    }
  }

  private context(): WidgetContext {
    const ctx: WidgetContext = {
      theme: this.host.theme(),
      colors: this.host.colors,
      onSelect: (sel) => this.host.onSelect(this.widget.id, sel),
      // Picks only on the columns the server accepts in selections.
      dimensions: this.host.spec.dimensions,
    };
    if (this.selection) ctx.selection = this.selection;
    return ctx;
  }

  /** The server shed this widget's query (it is busy): say so while the query is retried. */
  private showBusy(): void {
    this.busyEl.hidden = false;
    this.el.classList.add('is-server-busy');
  }

  private setStatus(s: 'loading' | 'ready' | 'error'): void {
    this.status = s;
    this.busyEl.hidden = true;
    this.el.classList.remove('is-server-busy');
    this.el.dataset.state = s;
    this.el.setAttribute('aria-busy', s === 'loading' ? 'true' : 'false');
    const hasDrawing = this.data !== null || (this.table !== null && this.el.classList.contains('has-data'));
    this.el.classList.toggle('is-stale', s === 'loading' && hasDrawing);
    if (s === 'ready') {
      this.el.classList.add('has-data');
      this.skeleton?.remove();
      this.errorEl.hidden = true;
      this.viewEl.hidden = false;
    }
  }

  private markDrawn(key: string): void {
    if (this.el.dataset.drawnState === key) return;
    this.el.dataset.drawnState = key;
    this.host.onDrawn(this.widget.id, key);
  }

  /**
   * Shows the query state; queries only when this widget's request body changed, or when the
   * data was refreshed (`dataEpoch` grew): then the same body is asked again, and the drawing
   * stays (dimmed) until the new answer replaces it.
   */
  apply(state: ViewState, stateKey: string, dataEpoch = this.dataEpoch): void {
    this.stateKey = stateKey;
    this.state = state;
    this.dataEpoch = dataEpoch;
    this.selection = state.selections.find((s) => s.widget === this.widget.id);
    const w = this.widget;
    if (w.type === 'text') {
      this.markDrawn(stateKey);
      return;
    }
    if (this.table) {
      this.table.apply(this.host.spec, state, stateKey, dataEpoch);
      return;
    }
    const body = buildQueryBody(this.host.spec, state, w);
    const key = JSON.stringify(body) + (dataEpoch > 0 ? `#data-${dataEpoch}` : '');
    if (key === this.bodyKey && (this.status !== 'loading' || this.requestKey === key)) {
      // Same data: nothing to fetch. A request in flight for it will mark the newest key.
      if (this.status !== 'loading') this.markDrawn(stateKey);
      return;
    }
    this.bodyKey = key;
    this.fetch(body, key);
  }

  private fetch(body: QueryBody, key: string): void {
    this.controller?.abort();
    const ctl = new AbortController();
    this.controller = ctl;
    this.requestKey = key;
    this.setStatus('loading');
    queryWidget(this.host.spec.id, this.widget.id, body, ctl.signal, this.result, () => {
      if (this.controller === ctl) this.showBusy();
    }).then(
      (r) => {
        if (this.controller !== ctl) return;
        if (CHART_TYPES.has(this.widget.type) && !chartModule) {
          // The answer came before the chart code: draw once it is here.
          loadCharts().then(
            () => this.received(ctl, r),
            () => {
              if (this.controller !== ctl) return;
              this.controller = null;
              this.showError(new ApiError(0, 'The chart code could not be loaded', 'reload the page'), this.stateKey);
            },
          );
          return;
        }
        this.received(ctl, r);
      },
      (e: unknown) => {
        if (isAbort(e) || this.controller !== ctl) return;
        this.controller = null;
        this.showError(toApiError(e), this.stateKey);
      },
    );
  }

  private received(ctl: AbortController, r: QueryResult): void {
    if (this.controller !== ctl) return;
    this.controller = null;
    this.host.onData(r.dataVersion, r.dataAsOf, r.dataRelation);
    // An unchanged answer comes back as the same table, which the view need not draw again.
    this.result = r;
    this.data = r.table;
    try {
      this.draw();
    } catch (e) {
      this.showError(toApiError(e), this.stateKey);
      return;
    }
    this.setStatus('ready');
    this.markDrawn(this.stateKey);
  }

  private draw(): void {
    if (!this.data) return;
    if (!this.view) {
      const w = this.widget;
      if (w.type === 'kpi') this.view = createKpiView(this.viewEl, w, this.context());
      else if (CHART_TYPES.has(w.type) && chartModule) this.view = chartModule.createChartView(this.viewEl, w, this.context());
      else throw new Error(`widget type '${w.type}' is not supported by this page`);
    }
    this.viewEl.hidden = false;
    this.view.update(this.data, this.context());
  }

  /** Redraws with the current data (after a theme change). */
  redraw(): void {
    if (this.view && this.data && this.status === 'ready') this.view.update(this.data, this.context());
  }

  private showError(e: ApiError, key: string): void {
    this.setStatus('error');
    this.skeleton?.remove();
    clear(this.errorEl);
    const retry = h('button', { type: 'button', class: 'btn btn-small' }, 'Try again');
    retry.addEventListener('click', () => {
      this.bodyKey = null;
      this.el.removeAttribute('data-drawn-state');
      this.table?.forget();
      if (this.state) this.apply(this.state, this.stateKey);
    });
    this.errorEl.append(
      h(
        'div',
        { role: 'alert', class: 'alert' },
        h('p', { class: 'alert-title' }, e.status ? `Could not load this widget (${e.status})` : 'Could not load this widget'),
        h('p', { class: 'alert-detail' }, e.detail),
        e.hint ? h('p', { class: 'alert-hint' }, e.hint) : null,
        e.requestId ? h('p', { class: 'alert-id' }, `Request id ${e.requestId}`) : null,
      ),
      retry,
    );
    this.errorEl.hidden = false;
    this.viewEl.hidden = true;
    this.markDrawn(key);
  }

  private async download(format: 'csv' | 'arrow', button: HTMLButtonElement): Promise<void> {
    if (!this.state) return;
    // Every row of the answer: the server sends at most its download limit and says when it cut.
    const body = this.table?.downloadBody() ?? { ...buildQueryBody(this.host.spec, this.state, this.widget), limit: DOWNLOAD_ALL_ROWS };
    const label = format === 'csv' ? 'CSV' : 'Arrow';
    const title = button.title;
    this.noticeEl.hidden = true;
    button.disabled = true;
    button.classList.add('is-busy');
    try {
      const got = await downloadWidget(this.host.spec.id, this.widget.id, body, format, undefined, (fraction) => {
        button.title = `Downloading ${label}: ${Math.floor(fraction * 100)}%`;
        button.dataset.progress = String(Math.floor(fraction * 100));
      });
      const url = URL.createObjectURL(got.blob);
      const a = h('a', { href: url, download: downloadName(this.host.spec.id, this.widget.id, format), hidden: true });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      button.title = title;
      if (got.truncated) {
        const limit = got.rowLimit !== null ? got.rowLimit.toLocaleString('en-US') : 'the server\'s limit of';
        const of = got.totalCount !== null ? ` of ${got.totalCount.toLocaleString('en-US')}` : '';
        const message = `Downloaded only the first ${limit} rows${of} of ${this.widget.title} as ${label}: that is the most one download may hold. Narrow the filters to get the rest.`;
        this.host.announce(message);
        button.title = message;
        this.noticeEl.textContent = message;
        this.noticeEl.hidden = false;
      } else {
        this.host.announce(`Downloaded ${this.widget.title} as ${label}`);
      }
    } catch (e) {
      if (isAbort(e)) return;
      const err = toApiError(e);
      this.host.announce(`Download failed: ${err.detail}`);
      button.title = `Download failed: ${err.detail}`;
    } finally {
      delete button.dataset.progress;
      button.disabled = false;
      button.classList.remove('is-busy');
    }
  }

  dispose(): void {
    this.controller?.abort();
    this.resizeObserver?.disconnect();
    if (this.resizeFrame) cancelAnimationFrame(this.resizeFrame);
    this.view?.dispose();
    this.table?.dispose();
    this.el.remove();
  }
}
