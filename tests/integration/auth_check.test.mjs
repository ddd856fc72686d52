// `sightline check` on the security parts of a project: every mistake is reported with its
// place and a hint before anything is served; and a hot reload cannot turn sign-in off on a
// server that listens beyond loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, salesProject, startServer } from './harness.mjs';

const AUTH = `
auth:
  mode: proxy
  proxy: { trusted_proxies: [127.0.0.1] }
roles:
  admin: { groups: [admins] }
  north: { groups: [sales-north] }
`;

function check(dir) {
  const r = spawnSync(BIN, ['check', dir], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

function project(extra, dashboardEdit) {
  return salesProject(20000, (dir) => {
    fs.appendFileSync(path.join(dir, 'sightline.yaml'), AUTH + extra);
    if (dashboardEdit) {
      const file = path.join(dir, 'dashboards', 'customers.yaml');
      fs.writeFileSync(file, dashboardEdit(fs.readFileSync(file, 'utf8')));
    }
  });
}

const POLICIES = `policies:
  orders: { admin: all, north: "region = 'North'" }
  orders_enriched: { admin: all, north: "region = 'North'" }
  customers: { admin: all }
`;

test('a clean secured project passes, and a relation without a policy is reported', () => {
  const clean = check(project(POLICIES));
  assert.equal(clean.status, 0, clean.out);
  const missing = check(project(`policies:\n  orders: { admin: all }\n  orders_enriched: { admin: all }\n`));
  assert.equal(missing.status, 0, missing.out);
  assert.match(missing.out, /warning: 'customers' has no row policy: with auth on, nobody sees its rows/);
});

test('policy mistakes: unknown role and quoted placeholders (config), unknown column and placeholder (engine)', () => {
  const config = check(project(`policies:
  orders: { admin: all, sales: all }
  orders_enriched: { admin: all, north: "account_manager = '{{ user.email }}'" }
`));
  assert.notEqual(config.status, 0);
  assert.match(config.out, /sightline\.yaml:\d+:\d+: error: policies\.orders: unknown role 'sales'/);
  assert.match(config.out, /placeholder inside quotes[\s\S]*without quotes/);
  const engine = check(project(`policies:
  orders: { admin: all, north: "regoin = 'North'" }
  orders_enriched: { admin: all }
  customers: { admin: all, north: "x = {{ user.password }}" }
`));
  assert.notEqual(engine.status, 0);
  assert.match(engine.out, /sightline\.yaml:\d+:\d+: error: row policy orders\/north does not compile: .*regoin/);
  assert.match(engine.out, /hint: columns of orders: /);
  assert.match(engine.out, /unknown placeholder \{\{ user\.password \}\}/);
});

test('own SQL that could read around row policies is refused when auth is on', () => {
  const escapes = [
    ['FROM main.orders_enriched', /'main\.orders_enriched' \(qualified name\)/],
    ["FROM read_csv('data/customers.csv') JOIN orders_enriched USING (account_manager)", /read_csv\(\.\.\.\)' \(table function\)/],
    ["FROM 'data/orders/**/*.parquet'", /not a source or model of the project/],
  ];
  for (const [from, message] of escapes) {
    const r = check(project(POLICIES, (yaml) => yaml.replace('FROM orders_enriched', from)));
    assert.notEqual(r.status, 0, `${from} passed check:\n${r.out}`);
    assert.match(r.out, /customers\.yaml:\d+:\d+: error: widget 'top_managers': its SQL reads/);
    assert.match(r.out, message, r.out);
  }
  // Its own CTEs are fine.
  const cte = check(project(POLICIES, (yaml) => yaml.replace('FROM orders_enriched', 'FROM (WITH e AS (SELECT * FROM orders_enriched) SELECT * FROM e) AS e')));
  assert.equal(cte.status, 0, cte.out);
});

test('SQL names are case-insensitive: own SQL may spell sources, models and CTEs in any case, and escapes stay refused', () => {
  const upper = check(project(POLICIES, (yaml) => yaml.replace('FROM orders_enriched',
    'FROM (WITH Managed AS (SELECT * FROM ORDERS_ENRICHED) SELECT * FROM MANAGED WHERE order_id IN (SELECT order_id FROM "Orders_Enriched")) AS e')));
  assert.equal(upper.status, 0, upper.out);
  const escapes = [
    ['FROM MAIN.ORDERS_ENRICHED', /'MAIN\.ORDERS_ENRICHED' \(qualified name\)/],
    ['FROM ORDERS_ENRICHED JOIN READ_CSV(\'data/customers.csv\') USING (account_manager)', /read_csv\(\.\.\.\)' \(table function\)/i],
    ['FROM ORDERS_ENRICHED_X', /'ORDERS_ENRICHED_X' \(not a source or model of the project\)/],
  ];
  for (const [from, message] of escapes) {
    const r = check(project(POLICIES, (yaml) => yaml.replace('FROM orders_enriched', from)));
    assert.notEqual(r.status, 0, `${from} passed check:\n${r.out}`);
    assert.match(r.out, message, r.out);
  }
});

test('a policy comparing a number with a numeric claim passes check', () => {
  const r = check(project(`policies:
  orders: { admin: all, north: "revenue <= {{ user.claims.max_revenue }}" }
  orders_enriched: { admin: all, north: "revenue <= {{ user.claims.max_revenue }} AND region = {{ user.claims.region }}" }
  customers: { admin: all }
`));
  assert.equal(r.status, 0, r.out);
});

test('roles on dashboards must exist; literal secrets are warned about', () => {
  const r = check(project(POLICIES, (yaml) => `roles: [admin, nroth]\n${yaml}`));
  assert.notEqual(r.status, 0);
  assert.match(r.out, /unknown role 'nroth'[\s\S]*did you mean 'north'/);
  const oidc = salesProject(20000, (dir) => fs.appendFileSync(path.join(dir, 'sightline.yaml'), `
auth:
  mode: oidc
  public_url: http://127.0.0.1:9
  session: { secret: "k7Qv2Lx9Pz4Wm8Rt1Yb6Nc3Hd5Jf0Gs2Ae9" }
  oidc: { issuer: "http://127.0.0.1:9", client_id: sightline, client_secret: "literal-client-secret-value" }
roles: { admin: { groups: [admins] } }
policies: { orders: { admin: all }, orders_enriched: { admin: all }, customers: { admin: all } }
`));
  const w = check(oidc);
  assert.equal(w.status, 0, w.out);
  assert.match(w.out, /auth\.session\.secret is written into the YAML file/);
  assert.match(w.out, /auth\.oidc\.client_secret is written into the YAML file/);
  assert.ok(!w.out.includes('literal-client-secret-value') && !w.out.includes('k7Qv2Lx9'), 'the secrets themselves are not printed');
});

test('a reload that turns sign-in off is refused while the server listens beyond loopback', async () => {
  const dir = project(POLICIES);
  const server = await startServer(dir, ['--host', '0.0.0.0']);
  try {
    const url = server.url.replace('localhost', '127.0.0.1');
    const yaml = path.join(dir, 'sightline.yaml');
    fs.writeFileSync(yaml, fs.readFileSync(yaml, 'utf8').replace('mode: proxy', 'mode: none'));
    let ready;
    for (let i = 0; i < 100; i++) {
      ready = await (await fetch(new URL('/readyz', url))).json();
      if (ready.last_reload_error) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // With sign-in on, the unauthenticated /readyz says that the reload failed, not why; the log says why.
    assert.match(ready.last_reload_error ?? '', /the last reload failed/);
    assert.doesNotMatch(ready.last_reload_error, /sign-in off|sightline\.yaml/);
    const failed = server.jsonLogs().find((l) => l.event === 'reload_failed');
    assert.match(failed?.errors ?? '', /turns sign-in off while the server listens beyond loopback/, server.logs.slice(-5).join('\n'));
    assert.equal(ready.auth, 'proxy');
    const anonymous = await fetch(new URL('/api/v1/dashboards', url));
    assert.equal(anonymous.status, 401, 'still signed-in only');
  } finally {
    await server.stop();
  }
});

test('token create and revoke running at the same time never lose a revocation', async () => {
  const dir = project(POLICIES);
  const run = (args) => new Promise((resolve, reject) => {
    const child = spawn(BIN, ['token', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`token ${args[0]} exited ${code}`))));
  });
  for (let round = 0; round < 12; round++) {
    await run(['create', dir, '--subject', `victim-${round}`, '--roles', 'north', '--expires', '1h']);
    const id = (await run(['list', dir])).split('\n').find((l) => l.includes(`victim-${round} `)).split(/\s+/)[0];
    await Promise.all([run(['revoke', dir, id]), run(['create', dir, '--subject', `other-${round}`, '--expires', '1h']),
      run(['create', dir, '--subject', `third-${round}`, '--expires', '1h'])]);
    const line = (await run(['list', dir])).split('\n').find((l) => l.startsWith(id));
    assert.match(line, /revoked/, `round ${round}: ${line}`);
  }
  const listed = (await run(['list', dir])).split('\n').filter((l) => /^[0-9a-f]{12} /.test(l));
  assert.equal(listed.length, 36, 'no token lost either');
  const mode = fs.statSync(path.join(dir, '.sightline', 'tokens.json')).mode & 0o777;
  assert.equal(mode, 0o600);
});
