import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue, type NValue } from '../src/state/notation';
import {
  dashboardFromPath,
  decodeQuery,
  decodeSort,
  emptyState,
  encodeQuery,
  encodeSort,
  stateKey,
  urlFor,
  withSelection,
  type ViewState,
} from '../src/state/url';

function roundTripValue(v: NValue): NValue {
  return decodeValue(encodeValue(v));
}

describe('value notation', () => {
  const tricky: NValue[] = [
    'North',
    '',
    ' ',
    'Sports, Games & More',
    "O'Brien",
    'bang!',
    '!n',
    "'quoted'",
    '(paren)',
    'a:b',
    '5',
    '-3.5',
    '1e3',
    '0',
    'null',
    'true',
    'Zürich – 東京 🚀',
    'line\nbreak\ttab',
    '100%',
    'a+b=c&d#e?f/g',
    '%20',
    5,
    -3.5,
    0,
    1e21,
    123456789.125,
    true,
    false,
    null,
    [],
    ['Online', 'Partner'],
    ['a,b', "c'd", null, 5, '5', true],
    [5, null],
    [null, '2024-03-01T12:00:00'],
    {},
    { from: '2024-01-01' },
    { from: '2024-01-01', to: '2024-06-30' },
    { 'weird:key': 'x', "it's": ['y'] },
    [['nested', ['deep']], { a: { b: null } }],
  ];
  for (const v of tricky) {
    it(`round-trips ${JSON.stringify(v)}`, () => {
      expect(roundTripValue(v)).toEqual(v);
    });
  }

  it('keeps numbers and numeric-looking strings apart', () => {
    expect(encodeValue(5)).toBe('5');
    expect(encodeValue('5')).toBe("'5'");
    expect(decodeValue('5')).toBe(5);
    expect(decodeValue("'5'")).toBe('5');
  });

  it('writes plain words bare and lists compactly', () => {
    expect(encodeValue('North')).toBe('North');
    expect(encodeValue(['Online', 'Partner'])).toBe('!(Online,Partner)');
    expect(encodeValue({ from: '2024-01-01' })).toBe('(from:2024-01-01)');
    expect(encodeValue([5, null])).toBe('!(5,!n)');
    expect(encodeValue("O'Brien, Jr!")).toBe("'O!'Brien, Jr!!'");
  });

  it('rejects malformed text', () => {
    expect(() => decodeValue("'open")).toThrow();
    expect(() => decodeValue('!(a,b')).toThrow();
    expect(() => decodeValue('!x')).toThrow();
    expect(() => decodeValue('a)b')).toThrow();
    expect(() => decodeValue('')).toThrow();
  });

  it('does not let a __proto__ key touch the prototype', () => {
    const v = decodeValue('(__proto__:(polluted:!t))') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(v)).toEqual(['__proto__']);
  });
});

function sample(): ViewState {
  const s = emptyState('sales');
  s.page = 'orders';
  s.filters.set('region', "North' OR '1'='1");
  s.filters.set('channel', ['Online', 'a,b', null, '5']);
  s.filters.set('units', [5, null]);
  s.filters.set('period', { from: '2024-01-01' });
  s.filters.set('product', null);
  s.filters.set('score', 7);
  s.filters.set('code', '7');
  s.selections.push({ column: 'channel', values: ['Online', 'Zürich – 東京'], widget: 'by_channel' });
  s.selections.push({ column: 'order_date', range: ['2025-01-01', null], widget: 'trend' });
  s.sort.set('orders_table', [
    { column: 'revenue', desc: true },
    { column: '-odd, name', desc: false },
  ]);
  return s;
}

describe('view state in the URL', () => {
  it('round-trips every part of the state', () => {
    const s = sample();
    const back = decodeQuery('sales', '?' + encodeQuery(s));
    expect(back.page).toBe('orders');
    expect([...back.filters]).toEqual([...s.filters]);
    expect(back.selections).toEqual(s.selections);
    expect([...back.sort]).toEqual([...s.sort]);
  });

  it('round-trips through a real URL object (as a browser would parse it)', () => {
    const s = sample();
    const url = new URL(urlFor(s), 'http://localhost:5173');
    expect(dashboardFromPath(url.pathname)).toBe('sales');
    const back = decodeQuery('sales', url.search);
    expect(stateKey(back, 'orders')).toBe(stateKey(s, 'orders'));
    expect([...back.filters]).toEqual([...s.filters]);
  });

  it('tells "not set" from "explicitly cleared"', () => {
    const s = emptyState('customers');
    s.filters.set('period', null);
    const q = encodeQuery(s);
    expect(q).toBe('f.period=!n');
    const back = decodeQuery('customers', q);
    expect(back.filters.has('period')).toBe(true);
    expect(back.filters.get('period')).toBeNull();
    const unset = decodeQuery('customers', '');
    expect(unset.filters.has('period')).toBe(false);
    expect(stateKey(back, 'main')).not.toBe(stateKey(unset, 'main'));
  });

  it('writes a readable query string', () => {
    const s = emptyState('sales');
    s.filters.set('region', 'North');
    s.filters.set('channel', ['Online', 'Partner']);
    s.filters.set('category', ['Sports & Outdoors']);
    s.filters.set('period', { from: '2024-01-01', to: '2024-06-30' });
    s.sort.set('orders_table', [{ column: 'revenue', desc: true }]);
    expect(encodeQuery(s)).toBe(
      'f.region=North&f.channel=!(Online,Partner)&f.category=!(Sports+%26+Outdoors)' +
        '&f.period=(from:2024-01-01,to:2024-06-30)&sort.orders_table=-revenue',
    );
    expect(urlFor(s).startsWith('/d/sales?f.region=North')).toBe(true);
    expect(urlFor(emptyState('sales'))).toBe('/d/sales');
  });

  it('gives a canonical key independent of insertion order', () => {
    const a = emptyState('sales');
    a.filters.set('region', 'North');
    a.filters.set('units', [1, 5]);
    a.selections.push({ column: 'channel', values: ['Online'], widget: 'by_channel' });
    a.selections.push({ column: 'region', values: ['East'], widget: 'region_category' });
    const b = emptyState('sales');
    b.selections.push({ column: 'region', values: ['East'], widget: 'region_category' });
    b.filters.set('units', [1, 5]);
    b.selections.push({ column: 'channel', values: ['Online'], widget: 'by_channel' });
    b.filters.set('region', 'North');
    b.page = 'overview';
    expect(stateKey(a, 'overview')).toBe(stateKey(b, 'overview'));
    expect(stateKey(a, 'overview')).toBe(
      'd=sales&page=overview&f.region=North&f.units=!(1,5)' +
        '&sel.by_channel=(column:channel,values:!(Online))&sel.region_category=(column:region,values:!(East))',
    );
    expect(stateKey(a, 'orders')).not.toBe(stateKey(a, 'overview'));
    const c = emptyState('sales');
    c.filters.set('units', [1, '5']);
    c.filters.set('region', 'North');
    c.selections = b.selections.slice();
    expect(stateKey(c, 'overview')).not.toBe(stateKey(a, 'overview'));
  });

  it('skips parameters that do not parse and ignores unknown ones', () => {
    const s = decodeQuery('sales', "?f.region='open&f.channel=!(a)&utm_source=x&sel.w=(nope:1)&sort.t=&%E0%A4%A=1");
    expect(s.filters.has('region')).toBe(false);
    expect(s.filters.get('channel')).toEqual(['a']);
    expect(s.selections).toEqual([]);
    expect(s.sort.size).toBe(0);
  });

  it('rejects filter values of the wrong shape', () => {
    const s = decodeQuery('sales', '?f.a=(x:1)&f.b=!(!(1))&f.c=(from:!n)&f.d=(to:2024-01-01)');
    expect(s.filters.has('a')).toBe(false);
    expect(s.filters.has('b')).toBe(false);
    expect(s.filters.has('c')).toBe(false);
    expect(s.filters.get('d')).toEqual({ to: '2024-01-01' });
  });

  it('encodes sort keys, quoting columns that start with a dash', () => {
    const keys = [
      { column: 'revenue', desc: true },
      { column: '-x', desc: false },
      { column: '-y', desc: true },
      { column: '5', desc: false },
    ];
    expect(encodeSort(keys)).toBe("-revenue,'-x',-'-y','5'");
    expect(decodeSort(encodeSort(keys))).toEqual(keys);
  });

  it('reads the dashboard id from the path', () => {
    expect(dashboardFromPath('/d/sales')).toBe('sales');
    expect(dashboardFromPath('/d/sales/')).toBe('sales');
    expect(dashboardFromPath('/d/my%20dash')).toBe('my dash');
    expect(dashboardFromPath('/')).toBeNull();
    expect(dashboardFromPath('/d/')).toBeNull();
    expect(dashboardFromPath('/d/%E0')).toBeNull();
  });

  it('replaces, adds and removes one widget selection', () => {
    const list = [
      { column: 'channel', values: ['Online'], widget: 'a' },
      { column: 'region', values: ['East'], widget: 'b' },
    ];
    expect(withSelection(list, 'a', { column: 'channel', values: ['Retail'] })).toEqual([
      { column: 'channel', values: ['Retail'], widget: 'a' },
      list[1],
    ]);
    expect(withSelection(list, 'c', { column: 'units', range: [1, 2] })).toHaveLength(3);
    expect(withSelection(list, 'a', null)).toEqual([list[1]]);
    expect(withSelection(list, 'zzz', null)).toEqual(list);
  });
});
