// A project whose data breaks in every way an engine can fail at query time, with sign-in by a
// trusted proxy and a row policy, for the tests of what errors may say (errors.test.mjs,
// docs_errors.test.mjs):
//   regional  a CSV read at query time whose `amount` fails to convert on a South row, in a folder
//             named through ${env:TENANT_DIR} (a secret as far as the project is concerned)
//   events    200,000 Parquet rows; widgets `hungry` (more memory than engine.memory_limit) and
//             `slow` (past the 3 s engine.query_timeout)
//   shaped    Parquet files a test may change under the view
import fs from 'node:fs';
import path from 'node:path';
import { writeProject, oracleExec } from './harness.mjs';

export const SECRET = 'tenant-8f3a9c2e71b4';
// Values that only rows a North user may not see hold.
export const SOUTH_VALUES = ['SOUTH-SECRET-ROW', '987654', '424242'];
// Headers of a North user, as the trusted proxy (loopback) sends them.
export const NORTH = { 'X-Forwarded-User': 'nora', 'X-Forwarded-Groups': 'north' };
export const ENV = { TENANT_DIR: SECRET };

/** Writes the project; `extraAuth` is appended to the auth: section (e.g. limits). */
export function brokenProject({ extraAuth = '' } = {}) {
  const dir = writeProject({
    'sightline.yaml': `
name: errors
engine:
  memory_limit: 200MB
  query_timeout: 3s
  threads: 2
sources:
  regional:
    path: data/\${env:TENANT_DIR}/regional.csv
    types: { amount: INTEGER }
  events:
    path: data/events/*.parquet
  shaped:
    path: data/shaped/*.parquet
  inbox:
    ingest: { roles: [north] }
    columns: { id: BIGINT, note: VARCHAR }
dashboards: dashboards/*.yaml
auth:
  mode: proxy
  proxy:
    trusted_proxies: [127.0.0.1]
${extraAuth}
roles:
  north: { groups: [north] }
policies:
  regional: { north: "region = 'North'" }
  events: { north: "region = 'North'" }
  shaped: { north: "region = 'North'" }
`,
    'dashboards/regional.yaml': `
id: regional
title: Regional
source: regional
filters:
  - { id: region, type: select, column: region }
widgets:
  - { id: total, type: kpi, measure: sum(amount) }
  - { id: rows, type: table, columns: [id, region, amount] }
`,
    'dashboards/events.yaml': `
id: events
title: Events
source: events
filters:
  - { id: region, type: select, column: region }
  - { id: channel, type: multiselect, column: region }
widgets:
  - { id: total, type: kpi, measure: sum(amount) }
  - { id: by_region, type: bar, x: region, y: sum(amount) }
  - id: own
    type: kpi
    measure: total
    sql: SELECT sum(amount) AS total FROM events WHERE {{ filters }}
  - id: hungry
    type: table
    sql: SELECT list(repeat(a.region, 2000)) AS ids FROM (SELECT * FROM events WHERE {{ filters }}) a, events b WHERE a.id < 4000
  - id: slow
    type: kpi
    measure: n
    sql: SELECT count(*) AS n FROM (SELECT * FROM events WHERE {{ filters }}) a, events b WHERE (a.id * 31 + b.id) % 1000003 = 7
`,
    'dashboards/shaped.yaml': `
id: shaped
title: Shaped
source: shaped
widgets:
  - { id: total, type: kpi, measure: sum(amount) }
  - id: own
    type: kpi
    measure: total
    sql: SELECT sum(amount) AS total FROM shaped
`,
    [`data/${SECRET}/regional.csv`]:
      'id,region,amount\n1,North,10\n2,North,20\n3,South,"SOUTH-SECRET-ROW"\n4,South,987654\n5,North,5\n',
  });
  fs.mkdirSync(path.join(dir, 'data', 'events'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'data', 'shaped'), { recursive: true });
  oracleExec(`COPY (SELECT range AS id, CASE WHEN range % 2 = 0 THEN 'North' ELSE 'South' END AS region,
               CASE WHEN range % 2 = 0 THEN 1.5 ELSE 424242 END AS amount FROM range(200000))
        TO '${path.join(dir, 'data', 'events', 'a.parquet')}' (FORMAT parquet)`);
  oracleExec(`COPY (SELECT range AS id, 'North' AS region, range AS amount FROM range(1000))
        TO '${path.join(dir, 'data', 'shaped', 'a.parquet')}' (FORMAT parquet)`);
  return dir;
}

// What no response may ever hold: rows the caller may not see, paths, the secret, engine words.
export function leaksIn(text, dir) {
  return [...SOUTH_VALUES, SECRET, dir, 'data/', '.csv', '.parquet', 'Error:', 'Original Line', 'Conversion', 'Binder', 'Catalog',
    'INTERRUPT', 'Out of Memory', 'read_csv', 'read_parquet', 'SELECT'].filter((v) => text.includes(v));
}
