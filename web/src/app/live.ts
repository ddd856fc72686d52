// Live updates: while a dashboard is open, an EventSource on /api/v1/events?dashboard=<id> hears
// when its data changes (Server-Sent Events: `hello` with the data version when the stream opens,
// `data_changed` with each newer one). A burst of events is taken as one (the last, ~500 ms after
// it), and the host decides whether that version is newer than what the view shows; then every
// widget asks again, as after the refresh button. No polling: the browser keeps the stream open
// and reconnects by itself (the server asks for 3 s between tries); only when it gives up (an
// error answer: the server was still loading, too many streams) does this page open it again,
// a few times, further and further apart.

import { API } from '../api/client';

/** How long a burst of events is waited out before the view asks again. */
export const LIVE_DEBOUNCE_MS = 500;
/** When the browser gave up on the stream: how often, and how long after, it is opened again. */
export const LIVE_REOPEN_TRIES = 5;
export const LIVE_REOPEN_BASE_MS = 5000;

/** An event's data: the version of the data of the relation the dashboard reads. */
export interface LiveVersion {
  relation: string;
  version: string;
  as_of: string | null;
}

export function eventsUrl(dashboard: string): string {
  return `${API}/events?dashboard=${encodeURIComponent(dashboard)}`;
}

/** An event's `data` as a version, or null when it is not one. */
export function parseLiveVersion(data: unknown): LiveVersion | null {
  if (typeof data !== 'string') return null;
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.relation !== 'string' || typeof o.version !== 'string') return null;
  const asOf = typeof o.as_of === 'string' && o.as_of !== '' ? o.as_of : null;
  return { relation: o.relation, version: o.version, as_of: asOf };
}

/** The part of EventSource used here (tests give a fake). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((this: EventSource, ev: Event) => unknown) | null;
  onerror: ((this: EventSource, ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}
export type EventSourceFactory = (url: string) => EventSourceLike;

/** EventSource.CLOSED (a fake need not define the constant). */
const CLOSED = 2;

export type LiveState = 'connecting' | 'open' | 'closed';

export interface LiveHost {
  /** The latest version heard after a burst (hello or data_changed): the host compares and reloads. */
  heard(version: LiveVersion): void;
  /** The stream's state, for the page (the root's data-live attribute). */
  state?(state: LiveState): void;
}

export class LiveUpdates {
  private source: EventSourceLike | null = null;
  private dashboard: string | null = null;
  private pending: LiveVersion | null = null;
  private debounce: ReturnType<typeof setTimeout> | null = null;
  private reopen: ReturnType<typeof setTimeout> | null = null;
  private reopened = 0;

  constructor(
    private readonly host: LiveHost,
    private readonly create: EventSourceFactory | null = typeof EventSource === 'function' ? (url) => new EventSource(url) : null,
  ) {}

  /**
   * Listens for the dashboard's data versions (closing the stream of the one before); `suspended`:
   * not before resume() (the page is hidden).
   */
  open(dashboard: string, suspended = false): void {
    this.close();
    this.dashboard = dashboard;
    this.reopened = 0;
    if (!suspended) this.connect();
  }

  /**
   * The page is hidden (a background tab): the stream closes, so background tabs hold no
   * connection (browsers keep at most 6 per site over HTTP/1.1, and the server a few per user).
   */
  suspend(): void {
    if (this.dashboard === null || this.source === null) return;
    this.disconnect();
    if (this.reopen !== null) clearTimeout(this.reopen);
    this.reopen = null;
    this.host.state?.('closed');
  }

  /** The page shows again: the stream opens again, and its hello tells whether data changed meanwhile. */
  resume(): void {
    if (this.dashboard === null || this.source !== null) return;
    if (this.reopen !== null) clearTimeout(this.reopen);
    this.reopen = null;
    this.reopened = 0;
    this.connect();
  }

  /** Stops listening (leaving the dashboard, signing out). */
  close(): void {
    this.dashboard = null;
    this.disconnect();
    if (this.reopen !== null) clearTimeout(this.reopen);
    this.reopen = null;
    this.host.state?.('closed');
  }

  private connect(): void {
    if (this.dashboard === null || this.create === null) return;
    const source = this.create(eventsUrl(this.dashboard));
    this.source = source;
    this.host.state?.('connecting');
    const onVersion = (e: MessageEvent): void => {
      if (this.source !== source) return;
      const v = parseLiveVersion(e.data);
      if (v !== null) this.take(v);
    };
    source.addEventListener('hello', onVersion);
    source.addEventListener('data_changed', onVersion);
    source.onopen = () => {
      if (this.source !== source) return;
      this.reopened = 0;
      this.host.state?.('open');
    };
    source.onerror = () => {
      if (this.source !== source) return;
      if (source.readyState !== CLOSED) {
        // The browser tries again by itself.
        this.host.state?.('connecting');
        return;
      }
      // It gave up (an error answer): open it again later, a few times.
      this.disconnect();
      this.host.state?.('closed');
      if (this.reopened >= LIVE_REOPEN_TRIES) return;
      const delay = LIVE_REOPEN_BASE_MS * 2 ** this.reopened;
      this.reopened += 1;
      this.reopen = setTimeout(() => {
        this.reopen = null;
        this.connect();
      }, delay);
    };
  }

  private disconnect(): void {
    if (this.source !== null) {
      this.source.onopen = null;
      this.source.onerror = null;
      this.source.close();
    }
    this.source = null;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = null;
    this.pending = null;
  }

  /** Keeps the latest version of a burst; the host hears it once the burst is over. */
  private take(v: LiveVersion): void {
    this.pending = v;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      const latest = this.pending;
      this.pending = null;
      if (latest !== null && this.source !== null) this.host.heard(latest);
    }, LIVE_DEBOUNCE_MS);
  }
}
