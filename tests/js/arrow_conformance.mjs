// Arrow IPC conformance: Sightline's IPC stream writer, read back by an independent reader.
//
// Runs tests/tools/arrow_dump (path in $ARROW_DUMP, or --arrow-dump=PATH, or
// build/tests/tools/arrow_dump) into a temp dir. For every <case>.arrows it decodes the stream
// with apache-arrow and checks row count, column names, Arrow types (ids, bit widths, units,
// time zones, dictionary encoding, metadata) and every value against <case>.json, the text
// DuckDB itself gave for the same rows (see expected_expression in arrow_dump.cpp).
//
//   node --test tests/js/arrow_conformance.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC, Type, TimeUnit, DateUnit, IntervalUnit, Precision } from 'apache-arrow';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function dumpToolPath() {
  const flag = process.argv.find((a) => a.startsWith('--arrow-dump='));
  if (flag) return flag.slice('--arrow-dump='.length);
  if (process.env.ARROW_DUMP) return process.env.ARROW_DUMP;
  return join(repoRoot, 'build', 'tests', 'tools', 'arrow_dump');
}

// --- expected Arrow types, from DuckDB's SQL type and the C-interface format DuckDB exported ---

const INTS = {
  TINYINT: [8, true], SMALLINT: [16, true], INTEGER: [32, true], BIGINT: [64, true],
  UTINYINT: [8, false], USMALLINT: [16, false], UINTEGER: [32, false], UBIGINT: [64, false],
};
const TIMESTAMP_UNITS = {
  TIMESTAMP: TimeUnit.MICROSECOND, 'TIMESTAMP WITH TIME ZONE': TimeUnit.MICROSECOND,
  TIMESTAMP_S: TimeUnit.SECOND, TIMESTAMP_MS: TimeUnit.MILLISECOND, TIMESTAMP_NS: TimeUnit.NANOSECOND,
};

function checkType(column, field, large) {
  const t = field.type;
  const where = `column ${column.name} (${column.sql_type})`;
  const sql = column.sql_type;
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/.exec(sql);
  if (sql in INTS) {
    assert.equal(t.typeId, Type.Int, where);
    assert.equal(t.bitWidth, INTS[sql][0], where);
    assert.equal(t.isSigned, INTS[sql][1], where);
  } else if (sql === 'BOOLEAN') {
    assert.equal(t.typeId, Type.Bool, where);
  } else if (sql === 'FLOAT' || sql === 'DOUBLE') {
    assert.equal(t.typeId, Type.Float, where);
    assert.equal(t.precision, sql === 'FLOAT' ? Precision.SINGLE : Precision.DOUBLE, where);
  } else if (decimal || sql === 'HUGEINT') {
    assert.equal(t.typeId, Type.Decimal, where);
    assert.equal(t.precision, decimal ? Number(decimal[1]) : 38, where);
    assert.equal(t.scale, decimal ? Number(decimal[2]) : 0, where);
    assert.equal(t.bitWidth, 128, where);
  } else if (sql === 'UHUGEINT') {
    assert.equal(t.typeId, Type.FixedSizeBinary, where);
    assert.equal(t.byteWidth, 16, where);
  } else if (sql === 'VARCHAR' || sql === 'UUID') {
    assert.equal(t.typeId, large ? Type.LargeUtf8 : Type.Utf8, where);
  } else if (sql === 'BLOB') {
    assert.equal(t.typeId, large ? Type.LargeBinary : Type.Binary, where);
  } else if (sql === 'DATE') {
    assert.equal(t.typeId, Type.Date, where);
    assert.equal(t.unit, DateUnit.DAY, where);
  } else if (sql === 'TIME') {
    assert.equal(t.typeId, Type.Time, where);
    assert.equal(t.unit, TimeUnit.MICROSECOND, where);
    assert.equal(t.bitWidth, 64, where);
  } else if (sql in TIMESTAMP_UNITS) {
    assert.equal(t.typeId, Type.Timestamp, where);
    assert.equal(t.unit, TIMESTAMP_UNITS[sql], where);
    // DuckDB's C-interface format is ts<unit>:<tz>; an empty tz means a naive timestamp.
    const tz = column.arrow_format.slice(4);
    if (sql === 'TIMESTAMP WITH TIME ZONE') assert.ok(tz.length > 0, `${where}: DuckDB exported no time zone`);
    assert.equal(t.timezone ?? '', tz, where);
  } else if (sql === 'INTERVAL') {
    assert.equal(t.typeId, Type.Interval, where);
    assert.equal(t.unit, IntervalUnit.MONTH_DAY_NANO, where);
  } else if (sql === 'ENUM') {
    assert.equal(t.typeId, Type.Dictionary, where);
    assert.equal(t.indices.typeId, Type.Int, where);
    assert.equal(t.indices.isSigned, false, where);
    assert.equal(t.dictionary.typeId, Type.Utf8, where);
  } else if (sql === 'LIST') {
    assert.equal(t.typeId, large ? Type.LargeList : Type.List, where);
  } else if (sql === 'STRUCT') {
    assert.equal(t.typeId, Type.Struct, where);
  } else if (sql === 'MAP') {
    assert.equal(t.typeId, Type.Map, where);
  } else if (sql === 'ARRAY') {
    assert.equal(t.typeId, Type.FixedSizeList, where);
    assert.equal(t.listSize, Number(/\[(\d+)\]$/.exec(column.full_type)[1]), where);
  } else if (column.full_type.startsWith('UNION(')) {
    assert.equal(t.typeId, Type.Union, where);
  } else {
    assert.fail(`${where}: the test does not know this DuckDB type`);
  }
  for (const [key, value] of Object.entries(column.metadata)) {
    assert.equal(field.metadata.get(key), value, `${where}: metadata ${key}`);
  }
}

// --- values as DuckDB's text ---------------------------------------------------------------

// The chunk (Data) of `vector` that holds row `i`, and the row's index in it.
function locate(vector, i) {
  for (const data of vector.data) {
    if (i < data.length) return [data, i];
    i -= data.length;
  }
  throw new Error(`row ${i} is beyond the vector`);
}

function decimalText(words, scale) {
  let v = 0n;
  for (let k = words.length - 1; k >= 0; --k) v = (v << 32n) | BigInt(words[k] >>> 0);
  v = BigInt.asIntN(words.length * 32, v);
  const negative = v < 0n;
  let digits = (negative ? -v : v).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return (negative ? '-' : '') + digits;
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join('');

function unsignedLittleEndian(bytes) {
  let v = 0n;
  for (let k = bytes.length - 1; k >= 0; --k) v = (v << 8n) | BigInt(bytes[k]);
  return v;
}

// A nested Arrow value as plain JSON-like JS (what DuckDB's to_json gives, once parsed).
function plain(value, type) {
  if (value === null || value === undefined) return null;
  switch (type.typeId) {
    case Type.List:
    case Type.LargeList:
    case Type.FixedSizeList:
      return Array.from(value, (item) => plain(item, type.children[0].type));
    case Type.Struct: {
      const out = {};
      for (const child of type.children) out[child.name] = plain(value[child.name], child.type);
      return out;
    }
    case Type.Map: {
      const out = {};
      const valueType = type.children[0].type.children[1].type;
      for (const [k, v] of value) out[String(k)] = plain(v, valueType);
      return out;
    }
    case Type.Int:
      return typeof value === 'bigint' ? Number(value) : value;
    case Type.Decimal:  // to_json writes decimals as numbers
      return Number(decimalText(value, type.scale));
    default:
      return value;
  }
}

// Compares row `i` of `vector` with DuckDB's text for it; throws on a mismatch.
function checkValue(column, field, vector, i, expected) {
  const where = `column ${column.name} (${column.sql_type}) row ${i}`;
  const value = vector.get(i);
  const sql = column.sql_type;
  if (expected === null) {
    assert.ok(value === null || !vector.isValid(i), `${where}: expected null, got ${value}`);
    return;
  }
  assert.ok(vector.isValid(i) && value !== null, `${where}: expected ${expected}, got null`);
  const [data, j] = locate(vector, i);
  let actual;
  if (sql === 'FLOAT' || sql === 'DOUBLE') {
    const want = { nan: NaN, inf: Infinity, '-inf': -Infinity }[expected] ?? Number(expected);
    assert.ok(Object.is(value, want), `${where}: expected ${expected}, got ${value}`);
    return;
  } else if (sql.startsWith('DECIMAL') || sql === 'HUGEINT') {
    const stride = field.type.bitWidth / 32;
    actual = decimalText(data.values.subarray(j * stride, (j + 1) * stride), field.type.scale);
  } else if (sql === 'UHUGEINT') {
    actual = unsignedLittleEndian(value).toString();
  } else if (sql === 'BLOB') {
    actual = hex(value);
  } else if (sql === 'DATE') {
    const ms = value instanceof Date ? value.getTime() : Number(value);
    actual = new Date(ms).toISOString().slice(0, 10);
    // Years beyond 9999 or before 0 would need expanded ISO years; the test data stays within.
  } else if (sql === 'TIME' || sql in TIMESTAMP_UNITS) {
    actual = String(data.values[j]);  // the raw int64 in the column's unit, not the ms getter
  } else if (sql === 'INTERVAL') {
    const nanos = BigInt.asIntN(64, (BigInt(value[3] >>> 0) << 32n) | BigInt(value[2] >>> 0));
    actual = `${value[0]},${value[1]},${nanos}`;
  } else if (sql === 'LIST' || sql === 'STRUCT' || sql === 'MAP' || sql === 'ARRAY') {
    assert.deepEqual(plain(value, field.type), JSON.parse(expected), where);
    return;
  } else {
    actual = String(value);  // booleans, integers, strings, UUID, ENUM, UNION
  }
  assert.equal(actual, expected, where);
}

function checkCase(dir, name) {
  const expected = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
  const bytes = readFileSync(join(dir, `${name}.arrows`));
  // The framing: ends with the end-of-stream marker, and every message is 8-byte aligned.
  assert.equal(bytes.length % 8, 0, 'stream length is a multiple of 8');
  assert.deepEqual([...bytes.subarray(bytes.length - 8)], [255, 255, 255, 255, 0, 0, 0, 0], 'end-of-stream marker');

  const table = tableFromIPC(bytes);
  assert.equal(table.numRows, expected.num_rows, 'row count');
  assert.deepEqual(table.schema.fields.map((f) => f.name), expected.columns.map((c) => c.name), 'column names');
  expected.columns.forEach((column, c) => checkType(column, table.schema.fields[c], expected.large));
  expected.columns.forEach((column, c) => {
    const field = table.schema.fields[c];
    const vector = table.getChildAt(c);
    assert.equal(vector.length, expected.num_rows, `column ${column.name} length`);
    for (let i = 0; i < expected.num_rows; ++i) checkValue(column, field, vector, i, expected.rows[i][c]);
  });
  return table;
}

// --- the run --------------------------------------------------------------------------------

const tool = dumpToolPath();
const outDir = mkdtempSync(join(tmpdir(), 'arrow-conformance-'));
const run = existsSync(tool) ? spawnSync(tool, [outDir], { encoding: 'utf8' }) : null;
const cases = run && run.status === 0
  ? readdirSync(outDir).filter((f) => f.endsWith('.arrows')).map((f) => f.slice(0, -'.arrows'.length)).sort()
  : [];
process.on('exit', () => rmSync(outDir, { recursive: true, force: true }));

test('arrow_dump ran and wrote every case', () => {
  assert.ok(run, `arrow_dump not found at ${tool} (build it, or set ARROW_DUMP)`);
  assert.equal(run.status, 0, `arrow_dump failed: ${run.stderr}`);
  for (const name of ['primitives', 'decimals', 'strings', 'temporal', 'nested', 'enum_multibatch', 'multibatch',
    'sliced_first_chunk', 'sliced_second_chunk', 'empty', 'large_buffers', 'offset_columns', 'offset_batch',
    'dictionary_change', 'extras']) {
    assert.ok(cases.includes(name), `case ${name} missing`);
  }
});

const extraChecks = {
  multibatch: (table) => assert.ok(table.batches.length >= 3, `5000 rows come in ${table.batches.length} batches`),
  enum_multibatch: (table) => assert.ok(table.batches.length >= 3),
  sliced_first_chunk: (table) => assert.equal(table.batches.length, 1),
  sliced_second_chunk: (table) => assert.equal(table.batches.length, 2),
  // apache-arrow gives a table read from a schema-only stream one empty batch of its own.
  empty: (table) => assert.ok(table.batches.every((b) => b.numRows === 0)),
  dictionary_change: (table) => {
    assert.equal(table.batches.length, 2);
    const dictionaryOf = (b) => Array.from(table.batches[b].getChildAt(1).data[0].dictionary);
    assert.deepEqual(dictionaryOf(0), ['a', 'b']);
    assert.deepEqual(dictionaryOf(1), ['x', 'y', 'z']);
  },
};

for (const name of cases) {
  test(`IPC stream '${name}' decodes to DuckDB's values`, () => {
    const table = checkCase(outDir, name);
    extraChecks[name]?.(table);
  });
}
