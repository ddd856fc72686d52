import {
  Bool,
  DateDay,
  DateMillisecond,
  Decimal,
  Dictionary,
  Field,
  Float64,
  Int32,
  Int64,
  Schema,
  Table,
  Time,
  TimeUnit,
  Timestamp,
  Utf8,
  makeData,
  makeVector,
  tableFromArrays,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import {
  arrowTypeName,
  cellValue,
  columnValues,
  formatCell,
  formatCompact,
  formatDate,
  formatNumber,
  formatPrecise,
  scaleDecimal,
  timestampText,
  toEpochMs,
} from '../src/format/index';

/** A decimal vector from unscaled values, stored as apache-arrow does (little-endian words). */
function decimalVector(unscaled: (bigint | null)[], scale: number, precision = 38, bitWidth = 128): Vector {
  const words = bitWidth / 32;
  const data = new Uint32Array(unscaled.length * words);
  const validity = new Uint8Array(Math.ceil(unscaled.length / 8));
  unscaled.forEach((v, i) => {
    if (v === null) return;
    validity[i >> 3]! |= 1 << (i & 7);
    let x = BigInt.asUintN(bitWidth, v);
    for (let w = 0; w < words; w++) {
      data[i * words + w] = Number(x & 0xffffffffn);
      x >>= 32n;
    }
  });
  const nullCount = unscaled.filter((v) => v === null).length;
  return makeVector(
    makeData({ type: new Decimal(scale, precision, bitWidth), length: unscaled.length, nullCount, nullBitmap: validity, data }),
  );
}

function tableOf(columns: Record<string, Vector>): Table {
  return new Table(columns);
}

describe('cellValue and columnValues', () => {
  it('scales decimals exactly, including negatives and large values', () => {
    const t = tableOf({
      revenue: decimalVector([4338504477n, -12345n, 0n, -1n, 123456789012345678n, null], 2),
    });
    expect(columnValues(t, 'revenue')).toEqual([43385044.77, -123.45, 0, -0.01, 1234567890123456.78, null]);
    expect(cellValue(t, 1, 'revenue')).toBe(-123.45);
    // A value beyond 2^64 exercises the upper words of the 128-bit integer.
    const wide = tableOf({ v: decimalVector([2n ** 70n + 5n, -(2n ** 70n)], 0) });
    expect(cellValue(wide, 0, 'v')).toBe(Number(2n ** 70n + 5n));
    expect(cellValue(wide, 1, 'v')).toBe(-Number(2n ** 70n));
  });

  it('reads a decimal(38,0) and a 64-bit decimal', () => {
    expect(cellValue(tableOf({ units: decimalVector([736030n], 0) }), 0, 'units')).toBe(736030);
    expect(cellValue(tableOf({ v: decimalVector([-5n, 1234n], 3, 18, 64) }), 1, 'v')).toBe(1.234);
    expect(cellValue(tableOf({ v: decimalVector([-5n], 3, 18, 64) }), 0, 'v')).toBe(-0.005);
  });

  it('scaleDecimal rounds once to the nearest double', () => {
    expect(scaleDecimal(1n, 1)).toBe(0.1);
    expect(scaleDecimal(-7n, 3)).toBe(-0.007);
    expect(scaleDecimal(123n, 0)).toBe(123);
    expect(scaleDecimal(12n, -2)).toBe(1200);
  });

  it('turns int64 BigInts into numbers', () => {
    const t = tableOf({ orders: vectorFromArray([200000n, -3n, null], new Int64()) });
    expect(columnValues(t, 'orders')).toEqual([200000, -3, null]);
    expect(typeof cellValue(t, 0, 'orders')).toBe('number');
  });

  it('writes dates as YYYY-MM-DD in UTC', () => {
    const day = Date.UTC(2024, 2, 1);
    const t = tableOf({
      d32: vectorFromArray([new Date(day), new Date(Date.UTC(1969, 11, 31)), null], new DateDay()),
      d64: vectorFromArray([new Date(day), new Date(Date.UTC(2025, 11, 31)), null], new DateMillisecond()),
    });
    expect(columnValues(t, 'd32')).toEqual(['2024-03-01', '1969-12-31', null]);
    expect(columnValues(t, 'd64')).toEqual(['2024-03-01', '2025-12-31', null]);
  });

  it('writes timestamps as ISO, with Z only when the type has a zone', () => {
    const us = makeVector(
      makeData({
        type: new Timestamp(TimeUnit.MICROSECOND),
        length: 2,
        data: new BigInt64Array([1709294400000000n, 1709294400123456n]),
      }),
    );
    const utc = makeVector(
      makeData({ type: new Timestamp(TimeUnit.SECOND, 'UTC'), length: 1, data: new BigInt64Array([1709337600n]) }),
    );
    const ms = makeVector(
      makeData({ type: new Timestamp(TimeUnit.MILLISECOND), length: 1, data: new BigInt64Array([-1500n]) }),
    );
    const t = tableOf({ us, utc, ms });
    expect(columnValues(t, 'us')).toEqual(['2024-03-01T12:00:00', '2024-03-01T12:00:00.123456']);
    expect(cellValue(t, 0, 'utc')).toBe('2024-03-02T00:00:00Z');
    expect(cellValue(t, 0, 'ms')).toBe('1969-12-31T23:59:58.5');
  });

  it('writes times of day', () => {
    const t64 = makeVector(makeData({ type: new Time(TimeUnit.MICROSECOND, 64), length: 1, data: new BigInt64Array([3723500000n]) }));
    const t32 = makeVector(makeData({ type: new Time(TimeUnit.SECOND, 32), length: 1, data: new Int32Array([3723]) }));
    const t = tableOf({ t64, t32 });
    expect(cellValue(t, 0, 't64')).toBe('01:02:03.5');
    expect(cellValue(t, 0, 't32')).toBe('01:02:03');
  });

  it('reads booleans, floats, strings, dictionary-encoded strings and nulls', () => {
    const t = tableFromArrays({ region: ['North', 'South', 'North'], x: new Float64Array([1.5, -2, 0]) });
    expect(t.schema.fields[0]?.type).toBeInstanceOf(Dictionary);
    expect(columnValues(t, 'region')).toEqual(['North', 'South', 'North']);
    expect(columnValues(t, 'x')).toEqual([1.5, -2, 0]);
    const b = tableOf({
      ok: vectorFromArray([true, false, null], new Bool()),
      s: vectorFromArray(['a', null, 'c'], new Utf8()),
      d: vectorFromArray(['x', null, 'x'], new Dictionary(new Utf8(), new Int32())),
    });
    expect(columnValues(b, 'ok')).toEqual([true, false, null]);
    expect(columnValues(b, 's')).toEqual(['a', null, 'c']);
    expect(columnValues(b, 'd')).toEqual(['x', null, 'x']);
  });

  it('throws on a missing column', () => {
    const t = tableFromArrays({ a: new Float64Array([1]) });
    expect(() => cellValue(t, 0, 'nope')).toThrow(/nope/);
  });
});

/** A timestamp vector of raw counts of `unit` (null for a null cell), as the server sends it. */
function timestamps(units: (bigint | null)[], unit: TimeUnit, timezone?: string): Vector {
  const validity = new Uint8Array(Math.ceil(units.length / 8));
  units.forEach((v, i) => {
    if (v !== null) validity[i >> 3]! |= 1 << (i & 7);
  });
  return makeVector(
    makeData({
      type: new Timestamp(unit, timezone),
      length: units.length,
      nullCount: units.filter((v) => v === null).length,
      nullBitmap: validity,
      data: new BigInt64Array(units.map((v) => v ?? 0n)),
    }),
  );
}

const TWO_53 = 2n ** 53n;

describe('timestamps beyond a double', () => {
  // As epoch milliseconds (a double) these lose their last digits: 2025-06-30T23:59:59.999999999
  // would become 2025-07-01T00:00:00, and values a nanosecond apart near 2^53 the same.
  const ns: [bigint, string][] = [
    [1751327999999999999n, '2025-06-30T23:59:59.999999999'],
    [1751328000000000000n, '2025-07-01T00:00:00'],
    [1751328000000000001n, '2025-07-01T00:00:00.000000001'],
    [TWO_53 - 1n, '1970-04-15T05:59:59.254740991'],
    [TWO_53, '1970-04-15T05:59:59.254740992'],
    [TWO_53 + 1n, '1970-04-15T05:59:59.254740993'],
    [1751327999999999000n, '2025-06-30T23:59:59.999999'],
    [-1n, '1969-12-31T23:59:59.999999999'],
    [-1_000_000_001n, '1969-12-31T23:59:58.999999999'],
    [2n ** 63n - 1n, '2262-04-11T23:47:16.854775807'],
    [-(2n ** 63n), '1677-09-21T00:12:43.145224192'],
  ];

  it('reads timestamp[ns] digit for digit', () => {
    const t = tableOf({ ts: timestamps([...ns.map(([v]) => v), null], TimeUnit.NANOSECOND) });
    expect(columnValues(t, 'ts')).toEqual([...ns.map(([, text]) => text), null]);
    ns.forEach(([, text], i) => expect(cellValue(t, i, 'ts')).toBe(text));
    expect(cellValue(t, ns.length, 'ts')).toBeNull();
  });

  it('reads microseconds near 2^53 and zoned values exactly', () => {
    const us = timestamps([TWO_53 - 1n, TWO_53 + 1n, -(TWO_53 + 1n)], TimeUnit.MICROSECOND);
    const zoned = timestamps([1751327999999999999n], TimeUnit.NANOSECOND, 'UTC');
    const t = tableOf({ us, zoned });
    expect(columnValues(t, 'us')).toEqual(['2255-06-05T23:47:34.740991', '2255-06-05T23:47:34.740993', '1684-07-28T00:12:25.259007']);
    expect(cellValue(t, 0, 'zoned')).toBe('2025-06-30T23:59:59.999999999Z');
  });

  it('finds the row in any chunk, also of a sliced table', () => {
    const first = timestamps([TWO_53 - 1n, null], TimeUnit.NANOSECOND);
    const second = timestamps([TWO_53 + 1n, 1751327999999999999n], TimeUnit.NANOSECOND);
    const t = tableOf({ ts: makeVector([...first.data, ...second.data]) });
    expect(t.getChild('ts')?.data.length).toBe(2);
    expect(columnValues(t, 'ts')).toEqual(['1970-04-15T05:59:59.254740991', null, '1970-04-15T05:59:59.254740993', '2025-06-30T23:59:59.999999999']);
    expect(cellValue(t, 3, 'ts')).toBe('2025-06-30T23:59:59.999999999');
    expect(cellValue(t, 1, 'ts')).toBeNull();
    const tail = t.slice(3);
    expect(cellValue(tail, 0, 'ts')).toBe('2025-06-30T23:59:59.999999999');
    expect(columnValues(t.slice(1, 3), 'ts')).toEqual([null, '1970-04-15T05:59:59.254740993']);
  });

  it('timestampText works in every unit and gives up beyond the years a Date holds', () => {
    expect(timestampText(1751327999n, TimeUnit.SECOND)).toBe('2025-06-30T23:59:59');
    expect(timestampText(1751327999999n, TimeUnit.MILLISECOND, true)).toBe('2025-06-30T23:59:59.999Z');
    expect(timestampText(-1500n, TimeUnit.MILLISECOND)).toBe('1969-12-31T23:59:58.5');
    expect(timestampText(2n ** 62n, TimeUnit.SECOND)).toBeNull();
  });

  it('keeps each moment in its second when read back for display', () => {
    const last = '2025-06-30T23:59:59.999999999';
    expect(toEpochMs(last)).toBe(Date.UTC(2025, 5, 30, 23, 59, 59, 999));
    expect(toEpochMs('1970-04-15T05:59:59.254740993')).toBe(Number(TWO_53 / 1_000_000n));
    expect(toEpochMs('2025-06-30T23:59:59.9')).toBe(Date.UTC(2025, 5, 30, 23, 59, 59, 900));
    expect(toEpochMs(`${last}Z`)).toBe(Date.UTC(2025, 5, 30, 23, 59, 59, 999));
    expect(toEpochMs(`${last}+02:00`)).toBe(Date.UTC(2025, 5, 30, 21, 59, 59, 999));
    expect(toEpochMs(`${last}-0530`)).toBe(Date.UTC(2025, 6, 1, 5, 29, 59, 999));
    expect(new Date(toEpochMs('0044-03-15')!).getUTCFullYear()).toBe(44);
    expect(formatDate(last)).toBe('2025-06-30 23:59');
    expect(formatDate(last, 'day')).toBe('2025-06-30');
    expect(formatDate(last, 'month')).toBe('Jun 2025');
    expect(formatDate('2025-12-31T23:59:59.999999999', 'year')).toBe('2025');
    expect(formatCell(last, 'timestamp[ns]')).toBe(last);
  });
});

describe('arrowTypeName', () => {
  it('names types as the server JSON does', () => {
    const schema = new Schema([
      new Field('a', new Utf8()),
      new Field('b', new Int64()),
      new Field('c', new Float64()),
      new Field('d', new Decimal(2, 38, 128)),
      new Field('e', new DateDay()),
      new Field('f', new Timestamp(TimeUnit.MICROSECOND)),
      new Field('g', new Bool()),
      new Field('h', new Timestamp(TimeUnit.SECOND, 'UTC')),
      new Field('i', new Dictionary(new Utf8(), new Int32())),
      new Field('j', new Int32()),
      new Field('k', new DateMillisecond()),
      new Field('l', new Decimal(3, 18, 64)),
    ]);
    expect(schema.fields.map((f) => arrowTypeName(f.type))).toEqual([
      'utf8',
      'int64',
      'float64',
      'decimal(38,2)',
      'date32',
      'timestamp[us]',
      'bool',
      'timestamp[s, tz=UTC]',
      'utf8',
      'int32',
      'date64',
      'decimal(18,3)[64]',
    ]);
  });
});

describe('formatNumber', () => {
  it('formats currency', () => {
    expect(formatNumber(1234.5, 'currency')).toBe('$1,234.50');
    expect(formatNumber(-0.5, 'currency')).toBe('-$0.50');
    expect(formatNumber(1234567, 'currency', { compact: true })).toBe('$1.2M');
    expect(formatNumber(43385044.77, 'currency', { compact: true, digits: 2 })).toBe('$43.39M');
    expect(formatNumber(950.25, 'currency', { compact: true })).toBe('$950.25');
  });

  it('formats percent, compact and integer', () => {
    expect(formatNumber(0.123, 'percent')).toBe('12.3%');
    expect(formatNumber(-0.5, 'percent')).toBe('-50%');
    expect(formatNumber(1234, 'compact')).toBe('1.2K');
    expect(formatNumber(3_400_000, 'compact')).toBe('3.4M');
    expect(formatNumber(5_600_000_000, 'compact')).toBe('5.6B');
    expect(formatNumber(950, 'compact')).toBe('950');
    expect(formatNumber(1234.56, 'integer')).toBe('1,235');
  });

  it('formats plain numbers with grouping and sensible decimals', () => {
    expect(formatNumber(1234567)).toBe('1,234,567');
    expect(formatNumber(1234.5678, 'number')).toBe('1,234.57');
    expect(formatNumber(0.012345)).toBe('0.0123');
    expect(formatNumber(-2.5)).toBe('-2.5');
    expect(formatNumber(0)).toBe('0');
  });

  it('shows null and NaN as a dash', () => {
    expect(formatNumber(null)).toBe('—');
    expect(formatNumber(Number.NaN, 'currency')).toBe('—');
    expect(formatCompact(null)).toBe('—');
  });

  it('formatCompact and formatPrecise', () => {
    expect(formatCompact(1_250_000)).toBe('1.3M');
    expect(formatCompact(1_250_000, { currency: true })).toBe('$1.3M');
    expect(formatCompact(-4200)).toBe('-4.2K');
    expect(formatPrecise(43385044.77, 'currency')).toBe('$43,385,044.77');
    expect(formatPrecise(216.92522385)).toBe('216.92522385');
  });
});

describe('formatCell', () => {
  it('formats by type when no format is given', () => {
    expect(formatCell(1234567, 'int64')).toBe('1,234,567');
    // Identifier columns are codes: no grouping (other integer columns keep it).
    expect(formatCell(35049, 'int64', undefined, 'order_id')).toBe('35049');
    expect(formatCell(35049, 'int32', undefined, 'id')).toBe('35049');
    expect(formatCell(35049, 'int32', undefined, 'Customer_ID')).toBe('35049');
    expect(formatCell(35049, 'int32', undefined, 'units')).toBe('35,049');
    expect(formatCell(35049, 'int32', undefined, 'paid')).toBe('35,049');
    expect(formatCell(1234.5, 'float64', undefined, 'order_id')).toBe('1,234.5');
    expect(formatCell(2.9, 'decimal(10,2)')).toBe('2.90');
    expect(formatCell(-1234.5, 'decimal(12,2)')).toBe('-1,234.50');
    expect(formatCell(0.3, 'float64')).toBe('0.3');
    expect(formatCell('2024-03-01', 'date32')).toBe('2024-03-01');
    expect(formatCell('2024-03-01T12:00:00', 'timestamp[us]')).toBe('2024-03-01T12:00:00');
    expect(formatCell(true, 'bool')).toBe('true');
    expect(formatCell('North', 'utf8')).toBe('North');
    expect(formatCell(null, 'utf8')).toBe('—');
  });

  it('applies a measure format over the type', () => {
    expect(formatCell(1234.5, 'decimal(38,2)', 'currency')).toBe('$1,234.50');
    expect(formatCell(0.25, 'float64', 'percent')).toBe('25%');
  });
});

describe('formatDate', () => {
  it('labels by grain', () => {
    expect(formatDate('2024-01-05', 'day')).toBe('2024-01-05');
    expect(formatDate('2024-01-01', 'month')).toBe('Jan 2024');
    expect(formatDate('2024-05-01', 'quarter')).toBe('Q2 2024');
    expect(formatDate('2024-01-01', 'year')).toBe('2024');
    expect(formatDate(Date.UTC(2023, 11, 1), 'month')).toBe('Dec 2023');
    expect(formatDate('2024-03-01T12:30:00')).toBe('2024-03-01 12:30');
    expect(formatDate('2024-03-01')).toBe('2024-03-01');
    expect(formatDate(null)).toBe('—');
    expect(formatDate('not a date', 'month')).toBe('not a date');
  });
});
