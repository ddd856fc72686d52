import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { onUnauthenticated, queryWidget, setCsrfToken } from '../src/api/client';
import { App } from '../src/app/app';
import { beginSignIn, displayName, safeRedirect, SIGN_IN_WINDOW_MS, signInSucceeded } from '../src/app/auth';
import type { DashboardSpec } from '../src/types';

// The chart code is not needed here (the dashboard has a KPI only).
vi.mock('../src/charts/view', () => ({
  createChartView: () => ({ update: () => undefined, resize: () => undefined, dispose: () => undefined }),
}));

const spec: DashboardSpec = {
  id: 'sales',
  title: 'Sales',
  dimensions: [],
  filters: [],
  pages: [
    {
      id: 'main',
      title: 'Main',
      widgets: [{ id: 'revenue', type: 'kpi', title: 'Revenue', layout: { width: 3 }, options: {}, encoding: { value: { field: 'revenue' } } }],
    },
  ],
};

const ada = { issuer: 'https://login.example.com', subject: 'u-1', email: 'ada@example.com', name: 'Ada Lovelace', groups: ['sales-north'] };

function me(auth_mode: string, user: Record<string, unknown> = ada): Response {
  return json({ user, roles: ['north'], auth_mode, csrf_token: 'tok-123' });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function problem(status: number, detail: string, headers: Record<string, string> = {}): Response {
  // A server with a sign-in page says so on its 401s.
  const signIn: Record<string, string> = status === 401 ? { 'X-Sign-In': '/auth/login' } : {};
  return new Response(JSON.stringify({ status, detail, type: status === 401 ? 'unauthenticated' : 'forbidden' }), {
    status,
    headers: { 'Content-Type': 'application/problem+json', ...signIn, ...headers },
  });
}

/** A 401 from behind an authenticating proxy: no sign-in page to go to. */
function proxyProblem(detail: string): Response {
  return new Response(JSON.stringify({ status: 401, detail, type: 'unauthenticated' }), {
    status: 401,
    headers: { 'Content-Type': 'application/problem+json' },
  });
}

function arrow(): Response {
  const bytes = tableToIPC(tableFromArrays({ revenue: Float64Array.from([5]) }), 'stream');
  return new Response(bytes.slice(), { status: 200, headers: { 'Content-Type': 'application/vnd.apache.arrow.stream' } });
}

type Route = (url: string, init: RequestInit) => Response | Promise<Response> | undefined;
type Call = [string, RequestInit];

/** A server: /api/v1/me as given, the sales dashboard, and KPI answers; `extra` routes first. */
function serve(meAnswer: () => Response | Promise<Response>, extra?: Route): ReturnType<typeof vi.fn> {
  const fetchMock = vi.fn(async (input: string, init: RequestInit = {}) => {
    const url = String(input);
    const routed = extra?.(url, init);
    if (routed) return routed;
    if (url === '/api/v1/me') return meAnswer();
    if (url === '/api/v1/dashboards') return json({ dashboards: [{ id: 'sales', title: 'Sales' }] });
    if (url === '/api/v1/dashboards/sales') return json(spec);
    if (url.endsWith('/query')) return arrow();
    if (url === '/readyz') return json({ status: 'ready' });
    return problem(404, 'no route');
  });
  vi.stubGlobal('fetch', fetchMock);
  return fetchMock;
}

function calls(fetchMock: ReturnType<typeof vi.fn>, pred: (url: string) => boolean): Call[] {
  return (fetchMock.mock.calls as unknown as Call[]).filter(([u]) => pred(String(u)));
}

function header(init: RequestInit, name: string): string | undefined {
  return (init.headers as Record<string, string> | undefined)?.[name];
}

let assign: ReturnType<typeof vi.fn>;

async function startApp(): Promise<HTMLElement> {
  const mount = document.createElement('div');
  document.body.appendChild(mount);
  await new App(mount).start();
  return mount;
}

beforeEach(() => {
  history.replaceState(null, '', '/d/sales?region=North');
  sessionStorage.clear();
  const real = window.location;
  assign = vi.fn();
  // jsdom cannot navigate; the page's own location is read through, assign() is recorded.
  vi.stubGlobal('location', {
    get href() {
      return real.href;
    },
    get origin() {
      return real.origin;
    },
    get pathname() {
      return real.pathname;
    },
    get search() {
      return real.search;
    },
    get hash() {
      return real.hash;
    },
    assign,
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
  setCsrfToken(null);
  onUnauthenticated(null);
  document.body.replaceChildren();
  sessionStorage.clear();
});

const LOGIN = '/auth/login?return_to=%2Fd%2Fsales%3Fregion%3DNorth';

describe('who is signed in', () => {
  it('shows the name and a sign-out button for oidc', async () => {
    const f = serve(() => me('oidc'));
    const root = await startApp();
    expect(root.querySelector('[data-user-name]')?.textContent).toBe('Ada Lovelace');
    const button = root.querySelector<HTMLButtonElement>('[data-sign-out]');
    expect(button?.textContent).toBe('Sign out');
    expect(button?.type).toBe('button');
    expect(root.querySelector<HTMLElement>('[data-user]')?.hidden).toBe(false);
    expect(root.querySelector('[data-auth-banner]')).toBeNull();
    const [meCall] = calls(f, (u) => u === '/api/v1/me');
    expect(meCall?.[1].credentials).toBe('same-origin');
    expect(assign).not.toHaveBeenCalled();
  });

  it('shows the name without a sign-out button for proxy', async () => {
    serve(() => me('proxy'));
    const root = await startApp();
    expect(root.querySelector('[data-user-name]')?.textContent).toBe('Ada Lovelace');
    expect(root.querySelector('[data-sign-out]')).toBeNull();
    expect(root.querySelector('[data-auth-banner]')).toBeNull();
  });

  it('falls back to the email, then the subject', async () => {
    serve(() => me('oidc', { subject: 'u-1', email: 'ada@example.com', name: '' }));
    const root = await startApp();
    expect(root.querySelector('[data-user-name]')?.textContent).toBe('ada@example.com');
    expect(displayName({ subject: 'u-1' })).toBe('u-1');
    expect(displayName({ subject: '', email: '  ' })).toBeNull();
    expect(displayName(undefined)).toBeNull();
  });

  it('shows the sign-in-off banner and no user for none', async () => {
    serve(() => me('none', { subject: 'anonymous' }));
    const root = await startApp();
    const banner = root.querySelector('[data-auth-banner]');
    expect(banner?.getAttribute('role')).toBe('status');
    expect(banner?.textContent).toContain('Local development: sign-in is off — everyone who can reach this server sees all data.');
    expect(banner?.querySelector('button')).toBeNull();
    expect(root.querySelector('[data-user-name]')).toBeNull();
    expect(root.querySelector('[data-sign-out]')).toBeNull();
    // Above the header, so it is the first thing after the skip link.
    expect(banner?.nextElementSibling?.tagName).toBe('HEADER');
  });

  it('treats a server without /api/v1/me as sign-in off, without the banner', async () => {
    const f = serve(() => problem(404, 'Not found'));
    const root = await startApp();
    expect(root.querySelector('[data-auth-banner]')).toBeNull();
    expect(root.querySelector('[data-user-name]')).toBeNull();
    await vi.waitFor(() => expect(calls(f, (u) => u.endsWith('/query')).length).toBe(1));
    const [q] = calls(f, (u) => u.endsWith('/query'));
    expect(header(q![1], 'X-CSRF-Token')).toBeUndefined();
    expect(assign).not.toHaveBeenCalled();
  });

  it('keeps the CSRF token in memory only', async () => {
    serve(() => me('oidc'));
    await startApp();
    const stored = [sessionStorage, localStorage].flatMap((s) => Object.keys(s).map((k) => s.getItem(k) ?? ''));
    expect(stored.some((v) => v.includes('tok-123'))).toBe(false);
  });
});

describe('signing in', () => {
  it('sends the browser to the sign-in with the page to come back to on 401', async () => {
    serve(() => problem(401, 'not signed in'));
    const root = await startApp();
    expect(assign).toHaveBeenCalledTimes(1);
    expect(assign).toHaveBeenCalledWith(LOGIN);
    expect(root.querySelector('[data-signed-out]')).toBeNull();
  });

  it('behind a proxy (a 401 without X-Sign-In) shows the panel with a retry, never the sign-in page', async () => {
    serve(() => proxyProblem('not signed in'));
    const root = await startApp();
    expect(assign).not.toHaveBeenCalled();
    const panel = root.querySelector('[data-signed-out]');
    expect(panel).not.toBeNull();
    expect(panel?.querySelector('[data-sign-in]')).toBeNull();
    expect(panel?.querySelector('[data-reload]')).not.toBeNull();
  });

  it('shows the signed-out panel instead of redirecting again within a minute', async () => {
    serve(() => problem(401, 'not signed in'));
    await startApp();
    expect(assign).toHaveBeenCalledTimes(1);
    // Back from the sign-in, still not signed in (say the cookie did not stick).
    document.body.replaceChildren();
    const root = await startApp();
    expect(assign).toHaveBeenCalledTimes(1);
    const panel = root.querySelector('[data-signed-out]');
    expect(panel).not.toBeNull();
    const link = panel?.querySelector<HTMLAnchorElement>('a[data-sign-in]');
    expect(link?.textContent).toBe('Sign in');
    expect(link?.getAttribute('href')).toBe(LOGIN);
    expect(root.querySelector('[data-widget-id]')).toBeNull();
    expect(root.querySelector('[data-user-name]')).toBeNull();
  });

  it('counts redirects per minute and forgets them once signed in', () => {
    const t0 = 1_000_000;
    expect(beginSignIn(t0)).toBe(true);
    expect(beginSignIn(t0 + 5_000)).toBe(false);
    expect(beginSignIn(t0 + SIGN_IN_WINDOW_MS + 1)).toBe(true);
    signInSucceeded();
    expect(beginSignIn(t0 + SIGN_IN_WINDOW_MS + 2)).toBe(true);
    sessionStorage.setItem('sightline.sign-in', 'not json');
    expect(beginSignIn(t0)).toBe(true);
  });

  it('clears the loop guard when /api/v1/me says who is signed in', async () => {
    beginSignIn();
    serve(() => me('oidc'));
    await startApp();
    expect(beginSignIn()).toBe(true);
  });

  it('goes to the sign-in when a later query answers 401, without an error box', async () => {
    const f = serve(
      () => me('oidc'),
      (url) => (url.endsWith('/query') ? problem(401, 'session expired') : undefined),
    );
    const root = await startApp();
    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith(LOGIN));
    expect(assign).toHaveBeenCalledTimes(1);
    expect(calls(f, (u) => u.endsWith('/query')).length).toBe(1);
    const widget = root.querySelector('[data-widget-id="revenue"]');
    expect(widget?.querySelector('.widget-error')?.hasAttribute('hidden')).toBe(true);
    expect(widget?.querySelector('[role=alert]')).toBeNull();
  });

  it('keeps a 403 on a widget in the widget', async () => {
    serve(
      () => me('oidc'),
      (url) => (url.endsWith('/query') ? problem(403, 'not allowed') : undefined),
    );
    const root = await startApp();
    const widget = root.querySelector('[data-widget-id="revenue"]');
    await vi.waitFor(() => expect(widget?.getAttribute('data-state')).toBe('error'));
    expect(widget?.querySelector('[role=alert]')?.textContent).toContain('not allowed');
    expect(widget?.querySelector('.alert-title')?.textContent).toContain('403');
    expect(assign).not.toHaveBeenCalled();
  });

  it('keeps the not-found message for a dashboard the user cannot see', async () => {
    serve(
      () => me('oidc'),
      (url) => (url === '/api/v1/dashboards/sales' ? problem(404, "no dashboard 'sales'") : undefined),
    );
    const root = await startApp();
    const alert = root.querySelector('.page-message [role=alert]');
    expect(alert?.textContent).toContain('Could not open dashboard “sales”');
    expect(alert?.textContent).toContain("no dashboard 'sales'");
    expect(assign).not.toHaveBeenCalled();
  });
});

describe('CSRF header', () => {
  it('is absent before /api/v1/me answered', async () => {
    const f = vi.fn(async () => arrow());
    vi.stubGlobal('fetch', f);
    await queryWidget('sales', 'revenue', {});
    const [call] = f.mock.calls as unknown as Call[];
    expect(header(call![1], 'X-CSRF-Token')).toBeUndefined();
    expect(call![1].credentials).toBe('same-origin');
  });

  it('widgets wait for /api/v1/me before they query', async () => {
    let release!: () => void;
    const answered = new Promise<void>((r) => (release = r));
    const f = serve(async () => {
      await answered;
      return me('oidc');
    });
    const started = startApp();
    await vi.waitFor(() => expect(calls(f, (u) => u === '/api/v1/dashboards/sales').length).toBe(1));
    await new Promise((r) => setTimeout(r, 20));
    expect(calls(f, (u) => u.endsWith('/query')).length).toBe(0);
    release();
    await started;
    await vi.waitFor(() => expect(calls(f, (u) => u.endsWith('/query')).length).toBe(1));
    expect(header(calls(f, (u) => u.endsWith('/query'))[0]![1], 'X-CSRF-Token')).toBe('tok-123');
  });

  it('goes on every query POST after /api/v1/me, and on no GET', async () => {
    const f = serve(() => me('oidc'));
    await startApp();
    await vi.waitFor(() => expect(calls(f, (u) => u.endsWith('/query')).length).toBe(1));
    const [q] = calls(f, (u) => u.endsWith('/query'));
    expect(q![1].method).toBe('POST');
    expect(header(q![1], 'X-CSRF-Token')).toBe('tok-123');
    expect(header(q![1], 'Accept')).toBe('application/vnd.apache.arrow.stream');
    for (const [, init] of calls(f, (u) => u.startsWith('/api/v1/dashboards') && !u.endsWith('/query'))) {
      expect(header(init, 'X-CSRF-Token')).toBeUndefined();
    }
  });
});

describe('signing out', () => {
  async function signOutWith(answer: () => Response | Promise<Response>): Promise<{ f: ReturnType<typeof vi.fn>; button: HTMLButtonElement }> {
    const f = serve(
      () => me('oidc'),
      (url) => (url === '/auth/logout' ? answer() : undefined),
    );
    const root = await startApp();
    const button = root.querySelector<HTMLButtonElement>('[data-sign-out]')!;
    button.click();
    return { f, button };
  }

  it('posts with the CSRF header, disables the button meanwhile and follows the redirect', async () => {
    let release!: () => void;
    const answered = new Promise<void>((r) => (release = r));
    const endSession = 'https://login.example.com/realms/acme/protocol/openid-connect/logout?id_token_hint=x&post_logout_redirect_uri=https%3A%2F%2Fdash.example.com%2F';
    const { f, button } = await signOutWith(async () => {
      await answered;
      return json({ redirect: endSession });
    });
    await vi.waitFor(() => expect(calls(f, (u) => u === '/auth/logout').length).toBe(1));
    expect(button.disabled).toBe(true);
    button.click();
    expect(calls(f, (u) => u === '/auth/logout').length).toBe(1);
    const [post] = calls(f, (u) => u === '/auth/logout');
    expect(post![1].method).toBe('POST');
    expect(header(post![1], 'X-CSRF-Token')).toBe('tok-123');
    expect(post![1].credentials).toBe('same-origin');
    release();
    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith(endSession));
    expect(assign).toHaveBeenCalledTimes(1);
  });

  it('refuses a javascript: redirect and goes to /', async () => {
    await signOutWith(() => json({ redirect: 'javascript:alert(document.cookie)' }));
    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith('/'));
  });

  it('goes to / when the session had already ended', async () => {
    await signOutWith(() => problem(401, 'not signed in'));
    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith('/'));
  });

  it('enables the button again when signing out fails', async () => {
    const { button } = await signOutWith(() => problem(403, 'missing CSRF token'));
    await vi.waitFor(() => expect(button.disabled).toBe(false));
    expect(button.title).toContain('missing CSRF token');
    expect(assign).not.toHaveBeenCalled();
  });

  it('follows http(s) URLs and paths only', () => {
    expect(safeRedirect('/')).toBe('/');
    expect(safeRedirect('https://idp.example.com/logout?x=1')).toBe('https://idp.example.com/logout?x=1');
    expect(safeRedirect('http://idp.example.com/logout')).toBe('http://idp.example.com/logout');
    expect(safeRedirect('javascript:alert(1)')).toBe('/');
    expect(safeRedirect('  JavaScript:alert(1)')).toBe('/');
    expect(safeRedirect('java\tscript:alert(1)')).toBe('/');
    expect(safeRedirect('data:text/html,<script>alert(1)</script>')).toBe('/');
    expect(safeRedirect('vbscript:x')).toBe('/');
    expect(safeRedirect('')).toBe('/');
    expect(safeRedirect(42)).toBe('/');
    expect(safeRedirect(undefined)).toBe('/');
  });
});
