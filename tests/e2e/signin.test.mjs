// End to end sign-in (docs/security.md): Chromium opens a dashboard of a Sightline that has
// OpenID sign-in on, signs in at a real provider (oidc-provider's development login and consent
// pages), sees the dashboard drawn with the user's name in the header, signs out, and is signed
// out on the server and at the provider.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BUILD_DIR, oracle, ordersScan } from '../integration/harness.mjs';
import { startProvider } from '../integration/oidc/provider.mjs';
import { startSignInStack, randomSecret, postLogoutUris, ROWS } from '../integration/oidc/server.mjs';
import { launchBrowser, openPage, screenshotter, waitForDrawn, kpiValue } from './browser.mjs';

const shot = screenshotter(BUILD_DIR, 'signin');
const clientSecret = randomSecret(24);
let provider;
let stack;
let browser;

before(async () => {
  provider = await startProvider({ clientSecret });
  stack = await startSignInStack({
    issuer: provider.issuer,
    clientSecret,
    register: ({ base }) => provider.registerClient({ redirectUri: `${base}/auth/callback`, postLogoutRedirectUri: postLogoutUris(base) }),
  });
  browser = await launchBrowser();
}, { timeout: 150_000 });

after(async () => {
  await browser?.close();
  await stack?.server.stop();
  await provider?.stop();
});

test('sign in at the provider, see the dashboard with the user\'s name, sign out', { timeout: 120_000 }, async () => {
  const base = stack.base;
  const atProvider = (u) => u.startsWith(`${provider.issuer}/`);
  // 401s from Sightline's API after signing out, and anything the provider's own pages load, are
  // not Sightline's problems.
  const { context, page, problems } = await openPage(browser, {
    expected: (u) => atProvider(u) || u.startsWith(`${base}/api/v1/me`),
  });
  const seen = [];
  page.on('request', (r) => { if (r.isNavigationRequest()) seen.push(r.url()); });
  // Only loopback: nothing the app or the provider's pages load may leave the machine.
  const outside = [];
  await context.route((u) => !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) && /^https?:$/.test(u.protocol), (route) => {
    outside.push(route.request().url());
    return route.abort('blockedbyclient');
  });

  // 1. The dashboard's URL sends an anonymous browser to the provider's login page.
  await page.goto(`${base}/d/sales?f.region=North`);
  await page.waitForURL((u) => atProvider(u.href) && u.pathname.startsWith('/interaction/'), { timeout: 30_000 });
  assert.ok(seen.some((u) => u.startsWith(`${base}/auth/login?return_to=`)), `went through /auth/login: ${seen.join(' ')}`);
  const loginName = page.locator('input[name=login]');
  await loginName.waitFor({ timeout: 15_000 });
  await shot(page, 'provider-login');

  // 2. Log in, then consent.
  await loginName.fill('alice');
  await page.locator('input[name=password]').fill('correct horse battery staple');
  await page.locator('button[type=submit]').click();
  const consent = page.getByRole('button', { name: /continue/i });
  await consent.waitFor({ timeout: 15_000 });
  await shot(page, 'provider-consent');
  await consent.click();

  // 3. Back on the same dashboard view, every widget drawn, the user named in the header.
  await page.waitForURL((u) => u.origin === base && u.pathname === '/d/sales', { timeout: 30_000 });
  assert.equal(new URL(page.url()).searchParams.get('f.region'), 'North', 'the filter in the URL survived the round trip');
  await waitForDrawn(page);
  const states = await page.locator('.widget[data-widget-id]').evaluateAll((els) => els.map((e) => [e.dataset.widgetId, e.dataset.widgetType, e.dataset.state]));
  assert.ok(states.length >= 10, `widgets: ${states.map((s) => s[0])}`);
  for (const [id, type, state] of states) if (type !== 'text') assert.equal(state, 'ready', `${id} is drawn`);
  const name = page.locator('[data-user-name]');
  await name.waitFor({ timeout: 10_000 });
  assert.match(await name.innerText(), /Alice Admin/);
  await shot(page, 'signed-in');

  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === 'sightline_session');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
  assert.equal(await page.evaluate(() => document.cookie.includes('sightline_session')), false, 'scripts cannot read the session cookie');

  // 4. Sign out: the app ends the session and follows the server's redirect (the provider's
  // end-session page); confirm there, as a user would.
  const signOut = page.locator('[data-sign-out]');
  await signOut.click();
  await page.waitForURL((u) => !(u.origin === base && u.pathname === '/d/sales'), { timeout: 30_000 });
  await page.waitForLoadState('load');
  await shot(page, 'after-sign-out');
  if (atProvider(page.url()) && new URL(page.url()).pathname.startsWith('/session/end')) {
    const yes = page.getByRole('button', { name: /yes/i });
    if (await yes.count()) {
      await yes.click();
      await page.waitForLoadState('load');
    }
  }

  // The old session is dead on the server.
  const replay = await fetch(`${base}/api/v1/me`, { headers: { cookie: `sightline_session=${session.value}` } });
  assert.equal(replay.status, 401, 'the old session cookie is refused');
  const left = (await context.cookies(base)).find((c) => c.name === 'sightline_session');
  assert.ok(!left || left.value !== session.value, 'the browser no longer holds the session');

  // 5. A fresh visit to the dashboard asks the provider again, which wants a login again.
  seen.length = 0;
  await page.goto(`${base}/d/sales`);
  await page.waitForURL((u) => atProvider(u.href) || u.pathname === '/d/sales', { timeout: 30_000 });
  await page.waitForLoadState('load');
  assert.ok(seen.some((u) => u.startsWith(`${provider.issuer}/auth?`)), `the browser was sent to the provider: ${seen.join(' ')}`);
  await page.locator('input[name=login]').waitFor({ timeout: 15_000 });
  assert.ok(atProvider(page.url()), `on the provider's login page: ${page.url()}`);
  await shot(page, 'signed-out-login-again');

  assert.deepEqual(outside, [], 'no request left the machine');
  assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
  await context.close();
});

test('a regional user signed in through the browser sees only their rows: KPIs, table count and filter options', { timeout: 120_000 }, async () => {
  const base = stack.base;
  const atProvider = (u) => u.startsWith(`${provider.issuer}/`);
  const { context, page, problems } = await openPage(browser, { expected: (u) => atProvider(u) });
  await page.goto(`${base}/d/sales`);
  const loginName = page.locator('input[name=login]');
  await loginName.waitFor({ timeout: 30_000 });
  await loginName.fill('nora');
  await page.locator('input[name=password]').fill('any password');
  await page.locator('button[type=submit]').click();
  const consent = page.getByRole('button', { name: /continue/i });
  await consent.waitFor({ timeout: 15_000 });
  await consent.click();
  await page.waitForURL((u) => u.origin === base && u.pathname === '/d/sales', { timeout: 30_000 });
  await waitForDrawn(page);
  assert.match(await page.locator('[data-user-name]').innerText(), /Nora North/);
  await shot(page, 'regional-user');

  // DuckDB's own answer over the rows the north policy grants.
  const [revenue, orders] = oracle(`SELECT sum(revenue), count(*) FROM ${ordersScan(ROWS)} WHERE region = 'North'`).rows[0];
  assert.equal((await kpiValue(page, 'revenue')).toFixed(2), Number(revenue).toFixed(2));
  assert.equal(await kpiValue(page, 'orders'), Number(orders));
  await page.getByRole('tab', { name: /orders/i }).click();
  await waitForDrawn(page);
  const total = await page.locator('[data-total-count]').getAttribute('data-value');
  assert.equal(Number(total), Number(orders), 'the table counts only the granted rows');

  // The region filter offers only the region this user has rows for.
  const combo = page.locator('[data-filter-id="region"] [role=combobox]');
  await combo.click();
  const options = page.locator('[data-filter-id="region"] [role=option]');
  await options.first().waitFor({ timeout: 10_000 });
  assert.deepEqual(await options.allInnerTexts(), ['North']);
  await shot(page, 'regional-user-region-options');
  assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
  await context.close();
});
