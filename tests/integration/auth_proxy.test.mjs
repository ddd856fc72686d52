// Identity from an authenticating reverse proxy (docs/security.md, auth.mode proxy): headers are
// believed only from trusted peers. And auth mode none refuses to serve beyond loopback unless
// allow_remote says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { authProject, startSightline, serveExpectingRefusal, ROLES_YAML } from './oidc/server.mjs';

const proxyYaml = (trusted) => `
auth:
  mode: proxy
  proxy:
    trusted_proxies: [${trusted.join(', ')}]
${ROLES_YAML}`;

let trusted; // trusts 127.0.0.1
let untrusted; // trusts 10.0.0.0/8 only: the tests' loopback requests are not from a proxy

before(async () => {
  [trusted, untrusted] = await Promise.all([
    startSightline(authProject(proxyYaml(['127.0.0.1']))),
    startSightline(authProject(proxyYaml(['10.0.0.0/8']))),
  ]);
}, { timeout: 150_000 });

after(async () => {
  await Promise.all([trusted?.stop(), untrusted?.stop()]);
});

const identity = {
  'X-Forwarded-User': 'pat',
  'X-Forwarded-Email': 'pat@example.com',
  'X-Forwarded-Preferred-Username': 'Pat Proxy',
  'X-Forwarded-Groups': 'sales-north,other',
};
const get = (server, p, headers = {}) => fetch(new URL(p, server.url), { headers: { accept: 'application/json', ...headers }, redirect: 'manual' });

test('a trusted proxy\'s headers give the identity, and its groups the roles', async () => {
  const res = await get(trusted, '/api/v1/me', identity);
  assert.equal(res.status, 200, await res.clone().text());
  const body = await res.json();
  assert.equal(body.auth_mode, 'proxy');
  assert.equal(body.user.subject, 'pat');
  assert.equal(body.user.email, 'pat@example.com');
  assert.equal(body.user.name, 'Pat Proxy');
  assert.deepEqual(body.user.groups, ['sales-north', 'other']);
  assert.deepEqual(body.roles, ['north']);
  assert.equal((await get(trusted, '/api/v1/dashboards', identity)).status, 200);

  const admin = await (await get(trusted, '/api/v1/me', { 'X-Forwarded-User': 'root', 'X-Forwarded-Groups': 'sightline-admins' })).json();
  assert.deepEqual(admin.roles, ['admin']);
  // Spaces around the commas do not matter.
  const spaced = await (await get(trusted, '/api/v1/me', { 'X-Forwarded-User': 'sue', 'X-Forwarded-Groups': 'other , sales-south' })).json();
  assert.deepEqual(spaced.roles, ['south']);
});

test('a trusted peer without the user header is not signed in', async () => {
  const { 'X-Forwarded-User': _, ...noUser } = identity;
  for (const p of ['/api/v1/me', '/api/v1/dashboards']) {
    const res = await get(trusted, p, noUser);
    assert.equal(res.status, 401, p);
    assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
    assert.match(String((await res.json()).type), /unauthenticated$/);
  }
  assert.equal((await get(trusted, '/api/v1/me', { ...identity, 'X-Forwarded-User': '' })).status, 401, 'an empty user header');
});

test('identity headers from a peer that is not a trusted proxy are ignored', async () => {
  for (const p of ['/api/v1/me', '/api/v1/dashboards', '/api/v1/dashboards/sales']) {
    const res = await get(untrusted, p, identity);
    assert.equal(res.status, 401, `${p} with identity headers from 127.0.0.1, which is not in 10.0.0.0/8`);
  }
  // Claiming to be forwarded by a trusted address changes nothing: the TCP peer counts.
  const spoofed = await get(untrusted, '/api/v1/me', { ...identity, 'X-Forwarded-For': '10.1.2.3', 'X-Real-IP': '10.1.2.3', Forwarded: 'for=10.1.2.3' });
  assert.equal(spoofed.status, 401, 'X-Forwarded-For does not make the peer trusted');
  const q = await fetch(new URL('/api/v1/dashboards/sales/widgets/revenue/query', untrusted.url), {
    method: 'POST', headers: { 'content-type': 'application/json', ...identity }, body: '{}',
  });
  assert.equal(q.status, 401, 'a widget query');
});

test('a widget query through the proxy answers data; a cross-site one is refused', async () => {
  const url = new URL('/api/v1/dashboards/sales/widgets/revenue/query', trusted.url);
  const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...identity }, body: '{}' });
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.ok(Array.isArray((await ok.json()).columns));
  const cross = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', origin: 'https://evil.example', ...identity }, body: '{}',
  });
  assert.equal(cross.status, 403, 'a POST from another site\'s page');
});

test('auth mode none refuses to listen beyond loopback unless allow_remote is set, then warns loudly', async () => {
  const refused = await serveExpectingRefusal(authProject(''), { args: ['--host', '0.0.0.0'] });
  assert.equal(refused.started, false, 'mode none on 0.0.0.0 must not start');
  assert.notEqual(refused.exitCode, 0);
  assert.match(refused.output, /allow_remote/, `the message says how to allow it:\n${refused.output}`);

  const explicitNone = await serveExpectingRefusal(authProject('auth:\n  mode: none\n'), { args: ['--host', '0.0.0.0'] });
  assert.equal(explicitNone.started, false, 'an explicit mode none on 0.0.0.0 must not start either');

  const server = await startSightline(authProject('auth:\n  mode: none\n  allow_remote: true\n'), { args: ['--host', '0.0.0.0'] });
  try {
    const res = await fetch(new URL('/api/v1/dashboards', `http://127.0.0.1:${new URL(server.url).port}/`));
    assert.equal(res.status, 200, 'serves without sign-in');
    const warning = server.logs.find((l) => /warn/i.test(l) && /allow_remote|remote|without sign-in|anyone|unauthenticated/i.test(l));
    assert.ok(warning, `a loud warning at start-up:\n${server.logs.join('\n')}`);
  } finally {
    assert.equal(await server.stop(), 0);
  }
}, { timeout: 120_000 });
