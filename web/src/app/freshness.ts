// How fresh the data is, in the header: "Data as of <time>" (the full data version in its
// tooltip), a "Refresh data" button for users who may refresh the dashboard's source, and a
// warning badge while the source's refreshes fail. Widget answers carry the data version they
// were computed from; a newer one moves the label forward. A refresh asks the server
// (POST /api/v1/sources/{name}/refresh), polls the source's status about every second until it
// is done, and then re-requests every widget of the current view (the app's reload).

import { fetchSourceStatus, isAbort, refreshSource, toApiError, type ApiError } from '../api/client';
import { toEpochMs } from '../format';
import type { DashboardData, SourceStatus } from '../types';
import { clear, h, uid, wait } from './dom';

/** How often a running refresh is polled, and when the page stops waiting for it. */
export const POLL_INTERVAL_MS = 1000;
export const POLL_LIMIT_MS = 10 * 60 * 1000;
/** Status polls that may fail in a row (network, busy server) before the page gives up. */
const POLL_ERRORS = 5;
/** How long "Data is up to date" and the like stay next to the button. */
const NOTE_MS = 6000;

/** A data version: "<number>-<hash>"; the number grows whenever the data changes. */
export interface DataVersion {
  number: number;
  hash: string;
  token: string;
}

export function parseDataVersion(token: string | null | undefined): DataVersion | null {
  if (typeof token !== 'string') return null;
  const m = /^(\d+)-([0-9A-Za-z]+)$/.exec(token.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? { number: n, hash: m[2]!, token: token.trim() } : null;
}

/**
 * True when `candidate` is newer data than `shown` (or nothing is shown yet). Numbers count per
 * server process: after a restart they begin at 1 again, so other data (another hash) that is
 * as of a later time is newer too, whatever its number.
 */
export function isNewerVersion(
  candidate: DataVersion | null,
  shown: DataVersion | null,
  candidateAsOf: string | null = null,
  shownAsOf: string | null = null,
): boolean {
  if (candidate === null) return false;
  if (shown === null || candidate.number > shown.number) return true;
  if (candidate.hash === shown.hash || candidateAsOf === null || shownAsOf === null) return false;
  const a = toEpochMs(candidateAsOf);
  const b = toEpochMs(shownAsOf);
  return a !== null && b !== null && a > b;
}

/**
 * An RFC 3339 instant as a date and time in the viewer's locale and the browser's time zone
 * ("Dec 7, 2026, 2:22 AM"); null when it does not parse. `locale`/`timeZone` are for tests.
 */
export function formatAsOf(iso: string | null | undefined, locale?: string, timeZone?: string): string | null {
  if (typeof iso !== 'string' || iso === '') return null;
  const ms = toEpochMs(iso);
  if (ms === null) return null;
  const options: Intl.DateTimeFormatOptions = { dateStyle: 'medium', timeStyle: 'short' };
  if (timeZone !== undefined) options.timeZone = timeZone;
  try {
    return new Intl.DateTimeFormat(locale, options).format(new Date(ms));
  } catch {
    return null;
  }
}

/** A refresh is done once it is neither waiting to start nor running. */
export function refreshDone(s: SourceStatus): boolean {
  return !s.refresh.running && !s.refresh.requested;
}

/**
 * The root's state key while the data has been refreshed `epoch` times: it differs from the
 * view state's key, so every widget's data-drawn-state waits for the re-requested data. The
 * "~data" pair is one the view state's notation never makes.
 */
export function dataStateKey(viewKey: string, epoch: number): string {
  return epoch > 0 ? `${viewKey}&~data=${epoch}` : viewKey;
}

/** What the page told about a refresh that is over, for the header and the notice area. */
export type RefreshResult =
  | { kind: 'refreshed' }
  | { kind: 'unchanged' }
  | { kind: 'failed'; error: string | null };

/** The result a finished refresh's status says (a newer version than the one shown counts as refreshed). */
export function refreshResult(s: SourceStatus, shown: DataVersion | null): RefreshResult {
  const outcome = s.refresh.last_outcome;
  if (outcome === 'failed') return { kind: 'failed', error: s.refresh.last_error ?? null };
  if (outcome === 'refreshed' || isNewerVersion(parseDataVersion(s.version), shown)) return { kind: 'refreshed' };
  return { kind: 'unchanged' };
}

export interface FreshnessHost {
  /** The data changed: request every widget of the current view again (filters, page, scroll kept). */
  reload(): void;
  /** A refresh asked for here is over (done, failed, or stopped waiting for), after any reload it made. */
  settled?(): void;
  /** Tells screen readers (the page's live region). */
  announce(message: string): void;
}

export class Freshness {
  /** In the header: the label, the failing badge, the button and its status note. */
  readonly el: HTMLDivElement;
  /** In the page's notice area: why a refresh failed or could not be asked for. */
  readonly messageEl: HTMLDivElement;
  private readonly label: HTMLSpanElement;
  private readonly badge: HTMLSpanElement;
  private readonly badgeText: HTMLSpanElement;
  private readonly button: HTMLButtonElement;
  private readonly buttonText: HTMLSpanElement;
  private readonly note: HTMLSpanElement;
  private data: DashboardData | null = null;
  private shown: DataVersion | null = null;
  private asOf: string | null = null;
  private failing = false;
  private failError: string | null = null;
  /** The refresh under way (its polling stops when aborted). */
  private refreshing: AbortController | null = null;
  /** The status request for the failing badge's tooltip. */
  private detail: AbortController | null = null;
  private noteTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly host: FreshnessHost) {
    const noteId = uid('refresh-note');
    this.label = h('span', { class: 'freshness-label', 'data-data-as-of': '', hidden: true });
    this.badgeText = h('span', { class: 'freshness-badge-text' });
    this.badge = h(
      'span',
      { class: 'freshness-badge', 'data-refresh-failing': '', hidden: true },
      h('span', { class: 'freshness-badge-icon', 'aria-hidden': 'true' }, '⚠'),
      this.badgeText,
    );
    this.buttonText = h('span', { class: 'refresh-text' }, 'Refresh data');
    this.button = h(
      'button',
      { type: 'button', class: 'btn btn-small refresh-btn', 'data-refresh-data': '', 'aria-describedby': noteId, hidden: true },
      h('span', { class: 'refresh-icon', 'aria-hidden': 'true' }),
      this.buttonText,
    );
    this.button.addEventListener('click', () => void this.refresh());
    this.note = h('span', { class: 'freshness-note', id: noteId, role: 'status', 'aria-live': 'polite', 'data-refresh-status': '' });
    this.el = h('div', { class: 'freshness', 'data-freshness': '', hidden: true }, this.label, this.badge, this.button, this.note);
    this.messageEl = h('div', { class: 'page-message', 'data-refresh-message': '', hidden: true });
  }

  /** A dashboard was opened: shows its data block (absent: nothing), forgetting the last one's. */
  show(data: DashboardData | undefined): void {
    this.reset();
    if (!data) return;
    this.data = data;
    this.shown = parseDataVersion(data.version);
    this.asOf = data.as_of;
    this.failing = data.refresh_failing;
    this.button.hidden = !data.can_refresh;
    this.render();
    if (this.failing && data.can_refresh) void this.loadFailure(data.relation);
  }

  /** Stops whatever runs (navigation) and hides everything. */
  reset(): void {
    this.refreshing?.abort();
    this.refreshing = null;
    this.detail?.abort();
    this.detail = null;
    this.setBusy(false);
    this.setNote('');
    this.hideMessage();
    this.data = null;
    this.shown = null;
    this.asOf = null;
    this.failing = false;
    this.failError = null;
    this.button.hidden = true;
    this.render();
  }

  /**
   * A widget answer (or a live update) came with this data version of `relation`: newer data of
   * the dashboard's relation moves the label forward (numbers of other relations count
   * separately). True when it did.
   */
  observe(version: string | null, asOf: string | null, relation: string | null = null): boolean {
    if (relation !== null && this.data !== null && relation !== this.data.relation) return false;
    const v = parseDataVersion(version);
    if (!isNewerVersion(v, this.shown, asOf, this.asOf)) return false;
    this.shown = v;
    if (asOf !== null && asOf !== '') this.asOf = asOf;
    this.render();
    return true;
  }

  /** A refresh asked for here is under way (the page waits for it). */
  isRefreshing(): boolean {
    return this.refreshing !== null;
  }

  /** The version the label shows (null before any) and the time it is as of. */
  current(): { version: DataVersion | null; asOf: string | null } {
    return { version: this.shown, asOf: this.asOf };
  }

  private render(): void {
    const when = formatAsOf(this.asOf);
    const version = this.shown?.token ?? this.data?.version ?? null;
    const tip = [version ? `Data version ${version}` : null, this.asOf ? `as of ${this.asOf}` : null].filter((s) => s !== null).join(', ');
    this.label.textContent = when !== null ? `Data as of ${when}` : '';
    this.label.title = tip;
    this.label.dataset.version = version ?? '';
    this.label.dataset.asOf = this.asOf ?? '';
    // While refreshes fail the badge says the time instead of the label.
    this.label.hidden = when === null || this.failing;
    this.badge.hidden = !this.failing;
    if (this.failing) {
      this.badgeText.textContent = when !== null ? `Refresh failed — showing data as of ${when}` : 'Refresh failed — showing older data';
      const why = this.failError ?? (this.data ? `The last refresh of ${this.data.relation} failed.` : 'The last refresh failed.');
      this.badge.title = tip ? `${why}\n\n${tip}` : why;
    }
    this.el.hidden = this.label.hidden && this.badge.hidden && this.button.hidden;
  }

  /** The reason the source's last refresh failed, for the badge's tooltip. */
  private async loadFailure(relation: string): Promise<void> {
    const ctl = new AbortController();
    this.detail = ctl;
    try {
      const s = await fetchSourceStatus(relation, ctl.signal);
      if (this.detail !== ctl) return;
      this.failError = s.refresh.last_error ?? null;
      this.failing = s.refresh.failing;
      this.render();
    } catch {
      // The tooltip then says only that it failed.
    } finally {
      if (this.detail === ctl) this.detail = null;
    }
  }

  private async refresh(): Promise<void> {
    const data = this.data;
    if (!data || this.refreshing) return;
    const ctl = new AbortController();
    this.refreshing = ctl;
    const focused = document.activeElement === this.button;
    this.setBusy(true);
    this.setNote('');
    this.hideMessage();
    this.host.announce('Refreshing the data…');
    const started = Date.now();
    try {
      let status = await refreshSource(data.relation, ctl.signal);
      let errors = 0;
      while (!refreshDone(status)) {
        if (Date.now() - started > POLL_LIMIT_MS) {
          this.problem('The refresh is taking longer than expected', 'The page stopped waiting for it after 10 minutes.', 'It may still finish on the server: reload the page later to see the new data.');
          return;
        }
        await wait(POLL_INTERVAL_MS, ctl.signal);
        try {
          status = await fetchSourceStatus(data.relation, ctl.signal);
          errors = 0;
        } catch (e) {
          const err = toApiError(e);
          if (isAbort(e) || err.status === 403 || err.status === 404 || ++errors >= POLL_ERRORS) throw e;
        }
      }
      if (this.refreshing !== ctl) return;
      this.finished(status);
    } catch (e) {
      if (isAbort(e) || this.refreshing !== ctl) return;
      this.refuse(data.relation, toApiError(e));
    } finally {
      if (this.refreshing === ctl) {
        this.refreshing = null;
        this.setBusy(false);
        // Disabling the button took the focus away: give it back.
        if (focused && (document.activeElement === null || document.activeElement === document.body)) this.button.focus();
        this.host.settled?.();
      }
    }
  }

  private finished(status: SourceStatus): void {
    const result = refreshResult(status, this.shown);
    this.failing = status.refresh.failing || result.kind === 'failed';
    this.failError = status.refresh.last_error ?? null;
    const version = parseDataVersion(status.version);
    const newer = isNewerVersion(version, this.shown, status.as_of, this.asOf);
    if (newer || result.kind === 'refreshed') {
      if (newer) this.shown = version;
      if (status.as_of !== null) this.asOf = status.as_of;
    }
    this.render();
    if (result.kind === 'failed') {
      const when = formatAsOf(this.asOf);
      this.problem(
        'Refreshing the data failed',
        result.error ?? 'The server did not say why.',
        when !== null ? `The dashboard keeps showing the data as of ${when}.` : 'The dashboard keeps showing the data it had.',
      );
      // Another refresh may still have brought newer data.
      if (newer) this.host.reload();
      return;
    }
    if (result.kind === 'refreshed') {
      this.setNote('Data refreshed');
      this.host.reload();
      return;
    }
    this.setNote('Data is up to date');
  }

  /** The refresh could not be asked for, or its status could not be read. */
  private refuse(relation: string, err: ApiError): void {
    if (err.status === 403) this.problem('You may not refresh this data', err.detail, err.hint ?? 'Ask an administrator for a role that may refresh it.');
    else if (err.status === 404) this.problem(`The data source “${relation}” was not found`, err.detail, 'It may have been renamed or removed: reload the page.');
    else this.problem('Could not refresh the data', err.detail, err.hint);
  }

  /** Shows a problem in the page's notice area (an alert: announced) until dismissed or the next refresh. */
  private problem(title: string, detail: string, hint: string | null): void {
    clear(this.messageEl);
    const dismiss = h('button', { type: 'button', class: 'btn btn-small', 'data-dismiss': '' }, 'Dismiss');
    dismiss.addEventListener('click', () => {
      this.hideMessage();
      if (!this.button.hidden) this.button.focus();
    });
    this.messageEl.append(
      h(
        'div',
        { role: 'alert', class: 'alert refresh-alert' },
        h('p', { class: 'alert-title' }, title),
        h('p', { class: 'alert-detail refresh-error', 'data-refresh-error': '' }, detail),
        hint ? h('p', { class: 'alert-hint' }, hint) : null,
      ),
      dismiss,
    );
    this.messageEl.hidden = false;
  }

  private hideMessage(): void {
    this.messageEl.hidden = true;
    clear(this.messageEl);
  }

  private setBusy(busy: boolean): void {
    this.button.disabled = busy;
    this.button.classList.toggle('is-refreshing', busy);
    this.el.classList.toggle('is-refreshing', busy);
    this.buttonText.textContent = busy ? 'Refreshing…' : 'Refresh data';
    if (busy) this.button.setAttribute('aria-busy', 'true');
    else this.button.removeAttribute('aria-busy');
  }

  /** A short note next to the button (announced), gone after a few seconds. */
  private setNote(text: string): void {
    if (this.noteTimer !== null) clearTimeout(this.noteTimer);
    this.noteTimer = null;
    this.note.textContent = text;
    if (text !== '') {
      this.noteTimer = setTimeout(() => {
        this.noteTimer = null;
        this.note.textContent = '';
      }, NOTE_MS);
    }
  }
}
