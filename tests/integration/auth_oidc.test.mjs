// Sign-in with OpenID Connect (docs/security.md): the authorization code flow with PKCE against a
// real provider (oidc-provider), and every way an ID token or a callback can be wrong against a
// scriptable rogue provider. Sightline must refuse them all and never log a token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProvider } from './oidc/provider.mjs';
import { startRogueProvider, MODES, VALID_MODES, s256 } from './oidc/rogue.mjs';
import { loginOverHttp, newClient, follow, parseSetCookie } from './oidc/login.mjs';
import { startSignInStack, randomSecret, postLogoutUris } from './oidc/server.mjs';

const clientSecret = randomSecret(24);
let real; // { server, base, ... } against oidc-provider
let bad; // { server, base, ... } against the rogue provider
let provider;
let rogue;
const secrets = new Set(); // strings that must never show up in Sightline's logs

before(async () => {
  [provider, rogue] = await Promise.all([startProvider({ clientSecret }), startRogueProvider({ clientSecret })]);
  [real, bad] = await Promise.all([
    startSignInStack({
      issuer: provider.issuer,
      clientSecret,
      register: ({ base }) => provider.registerClient({ redirectUri: `${base}/auth/callback`, postLogoutRedirectUri: postLogoutUris(base) }),
    }),
    startSignInStack({
      issuer: rogue.issuer,
      clientSecret,
      register: ({ base }) => { rogue.redirectUri = `${base}/auth/callback`; },
    }),
  ]);
  secrets.add(clientSecret).add(real.sessionSecret).add(bad.sessionSecret);
}, { timeout: 150_000 });

after(async () => {
  await Promise.all([real?.server.stop(), bad?.server.stop()]);
  await Promise.all([provider?.stop(), rogue?.stop()]);
});

const isRedirect = (r) => r.status >= 300 && r.status < 400;
/** The sightline_session cookie a response sets with a value (a deletion does not count). */
function sessionSet(res) {
  const c = res.setCookies.map(parseSetCookie).find((x) => x?.name === 'sightline_session');
  if (!c || c.value === '' || c.value === '""') return undefined;
  if (c.attributes['max-age'] !== undefined && Number(c.attributes['max-age']) <= 0) return undefined;
  if (c.attributes.expires && Date.parse(c.attributes.expires) <= Date.now()) return undefined;
  return c;
}

async function me(request, base) {
  return request(`${base}/api/v1/me`, { headers: { accept: 'application/json' } });
}

/** Starts a sign-in at the rogue provider's Sightline and stops before the callback. */
async function rogueAttempt({ mode = 'valid-rs256', returnTo = '/d/sales', rawReturnTo, client = newClient() } = {}) {
  rogue.mode = mode;
  const r = await loginOverHttp(bad.base, { returnTo, rawReturnTo, client, stopAtCallback: true });
  return { ...r, client };
}

/** Completes a sign-in at the rogue provider's Sightline; returns the callback's answer. */
async function rogueSignIn(opts) {
  const attempt = await rogueAttempt(opts);
  const tokensBefore = rogue.tokenRequests.length;
  const callback = await attempt.request(attempt.callbackUrl);
  for (const t of rogue.tokenRequests.slice(tokensBefore)) if (t.idToken) secrets.add(t.idToken);
  secrets.add(new URL(attempt.callbackUrl).searchParams.get('code'));
  return { ...attempt, callback, tokenRequests: rogue.tokenRequests.slice(tokensBefore) };
}

async function assertRefused(attempt, what) {
  const { callback, request } = attempt;
  assert.ok(callback.status >= 400 && callback.status < 500, `${what}: the callback answers 4xx, got ${callback.status} ${callback.location ?? ''} ${callback.text.slice(0, 200)}`);
  assert.equal(sessionSet(callback), undefined, `${what}: no session cookie`);
  assert.equal((await me(request, bad.base)).status, 401, `${what}: not signed in`);
}

test('the code flow against a real provider signs the user in with a hardened session cookie', async () => {
  const r = await loginOverHttp(real.base, { login: 'alice', returnTo: '/d/sales?f.region=North' });
  for (const c of provider.issued.codes) secrets.add(c);
  for (const t of [...provider.issued.idTokens, ...provider.issued.accessTokens]) secrets.add(t);

  // /auth/login: a redirect to the provider with state, nonce and a PKCE S256 challenge, and the
  // short-lived cookie that binds this browser to the attempt.
  const login = r.responses[0];
  assert.equal(login.status, 302, 'GET /auth/login redirects');
  const auth = new URL(login.location);
  assert.equal(auth.origin, provider.issuer);
  const q = Object.fromEntries(auth.searchParams);
  assert.equal(q.response_type, 'code');
  assert.equal(q.client_id, 'sightline');
  assert.equal(q.redirect_uri, `${real.base}/auth/callback`);
  assert.ok(q.scope.split(' ').includes('openid'), `scope ${q.scope}`);
  assert.ok(q.scope.split(' ').includes('groups'), 'the configured scopes are asked for');
  assert.ok(q.state?.length >= 16, 'an unguessable state');
  assert.ok(q.nonce?.length >= 16, 'an unguessable nonce');
  assert.equal(q.code_challenge_method, 'S256');
  assert.match(q.code_challenge, /^[A-Za-z0-9_-]{43}$/);
  const loginCookie = login.setCookies.map(parseSetCookie).find((c) => c?.name === 'sightline_login');
  assert.ok(loginCookie, 'GET /auth/login sets the sightline_login cookie');
  assert.ok(loginCookie.attributes.httponly, 'sightline_login is HttpOnly');
  assert.match(String(loginCookie.attributes.samesite ?? 'lax'), /^(lax|none)$/i, 'the login cookie survives the top-level return from the provider');

  // The callback: a new session and a redirect to return_to.
  assert.equal(new URL(r.callbackUrl).searchParams.get('state'), q.state);
  assert.ok(isRedirect(r.callback), `the callback redirects, got ${r.callback.status}: ${r.callback.text.slice(0, 300)}`);
  const landed = new URL(r.finalLocation, real.base);
  assert.equal(landed.origin, real.base);
  assert.equal(landed.pathname + landed.search, '/d/sales?f.region=North');
  const c = r.sessionCookie;
  assert.ok(c, 'the callback sets sightline_session');
  secrets.add(c.value);
  assert.ok(c.value.length >= 20, 'an unguessable session id');
  assert.equal(c.attributes.httponly, true, 'HttpOnly');
  assert.match(String(c.attributes.samesite), /^lax$/i, 'SameSite=Lax');
  assert.equal(c.attributes.path, '/', 'Path=/');
  assert.equal(c.attributes.secure, undefined, 'no Secure flag when public_url is http');
  assert.equal(c.attributes.domain, undefined, 'a host-only cookie');

  // /api/v1/me: the ID token's claims and the roles its groups map to.
  const m = await me(r.request, real.base);
  assert.equal(m.status, 200, m.text);
  const body = m.json();
  assert.equal(body.user.issuer, provider.issuer);
  assert.equal(body.user.subject, 'alice');
  assert.equal(body.user.email, 'alice@example.com');
  assert.equal(body.user.name, 'Alice Admin');
  assert.deepEqual(body.user.groups, ['sightline-admins']);
  assert.deepEqual(body.roles, ['admin']);
  assert.equal(body.auth_mode, 'oidc');
  assert.ok(typeof body.csrf_token === 'string' && body.csrf_token.length >= 16, 'a CSRF token');
  secrets.add(body.csrf_token);
  assert.ok(!m.text.includes(provider.issued.idTokens.at(-1)), '/api/v1/me does not hand out the ID token');

  // The session reads data: the dashboards list answers.
  assert.equal((await r.request(`${real.base}/api/v1/dashboards`)).status, 200);
});

test('groups from the ID token map to roles: several groups, unknown groups ignored', async () => {
  const sam = await loginOverHttp(real.base, { login: 'sam', returnTo: '/' });
  const body = (await me(sam.request, real.base)).json();
  assert.equal(body.user.subject, 'sam');
  assert.deepEqual(body.user.groups, ['sales-south', 'other']);
  assert.deepEqual(body.roles, ['south']);
  const nora = await loginOverHttp(real.base, { login: 'nora', returnTo: '/' });
  assert.deepEqual((await me(nora.request, real.base)).json().roles, ['north']);
  assert.notEqual(sam.sessionCookie.value, nora.sessionCookie.value);
  for (const x of [sam, nora]) secrets.add(x.sessionCookie.value);
});

test('Sightline authenticates to the token endpoint with client_secret_basic and the PKCE verifier of its challenge', async () => {
  const a = await rogueSignIn({ mode: 'valid-rs256' });
  assert.ok(isRedirect(a.callback), `valid sign-in, got ${a.callback.status} ${a.callback.text.slice(0, 300)}`);
  const authz = rogue.authorizations.at(-1);
  assert.equal(authz.code_challenge_method, 'S256');
  assert.ok(authz.state && authz.nonce, 'state and nonce sent');
  assert.ok(authz.scope.split(' ').includes('openid'));
  assert.equal(authz.redirect_uri, `${bad.base}/auth/callback`);
  assert.equal(a.tokenRequests.length, 1, 'one token request per callback');
  const t = a.tokenRequests[0];
  secrets.add(t.params.code_verifier);
  assert.equal(t.params.grant_type, 'authorization_code');
  assert.equal(t.params.redirect_uri, authz.redirect_uri);
  assert.match(t.params.code_verifier ?? '', /^[A-Za-z0-9\-._~]{43,128}$/, 'an RFC 7636 verifier');
  assert.equal(s256(t.params.code_verifier), authz.code_challenge, 'the verifier matches the challenge');
  assert.equal(t.authMethod, 'client_secret_basic');
  assert.equal(t.authorization, `Basic ${Buffer.from(`sightline:${clientSecret}`).toString('base64')}`);
  assert.equal(t.params.client_secret, undefined, 'the secret is not also sent in the body');
  assert.equal(t.outcome, 'ok');

  // A second attempt uses fresh values.
  await rogueSignIn({ mode: 'valid-rs256' });
  const [x, y] = rogue.authorizations.slice(-2);
  assert.notEqual(x.state, y.state);
  assert.notEqual(x.nonce, y.nonce);
  assert.notEqual(x.code_challenge, y.code_challenge);
});

test('a public client (no client_secret) sends its client_id and the PKCE verifier, and no secret', async () => {
  const open = await startRogueProvider();
  const stack = await startSignInStack({
    issuer: open.issuer,
    clientSecret: 'unused',
    authOptions: { publicClient: true },
    register: ({ base }) => { open.redirectUri = `${base}/auth/callback`; },
  });
  try {
    const r = await loginOverHttp(stack.base, { returnTo: '/' });
    assert.equal(r.callback.status, 302, r.callback.text.slice(0, 300));
    const t = open.tokenRequests.at(-1);
    assert.equal(t.authMethod, 'none');
    assert.equal(t.authorization, undefined, 'no Authorization header');
    assert.equal(t.params.client_id, 'sightline');
    assert.equal(t.params.client_secret, undefined);
    assert.equal(s256(t.params.code_verifier), open.authorizations.at(-1).code_challenge);
    assert.equal((await me(r.request, stack.base)).status, 200);
  } finally {
    await stack.server.stop();
    await open.stop();
  }
}, { timeout: 60_000 });

test('valid RS256 and ES256 ID tokens sign the user in', async () => {
  for (const mode of VALID_MODES) {
    const a = await rogueSignIn({ mode });
    assert.ok(isRedirect(a.callback), `${mode}: the callback redirects, got ${a.callback.status} ${a.callback.text.slice(0, 300)}`);
    assert.ok(sessionSet(a.callback), `${mode}: a session cookie`);
    assert.equal(new URL(a.callback.location, bad.base).pathname, '/d/sales');
    const m = await me(a.request, bad.base);
    assert.equal(m.status, 200, `${mode}: ${m.text}`);
    const { user, roles } = m.json();
    assert.equal(user.issuer, rogue.issuer);
    assert.equal(user.subject, rogue.user.sub);
    assert.equal(user.email, rogue.user.email);
    assert.deepEqual(roles, ['admin']);
  }
});

// Before any test sends an unknown kid: clients rate-limit refetching the key set on unknown kids
// (Sightline: once per 30 s), and a real rotation must not wait for that.
test('a signing key the provider rotated in is picked up by fetching the JWKS again', async () => {
  // Sign in once so the current keys are known and cached.
  assert.ok(isRedirect((await rogueSignIn({ mode: 'valid-rs256' })).callback));
  const fetchesBefore = rogue.jwksFetches;
  // Publish the key that 'unknown-kid' tokens were signed with; valid RS256 tokens now use it.
  rogue.rotate();
  // Tolerate a client that rate-limits refreshing the key set: retry as a user would, for a while.
  const deadline = Date.now() + 35_000;
  let a;
  for (;;) {
    a = await rogueSignIn({ mode: 'valid-rs256' });
    if (isRedirect(a.callback) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  assert.ok(isRedirect(a.callback), `signed in with the rotated key, got ${a.callback.status} ${a.callback.text.slice(0, 300)}`);
  assert.equal((await me(a.request, bad.base)).status, 200);
  assert.ok(rogue.jwksFetches > fetchesBefore, 'the JWKS was fetched again');
  // A key that is still not published ('unknown-kid' now signs with the next one) is refused.
  await assertRefused(await rogueSignIn({ mode: 'unknown-kid' }), 'unknown-kid after rotation');
}, { timeout: 60_000 });

test('every forged, misdirected, stale or replayed ID token is refused', async () => {
  for (const mode of MODES.filter((m) => !VALID_MODES.includes(m))) {
    const a = await rogueSignIn({ mode });
    // The provider did hand out a token: the refusal is Sightline's validation of the ID token.
    assert.equal(a.tokenRequests.at(-1)?.outcome, 'ok', `${mode}: the code exchange itself succeeded`);
    await assertRefused(a, mode);
  }
});

test('a callback URL works once: replaying state and code fails', async () => {
  const a = await rogueAttempt({ mode: 'valid-rs256' });
  const loginCookie = a.jar.get(bad.base, 'sightline_login');
  assert.ok(loginCookie, 'the browser holds the login cookie');
  const first = await a.request(a.callbackUrl);
  assert.ok(isRedirect(first), `first use signs in, got ${first.status}`);
  secrets.add(sessionSet(first)?.value);

  // The same URL again, with the login cookie as it was before the first use.
  const replay = newClient();
  replay.jar.set(bad.base, 'sightline_login', loginCookie);
  const tokensBefore = rogue.tokenRequests.length;
  const again = await replay.request(a.callbackUrl);
  assert.equal(rogue.tokenRequests.length, tokensBefore, 'a used state is refused before the code is exchanged again');
  assert.ok(again.status >= 400 && again.status < 500, `replay answers 4xx, got ${again.status}`);
  assert.equal(sessionSet(again), undefined, 'no session from a replayed callback');
  assert.equal((await me(replay.request, bad.base)).status, 401);
  // And in the browser that used it (its cookies as they are now).
  const again2 = await a.request(a.callbackUrl);
  assert.ok(!sessionSet(again2), 'no new session in the original browser either');
  assert.ok(again2.status >= 400 && again2.status < 500, `replay in the same browser answers 4xx, got ${again2.status}`);
});

test('a callback without the browser\'s own sightline_login cookie fails (login CSRF, stolen code)', async () => {
  // No login cookie at all.
  const a = await rogueAttempt({ mode: 'valid-rs256' });
  a.jar.delete(bad.base, 'sightline_login');
  const tokensBefore = rogue.tokenRequests.length;
  const res = await a.request(a.callbackUrl);
  assert.ok(res.status >= 400 && res.status < 500, `answers 4xx, got ${res.status}`);
  assert.equal(sessionSet(res), undefined);
  assert.equal(rogue.tokenRequests.length, tokensBefore, 'the code is not even exchanged');
  assert.equal((await me(a.request, bad.base)).status, 401);

  // The attacker's callback URL in a victim's browser that has a login attempt of its own.
  const attacker = await rogueAttempt({ mode: 'valid-rs256' });
  const victim = await rogueAttempt({ mode: 'valid-rs256' });
  const hijack = await victim.request(attacker.callbackUrl);
  assert.ok(hijack.status >= 400 && hijack.status < 500, `answers 4xx, got ${hijack.status}`);
  assert.equal(sessionSet(hijack), undefined);
  assert.equal((await me(victim.request, bad.base)).status, 401);
  // A forged state with the victim's login cookie fails too.
  const forged = new URL(victim.callbackUrl);
  forged.searchParams.set('state', `${forged.searchParams.get('state')}x`);
  const f = await victim.request(forged.href);
  assert.ok(f.status >= 400 && f.status < 500, `a forged state answers 4xx, got ${f.status}`);
  assert.equal(sessionSet(f), undefined);
});

test('return_to never leaves Sightline: open-redirect attempts end on a local path', async () => {
  // root: not a local path at all, so docs/security.md says it becomes "/".
  const hostile = [
    { returnTo: 'https://evil.example', root: true },
    { returnTo: '//evil.example', root: true },
    { returnTo: '/\\evil.example' },
    { returnTo: '\\\\evil.example', root: true },
    { returnTo: 'javascript:alert(1)', root: true },
    { rawReturnTo: '%2F%2Fevil.example', root: true },
    { rawReturnTo: '%252F%252Fevil.example', root: true },
    { rawReturnTo: '%2F%09%2Fevil.example' },
    { returnTo: '/%2F/evil.example' },
    { returnTo: 'http:evil.example', root: true },
  ];
  for (const { root, ...h } of hostile) {
    const what = JSON.stringify(h);
    const a = await rogueSignIn({ mode: 'valid-rs256', ...h });
    // /auth/login went to the provider, not anywhere else.
    assert.equal(new URL(a.responses[0].location).origin, rogue.issuer, `${what}: /auth/login goes to the provider`);
    assert.ok(isRedirect(a.callback), `${what}: the sign-in itself works, got ${a.callback.status}`);
    const header = a.callback.headers.get('location');
    const target = new URL(header, bad.base); // as a browser resolves it (backslashes are slashes)
    assert.equal(target.origin, bad.base, `${what}: Location ${header} stays on Sightline`);
    assert.ok(!/^\s*(\/\/|\/\\|\\)/.test(header), `${what}: the Location header ${header} is not protocol-relative`);
    if (root) assert.equal(target.pathname + target.search, '/', `${what}: Location ${header} is /`);
  }
  // A local path (with its query) is kept.
  const ok = await rogueSignIn({ mode: 'valid-rs256', returnTo: '/d/customers?f.segment=Enterprise' });
  const t = new URL(ok.callback.location, bad.base);
  assert.equal(t.pathname + t.search, '/d/customers?f.segment=Enterprise');
});

test('tokens in a query string are refused with 400, signed in or not', async () => {
  const a = await rogueSignIn({ mode: 'valid-rs256' });
  const idToken = a.tokenRequests.at(-1).idToken;
  for (const p of ['/api/v1/dashboards', '/api/v1/me', '/api/v1/dashboards/sales']) {
    const anon = await fetch(`${bad.base}${p}?access_token=${encodeURIComponent(idToken)}`);
    assert.equal(anon.status, 400, `${p} with ?access_token= and no session`);
    const signed = await a.request(`${bad.base}${p}?access_token=${encodeURIComponent(idToken)}`);
    assert.equal(signed.status, 400, `${p} with ?access_token= and a session`);
  }
  const slt = await fetch(`${bad.base}/api/v1/dashboards?access_token=slt_abcdefghijklmnopqrstuvwxyz`);
  assert.equal(slt.status, 400, 'an API token in the query string');
  // An ID token is not an API credential either.
  const bearer = await fetch(`${bad.base}/api/v1/dashboards`, { headers: { authorization: `Bearer ${idToken}` } });
  assert.equal(bearer.status, 401, 'an ID token as a bearer token is not accepted');
});

test('the provider\'s error answer at the callback is refused without a session', async () => {
  const a = await rogueAttempt({ mode: 'valid-rs256' });
  const u = new URL(a.callbackUrl);
  u.searchParams.delete('code');
  u.searchParams.set('error', 'access_denied');
  const res = await a.request(u.href);
  assert.ok(res.status >= 400 && res.status < 500, `answers 4xx, got ${res.status}`);
  assert.equal(sessionSet(res), undefined);
  assert.equal((await me(a.request, bad.base)).status, 401);
});

test('no token, code, verifier, secret or session id appears in Sightline\'s logs', async () => {
  // Make sure the real stack's last tokens are in the list too.
  for (const c of provider.issued.codes) secrets.add(c);
  for (const t of [...provider.issued.idTokens, ...provider.issued.accessTokens]) secrets.add(t);
  for (const t of rogue.tokenRequests) {
    if (t.idToken) secrets.add(t.idToken);
    if (t.params.code_verifier) secrets.add(t.params.code_verifier);
    if (t.params.code) secrets.add(t.params.code);
  }
  for (const c of rogue.issuedCodes) secrets.add(c);
  const wanted = [...secrets].filter((s) => typeof s === 'string' && s.length >= 12);
  assert.ok(wanted.length > 20, `enough secrets to look for (${wanted.length})`);
  for (const { name, server } of [{ name: 'real', server: real.server }, { name: 'rogue', server: bad.server }]) {
    const output = server.output();
    assert.ok(output.length > 0, `${name}: the server logged something`);
    for (const s of wanted) {
      // A JWT's signature part (with its payload, which the logs could show decoded) is what matters.
      const parts = s.split('.');
      const sig = parts.length === 3 && parts[2].length >= 12 ? [parts[2]] : [];
      for (const p of [s, ...sig]) {
        assert.ok(!output.includes(p), `${name}: the logs contain a secret (${p.slice(0, 12)}...)`);
      }
    }
  }
});
