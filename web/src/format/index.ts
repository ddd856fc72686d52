// Arrow values to plain JavaScript, and values to display text.
//
// apache-arrow hands out some values in shapes a UI cannot use directly: DECIMAL as unscaled
// 32-bit words (two's complement), 64-bit integers as BigInt, dates and timestamps as epoch
// milliseconds. cellValue() turns them into numbers and ISO strings, the shapes the server's
// JSON format uses (docs/api.md, "Response formats"). Timestamps are read from the column's
// 64-bit integers and converted with BigInt arithmetic: the epoch milliseconds apache-arrow
// hands out are a double, which keeps only about a quarter of a microsecond at today's dates
// (2025-06-30T23:59:59.999999999 would read as 2025-07-01T00:00:00). Formatting is pinned to
// en-US so the output does not depend on the browser's locale.

import { type Data, DataType, TimeUnit, type Table, type Vector } from 'apache-arrow';

export type CellValue = number | string | boolean | null;

const LOCALE = 'en-US';

// ---------------------------------------------------------------------------------------------
// Arrow -> plain values

function pad(n: number, width = 2): string {
  const s = String(Math.abs(n));
  return (n < 0 ? '-' : '') + (s.length >= width ? s : '0'.repeat(width - s.length) + s);
}

/** 'YYYY-MM-DD' of the UTC day containing epoch milliseconds `ms`. */
export function isoDate(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

function isoTimeOfDay(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

const UNIT_DIGITS: Record<number, number> = {
  [TimeUnit.SECOND]: 0,
  [TimeUnit.MILLISECOND]: 3,
  [TimeUnit.MICROSECOND]: 6,
  [TimeUnit.NANOSECOND]: 9,
};

/** Fractional seconds as '.ddd' (trailing zeros dropped), or '' when zero. */
function fraction(subSecond: number, digits: number): string {
  if (digits === 0 || subSecond <= 0) return '';
  const text = pad(Math.round(subSecond), digits).replace(/0+$/, '');
  return text ? '.' + text : '';
}

const DAY_SECONDS = 86_400n;
/** Days either side of the epoch a JavaScript Date can hold. */
const MAX_DATE_DAYS = 100_000_000n;

/**
 * A timestamp as ISO text from its exact count of `unit` since the epoch: the date, the time,
 * the fraction the unit has (trailing zeros dropped, none when zero) and 'Z' with a time zone.
 * All in BigInt until the parts are small, so every digit is right. null beyond the years a
 * Date can hold.
 */
export function timestampText(units: bigint, unit: TimeUnit, zoned = false): string | null {
  const digits = UNIT_DIGITS[unit] ?? 0;
  const perSecond = 10n ** BigInt(digits);
  // Floor division: a moment before the epoch belongs to the second that starts before it.
  let seconds = units / perSecond;
  let sub = units % perSecond;
  if (sub < 0n) {
    sub += perSecond;
    seconds -= 1n;
  }
  let days = seconds / DAY_SECONDS;
  let secondOfDay = seconds % DAY_SECONDS;
  if (secondOfDay < 0n) {
    secondOfDay += DAY_SECONDS;
    days -= 1n;
  }
  if (days > MAX_DATE_DAYS || days < -MAX_DATE_DAYS) return null;
  // Each part is now far below 2^53: Number is exact.
  const sod = Number(secondOfDay);
  const time = `${pad(Math.floor(sod / 3600))}:${pad(Math.floor(sod / 60) % 60)}:${pad(sod % 60)}`;
  return `${isoDate(Number(days) * 86_400_000)}T${time}${fraction(Number(sub), digits)}${zoned ? 'Z' : ''}`;
}

/**
 * The stored value of a timestamp cell: the exact count of its unit since the epoch (null when
 * the cell is null). `index` is the row within `data`.
 */
function storedTimestamp(data: Data, index: number): bigint | null {
  if (!data.getValid(index)) return null;
  const v: unknown = (data.values as ArrayLike<unknown> | undefined)?.[index];
  if (typeof v === 'bigint') return v;
  return typeof v === 'number' && Number.isFinite(v) ? BigInt(Math.trunc(v)) : null;
}

/** Two's-complement little-endian 32-bit words to a BigInt. */
function wordsToBigInt(words: ArrayLike<number>): bigint {
  let out = 0n;
  for (let i = words.length - 1; i >= 0; i--) out = (out << 32n) | BigInt((words[i] ?? 0) >>> 0);
  const bits = BigInt(words.length * 32);
  if (words.length > 0 && ((words[words.length - 1] ?? 0) & 0x80000000) !== 0) out -= 1n << bits;
  return out;
}

/** An unscaled decimal integer to the nearest double of its exact value. */
export function scaleDecimal(unscaled: bigint, scale: number): number {
  if (scale <= 0) return Number(unscaled * 10n ** BigInt(-scale));
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const text = `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  // Parsing the exact decimal text rounds once, correctly; dividing would round twice.
  return Number((negative ? '-' : '') + text);
}

function toBigInt(raw: unknown): bigint | null {
  if (typeof raw === 'bigint') return raw;
  if (typeof raw === 'number') return Number.isFinite(raw) ? BigInt(Math.trunc(raw)) : null;
  if (raw && typeof raw === 'object' && 'length' in raw) return wordsToBigInt(raw as ArrayLike<number>);
  return null;
}

/** Converts what `Vector.get()` returned for a value of `type` to a plain value. */
export function convertValue(raw: unknown, type: DataType): CellValue {
  if (raw === null || raw === undefined) return null;
  if (DataType.isDictionary(type)) return convertValue(raw, type.dictionary);
  if (DataType.isDecimal(type)) {
    const unscaled = toBigInt(raw);
    return unscaled === null ? null : scaleDecimal(unscaled, type.scale);
  }
  if (DataType.isInt(type) || DataType.isFloat(type)) {
    return typeof raw === 'bigint' ? Number(raw) : Number(raw);
  }
  if (DataType.isBool(type)) return Boolean(raw);
  if (DataType.isDate(type)) {
    const ms = raw instanceof Date ? raw.getTime() : Number(raw);
    return Number.isFinite(ms) ? isoDate(ms) : null;
  }
  if (DataType.isTimestamp(type)) {
    // A BigInt is the exact count of the type's unit (what the column stores, see cellValue).
    if (typeof raw === 'bigint') return timestampText(raw, type.unit, Boolean(type.timezone));
    // What `Vector.get()` returns: epoch milliseconds (fractional below a millisecond).
    const ms = raw instanceof Date ? raw.getTime() : Number(raw);
    if (!Number.isFinite(ms)) return null;
    const wholeSeconds = Math.floor(ms / 1000);
    const digits = UNIT_DIGITS[type.unit] ?? 3;
    const sub = (ms - wholeSeconds * 1000) * 10 ** (digits - 3);
    const tz = type.timezone ? 'Z' : '';
    return `${isoDate(wholeSeconds * 1000)}T${isoTimeOfDay(wholeSeconds * 1000)}${fraction(sub, digits)}${tz}`;
  }
  if (DataType.isTime(type)) {
    // The raw value counts the type's unit since midnight (a BigInt for time64).
    const digits = UNIT_DIGITS[type.unit] ?? 0;
    const units = typeof raw === 'bigint' ? raw : BigInt(Math.trunc(Number(raw)));
    const perSecond = 10n ** BigInt(digits);
    const seconds = Number(units / perSecond);
    const sub = Number(units % perSecond);
    return `${isoTimeOfDay(seconds * 1000)}${fraction(sub, digits)}`;
  }
  if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') return raw;
  if (typeof raw === 'bigint') return Number(raw);
  if (raw instanceof Uint8Array) return Array.from(raw, (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    return JSON.stringify(raw, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
  } catch {
    return String(raw);
  }
}

function vectorOf(table: Table, column: string): Vector {
  const vector = table.getChild(column);
  if (!vector) throw new Error(`the result has no column '${column}'`);
  return vector;
}

/** Whether the table has a column of that name. */
export function hasColumn(table: Table, column: string): boolean {
  return table.schema.fields.some((f) => f.name === column);
}

/** One cell as a plain value: see the module comment. Throws when the column is missing. */
export function cellValue(table: Table, row: number, column: string): CellValue {
  const vector = vectorOf(table, column);
  const type = vector.type as DataType;
  if (DataType.isTimestamp(type) && row >= 0 && row < vector.length) {
    // The stored integer, not `get()`'s epoch milliseconds: see the module comment.
    let start = 0;
    for (const data of vector.data) {
      if (row < start + data.length) {
        const units = storedTimestamp(data, row - start);
        return units === null ? null : convertValue(units, type);
      }
      start += data.length;
    }
  }
  return convertValue(vector.get(row), type);
}

/** A whole column as plain values. Throws when the column is missing. */
export function columnValues(table: Table, column: string): CellValue[] {
  const vector = vectorOf(table, column);
  const type = vector.type as DataType;
  const out: CellValue[] = new Array<CellValue>(vector.length);
  if (DataType.isTimestamp(type)) {
    let i = 0;
    for (const data of vector.data) {
      for (let j = 0; j < data.length; j++, i++) {
        const units = storedTimestamp(data, j);
        out[i] = units === null ? null : convertValue(units, type);
      }
    }
    return out;
  }
  for (let i = 0; i < vector.length; i++) out[i] = convertValue(vector.get(i), type);
  return out;
}

const TIME_UNIT_NAMES: Record<number, string> = {
  [TimeUnit.SECOND]: 's',
  [TimeUnit.MILLISECOND]: 'ms',
  [TimeUnit.MICROSECOND]: 'us',
  [TimeUnit.NANOSECOND]: 'ns',
};

/**
 * The Arrow type's name as the server's JSON format spells it (utf8, int64, float64,
 * decimal(38,2), date32, timestamp[us], timestamp[us, tz=UTC], bool, ...). A dictionary-encoded
 * column is named by its value type, since that is what its cells hold.
 */
export function arrowTypeName(type: DataType): string {
  if (DataType.isDictionary(type)) return arrowTypeName(type.dictionary);
  if (DataType.isNull(type)) return 'null';
  if (DataType.isBool(type)) return 'bool';
  if (DataType.isInt(type)) return `${type.isSigned ? 'int' : 'uint'}${type.bitWidth}`;
  if (DataType.isFloat(type)) return `float${[16, 32, 64][type.precision] ?? 64}`;
  if (DataType.isDecimal(type)) {
    const base = `decimal(${type.precision},${type.scale})`;
    return type.bitWidth === 128 ? base : `${base}[${type.bitWidth}]`;
  }
  if (DataType.isUtf8(type)) return 'utf8';
  if (DataType.isLargeUtf8(type)) return 'large_utf8';
  if (DataType.isLargeBinary(type)) return 'large_binary';
  if (DataType.isFixedSizeBinary(type)) return `fixed_size_binary[${type.byteWidth}]`;
  if (DataType.isBinary(type)) return 'binary';
  if (DataType.isDate(type)) return type.unit === 0 ? 'date32' : 'date64';
  if (DataType.isTime(type)) return `time${type.bitWidth}[${TIME_UNIT_NAMES[type.unit] ?? '?'}]`;
  if (DataType.isTimestamp(type)) {
    const unit = TIME_UNIT_NAMES[type.unit] ?? '?';
    return type.timezone ? `timestamp[${unit}, tz=${type.timezone}]` : `timestamp[${unit}]`;
  }
  if (DataType.isList(type)) {
    const child = type.children[0];
    return `list<${child ? arrowTypeName(child.type as DataType) : ''}>`;
  }
  return String(type).toLowerCase();
}

/** The type name of a table column ('' when missing). */
export function columnTypeName(table: Table, column: string): string {
  const field = table.schema.fields.find((f) => f.name === column);
  return field ? arrowTypeName(field.type as DataType) : '';
}

export function isNumericTypeName(typeName: string): boolean {
  return /^(u?int\d+|float\d+|decimal\()/.test(typeName);
}

export function isTemporalTypeName(typeName: string): boolean {
  return /^(date32|date64|timestamp\[)/.test(typeName);
}

// ---------------------------------------------------------------------------------------------
// Numbers

const formatters = new Map<string, Intl.NumberFormat>();

function nf(options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = JSON.stringify(options);
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.NumberFormat(LOCALE, options);
    formatters.set(key, f);
  }
  return f;
}

export interface NumberFormatOptions {
  /** Abbreviate large values (1.2K, $3.4M). */
  compact?: boolean;
  /** Fraction digits of compact output (default 1). */
  digits?: number;
}

/** Placeholder shown for a missing value. */
export const NULL_TEXT = '—';

/** Compact notation: 1.2K, 3.4M, 5.6B (with `currency`, $1.2M). */
export function formatCompact(value: number | null, options: { currency?: boolean; digits?: number } = {}): string {
  if (value === null || Number.isNaN(value)) return NULL_TEXT;
  const digits = options.digits ?? 1;
  const base: Intl.NumberFormatOptions = {
    notation: 'compact',
    compactDisplay: 'short',
    maximumFractionDigits: digits,
  };
  if (options.currency) {
    // Below a thousand, compact notation would drop the cents of a price: keep them.
    if (Math.abs(value) < 1000) return nf({ style: 'currency', currency: 'USD' }).format(value);
    return nf({ ...base, style: 'currency', currency: 'USD' }).format(value);
  }
  return nf(base).format(value);
}

function plainDigits(value: number): number {
  const abs = Math.abs(value);
  if (Number.isInteger(value)) return 0;
  if (abs >= 1) return 2;
  if (abs >= 0.01) return 4;
  return 6;
}

/**
 * A number for display. Formats: `currency` ($1,234.57; $1.2M with `compact`), `percent`
 * (0.123 -> 12.3%), `compact` (1.2K, 3.4M, 5.6B), `integer` (1,235), `number` or none
 * (grouped, up to 2 decimals, more for small values). null and NaN give '—'.
 */
export function formatNumber(value: number | null, format?: string, options: NumberFormatOptions = {}): string {
  if (value === null || Number.isNaN(value)) return NULL_TEXT;
  switch (format) {
    case 'currency':
      if (options.compact) return formatCompact(value, { currency: true, digits: options.digits ?? 1 });
      return nf({ style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value);
    case 'percent':
      return nf({ style: 'percent', maximumFractionDigits: 1 }).format(value);
    case 'compact':
      return formatCompact(value, { digits: options.digits ?? 1 });
    case 'integer':
      return nf({ maximumFractionDigits: 0 }).format(value);
    default:
      if (options.compact && Math.abs(value) >= 1000) return formatCompact(value, { digits: options.digits ?? 1 });
      return nf({ maximumFractionDigits: plainDigits(value) }).format(value);
  }
}

/** Whether a column holds identifiers by its name: `id`, or ending in `_id`. */
export function isIdentifierColumn(name: string): boolean {
  return /^id$|_id$/i.test(name);
}

/**
 * One table cell for display. With a measure `format`, numbers follow it; otherwise by type:
 * integers grouped, decimals with their scale's digits, floats as formatNumber, dates and
 * timestamps as the server writes them; integer identifier columns (`column` named id or *_id)
 * without grouping. null gives '—'.
 */
export function formatCell(value: CellValue, typeName: string, format?: string, column?: string): string {
  if (value === null) return NULL_TEXT;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return value;
  if (format) return formatNumber(value, format);
  if (/^u?int\d+$/.test(typeName)) {
    // Identifiers are codes, not quantities: order_id 35049, not 35,049.
    if (column !== undefined && isIdentifierColumn(column)) return String(value);
    return nf({ maximumFractionDigits: 0 }).format(value);
  }
  const decimal = /^decimal\(\d+,(-?\d+)\)/.exec(typeName);
  if (decimal) {
    const scale = Math.min(20, Math.max(0, Number(decimal[1])));
    return nf({ minimumFractionDigits: scale, maximumFractionDigits: scale }).format(value);
  }
  return formatNumber(value);
}

// ---------------------------------------------------------------------------------------------
// Dates

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Epoch milliseconds of a date value: a number (already epoch ms), a Date, 'YYYY-MM-DD' or an
 * ISO timestamp. Strings without a zone are read as UTC, as the server writes them. Digits below
 * a millisecond are dropped, never rounded up: 23:59:59.999999999 stays in its day and second.
 */
export function toEpochMs(value: string | number | Date): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (value instanceof Date) return value.getTime();
  const m = /^(-?\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|([+-])(\d{2}):?(\d{2}))?$/.exec(value.trim());
  if (!m) return null;
  const d = new Date(0);
  // setUTCFullYear, unlike Date.UTC, takes years 0-99 as they are.
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0), m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0);
  let ms = d.getTime();
  // A zone offset moves the instant by whole minutes.
  if (m[9]) ms -= (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) * 60_000;
  return Number.isNaN(ms) ? null : ms;
}

/**
 * A date for axis labels and tooltips, by grain: year '2024', quarter 'Q1 2024', month
 * 'Jan 2024', week and day '2024-01-05'. Without a grain: the date, plus the time when it is
 * not midnight. All in UTC.
 */
export function formatDate(value: string | number | Date | null, grain?: string): string {
  if (value === null) return NULL_TEXT;
  const ms = toEpochMs(value);
  if (ms === null) return String(value);
  const d = new Date(ms);
  const year = pad(d.getUTCFullYear(), 4);
  switch (grain) {
    case 'year':
      return year;
    case 'quarter':
      return `Q${Math.floor(d.getUTCMonth() / 3) + 1} ${year}`;
    case 'month':
      return `${MONTHS[d.getUTCMonth()]} ${year}`;
    case 'week':
    case 'day':
      return isoDate(ms);
    default: {
      const time = ((ms % 86_400_000) + 86_400_000) % 86_400_000 === 0 ? '' : ` ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
      return isoDate(ms) + time;
    }
  }
}

/**
 * A number with all its digits (up to 10 decimals), for tooltips next to a rounded display:
 * currency $43,385,044.77, percent 12.3456%, others 216.92522385.
 */
export function formatPrecise(value: number | null, format?: string): string {
  if (value === null || Number.isNaN(value)) return NULL_TEXT;
  switch (format) {
    case 'currency':
      return nf({ style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 10 }).format(value);
    case 'percent':
      return nf({ style: 'percent', maximumFractionDigits: 8 }).format(value);
    default:
      return nf({ maximumFractionDigits: 10 }).format(value);
  }
}
