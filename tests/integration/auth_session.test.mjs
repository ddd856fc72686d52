// Sessions after an OpenID sign-in (docs/security.md): fixation, logout, CSRF on state-changing
// requests, idle and absolute timeouts, what an anonymous visitor gets, and the start-up check
// of the session secret. Signs in through a real provider (oidc-provider).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startProvider } from './oidc/provider.mjs';
import { loginOverHttp, newClient, parseSetCookie } from './oidc/login.mjs';
import { startSignInStack, randomSecret, postLogoutUris, authProject, oidcAuthYaml, serveExpectingRefusal, freePort, ROLES_YAML } from './oidc/server.mjs';

const clientSecret = randomSecret(24);
const KPI = 'revenue'; // a kpi of examples/sales/dashboards/sales.yaml
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let stack; // default timeouts
let idle; // idle_timeout 2s
let absolute; // absolute_timeout 3s
const providers = [];

async function stackWith(authOptions) {
  const provider = await startProvider({ clientSecret });
  providers.push(provider);
  const s = await startSignInStack({
    issuer: provider.issuer,
    clientSecret,
    authOptions,
    register: ({ base }) => provider.registerClient({ redirectUri: `${base}/auth/callback`, postLogoutRedirectUri: postLogoutUris(base) }),
  });
  return { ...s, provider };
}

before(async () => {
  [stack, idle, absolute] = await Promise.all([
    stackWith({}),
    stackWith({ idle: '2s', absolute: '1h' }),
    stackWith({ idle: '2s', absolute: '3s' }),
  ]);
}, { timeout: 150_000 });

after(async () => {
  await Promise.all([stack, idle, absolute].map((s) => s?.server.stop()));
  await Promise.all(providers.map((p) => p.stop()));
});

const me = (request, base) => request(`${base}/api/v1/me`, { headers: { accept: 'application/json' } });
/** A request that presents exactly this session cookie (a fresh jar, nothing else). */
function withCookie(value) {
  const c = newClient();
  return async (url, opts = {}) => {
    c.jar.set(url, 'sightline_session', value);
    return c.request(url, opts);
  };
}
function query(request, base, headers = {}) {
  return request(`${base}/api/v1/dashboards/sales/widgets/${KPI}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: '{}',
  });
}

test('session fixation: a session cookie planted before sign-in is replaced and never signed in', async () => {
  // A made-up value.
  const planted = crypto.randomBytes(32).toString('base64url');
  const client = newClient();
  client.jar.set(stack.base, 'sightline_session', planted);
  assert.equal((await me(client.request, stack.base)).status, 401, 'the planted value is not a session');
  const r = await loginOverHttp(stack.base, { login: 'nora', client });
  assert.ok(r.sessionCookie, `the sign-in sets a session cookie (callback ${r.callback.status})`);
  assert.notEqual(r.sessionCookie.value, planted, 'a new session id at sign-in');
  assert.equal((await me(client.request, stack.base)).status, 200);
  assert.equal((await me(withCookie(planted), stack.base)).status, 401, 'the planted value is still not a session');

  // An attacker's own valid session planted in the victim's browser: the victim's sign-in makes
  // a new session; the attacker's cookie never becomes the victim's identity.
  const attacker = await loginOverHttp(stack.base, { login: 'sam' });
  const victim = newClient();
  victim.jar.set(stack.base, 'sightline_session', attacker.sessionCookie.value);
  const v = await loginOverHttp(stack.base, { login: 'nora', client: victim });
  assert.notEqual(v.sessionCookie.value, attacker.sessionCookie.value, 'the victim gets a new session id');
  assert.equal((await me(victim.request, stack.base)).json().user.subject, 'nora');
  const a = await me(withCookie(attacker.sessionCookie.value), stack.base);
  assert.ok(a.status === 401 || a.json().user.subject === 'sam', `the attacker's cookie is not nora's session (${a.status} ${a.text})`);
});

test('state-changing requests need the session\'s CSRF token', async () => {
  const r = await loginOverHttp(stack.base, { login: 'alice' });
  assert.ok(r.csrfToken, 'GET /api/v1/me gives a CSRF token');
  const missing = await query(r.request, stack.base);
  assert.equal(missing.status, 403, `no X-CSRF-Token: ${missing.text.slice(0, 200)}`);
  assert.match(missing.headers.get('content-type') ?? '', /problem\+json/);
  const wrong = await query(r.request, stack.base, { 'x-csrf-token': `${r.csrfToken.slice(0, -2)}xx` });
  assert.equal(wrong.status, 403, 'a wrong X-CSRF-Token');
  const empty = await query(r.request, stack.base, { 'x-csrf-token': '' });
  assert.equal(empty.status, 403, 'an empty X-CSRF-Token');
  // Another session's token does not do either.
  const other = await loginOverHttp(stack.base, { login: 'sam' });
  assert.notEqual(other.csrfToken, r.csrfToken);
  assert.equal((await query(r.request, stack.base, { 'x-csrf-token': other.csrfToken })).status, 403, 'another session\'s token');
  const ok = await query(r.request, stack.base, { 'x-csrf-token': r.csrfToken });
  assert.equal(ok.status, 200, ok.text.slice(0, 300));
  assert.ok(Array.isArray(ok.json().columns), 'the widget answers data');
  // GET needs no token.
  assert.equal((await r.request(`${stack.base}/api/v1/dashboards/sales`)).status, 200);
});

test('logout needs the CSRF header, ends the session on the server and clears the cookie', async () => {
  const r = await loginOverHttp(stack.base, { login: 'alice' });
  const cookie = r.sessionCookie.value;
  const noCsrf = await r.request(`${stack.base}/auth/logout`, { method: 'POST' });
  assert.equal(noCsrf.status, 403, 'POST /auth/logout without X-CSRF-Token');
  const wrongCsrf = await r.request(`${stack.base}/auth/logout`, { method: 'POST', headers: { 'x-csrf-token': 'nope' } });
  assert.equal(wrongCsrf.status, 403, 'POST /auth/logout with a wrong X-CSRF-Token');
  assert.equal((await me(r.request, stack.base)).status, 200, 'still signed in after the refused logouts');

  const out = await r.request(`${stack.base}/auth/logout`, { method: 'POST', headers: { 'x-csrf-token': r.csrfToken } });
  assert.equal(out.status, 200, out.text);
  assert.match(out.headers.get('content-type') ?? '', /application\/json/);
  const { redirect } = out.json();
  assert.equal(typeof redirect, 'string');
  const target = new URL(redirect, stack.base);
  // The provider publishes an end_session_endpoint: Sightline sends the browser there.
  assert.equal(`${target.origin}${target.pathname}`, `${stack.provider.issuer}/session/end`, `redirect ${redirect}`);
  const cleared = out.setCookies.map(parseSetCookie).find((c) => c?.name === 'sightline_session');
  assert.ok(cleared, 'the logout answer clears the cookie');
  assert.ok(cleared.value === '' || Number(cleared.attributes['max-age']) <= 0 || Date.parse(cleared.attributes.expires) <= Date.now(), `cleared: ${cleared.raw}`);

  // The old cookie, replayed, is dead on the server.
  const replay = withCookie(cookie);
  assert.equal((await me(replay, stack.base)).status, 401, '/api/v1/me with the old cookie');
  assert.equal((await query(replay, stack.base, { 'x-csrf-token': r.csrfToken })).status, 401, 'a widget query with the old cookie');
  assert.equal((await replay(`${stack.base}/api/v1/dashboards`)).status, 401);
  // The provider's end-session URL works (it shows its confirmation page).
  const end = await fetch(redirect, { redirect: 'manual' });
  assert.ok(end.status < 400, `the provider's end-session URL answers ${end.status}`);
});

test('an idle session expires after idle_timeout; activity keeps it alive', async () => {
  const r = await loginOverHttp(idle.base, { login: 'nora' });
  assert.equal((await me(r.request, idle.base)).status, 200);
  // Requests every 0.5 s for 3 s (longer than the 2 s idle timeout) keep it alive.
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    await sleep(500);
    assert.equal((await me(r.request, idle.base)).status, 200, 'an active session stays');
  }
  await sleep(3200);
  const after = await me(r.request, idle.base);
  assert.equal(after.status, 401, 'idle for longer than idle_timeout');
  assert.match(after.headers.get('content-type') ?? '', /problem\+json/);
}, { timeout: 30_000 });

test('a session ends at absolute_timeout however active it is', async () => {
  const r = await loginOverHttp(absolute.base, { login: 'nora' });
  const t0 = Date.now();
  let endedAt;
  while (Date.now() - t0 < 8000) {
    const res = await me(r.request, absolute.base);
    if (res.status === 401) { endedAt = Date.now() - t0; break; }
    assert.equal(res.status, 200);
    await sleep(500);
  }
  assert.ok(endedAt !== undefined, 'the session ended');
  assert.ok(endedAt >= 2000 && endedAt <= 5000, `it ended after ~3 s (${endedAt} ms)`);
  assert.equal((await query(r.request, absolute.base, { 'x-csrf-token': r.csrfToken })).status, 401);
}, { timeout: 30_000 });

test('anonymous visitors: pages redirect to sign-in, the API answers 401 problem+json', async () => {
  const root = await fetch(`${stack.base}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  const loc = new URL(root.headers.get('location'), stack.base);
  assert.equal(loc.origin, stack.base);
  assert.equal(loc.pathname, '/auth/login');
  assert.equal(loc.searchParams.get('return_to'), '/');
  assert.match(root.headers.get('location'), /return_to=%2F/);

  if (process.env.SIGHTLINE_WEB_UI === '1') {
    const deep = await fetch(`${stack.base}/d/sales?f.region=North`, { redirect: 'manual' });
    assert.equal(deep.status, 302);
    const l = new URL(deep.headers.get('location'), stack.base);
    assert.equal(l.pathname, '/auth/login');
    assert.equal(l.searchParams.get('return_to'), '/d/sales?f.region=North');
  }

  for (const p of ['/api/v1/dashboards', '/api/v1/me', '/api/v1/dashboards/sales']) {
    const res = await fetch(`${stack.base}${p}`, { redirect: 'manual' });
    assert.equal(res.status, 401, p);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, p);
    const body = await res.json();
    assert.match(String(body.type), /unauthenticated$/, `${p}: type ${body.type}`);
  }
  const q = await fetch(`${stack.base}/api/v1/dashboards/sales/widgets/${KPI}/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(q.status, 401, 'an anonymous widget query');
  // Health checks stay open for load balancers.
  assert.equal((await fetch(`${stack.base}/healthz`)).status, 200);
});

test('with an https public_url the session cookie is Secure', async () => {
  const provider = await startProvider({ clientSecret });
  providers.push(provider);
  const tls = await startSignInStack({
    issuer: provider.issuer,
    clientSecret,
    publicScheme: 'https',
    register: ({ base }) => provider.registerClient({ redirectUri: `${base}/auth/callback`, postLogoutRedirectUri: postLogoutUris(base) }),
  });
  try {
    const r = await loginOverHttp(tls.base, { login: 'alice', stopAtCallback: true });
    const login = r.responses[0];
    assert.equal(new URL(login.location).searchParams.get('redirect_uri'), `${tls.publicUrl}/auth/callback`, 'the redirect URI comes from public_url');
    const loginCookie = login.setCookies.map(parseSetCookie).find((c) => c?.name === 'sightline_login');
    assert.equal(loginCookie?.attributes.secure, true, 'sightline_login is Secure');
    // The provider sends the browser to https://...; this test reaches the same port over http,
    // as a TLS-terminating proxy would. The jar sends the (Secure) login cookie regardless.
    const callback = await r.request(r.callbackUrl.replace(/^https:/, 'http:'));
    assert.equal(callback.status, 302, callback.text.slice(0, 300));
    const session = callback.setCookies.map(parseSetCookie).find((c) => c?.name === 'sightline_session');
    assert.ok(session?.value, 'a session cookie');
    assert.equal(session.attributes.secure, true, 'Secure');
    assert.equal(session.attributes.httponly, true, 'HttpOnly');
    assert.match(String(session.attributes.samesite), /^lax$/i);
  } finally {
    await tls.server.stop();
  }
}, { timeout: 60_000 });

test('sign-in attempts are limited per client address (auth.limits.sign_in_per_minute)', async () => {
  const provider = await startProvider({ clientSecret });
  providers.push(provider);
  const limited = await startSignInStack({
    issuer: provider.issuer,
    clientSecret,
    authOptions: { signInPerMinute: 4 },
    register: ({ base }) => provider.registerClient({ redirectUri: `${base}/auth/callback` }),
  });
  try {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${limited.base}/auth/login?return_to=%2F`, { redirect: 'manual' })).status);
    assert.deepEqual(statuses, [302, 302, 302, 302], 'within the limit');
    const over = await fetch(`${limited.base}/auth/login?return_to=%2F`, { redirect: 'manual' });
    assert.equal(over.status, 429, 'over the limit');
    assert.match(over.headers.get('content-type') ?? '', /problem\+json/);
    const callback = await fetch(`${limited.base}/auth/callback?code=x&state=y`, { redirect: 'manual' });
    assert.equal(callback.status, 429, 'the callback counts too');
    // The rest of the server is not limited.
    assert.equal((await fetch(`${limited.base}/healthz`)).status, 200);
  } finally {
    await limited.server.stop();
  }
}, { timeout: 60_000 });

test('the server refuses to start without a session secret of at least 32 characters, and does not print it', async () => {
  const cases = [
    { what: 'empty', secret: '' },
    { what: '31 characters', secret: crypto.randomBytes(24).toString('base64url').slice(0, 31) },
    { what: '12 characters', secret: 'Zq8xVb2Lm4Tn' },
  ];
  const provider = await startProvider({ clientSecret });
  providers.push(provider);
  for (const { what, secret } of cases) {
    const port = await freePort();
    const dir = authProject(oidcAuthYaml({ publicUrl: `http://127.0.0.1:${port}` }) + ROLES_YAML);
    const r = await serveExpectingRefusal(dir, {
      port,
      env: { SIGHTLINE_SESSION_SECRET: secret, SIGHTLINE_OIDC_CLIENT_SECRET: clientSecret, OIDC_ISSUER: provider.issuer },
    });
    assert.equal(r.started, false, `${what}: the server must not start`);
    assert.notEqual(r.exitCode, 0, `${what}: a non-zero exit`);
    assert.match(r.output, /session\.secret|SIGHTLINE_SESSION_SECRET/, `${what}: the message names auth.session.secret:\n${r.output}`);
    if (secret) assert.ok(!r.output.includes(secret), `${what}: the secret is not printed`);
    assert.ok(!r.output.includes(clientSecret), `${what}: the client secret is not printed`);
  }
}, { timeout: 120_000 });
