// The HTTP API (docs/api.md): dashboards, widget queries as Arrow IPC, filter options, and
// problem+json errors; who is signed in, the CSRF token and signing out (docs/security.md).

import { tableFromIPC, type Table } from 'apache-arrow';
import type {
  DashboardSpec,
  DashboardSummary,
  FilterValue,
  Me,
  Selection,
  SortKey,
  SourceInfo,
  SourceStatus,
  WidgetSpec,
} from '../types';
import type { ViewState } from '../state/url';

export const API = '/api/v1';

/** An error answer of the server (RFC 9457 problem), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly hint: string | null = null,
    readonly requestId: string | null = null,
    readonly title: string | null = null,
    readonly type: string | null = null,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

/**
 * A request answered 401 while the page is on its way to the sign-in (or shows the signed-out
 * panel): nothing for the caller to show. `isAbort` is true for it.
 */
export class SessionEndedError extends ApiError {
  constructor(e: ApiError) {
    super(401, e.detail, e.hint, e.requestId, e.title, e.type);
    this.name = 'SessionEndedError';
  }
}

interface HeaderReader {
  get(name: string): string | null;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'The request was not accepted',
  404: 'Not found',
  413: 'The request is too large',
  500: 'The server failed',
  502: 'The server could not be reached',
  503: 'The server is busy; try again in a moment',
  504: 'The query took too long',
};

/** Reads an error response's body into an ApiError, whatever it holds. */
export function parseProblem(status: number, body: string, headers?: HeaderReader): ApiError {
  const headerId = headers?.get('x-request-id') ?? null;
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = null;
  }
  const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const p = parsed as Record<string, unknown>;
    const st = typeof p.status === 'number' ? p.status : status;
    const detail = str(p.detail) ?? str(p.title) ?? STATUS_TEXT[st] ?? `HTTP ${st}`;
    return new ApiError(st, detail, str(p.hint), str(p.request_id) ?? headerId, str(p.title), str(p.type));
  }
  const text = body.trim();
  const detail = text !== '' && text.length < 300 && !text.startsWith('<') ? text : (STATUS_TEXT[status] ?? `HTTP ${status}`);
  return new ApiError(status, detail, null, headerId);
}

async function failure(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    text = '';
  }
  return parseProblem(res.status, text, res.headers);
}

// ---- session ------------------------------------------------------------------------------------

/** The CSRF token of the session (from /api/v1/me). Kept in memory only, never in storage. */
let csrfToken: string | null = null;
/**
 * What the page does when a request answers 401 (the session ended); null: throw the 401.
 * `canSignIn`: the server offers a sign-in page (its 401 carries X-Sign-In); behind an
 * authenticating proxy it does not, and the proxy is where one signs in.
 */
let unauthenticated: ((canSignIn: boolean) => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token !== null && token !== '' ? token : null;
}

export function onUnauthenticated(handler: ((canSignIn: boolean) => void) | null): void {
  unauthenticated = handler;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * Same-origin cookies, and the CSRF header on every state-changing request once the token is
 * known (docs/security.md: the server answers 403 without it).
 */
function withSession(init: RequestInit): RequestInit {
  const method = (init.method ?? 'GET').toUpperCase();
  const out: RequestInit = { ...init, credentials: 'same-origin' };
  if (csrfToken !== null && !SAFE_METHODS.has(method)) {
    out.headers = { ...(init.headers as Record<string, string> | undefined), 'X-CSRF-Token': csrfToken };
  }
  return out;
}

/** How many times a request the server shed (503 with Retry-After: busy) is sent again. */
export const BUSY_RETRIES = 4;

/** Waits `ms`, or rejects with the AbortError when `signal` aborts first. */
let sleep = (ms: number, signal?: AbortSignal | null): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('aborted', 'AbortError'));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new DOMException('aborted', 'AbortError'));
    }, { once: true });
  });

/** For tests: replaces the wait between retries (returns the previous one). */
export function setRetrySleep(fn: typeof sleep): typeof sleep {
  const before = sleep;
  sleep = fn;
  return before;
}

/** The wait before retry `attempt` (0-based): the server's Retry-After, doubled per attempt, with jitter, at most 8 s. */
export function retryDelayMs(retryAfter: string | null, attempt: number, random: () => number = Math.random): number {
  const seconds = Number(retryAfter);
  const base = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 500;
  return Math.min(8000, base * 2 ** attempt * (0.75 + random() * 0.5));
}

/** Told before each retry of a shed request, with the wait in milliseconds. */
export type BusyListener = (retryInMs: number) => void;

async function send(url: string, init: RequestInit, onBusy?: BusyListener): Promise<Response> {
  let res: Response;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetch(url, withSession(init));
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'The server could not be reached', 'check that sightline is running');
    }
    // Shed under load (or a server going away behind a load balancer): the request ran nothing,
    // so it is sent again after the wait the server asks for, with backoff; the widget keeps
    // showing that it is loading meanwhile.
    const retryAfter = res.headers.get('Retry-After');
    if (res.status !== 503 || retryAfter === null || attempt >= BUSY_RETRIES) break;
    await res.body?.cancel().catch(() => undefined);
    const wait = retryDelayMs(retryAfter, attempt);
    onBusy?.(wait);
    await sleep(wait, init.signal);
  }
  if (!res.ok) {
    const err = await failure(res);
    if (res.status === 401 && unauthenticated) {
      // The session expired or was ended in another tab: the page goes to the sign-in rather
      // than showing the error in every widget.
      unauthenticated(res.headers.has('X-Sign-In'));
      throw new SessionEndedError(err);
    }
    throw err;
  }
  return res;
}

async function getJSON<T>(url: string, signal?: AbortSignal): Promise<T> {
  const res = await send(url, { headers: { Accept: 'application/json' }, signal: signal ?? null });
  return (await res.json()) as T;
}

const seg = encodeURIComponent;

export type MeResult =
  | { kind: 'signed-in'; me: Me }
  /** 401: not signed in; `canSignIn` when the server has a sign-in page (X-Sign-In). */
  | { kind: 'signed-out'; canSignIn: boolean }
  /** 404: a server without sign-in. */
  | { kind: 'no-auth' }
  /** Anything else (network, 5xx): unknown; the calls that follow tell. */
  | { kind: 'unknown'; error: ApiError };

/**
 * Who is signed in. Answers rather than throws, and leaves a 401 to the caller (the page
 * decides between going to the sign-in and showing the signed-out panel).
 */
export async function fetchMe(signal?: AbortSignal): Promise<MeResult> {
  let res: Response;
  try {
    res = await fetch(`${API}/me`, withSession({ headers: { Accept: 'application/json' }, signal: signal ?? null }));
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    return { kind: 'unknown', error: new ApiError(0, 'The server could not be reached', 'check that sightline is running') };
  }
  if (res.status === 401) return { kind: 'signed-out', canSignIn: res.headers.has('X-Sign-In') };
  if (res.status === 404) return { kind: 'no-auth' };
  if (!res.ok) return { kind: 'unknown', error: await failure(res) };
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return { kind: 'unknown', error: new ApiError(res.status, 'The server sent an answer this page could not read') };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { kind: 'unknown', error: new ApiError(res.status, 'The server sent an answer this page could not read') };
  }
  const me = body as Me;
  setCsrfToken(typeof me.csrf_token === 'string' ? me.csrf_token : null);
  return { kind: 'signed-in', me };
}

/**
 * Ends the session on the server (with the CSRF header) and returns where the browser goes
 * next as the server said it: the provider's end-session URL or "/". The caller checks it.
 * A 401 (the session had already ended) answers "/".
 */
export async function logout(): Promise<string> {
  let res: Response;
  try {
    res = await fetch('/auth/logout', withSession({ method: 'POST', headers: { Accept: 'application/json' } }));
  } catch {
    throw new ApiError(0, 'The server could not be reached', 'check that sightline is running');
  }
  if (res.status === 401) return '/';
  if (!res.ok) throw await failure(res);
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const redirect = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).redirect : undefined;
  return typeof redirect === 'string' && redirect !== '' ? redirect : '/';
}

export async function fetchDashboards(signal?: AbortSignal): Promise<DashboardSummary[]> {
  const r = await getJSON<{ dashboards: DashboardSummary[] }>(`${API}/dashboards`, signal);
  return r.dashboards;
}

export function fetchDashboard(id: string, signal?: AbortSignal): Promise<DashboardSpec> {
  return getJSON<DashboardSpec>(`${API}/dashboards/${seg(id)}`, signal);
}

export interface ValueOptions {
  values: (string | number | boolean)[];
  truncated: boolean;
}
export interface BoundOptions {
  min: number | string | null;
  max: number | string | null;
}

export function optionsUrl(dashboard: string, filter: string, q?: string, limit?: number): string {
  const params = new URLSearchParams();
  if (q !== undefined && q !== '') params.set('q', q);
  if (limit !== undefined) params.set('limit', String(limit));
  const qs = params.toString();
  return `${API}/dashboards/${seg(dashboard)}/filters/${seg(filter)}/options${qs ? '?' + qs : ''}`;
}

export function fetchValueOptions(
  dashboard: string,
  filter: string,
  q: string,
  limit: number,
  signal?: AbortSignal,
): Promise<ValueOptions> {
  return getJSON<ValueOptions>(optionsUrl(dashboard, filter, q, limit), signal);
}

export function fetchBounds(dashboard: string, filter: string, signal?: AbortSignal): Promise<BoundOptions> {
  return getJSON<BoundOptions>(optionsUrl(dashboard, filter), signal);
}

// ---- sources and their freshness -------------------------------------------------------------------

/** Every source the user may know of (GET /api/v1/sources). */
export async function fetchSources(signal?: AbortSignal): Promise<SourceInfo[]> {
  const body = await getJSON<{ sources: SourceInfo[] }>(`${API}/sources`, signal);
  return Array.isArray(body.sources) ? body.sources : [];
}

/** A source's data version and refresh status (404 when unknown to the user). */
export function fetchSourceStatus(name: string, signal?: AbortSignal): Promise<SourceStatus> {
  return getJSON<SourceStatus>(`${API}/sources/${seg(name)}`, signal);
}

/**
 * Asks the server to refresh a source (empty body, with the CSRF header). It answers 202 with
 * the source's status at once and refreshes in the background: poll fetchSourceStatus until
 * neither `running` nor `requested`. 403 when the user may not, 404 when unknown.
 */
export async function refreshSource(name: string, signal?: AbortSignal): Promise<SourceStatus> {
  const res = await send(`${API}/sources/${seg(name)}/refresh`, { method: 'POST', headers: { Accept: 'application/json' }, signal: signal ?? null });
  return (await res.json()) as SourceStatus;
}

export interface Readiness {
  status?: string;
  project?: string;
  rollups?: string;
  /** While pre-aggregations are building: how far the build has come. */
  rollups_progress?: { dashboards: number; dashboards_done: number; built: number };
  generation?: number;
  last_reload_error?: string;
}

export async function fetchReadiness(signal?: AbortSignal): Promise<Readiness> {
  const res = await fetch('/readyz', { headers: { Accept: 'application/json' }, signal: signal ?? null });
  if (!res.ok && res.status !== 503) throw await failure(res);
  return (await res.json()) as Readiness;
}

// ---- query bodies -------------------------------------------------------------------------------

export interface QueryBody {
  filters?: Record<string, FilterValue | null>;
  selections?: Selection[];
  sort?: SortKey[];
  offset?: number;
  limit?: number;
}

/** Widget types whose result the server sorts by a request's `sort`. */
const SORTABLE = new Set(['bar', 'line', 'area', 'pie', 'heatmap', 'table']);
const MAX_SELECTIONS = 32;

/**
 * The body of a widget's query: every filter set in the state (null for explicitly cleared;
 * unset ones are left out so their defaults apply), every selection (each names its widget, so
 * the server leaves that widget unfiltered by its own pick), and the table sort and paging.
 * Ids and columns the dashboard does not have are dropped instead of earning a 400.
 */
export function buildQueryBody(
  spec: DashboardSpec,
  state: ViewState,
  widget: WidgetSpec,
  paging?: { offset: number; limit: number },
): QueryBody {
  const body: QueryBody = {};
  const known = new Set(spec.filters.map((f) => f.id));
  const filters: Record<string, FilterValue | null> = {};
  let any = false;
  for (const f of spec.filters) {
    if (!state.filters.has(f.id) || !known.has(f.id)) continue;
    const v = state.filters.get(f.id);
    if (v === undefined) continue;
    filters[f.id] = v;
    any = true;
  }
  if (any) body.filters = filters;
  const dims = new Set(spec.dimensions);
  const selections = state.selections
    .filter((s) => dims.has(s.column))
    .slice(0, MAX_SELECTIONS)
    .map((s) => {
      const out: Selection = { column: s.column };
      if (s.values !== undefined) out.values = s.values;
      else if (s.range !== undefined) out.range = s.range;
      if (s.widget !== undefined) out.widget = s.widget;
      return out;
    });
  if (selections.length > 0) body.selections = selections;
  const sort = state.sort.get(widget.id);
  if (sort && sort.length > 0 && SORTABLE.has(widget.type)) body.sort = sort.slice(0, 16);
  if (paging && widget.type === 'table') {
    body.offset = paging.offset;
    body.limit = paging.limit;
  }
  return body;
}

// ---- widget queries -------------------------------------------------------------------------------

export interface QueryResult {
  table: Table;
  /** X-Total-Count (tables), else null. */
  totalCount: number | null;
  truncated: boolean;
  requestId: string | null;
  /** The Arrow IPC bytes the table was decoded from. */
  bytes: Uint8Array;
  /** X-Sightline-Data-Version ("<number>-<hash>") of X-Sightline-Data-Relation, and X-Sightline-Data-As-Of, when sent. */
  dataVersion: string | null;
  dataRelation: string | null;
  dataAsOf: string | null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function queryUrl(dashboard: string, widget: string, format?: 'arrow' | 'csv' | 'json'): string {
  return `${API}/dashboards/${seg(dashboard)}/widgets/${seg(widget)}/query${format ? '?format=' + format : ''}`;
}

/**
 * Posts a widget query and decodes its Arrow answer. When `previous` holds the very same bytes
 * (a change that did not affect this widget's result), its table is reused: the same object
 * back tells the caller that nothing needs drawing again.
 */
export async function queryWidget(
  dashboard: string,
  widget: string,
  body: QueryBody,
  signal?: AbortSignal,
  previous?: QueryResult | null,
  onBusy?: BusyListener,
): Promise<QueryResult> {
  const res = await send(
    queryUrl(dashboard, widget),
    {
      method: 'POST',
      headers: { Accept: 'application/vnd.apache.arrow.stream', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: signal ?? null,
    },
    onBusy,
  );
  const bytes = new Uint8Array(await res.arrayBuffer());
  let table: Table;
  if (previous && sameBytes(previous.bytes, bytes)) {
    table = previous.table;
  } else {
    try {
      table = tableFromIPC(bytes);
    } catch {
      throw new ApiError(res.status, 'The server sent data this page could not read', null, res.headers.get('x-request-id'));
    }
  }
  const total = res.headers.get('x-total-count');
  const n = total === null ? NaN : Number(total);
  return {
    table,
    totalCount: Number.isFinite(n) ? n : null,
    truncated: res.headers.get('x-sightline-truncated') === 'true',
    requestId: res.headers.get('x-request-id'),
    bytes,
    dataVersion: res.headers.get('x-sightline-data-version'),
    dataRelation: res.headers.get('x-sightline-data-relation'),
    dataAsOf: res.headers.get('x-sightline-data-as-of'),
  };
}

/** The most rows a download asks for; the server answers at most its own limit of them. */
export const DOWNLOAD_ALL_ROWS = 100_000_000;

export interface Download {
  blob: Blob;
  /** The server cut the answer at its download limit: the file is not the whole result. */
  truncated: boolean;
  /** That limit, when the server said it. */
  rowLimit: number | null;
  /** Rows of the whole result (tables), when the server said it. */
  totalCount: number | null;
}

function headerNumber(res: Response, name: string): number | null {
  const v = res.headers.get(name);
  const n = v === null ? NaN : Number(v);
  return Number.isFinite(n) ? n : null;
}

/**
 * The widget's whole result as a CSV or Arrow file. `onProgress` hears the fraction received
 * (0..1) as the body arrives, when the server says its length.
 */
export async function downloadWidget(
  dashboard: string,
  widget: string,
  body: QueryBody,
  format: 'csv' | 'arrow',
  signal?: AbortSignal,
  onProgress?: (fraction: number) => void,
): Promise<Download> {
  const res = await send(queryUrl(dashboard, widget, format), {
    method: 'POST',
    headers: {
      Accept: format === 'csv' ? 'text/csv' : 'application/vnd.apache.arrow.stream',
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(body),
    signal: signal ?? null,
  });
  const type = format === 'csv' ? 'text/csv;charset=utf-8' : 'application/vnd.apache.arrow.stream';
  const length = headerNumber(res, 'content-length');
  const parts: BlobPart[] = [];
  if (res.body && length && onProgress) {
    // Read piece by piece for the progress; a Blob of parts is assembled once, at the end.
    const reader = res.body.getReader();
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      received += value.byteLength;
      onProgress(Math.min(1, received / length));
    }
    if (received !== length) throw new ApiError(0, 'The download was cut off before its end', 'try again');
  } else {
    parts.push(await res.arrayBuffer());
  }
  return {
    blob: new Blob(parts, { type }),
    truncated: res.headers.get('x-sightline-truncated') === 'true',
    rowLimit: headerNumber(res, 'x-sightline-row-limit'),
    totalCount: headerNumber(res, 'x-total-count'),
  };
}

/** An aborted request, or one that ended with the session (SessionEndedError): nothing to show. */
export function isAbort(e: unknown): boolean {
  return (
    (e instanceof DOMException && e.name === 'AbortError') ||
    (e instanceof Error && e.name === 'AbortError') ||
    e instanceof SessionEndedError
  );
}

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(0, e instanceof Error ? e.message : String(e));
}
