// The rides bench project's data: taxi rides in Berlin, 2021-2024, as Parquet, written by DuckDB
// (the oracle binary, or any DuckDB that runs a script of statements with ICU built in).
//
//   node bench/projects/rides/generate.mjs --rows 1000000 --out bench/data/rides-1000000 [--oracle build/tests/oracle/duckdb_oracle]
//
// The data is deterministic for a row count (every random number is a hash of the row number),
// skewed like real data and shaped unlike the demo's orders:
// - "Pickup Time"/"Dropoff Time" are TIMESTAMPTZ. Rides are spread over local Berlin hours
//   (Europe/Berlin, with its DST changes: one local hour of every spring-forward day does not
//   exist, one of every fall-back day happens twice) by a weight per hour: growth over the years,
//   a slow start in 2021, seasons, weekday rush hours, weekend nights, New Year's Eve, a quiet
//   Christmas, and a six-hour gap with no data at all (2023-06-12 03:00-09:00).
// - 97 pickup zones (Berlin's 96 Ortsteile and the airport) with a power-law popularity; a
//   "Straße" with 100k+ distinct street addresses at 1M rows (a few very popular ones);
//   DECIMAL money columns ("fare (€)", "tip (€)", "total (€)") with a few refunds (negative);
//   DOUBLE "distance (km)" and "duration (min)" (log-normal, with a long tail of outliers);
//   a driver id for distinct counts; a star rating that is mostly missing.
// - Every column has NULLs (0.2 % to 35 %).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Berlin's 12 Bezirke and 96 Ortsteile, plus the airport (outside the city), by popularity.
const ZONES = [
  ['Mitte', 'Mitte'], ['Kreuzberg', 'Friedrichshain-Kreuzberg'], ['Friedrichshain', 'Friedrichshain-Kreuzberg'],
  ['Prenzlauer Berg', 'Pankow'], ['Charlottenburg', 'Charlottenburg-Wilmersdorf'], ['Neukölln', 'Neukölln'],
  ['Schöneberg', 'Tempelhof-Schöneberg'], ['Flughafen BER ✈', 'Dahme-Spreewald (BB)'], ['Wedding', 'Mitte'],
  ['Moabit', 'Mitte'], ['Tiergarten', 'Mitte'], ['Wilmersdorf', 'Charlottenburg-Wilmersdorf'],
  ['Gesundbrunnen', 'Mitte'], ['Tempelhof', 'Tempelhof-Schöneberg'], ['Steglitz', 'Steglitz-Zehlendorf'],
  ['Lichtenberg', 'Lichtenberg'], ['Pankow', 'Pankow'], ['Alt-Treptow', 'Treptow-Köpenick'],
  ['Westend', 'Charlottenburg-Wilmersdorf'], ['Friedenau', 'Tempelhof-Schöneberg'], ['Spandau', 'Spandau'],
  ['Köpenick', 'Treptow-Köpenick'], ['Halensee', 'Charlottenburg-Wilmersdorf'], ['Weißensee', 'Pankow'],
  ['Hansaviertel', 'Mitte'], ['Dahlem', 'Steglitz-Zehlendorf'], ['Zehlendorf', 'Steglitz-Zehlendorf'],
  ['Lichterfelde', 'Steglitz-Zehlendorf'], ['Reinickendorf', 'Reinickendorf'], ['Tegel', 'Reinickendorf'],
  ['Rummelsburg', 'Lichtenberg'], ['Fennpfuhl', 'Lichtenberg'], ['Grunewald', 'Charlottenburg-Wilmersdorf'],
  ['Schmargendorf', 'Charlottenburg-Wilmersdorf'], ['Mariendorf', 'Tempelhof-Schöneberg'], ['Britz', 'Neukölln'],
  ['Adlershof', 'Treptow-Köpenick'], ['Karlshorst', 'Lichtenberg'], ['Friedrichsfelde', 'Lichtenberg'],
  ['Marzahn', 'Marzahn-Hellersdorf'], ['Hellersdorf', 'Marzahn-Hellersdorf'], ['Niederschönhausen', 'Pankow'],
  ['Charlottenburg-Nord', 'Charlottenburg-Wilmersdorf'], ['Plänterwald', 'Treptow-Köpenick'],
  ['Baumschulenweg', 'Treptow-Köpenick'], ['Oberschöneweide', 'Treptow-Köpenick'], ['Niederschöneweide', 'Treptow-Köpenick'],
  ['Johannisthal', 'Treptow-Köpenick'], ['Lankwitz', 'Steglitz-Zehlendorf'], ['Marienfelde', 'Tempelhof-Schöneberg'],
  ['Lichtenrade', 'Tempelhof-Schöneberg'], ['Buckow', 'Neukölln'], ['Rudow', 'Neukölln'], ['Gropiusstadt', 'Neukölln'],
  ['Siemensstadt', 'Spandau'], ['Haselhorst', 'Spandau'], ['Wilhelmstadt', 'Spandau'], ['Hakenfelde', 'Spandau'],
  ['Falkenhagener Feld', 'Spandau'], ['Staaken', 'Spandau'], ['Gatow', 'Spandau'], ['Kladow', 'Spandau'],
  ['Wannsee', 'Steglitz-Zehlendorf'], ['Nikolassee', 'Steglitz-Zehlendorf'], ['Alt-Hohenschönhausen', 'Lichtenberg'],
  ['Neu-Hohenschönhausen', 'Lichtenberg'], ['Falkenberg', 'Lichtenberg'], ['Malchow', 'Lichtenberg'],
  ['Wartenberg', 'Lichtenberg'], ['Biesdorf', 'Marzahn-Hellersdorf'], ['Kaulsdorf', 'Marzahn-Hellersdorf'],
  ['Mahlsdorf', 'Marzahn-Hellersdorf'], ['Wittenau', 'Reinickendorf'], ['Märkisches Viertel', 'Reinickendorf'],
  ['Borsigwalde', 'Reinickendorf'], ['Waidmannslust', 'Reinickendorf'], ['Hermsdorf', 'Reinickendorf'],
  ['Frohnau', 'Reinickendorf'], ['Heiligensee', 'Reinickendorf'], ['Konradshöhe', 'Reinickendorf'],
  ['Lübars', 'Reinickendorf'], ['Heinersdorf', 'Pankow'], ['Blankenburg', 'Pankow'], ['Karow', 'Pankow'],
  ['Stadtrandsiedlung Malchow', 'Pankow'], ['Blankenfelde', 'Pankow'], ['Buch', 'Pankow'],
  ['Französisch Buchholz', 'Pankow'], ['Rosenthal', 'Pankow'], ['Wilhelmsruh', 'Pankow'],
  ['Friedrichshagen', 'Treptow-Köpenick'], ['Rahnsdorf', 'Treptow-Köpenick'], ['Grünau', 'Treptow-Köpenick'],
  ['Müggelheim', 'Treptow-Köpenick'], ['Schmöckwitz', 'Treptow-Köpenick'], ['Altglienicke', 'Treptow-Köpenick'],
  ['Bohnsdorf', 'Treptow-Köpenick'],
];

// Street name stems: "Kant" + "straße" = "Kantstraße"; adjectives ("Berliner") stand apart:
// "Berliner Straße".
const STEMS = `Haupt Linden Garten Kirch Schul Bahnhof Berliner Potsdamer Frankfurter Schiller Goethe Kant Leibniz
Mozart Beethoven Bismarck Kaiser König Friedrich Wilhelm Luisen Charlotten Oranien Danziger Warschauer Greifswalder
Prenzlauer Schönhauser Kastanien Eichen Birken Ahorn Tannen Buchen Rosen Tulpen Nelken Flieder Wald Feld Wiesen Berg
Tal See Brücken Mühlen Schloss Markt Post Park Sonnen Stern Hafen Spree Havel Müggel Dahme Rhein Elbe Oder Main Donau
Weser Isar Neckar Mosel Saar Ruhr Hamburger Münchner Kölner Dresdner Leipziger Stuttgarter Bremer Hannoversche Kieler
Rostocker Schweriner Magdeburger Erfurter Weimarer Görlitzer Cottbuser Brandenburger Spandauer Köpenicker Treptower
Tempelhofer Schöneberger Pankower Lichtenberger Marzahner Steglitzer Zehlendorfer Dahlemer Fontane Heine Brecht
Tucholsky Humboldt Einstein Planck Virchow Koch Lessing Herder Hegel Bebel Stresemann Adenauer Brandt Heuss Gneisenau
Yorck Blücher Scharnhorst Boxhagener Wühlisch Simon-Dach Kopernikus Krossener Gärtner Knaack Kollwitz Sredzki Husemann
Rykestraße Wörther Tresckow Dunckerstraße Lychener Stargarder Schliemann Gleim Kopenhagener Malmöer Bornholmer`
  .split(/\s+/).filter((s) => s && !/straße$/.test(s));
const SUFFIXES = [['straße', 60], ['weg', 10], ['allee', 8], ['platz', 6], ['damm', 5], ['ufer', 4], ['ring', 4], ['gasse', 3]];
// A few famous addresses that get many rides.
const SPECIALS = ['Alexanderplatz', 'Kurfürstendamm', 'Unter den Linden', 'Friedrichstraße', 'Straße des 17. Juni',
  'Karl-Marx-Allee', 'Platz der Republik', 'Potsdamer Platz', 'Hauptbahnhof (Europaplatz)', "Rosa-Luxemburg-Platz", 'Tauentzienstraße'];

const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

// The statements that write `rows` rides to <outDir>/rides/*.parquet.
export function ridesSql(rows, outDir) {
  const n = Math.round(Number(rows));
  if (!(n > 0)) throw new Error(`bad row count ${rows}`);
  const zones = ZONES.map(([z, b], i) => `(${i}, ${q(z)}, ${q(b)})`).join(', ');
  const stems = STEMS.map((s) => `(${q(s)})`).join(', ');
  const suffixes = SUFFIXES.map(([s, w]) => `(${q(s)}, ${w})`).join(', ');
  const specials = SPECIALS.map((s, i) => `(${q(s)}, ${i})`).join(', ');
  const airport = ZONES.findIndex(([z]) => z.startsWith('Flughafen'));
  const out = path.join(outDir, 'rides');
  return `
SET TimeZone = 'Europe/Berlin';
CREATE OR REPLACE MACRO u(i, k) AS (hash(i::BIGINT * 4096 + k) >> 11)::DOUBLE / 9007199254740992.0;
CREATE OR REPLACE MACRO nrm(i, k) AS sqrt(-2 * ln(greatest(u(i, k), 1e-12))) * cos(2 * pi() * u(i, k + 1000));
CREATE TABLE zones AS SELECT * FROM (VALUES ${zones}) t(zi, zone, bezirk);
CREATE TABLE streets AS
  WITH stems(stem) AS (VALUES ${stems}),
  suffixes(suffix, w) AS (VALUES ${suffixes}),
  combos AS (
    SELECT CASE WHEN stem LIKE '%er' OR stem LIKE '%e' THEN stem || ' ' || upper(suffix[1]) || suffix[2:]
                WHEN stem LIKE '%-%' THEN stem || '-' || upper(suffix[1]) || suffix[2:]
                ELSE stem || suffix END AS street,
           -- common suffixes first: Straße before Gasse
           ((hash(stem || suffix) >> 11)::DOUBLE / 9007199254740992.0) / w AS r
    FROM stems, suffixes),
  specials(street, r) AS (VALUES ${specials})
  SELECT (row_number() OVER (ORDER BY pri, r) - 1)::INTEGER AS si, street
  FROM (SELECT street, 1 AS pri, r FROM combos UNION ALL SELECT street, 0, r FROM specials);
CREATE TABLE hours AS
  WITH h AS (
    SELECT ts, row_number() OVER (ORDER BY ts) AS hi, year(ts) AS yr, month(ts) AS mo, day(ts) AS dy, isodow(ts) AS dow, hour(ts) AS hr
    FROM generate_series(TIMESTAMP '2021-01-01 00:00:00', TIMESTAMP '2024-12-31 23:00:00', INTERVAL 1 HOUR) g(ts)),
  w AS (
    SELECT ts, hi, yr, hr, dow,
      (1 + 0.22 * date_diff('day', DATE '2021-01-01', ts::DATE) / 365.25)                       -- growth
      * CASE WHEN yr = 2021 AND mo <= 5 THEN 0.55 ELSE 1 END                                  -- a slow start
      * [0.88, 0.9, 0.97, 1.0, 1.04, 1.02, 0.95, 0.92, 1.03, 1.06, 1.05, 1.12][mo]             -- seasons
      * CASE WHEN dow IN (6, 7) THEN
          [0.9, 0.8, 0.7, 0.55, 0.35, 0.2, 0.2, 0.28, 0.4, 0.55, 0.7, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.8, 0.8, 0.85, 0.95, 1.0][hr + 1]
        ELSE
          [0.22, 0.13, 0.09, 0.07, 0.09, 0.22, 0.55, 0.95, 1.15, 0.9, 0.72, 0.7, 0.78, 0.76, 0.76, 0.85, 1.0, 1.18, 1.15, 0.95, 0.8, 0.7, 0.62, 0.45][hr + 1]
          * CASE WHEN dow = 5 AND hr >= 20 THEN 1.4 ELSE 1 END
        END
      * CASE WHEN mo = 12 AND dy = 31 AND hr >= 22 THEN 3.0 WHEN mo = 1 AND dy = 1 AND hr <= 4 THEN 3.5
             WHEN mo = 12 AND ((dy = 24 AND hr >= 16) OR dy = 25) THEN 0.4 ELSE 1 END
      * CASE WHEN ts >= TIMESTAMP '2023-06-12 03:00:00' AND ts < TIMESTAMP '2023-06-12 09:00:00' THEN 0 ELSE 1 END  -- an outage
      * (0.85 + 0.3 * u(hi, 7))                                                                 -- noise
      AS w
    FROM h),
  c AS (SELECT *, sum(w) OVER (ORDER BY ts ROWS UNBOUNDED PRECEDING) AS cw, sum(w) OVER () AS total FROM w)
  SELECT ts, yr, hr, dow,
         round(${n} * (cw - w) / total)::BIGINT AS first_row,
         round(${n} * cw / total)::BIGINT AS end_row
  FROM c;
COPY (
  WITH base AS (
    SELECT first_row + unnest(range(end_row - first_row)) AS i, ts, yr, hr, dow FROM hours WHERE end_row > first_row),
  r AS (
    SELECT i, yr, hr, dow,
      ts + to_microseconds((u(i, 1) * 3600e6)::BIGINT) AS local_t,
      CASE WHEN u(i, 2) < 0.04 THEN ${airport} ELSE floor(${ZONES.length} * pow(u(i, 3), 2.3))::INTEGER END AS zi,
      CASE WHEN u(i, 4) < 0.35 THEN -1 WHEN u(i, 4) < 0.43 THEN ${airport} ELSE floor(${ZONES.length} * pow(u(i, 5), 2.0))::INTEGER END AS dzi,
      floor((SELECT count(*) FROM streets) * pow(u(i, 6), 2.2))::INTEGER AS si,
      1 + floor(220 * pow(u(i, 8), 1.8))::INTEGER AS house,
      CASE WHEN u(i, 9) < 0.03 THEN 'a' WHEN u(i, 9) < 0.05 THEN 'b' WHEN u(i, 9) < 0.06 THEN 'c' ELSE '' END AS house_letter,
      u(i, 17) AS pay_u, u(i, 18) AS tip_u, u(i, 19) AS vendor_u
    FROM base),
  z AS (
    SELECT r.*, pz.zone AS pickup_zone, pz.bezirk, coalesce(dz.zone, pz.zone) AS dropoff_zone, s.street,
      (r.zi = ${airport} OR r.dzi = ${airport}) AS airport_trip
    FROM r JOIN zones pz ON pz.zi = r.zi LEFT JOIN zones dz ON dz.zi = r.dzi JOIN streets s ON s.si = r.si),
  d AS (
    SELECT *,
      CASE WHEN airport_trip THEN 18 + 9 * abs(nrm(i, 10))
           ELSE least(120, greatest(0.3, exp(ln(3.6) + 0.8 * nrm(i, 11)))) END AS dist,
      CASE WHEN dow <= 5 AND (hr BETWEEN 7 AND 9 OR hr BETWEEN 16 AND 19) THEN 15 WHEN hr < 5 THEN 30 ELSE 21 END
        * exp(0.25 * nrm(i, 12)) AS speed,
      CASE WHEN pay_u < 0.38 - 0.07 * (yr - 2021) THEN 'Cash'
           WHEN pay_u < 0.38 - 0.07 * (yr - 2021) + 0.06 + 0.05 * (yr - 2021) THEN 'App'
           WHEN pay_u < 0.47 - 0.02 * (yr - 2021) THEN 'Voucher' ELSE 'Card' END AS payment,
      CASE WHEN yr >= 2022 AND vendor_u < 0.05 + 0.06 * (yr - 2022) THEN 'Bolt'
           WHEN vendor_u < 0.5 - 0.05 * (yr - 2021) THEN 'Taxi Berlin eG'
           WHEN vendor_u < 0.75 - 0.03 * (yr - 2021) THEN 'FreeNow' ELSE 'Uber' END AS vendor
    FROM z),
  f AS (
    SELECT *,
      round(dist, 3) AS distance,
      round(60 * (dist / speed * 60 + 1.5 + 3 * u(i, 14)) * CASE WHEN u(i, 15) < 0.0005 THEN 20 ELSE 1 END) / 60.0 AS duration,
      (4.30 + 2.80 * least(dist, 7) + 2.10 * greatest(dist - 7, 0) + CASE WHEN zi = ${airport} THEN 1.50 ELSE 0 END)
        * CASE WHEN u(i, 16) < 0.001 THEN -1 ELSE 1 END AS fare_raw
    FROM d),
  g AS (
    SELECT *, round(fare_raw, 2)::DECIMAL(10, 2) AS fare,
      CASE WHEN fare_raw < 0 OR payment = 'Voucher' THEN 0
           WHEN payment = 'Cash' THEN CASE WHEN tip_u < 0.5 THEN ceil(fare_raw) - round(fare_raw, 2) WHEN tip_u < 0.7 THEN 2 ELSE 0 END
           ELSE round(fare_raw * CASE WHEN tip_u < 0.35 THEN 0 WHEN tip_u < 0.55 THEN 0.05 WHEN tip_u < 0.8 THEN 0.1 WHEN tip_u < 0.93 THEN 0.15 ELSE 0.2 END, 1)
      END::DECIMAL(10, 2) AS tip
    FROM f)
  SELECT
    CASE WHEN u(i, 200) < 0.002 THEN NULL ELSE 100000000 + i END::BIGINT AS "Ride ID",
    CASE WHEN u(i, 201) < 0.005 THEN NULL ELSE timezone('Europe/Berlin', local_t) END AS "Pickup Time",
    CASE WHEN u(i, 202) < 0.02 THEN NULL ELSE timezone('Europe/Berlin', local_t) + to_microseconds((duration * 60e6)::BIGINT) END AS "Dropoff Time",
    CASE WHEN u(i, 203) < 0.015 THEN NULL ELSE pickup_zone END AS "Pickup Zone",
    CASE WHEN u(i, 203) < 0.015 OR u(i, 204) < 0.005 THEN NULL ELSE bezirk END AS "Bezirk",
    CASE WHEN u(i, 205) < 0.04 THEN NULL ELSE dropoff_zone END AS "Dropoff Zone",
    CASE WHEN u(i, 206) < 0.03 THEN NULL ELSE street || ' ' || house || house_letter END AS "Straße",
    CASE WHEN u(i, 207) < 0.01 THEN NULL ELSE vendor END AS "Anbieter",
    CASE WHEN u(i, 208) < 0.02 THEN NULL ELSE payment END AS "payment type",
    CASE WHEN u(i, 209) < 0.06 THEN NULL WHEN u(i, 20) < 0.66 THEN 1 WHEN u(i, 20) < 0.86 THEN 2 WHEN u(i, 20) < 0.94 THEN 3
         WHEN u(i, 20) < 0.985 THEN 4 WHEN u(i, 20) < 0.995 THEN 5 ELSE 6 END::INTEGER AS "passengers",
    CASE WHEN u(i, 210) < 0.025 THEN NULL ELSE distance END::DOUBLE AS "distance (km)",
    CASE WHEN u(i, 211) < 0.02 THEN NULL ELSE duration END::DOUBLE AS "duration (min)",
    CASE WHEN u(i, 212) < 0.01 THEN NULL ELSE fare END AS "fare (€)",
    CASE WHEN u(i, 213) < 0.08 THEN NULL ELSE tip END AS "tip (€)",
    CASE WHEN u(i, 214) < 0.012 THEN NULL ELSE (fare + tip)::DECIMAL(12, 2) END AS "total (€)",
    CASE WHEN u(i, 215) < 0.03 THEN NULL ELSE 10000 + floor(24000 * pow(u(i, 21), 1.7)) END::BIGINT AS "Fahrer-ID",
    CASE WHEN u(i, 216) < 0.35 THEN NULL WHEN u(i, 22) < 0.55 THEN 5 WHEN u(i, 22) < 0.8 THEN 4 WHEN u(i, 22) < 0.89 THEN 3
         WHEN u(i, 22) < 0.93 THEN 2 ELSE 1 END::SMALLINT AS "rating ★"
  FROM g
) TO ${q(out)} (FORMAT parquet, FILE_SIZE_BYTES '256MB', ROW_GROUP_SIZE 122880, OVERWRITE_OR_IGNORE true);
`;
}

// Writes the data into dataDir once (a .complete stamp marks a finished run).
export function generateRides({ rows, dataDir, oracle }) {
  const stamp = path.join(dataDir, '.complete');
  if (fs.existsSync(stamp)) return dataDir;
  if (!oracle || !fs.existsSync(oracle)) {
    throw new Error(`the rides data is written by the DuckDB oracle, not found at ${oracle}: build it with cmake --build build --target duckdb_oracle`);
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true });
  const r = spawnSync(oracle, ['--exec', ridesSql(rows, dataDir)], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`generating rides failed: ${r.stderr || r.error || r.status}`);
  fs.writeFileSync(stamp, 'ok');
  return dataDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') && acc.push([a.slice(2), all[i + 1]]), acc), []));
  const here = path.dirname(fileURLToPath(import.meta.url));
  const oracle = args.oracle ?? path.resolve(here, '../../../build/tests/oracle/duckdb_oracle');
  if (!args.rows || !args.out) { console.error('usage: generate.mjs --rows N --out DIR [--oracle BIN]'); process.exit(2); }
  if (args.print) { process.stdout.write(ridesSql(args.rows, args.out)); process.exit(0); }
  generateRides({ rows: Number(args.rows), dataDir: path.resolve(args.out), oracle });
}
