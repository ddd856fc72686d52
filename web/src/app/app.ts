// The app shell: header with the dashboard switcher, theme toggle, who is signed in and how
// fresh the data is (with its refresh button), page tabs, the filter sidebar, chips of active
// filters, and the widget grid. The view state lives in the URL.

import {
  fetchDashboard,
  fetchDashboards,
  fetchMe,
  fetchReadiness,
  fetchSources,
  fetchSourceStatus,
  isAbort,
  logout,
  onUnauthenticated,
  refreshSource,
  setCsrfToken,
  toApiError,
  type MeResult,
} from '../api/client';
import { createColorRegistry } from '../charts/colors';
import { renderChips } from '../filters/chips';
import { createFilterPanel, type FilterPanel } from '../filters/panel';
import type { FilterHost, HistoryMode } from '../filters/types';
import {
  cloneState,
  dashboardFromPath,
  decodeQuery,
  stateKey,
  urlFor,
  withSelection,
  type ViewState,
} from '../state/url';
import type { ColorRegistry, DashboardSpec, DashboardSummary, Me, PageSpec, Selection, SortKey, SourceInfo, Theme } from '../types';
import { beginSignIn, displayName, loginUrl, safeRedirect, signInSucceeded } from './auth';
import { clear, h, uid, wait } from './dom';
import { Freshness, POLL_INTERVAL_MS, dataStateKey, isNewerVersion, parseDataVersion, refreshDone, type DataVersion } from './freshness';
import { LiveUpdates, type LiveVersion } from './live';
import { applyTheme, currentTheme, saveTheme, watchSystemTheme } from './theme';
import { buildProgress } from './readiness';
import { renderSources } from './data_page';
import { WidgetFrame, loadCharts, type FrameHost } from './widget';

/** The path of the data page. */
const DATA_PATH = '/data';

export function pagesOf(spec: DashboardSpec): PageSpec[] {
  if (spec.pages && spec.pages.length > 0) return spec.pages;
  return [{ id: 'main', title: spec.title, widgets: spec.widgets ?? [] }];
}

export class App {
  private dashboards: DashboardSummary[] = [];
  private spec: DashboardSpec | null = null;
  private state: ViewState | null = null;
  private theme: Theme = currentTheme();
  private colors: ColorRegistry = createColorRegistry();
  private frames: WidgetFrame[] = [];
  private builtPage: string | null = null;
  private panel: FilterPanel | null = null;
  private key = '';
  private announcedKey = '';
  /** How many times the data was refreshed while this page was open: part of the state key. */
  private dataEpoch = 0;
  /**
   * The data version every widget of the view was last asked for (the dashboard's when it opened,
   * then each reload's): a live update reloads the view only for a newer one.
   */
  private requested: { version: DataVersion | null; asOf: string | null } = { version: null, asOf: null };
  /** A live update heard while a refresh asked for here was under way: looked at once it is over. */
  private deferredLive: LiveVersion | null = null;
  private loadSeq = 0;
  /** The spec of the dashboard in the URL, asked for at start-up alongside the list. */
  private prefetched: { id: string; spec: Promise<DashboardSpec> } | null = null;
  /** The session is over: the page is on its way to the sign-in or shows the signed-out panel. */
  private ended = false;
  private signingOut = false;
  /** A 401 that came while signing out, acted on should signing out fail. */
  private unauthenticatedLater = false;

  private readonly root = document.documentElement;
  private readonly titleEl = h('h1', { class: 'dash-title' });
  private readonly descEl = h('p', { class: 'dash-desc' });
  private readonly switcher = h('select', { class: 'switcher', id: 'dashboard-switcher', 'aria-label': 'Dashboard' });
  private readonly themeBtn = h('button', { type: 'button', class: 'btn btn-quiet theme-toggle', 'data-theme-toggle': '' });
  private readonly filtersBtn = h('button', { type: 'button', class: 'btn btn-quiet filters-toggle', 'aria-expanded': 'false', 'aria-controls': 'sidebar' }, 'Filters');
  private readonly tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Pages' });
  private readonly chips = h('div', { class: 'chips', 'data-chips': '', hidden: true });
  private readonly grid = h('div', { class: 'grid', id: 'grid' });
  private readonly sidebar = h('aside', { class: 'sidebar', id: 'sidebar', 'aria-labelledby': 'filters-title' });
  private readonly live = h('div', { class: 'sr-only', 'aria-live': 'polite', role: 'status', 'data-announcer': '' });
  private readonly status = h('span', { class: 'status', 'data-readiness': '' });
  private readonly main = h('main', { class: 'content', id: 'main', tabindex: -1 });
  private readonly message = h('div', { class: 'page-message', hidden: true });
  private readonly user = h('div', { class: 'user', 'data-user': '', hidden: true });
  private readonly header = h('header', { class: 'topbar' });
  private readonly layout = h('div', { class: 'layout' });
  private readonly freshness = new Freshness({
    reload: () => this.reloadData(),
    announce: (m) => this.announce(m),
    settled: () => {
      const v = this.deferredLive;
      this.deferredLive = null;
      if (v !== null) this.liveData(v);
    },
  });
  /** New data pushed by the server while a dashboard is open (GET /api/v1/events). */
  private readonly liveUpdates = new LiveUpdates({
    heard: (v) => this.liveData(v),
    state: (state) => {
      this.root.dataset.live = state;
    },
  });

  constructor(private readonly mount: HTMLElement) {}

  async start(): Promise<void> {
    applyTheme(this.theme);
    this.buildShell();
    watchSystemTheme((t) => this.setTheme(t, false));
    window.addEventListener('popstate', () => void this.fromLocation());
    // A background tab holds no event stream; shown again, it hears whether the data changed.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.liveUpdates.suspend();
      else this.liveUpdates.resume();
    });
    // Any request answering 401 later (the session expired, or ended in another tab) sends the
    // page to the sign-in instead of showing the error in every widget.
    onUnauthenticated((canSignIn) => this.unauthenticated(canSignIn));
    // Everything the first drawing needs starts at once: who is signed in, the chart code, the
    // list of dashboards and, when the URL names one, that dashboard's spec. Widgets query (POST,
    // with the CSRF token) once the user is known. Readiness is only a status line.
    const me = fetchMe();
    loadCharts().catch(() => undefined);
    const list = fetchDashboards();
    // Awaited below; one that fails while the user is still unknown is handled there.
    list.catch(() => undefined);
    const id = location.pathname === DATA_PATH ? null : dashboardFromPath(location.pathname);
    if (id !== null) {
      const spec = fetchDashboard(id);
      spec.catch(() => undefined);
      this.prefetched = { id, spec };
    }
    if (!(await this.signIn(me))) return;
    if (id !== null) {
      const shown = this.fromLocation();
      try {
        this.dashboards = await list;
      } catch {
        // The dashboard itself still shows; the switcher then only offers it.
        this.dashboards = this.spec ? [{ id: this.spec.id, title: this.spec.title }] : [];
      }
      this.fillSwitcher();
      await shown;
    } else {
      try {
        this.dashboards = await list;
      } catch (e) {
        this.fail('Could not load the list of dashboards', e);
        return;
      }
      this.fillSwitcher();
      await this.fromLocation();
    }
    void this.pollReadiness();
  }

  // ---- who is signed in --------------------------------------------------------------------------

  /** Shows who /api/v1/me says is signed in; false when the page goes no further (signed out). */
  private async signIn(pending: Promise<MeResult>): Promise<boolean> {
    const r = await pending;
    if (r.kind === 'signed-out') {
      this.unauthenticated(r.canSignIn);
      return false;
    }
    if (r.kind === 'signed-in') {
      signInSucceeded();
      this.showUser(r.me);
    }
    // 'no-auth' is a server without sign-in; 'unknown' leaves it to the requests that follow.
    return !this.ended;
  }

  private showUser(me: Me): void {
    const mode = me.auth_mode;
    clear(this.user);
    this.user.hidden = true;
    if (mode === 'none') {
      const banner = h(
        'div',
        { class: 'auth-banner', role: 'status', 'data-auth-banner': '' },
        h('span', { class: 'auth-banner-icon', 'aria-hidden': 'true' }, '⚠'),
        h('span', {}, 'Local development: sign-in is off — everyone who can reach this server sees all data.'),
      );
      this.mount.insertBefore(banner, this.header);
      return;
    }
    const name = displayName(me.user);
    if (name === null) return;
    const email = me.user?.email;
    this.user.append(
      h('span', { class: 'sr-only' }, 'Signed in as '),
      h('span', { class: 'user-name', 'data-user-name': '', title: email && email !== name ? `${name} (${email})` : name }, name),
    );
    // Only Sightline's own sign-in can be ended here; a proxy's session is the proxy's business.
    if (mode === 'oidc') {
      const button = h('button', { type: 'button', class: 'btn btn-quiet sign-out', 'data-sign-out': '' }, 'Sign out');
      button.addEventListener('click', () => void this.signOut(button));
      this.user.append(button);
    }
    this.user.hidden = false;
  }

  /**
   * A request answered 401: go to the sign-in, or show the signed-out panel after a loop (or
   * when the server has no sign-in page: behind a proxy, signing in is the proxy's business).
   */
  private unauthenticated(canSignIn = true): void {
    if (this.ended) return;
    if (this.signingOut) {
      this.unauthenticatedLater = true;
      return;
    }
    this.ended = true;
    this.liveUpdates.close();
    // A dashboard on its way is not shown.
    this.loadSeq += 1;
    if (canSignIn && beginSignIn()) location.assign(loginUrl());
    else this.showSignedOut(canSignIn);
  }

  private showSignedOut(canSignIn = true): void {
    this.teardown();
    this.spec = null;
    this.state = null;
    this.titleEl.textContent = 'Signed out';
    this.descEl.hidden = true;
    document.title = 'Signed out · Sightline';
    this.switcher.hidden = true;
    this.filtersBtn.hidden = true;
    this.tabs.hidden = true;
    this.chips.hidden = true;
    this.sidebar.hidden = true;
    this.layout.classList.add('is-bare');
    this.user.hidden = true;
    clear(this.user);
    const titleId = uid('signed-out');
    this.message.hidden = false;
    clear(this.message);
    this.message.append(
      h(
        'section',
        { class: 'signed-out', 'data-signed-out': '', 'aria-labelledby': titleId },
        h('h2', { class: 'signed-out-title', id: titleId }, 'Sign in to continue'),
        ...(canSignIn
          ? [
              h('p', {}, 'Signing in did not complete, or your session has ended.'),
              h('p', { class: 'muted' }, 'If this keeps happening, check that your browser keeps cookies for this site.'),
              h('a', { class: 'btn btn-primary', href: loginUrl(), 'data-sign-in': '' }, 'Sign in'),
            ]
          : [
              h('p', {}, 'The sign-in proxy in front of this server did not say who you are.'),
              h('p', { class: 'muted' }, 'Open this page through your organisation\'s sign-in, or ask its administrators.'),
              h('a', { class: 'btn btn-primary', href: location.pathname + location.search, 'data-reload': '' }, 'Try again'),
            ]),
      ),
    );
  }

  private async signOut(button: HTMLButtonElement): Promise<void> {
    if (this.signingOut || this.ended) return;
    this.signingOut = true;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    let target: string;
    try {
      target = safeRedirect(await logout());
    } catch (e) {
      this.signingOut = false;
      button.disabled = false;
      button.removeAttribute('aria-busy');
      const err = toApiError(e);
      button.title = `Sign out failed: ${err.detail}`;
      button.focus();
      this.announce(`Sign out failed: ${err.detail}`);
      if (this.unauthenticatedLater) {
        this.unauthenticatedLater = false;
        this.unauthenticated();
      }
      return;
    }
    // Requests that end with the session from here on are no reason to sign in again.
    this.ended = true;
    this.liveUpdates.close();
    setCsrfToken(null);
    location.assign(target);
  }

  // ---- shell ------------------------------------------------------------------------------------

  private buildShell(): void {
    this.switcher.addEventListener('change', () => {
      this.titleSwitcher();
      const id = this.switcher.value;
      if (location.pathname === DATA_PATH) {
        location.assign('/d/' + encodeURIComponent(id));
        return;
      }
      if (this.spec && id === this.spec.id) return;
      history.pushState(null, '', '/d/' + encodeURIComponent(id));
      void this.fromLocation();
    });
    this.themeBtn.addEventListener('click', () => this.setTheme(this.theme === 'dark' ? 'light' : 'dark', true));
    this.updateThemeButton();
    this.filtersBtn.addEventListener('click', () => {
      const open = !this.sidebar.classList.contains('is-open');
      this.sidebar.classList.toggle('is-open', open);
      this.filtersBtn.setAttribute('aria-expanded', String(open));
    });
    this.tabs.addEventListener('keydown', (e) => this.onTabKey(e));

    // On phones only the mark shows (the link keeps its name), leaving the row to the controls.
    const brand = h(
      'a',
      { class: 'brand', href: '/', 'aria-label': 'Sightline home' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true' }),
      h('span', { class: 'brand-text' }, 'Sightline'),
    );
    this.header.append(
      brand,
      h('div', { class: 'title-block' }, this.titleEl, this.descEl),
      this.freshness.el,
      h(
        'div',
        { class: 'top-actions' },
        h('label', { class: 'sr-only', for: 'dashboard-switcher' }, 'Dashboard'),
        this.switcher,
        this.filtersBtn,
        h('a', { class: 'btn btn-quiet', href: DATA_PATH, 'data-data-link': '', title: 'Sources, their freshness and checks' }, 'Data'),
        this.themeBtn,
        this.user,
      ),
    );
    this.main.append(this.tabs, this.chips, this.message, this.freshness.messageEl, this.grid);
    this.layout.append(this.sidebar, this.main);
    const footer = h('footer', { class: 'footer' }, this.status);
    clear(this.mount);
    this.mount.append(h('a', { class: 'skip-link', href: '#main' }, 'Skip to content'), this.header, this.layout, footer, this.live);
  }

  private fillSwitcher(): void {
    clear(this.switcher);
    for (const d of this.dashboards) this.switcher.appendChild(h('option', { value: d.id }, d.title || d.id));
    if (this.spec) this.switcher.value = this.spec.id;
    this.titleSwitcher();
  }

  /** The switcher may be too narrow for the chosen name (phones): its title shows it whole. */
  private titleSwitcher(): void {
    const chosen = this.switcher.selectedOptions[0];
    this.switcher.title = chosen ? chosen.text : '';
  }

  private setTheme(t: Theme, save: boolean): void {
    this.theme = t;
    if (save) saveTheme(t);
    applyTheme(t);
    this.updateThemeButton();
    for (const f of this.frames) f.redraw();
  }

  private updateThemeButton(): void {
    const next = this.theme === 'dark' ? 'light' : 'dark';
    clear(this.themeBtn);
    this.themeBtn.append(h('span', { class: 'theme-icon', 'aria-hidden': 'true' }, this.theme === 'dark' ? '☀' : '☾'), h('span', { class: 'theme-text' }, next === 'dark' ? 'Dark' : 'Light'));
    this.themeBtn.setAttribute('aria-label', `Switch to ${next} theme`);
    this.themeBtn.setAttribute('aria-pressed', this.theme === 'dark' ? 'true' : 'false');
    this.themeBtn.title = `Switch to ${next} theme`;
  }

  private fail(what: string, e: unknown): void {
    // The session ended: the sign-in (or the signed-out panel) says so, not an error.
    if (isAbort(e) || this.ended) return;
    const err = toApiError(e);
    this.message.hidden = false;
    clear(this.message);
    this.message.append(
      h('div', { role: 'alert', class: 'alert' }, h('p', { class: 'alert-title' }, what), h('p', { class: 'alert-detail' }, err.detail), err.hint ? h('p', { class: 'alert-hint' }, err.hint) : null),
    );
  }

  private async pollReadiness(): Promise<void> {
    for (;;) {
      let building = false;
      try {
        const r = await fetchReadiness();
        building = r.rollups === 'building';
        const parts: string[] = [];
        if (r.project) parts.push(r.project);
        if (building) parts.push(`pre-aggregations building${buildProgress(r)}, first queries may be slower`);
        else if (r.rollups && r.rollups !== 'disabled') parts.push(`pre-aggregations: ${r.rollups}`);
        if (r.last_reload_error) parts.push('the last project reload failed; the previous version is serving');
        this.status.textContent = parts.join(' · ');
        this.status.title = r.last_reload_error ?? '';
        this.status.dataset.rollups = r.rollups ?? '';
      } catch {
        this.status.textContent = 'Server status unavailable';
      }
      if (!building) return;
      await new Promise((r) => setTimeout(r, 5000));
    }
  }

  // ---- state --------------------------------------------------------------------------------------

  /** Reads the URL and shows what it says (first load, back/forward, dashboard switch). */
  private async fromLocation(): Promise<void> {
    if (this.ended) return;
    const seq = ++this.loadSeq;
    if (location.pathname === DATA_PATH) {
      await this.showData(seq);
      return;
    }
    let id = dashboardFromPath(location.pathname);
    if (id === null) {
      const first = this.dashboards[0];
      if (!first) {
        this.fail('No dashboards', new Error('This project has no dashboards yet.'));
        return;
      }
      id = first.id;
      history.replaceState(null, '', '/d/' + encodeURIComponent(id) + location.search);
    }
    const state = decodeQuery(id, location.search);
    if (!this.spec || this.spec.id !== id) {
      let spec: DashboardSpec;
      const pre = this.prefetched;
      this.prefetched = null;
      try {
        spec = await (pre && pre.id === id ? pre.spec : fetchDashboard(id));
      } catch (e) {
        if (seq !== this.loadSeq) return;
        this.teardown();
        this.titleEl.textContent = id;
        this.fail(`Could not open dashboard “${id}”`, e);
        return;
      }
      if (seq !== this.loadSeq) return;
      this.setDashboard(spec);
    }
    this.state = state;
    this.render();
  }

  // ---- the data page ----------------------------------------------------------------------------

  /** /data: the sources the user may know of, their freshness, refresh status and checks. */
  private async showData(seq: number): Promise<void> {
    this.teardown();
    this.spec = null;
    this.state = null;
    this.titleEl.textContent = 'Data';
    this.descEl.textContent = 'Where each dashboard\'s data comes from, how fresh it is, and whether it passes its checks.';
    this.descEl.hidden = false;
    document.title = 'Data · Sightline';
    this.filtersBtn.hidden = true;
    this.tabs.hidden = true;
    this.chips.hidden = true;
    this.sidebar.hidden = true;
    this.layout.classList.add('is-bare');
    this.switcher.value = '';
    let sources: SourceInfo[];
    try {
      sources = await fetchSources();
    } catch (e) {
      if (seq !== this.loadSeq) return;
      this.fail('Could not load the sources', e);
      return;
    }
    if (seq !== this.loadSeq) return;
    this.message.hidden = false;
    clear(this.message);
    this.message.append(renderSources(sources, (name) => void this.refreshFromDataPage(name, seq)));
    this.root.dataset.dataPage = String(seq);
  }

  /** Asks for a refresh of `name`, waits until it is done, then shows the sources again. */
  private async refreshFromDataPage(name: string, seq: number): Promise<void> {
    try {
      await refreshSource(name);
      const started = Date.now();
      for (;;) {
        await wait(POLL_INTERVAL_MS);
        if (seq !== this.loadSeq) return;
        if (refreshDone(await fetchSourceStatus(name)) || Date.now() - started > 10 * 60 * 1000) break;
      }
    } catch (e) {
      if (seq !== this.loadSeq) return;
      this.announce(`Refreshing ${name} failed: ${toApiError(e).detail}`);
    }
    if (seq === this.loadSeq) await this.showData(++this.loadSeq);
  }

  private teardown(): void {
    // A refresh being waited for stops with the dashboard it was asked on, and so do its live updates.
    this.freshness.reset();
    this.liveUpdates.close();
    this.deferredLive = null;
    for (const f of this.frames) f.dispose();
    this.frames = [];
    this.builtPage = null;
    this.panel?.dispose();
    this.panel = null;
    clear(this.sidebar);
    clear(this.grid);
    clear(this.tabs);
  }

  private setDashboard(spec: DashboardSpec): void {
    this.teardown();
    this.spec = spec;
    this.colors = createColorRegistry();
    this.message.hidden = true;
    this.titleEl.textContent = spec.title || spec.id;
    this.descEl.textContent = spec.description ?? '';
    this.descEl.hidden = !spec.description;
    document.title = `${spec.title || spec.id} · Sightline`;
    this.switcher.value = spec.id;
    this.titleSwitcher();
    this.freshness.show(spec.data);
    this.requested = { version: parseDataVersion(spec.data?.version), asOf: spec.data?.as_of ?? null };
    this.liveUpdates.open(spec.id, document.visibilityState === 'hidden');
    const host: FilterHost = {
      dashboard: spec.id,
      set: (id, value, mode) => this.change((s) => s.filters.set(id, value), mode),
      clear: (id, mode) => this.change((s) => this.clearFilter(s, id), mode),
    };
    this.panel = createFilterPanel(spec, host, () =>
      this.change((s) => {
        s.filters.clear();
        s.selections = [];
      }, 'push'),
    );
    this.sidebar.appendChild(this.panel.el);
    const pages = pagesOf(spec);
    pages.forEach((p, i) => {
      const tab = h('button', { type: 'button', role: 'tab', id: `tab-${i}`, 'aria-controls': 'grid', 'data-page': p.id, 'aria-selected': 'false', tabindex: -1 }, p.title || p.id);
      tab.addEventListener('click', () => this.change((s) => (s.page = p.id), 'push'));
      this.tabs.appendChild(tab);
    });
    this.tabs.hidden = pages.length < 2;
  }

  private clearFilter(s: ViewState, id: string): void {
    const f = this.spec?.filters.find((x) => x.id === id);
    if (f && f.default !== null) s.filters.set(id, null);
    else s.filters.delete(id);
  }

  /** Applies a user change to a copy of the state, records it in history and shows it. */
  private change(edit: (s: ViewState) => void, mode: HistoryMode): void {
    if (!this.state) return;
    const next = cloneState(this.state);
    edit(next);
    const url = urlFor(next);
    if (url !== location.pathname + location.search) {
      if (mode === 'replace') history.replaceState(null, '', url);
      else history.pushState(null, '', url);
    }
    this.state = next;
    this.render();
  }

  private resolvePage(): PageSpec {
    const pages = pagesOf(this.spec!);
    return pages.find((p) => p.id === this.state?.page) ?? pages[0]!;
  }

  private render(): void {
    const spec = this.spec;
    const state = this.state;
    if (!spec || !state) return;
    const page = this.resolvePage();
    for (const tab of this.tabs.querySelectorAll<HTMLElement>('[role=tab]')) {
      const on = tab.dataset.page === page.id;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      if (on) this.grid.setAttribute('aria-labelledby', tab.id);
    }
    if (this.builtPage !== page.id) this.buildPage(page);
    this.panel?.sync(state);
    renderChips(this.chips, spec, state, {
      removeFilter: (id) => this.change((s) => this.clearFilter(s, id), 'push'),
      removeSelection: (w) => this.change((s) => (s.selections = withSelection(s.selections, w, null)), 'push'),
      clearAll: () =>
        this.change((s) => {
          for (const f of spec.filters) this.clearFilter(s, f.id);
          s.selections = [];
        }, 'push'),
    });
    this.key = dataStateKey(stateKey(state, page.id), this.dataEpoch);
    this.root.dataset.stateKey = this.key;
    for (const f of this.frames) f.apply(state, this.key, this.dataEpoch);
  }

  /**
   * The data changed (a refresh): every widget of the current view asks again, with the same
   * filters, selections, page and sorts; tables keep their scroll position. Drawings stay, dimmed,
   * until the new answers replace them.
   */
  private reloadData(): void {
    if (!this.spec || !this.state) return;
    // A live update may have asked for this data already (the refresh's poll comes later).
    const now = this.freshness.current();
    if (now.version !== null && this.requested.version !== null && !isNewerVersion(now.version, this.requested.version, now.asOf, this.requested.asOf))
      return;
    if (now.version !== null) this.requested = now;
    this.dataEpoch += 1;
    this.render();
  }

  /**
   * The server says the dashboard's data is at `v` (when the stream opens, and whenever it
   * changes): newer than what the view asked for, every widget asks again (as after a refresh)
   * and the label moves forward.
   */
  private liveData(v: LiveVersion): void {
    const spec = this.spec;
    if (!spec || !this.state || this.ended) return;
    if (spec.data && v.relation !== spec.data.relation) return;
    // The refresh button's wait ends with a reload of its own (and its note): one reload, not two.
    if (this.freshness.isRefreshing()) {
      this.deferredLive = v;
      return;
    }
    const version = parseDataVersion(v.version);
    if (!isNewerVersion(version, this.requested.version, v.as_of, this.requested.asOf)) return;
    this.freshness.observe(v.version, v.as_of, v.relation);
    this.requested = { version, asOf: v.as_of };
    this.dataEpoch += 1;
    this.render();
  }

  private buildPage(page: PageSpec): void {
    for (const f of this.frames) f.dispose();
    clear(this.grid);
    this.builtPage = page.id;
    const spec = this.spec!;
    const host: FrameHost = {
      spec,
      theme: () => this.theme,
      colors: { colorFor: (v) => this.colors.colorFor(v) },
      onSelect: (widgetId: string, sel: Selection | null) => this.change((s) => (s.selections = withSelection(s.selections, widgetId, sel)), 'push'),
      onSort: (widgetId: string, keys: SortKey[] | null) =>
        this.change((s) => {
          if (keys && keys.length > 0) s.sort.set(widgetId, keys);
          else s.sort.delete(widgetId);
        }, 'push'),
      onDrawn: (_id, key) => this.checkAllDrawn(key),
      announce: (m) => this.announce(m),
      onData: (version, asOf, relation) => this.freshness.observe(version, asOf, relation),
    };
    this.frames = page.widgets.map((w) => new WidgetFrame(w, host));
    for (const f of this.frames) this.grid.appendChild(f.el);
    if (page.widgets.length === 0) this.grid.appendChild(h('p', { class: 'muted' }, 'This page has no widgets.'));
  }

  private checkAllDrawn(key: string): void {
    if (key !== this.key || this.announcedKey === key) return;
    if (!this.frames.every((f) => f.el.dataset.drawnState === key)) return;
    this.announcedKey = key;
    const n = this.frames.filter((f) => f.widget.type !== 'text').length;
    this.announce(`Updated ${n} widget${n === 1 ? '' : 's'}`);
  }

  private announce(message: string): void {
    // Clearing first makes screen readers repeat an identical message.
    this.live.textContent = '';
    setTimeout(() => (this.live.textContent = message), 50);
  }

  private onTabKey(e: KeyboardEvent): void {
    const tabs = [...this.tabs.querySelectorAll<HTMLButtonElement>('[role=tab]')];
    const i = tabs.findIndex((t) => t === document.activeElement);
    if (i < 0) return;
    let j = i;
    if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = tabs.length - 1;
    else return;
    e.preventDefault();
    const t = tabs[j];
    if (!t) return;
    t.focus();
    t.click();
  }
}
