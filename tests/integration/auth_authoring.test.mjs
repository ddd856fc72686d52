// Row policies at run time where authoring used to trip (issue 9): a policy comparing a number
// with a numeric ID token claim starts (it passes the start-up check) and grants exactly the rows
// the claim allows; and own SQL that spells a source in another case still reads only the
// caller's rows. Users sign in through the scriptable provider, whose ID tokens carry any claim
// (proxy headers and API tokens carry no typed claims).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { oracle, ordersScan } from './harness.mjs';
import { startRogueProvider } from './oidc/rogue.mjs';
import { loginOverHttp } from './oidc/login.mjs';
import { startSignInStack, randomSecret, ROWS } from './oidc/server.mjs';

const POLICIES = `
roles:
  admin: { groups: [sightline-admins] }
  north: { groups: [sales-north] }
  capped: { groups: [capped] }

policies:
  orders:
    admin: all
    north: region = 'North'
    capped: "revenue <= {{ user.claims.max_revenue }}"
  orders_enriched: { admin: all, north: region = 'North' }
  customers: { admin: all }
`;

// Own SQL naming the source `orders` as ORDERS and "Orders".
const OWN_SQL = `title: Own SQL
source: orders
filters:
  - { id: channel, type: select, column: channel }
widgets:
  - id: totals
    type: kpi
    sql: SELECT count(*) AS orders FROM ORDERS WHERE {{ filters }}
  - id: regions
    type: table
    sql: SELECT o.region, count(*) AS orders FROM "Orders" AS o WHERE {{ filters }} GROUP BY o.region
`;

let rogue;
let stack;

before(async () => {
  const clientSecret = randomSecret(24);
  rogue = await startRogueProvider({ clientSecret });
  stack = await startSignInStack({
    issuer: rogue.issuer,
    clientSecret,
    extraYaml: POLICIES,
    editProject: (dir) => fs.writeFileSync(path.join(dir, 'dashboards', 'own.yaml'), OWN_SQL),
    register: ({ base }) => { rogue.redirectUri = `${base}/auth/callback`; },
  });
}, { timeout: 150_000 });

after(async () => {
  await stack?.server.stop();
  await rogue?.stop();
});

/** Signs in as `user` (ID token claims) and returns a function that answers a widget's rows. */
async function signIn(user) {
  rogue.user = { email: `${user.sub}@example.com`, name: user.sub, ...user };
  const login = await loginOverHttp(stack.base, { returnTo: '/' });
  assert.ok(login.csrfToken, `signed in as ${user.sub}: ${login.callback?.status} ${login.callback?.text.slice(0, 200)}`);
  return async (dashboard, widget, body = {}) => {
    const res = await login.request(`${stack.base}/api/v1/dashboards/${dashboard}/widgets/${widget}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': login.csrfToken },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, `${dashboard}/${widget} as ${user.sub}: ${res.text.slice(0, 300)}`);
    return res.json().rows;
  };
}

const count = (where) => Number(oracle(`SELECT count(*) FROM ${ordersScan(ROWS)} WHERE ${where}`).rows[0][0]);

test('a policy comparing a number with a numeric claim grants exactly the rows the claim allows', async () => {
  const cap = Number(oracle(`SELECT CAST(quantile_disc(revenue, 0.3) AS BIGINT) FROM ${ordersScan(ROWS)}`).rows[0][0]);
  const expected = count(`revenue <= ${cap}`);
  assert.ok(expected > 0 && expected < ROWS, `a cap that keeps some rows (${expected})`);
  const rows = await signIn({ sub: 'cara', groups: ['capped'], claims: { max_revenue: cap } });
  assert.equal(Number((await rows('sales', 'orders'))[0][0]), expected, 'a declared KPI');
  assert.equal(Number((await rows('own', 'totals'))[0][0]), expected, 'own SQL');
  const online = await rows('own', 'totals', { filters: { channel: 'Online' } });
  assert.equal(Number(online[0][0]), count(`revenue <= ${cap} AND channel = 'Online'`), 'with a filter on top');

  const unclaimed = await signIn({ sub: 'carl', groups: ['capped'] });
  assert.equal(Number((await unclaimed('sales', 'orders'))[0][0]), 0, 'no claim: no rows, and no error');
});

test('own SQL that spells the source in another case reads only the caller\'s rows', async () => {
  const north = await signIn({ sub: 'nora', groups: ['sales-north'] });
  assert.equal(Number((await north('own', 'totals'))[0][0]), count("region = 'North'"), 'FROM ORDERS');
  const regions = await north('own', 'regions');
  assert.deepEqual(regions.map((r) => r[0]), ['North'], 'FROM "Orders": only North');
  assert.equal(Number(regions[0][1]), count("region = 'North'"));

  const admin = await signIn({ sub: 'ada', groups: ['sightline-admins'] });
  assert.equal(Number((await admin('own', 'totals'))[0][0]), ROWS, 'the admin reads every row');
  assert.ok((await admin('own', 'regions')).length > 1, 'and every region');
});
