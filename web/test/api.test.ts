import { afterEach, describe, expect, it, vi } from 'vitest';
import { tableToIPC, tableFromArrays } from 'apache-arrow';
import { ApiError, buildQueryBody, optionsUrl, parseProblem, queryWidget } from '../src/api/client';
import { emptyState } from '../src/state/url';
import type { DashboardSpec, WidgetSpec } from '../src/types';

const spec: DashboardSpec = {
  id: 'sales',
  title: 'Sales',
  dimensions: ['region', 'channel', 'order_date'],
  filters: [
    { id: 'region', type: 'select', label: 'Region', column: 'region', default: null },
    { id: 'period', type: 'daterange', label: 'Order date', column: 'order_date', default: { from: '2025-01-01' } },
    { id: 'units', type: 'range', label: 'Units', column: 'units', default: null },
  ],
  pages: [],
};
const bar: WidgetSpec = { id: 'by_channel', type: 'bar', title: 'By channel', layout: { width: 6 }, options: {} };
const kpi: WidgetSpec = { id: 'revenue', type: 'kpi', title: 'Revenue', layout: { width: 3 }, options: {} };
const table: WidgetSpec = { id: 'orders', type: 'table', title: 'Orders', layout: { width: 12 }, options: {} };

describe('buildQueryBody', () => {
  it('sends an empty body when nothing is set (defaults apply)', () => {
    expect(buildQueryBody(spec, emptyState('sales'), kpi)).toEqual({});
  });

  it('sends set filters, explicit nulls, and drops unknown ids', () => {
    const s = emptyState('sales');
    s.filters.set('units', [5, null]);
    s.filters.set('period', null);
    s.filters.set('nope', 'x');
    const body = buildQueryBody(spec, s, kpi);
    expect(body).toEqual({ filters: { period: null, units: [5, null] } });
    expect(JSON.stringify(body)).toBe('{"filters":{"period":null,"units":[5,null]}}');
  });

  it('sends every selection with the widget it was made on, dropping undeclared columns', () => {
    const s = emptyState('sales');
    s.selections.push({ column: 'channel', values: ['Online'], widget: 'by_channel' });
    s.selections.push({ column: 'order_date', range: ['2025-01-01', null], widget: 'trend' });
    s.selections.push({ column: 'secret', values: [1], widget: 'x' });
    const body = buildQueryBody(spec, s, bar);
    expect(body.selections).toEqual([
      { column: 'channel', values: ['Online'], widget: 'by_channel' },
      { column: 'order_date', range: ['2025-01-01', null], widget: 'trend' },
    ]);
  });

  it('sends sort for sortable widgets and paging for tables only', () => {
    const s = emptyState('sales');
    s.sort.set('orders', [{ column: 'revenue', desc: true }]);
    s.sort.set('revenue', [{ column: 'revenue', desc: true }]);
    expect(buildQueryBody(spec, s, table, { offset: 200, limit: 100 })).toEqual({
      sort: [{ column: 'revenue', desc: true }],
      offset: 200,
      limit: 100,
    });
    expect(buildQueryBody(spec, s, kpi, { offset: 200, limit: 100 })).toEqual({});
  });
});

describe('parseProblem', () => {
  const headers = { get: (n: string) => (n.toLowerCase() === 'x-request-id' ? 'hdr-id' : null) };

  it('reads an RFC 9457 problem', () => {
    const body = JSON.stringify({
      detail: "unknown filter 'nope'",
      hint: "this dashboard's filters: region",
      request_id: '2a6f489be24fbdcc',
      status: 400,
      title: 'Bad Request',
      type: 'urn:sightline:problem:invalid-input',
    });
    const e = parseProblem(400, body, headers);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(400);
    expect(e.detail).toBe("unknown filter 'nope'");
    expect(e.hint).toBe("this dashboard's filters: region");
    expect(e.requestId).toBe('2a6f489be24fbdcc');
    expect(e.type).toBe('urn:sightline:problem:invalid-input');
  });

  it('falls back to the header id and a status text for bodies that are not problems', () => {
    const e = parseProblem(502, '<html>Bad gateway</html>', headers);
    expect(e.status).toBe(502);
    expect(e.detail).toBe('The server could not be reached');
    expect(e.hint).toBeNull();
    expect(e.requestId).toBe('hdr-id');
    expect(parseProblem(418, '', undefined).detail).toBe('HTTP 418');
    expect(parseProblem(400, 'plain words', undefined).detail).toBe('plain words');
    expect(parseProblem(503, '{"title":"Service Unavailable"}').detail).toBe('Service Unavailable');
  });
});

describe('queryWidget', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('posts the body asking for Arrow and decodes the stream and headers', async () => {
    const t = tableFromArrays({ region: ['North', 'South'], revenue: Float64Array.from([1.5, 2]) });
    const bytes = tableToIPC(t, 'stream');
    const fetchMock = vi.fn(async () =>
      new Response(bytes.slice(), {
        status: 200,
        headers: { 'Content-Type': 'application/vnd.apache.arrow.stream', 'X-Total-Count': '2475', 'X-Request-Id': 'abc' },
      }),
    );
    vi.stubGlobal('fetch', fetchMock);
    const r = await queryWidget('sales', 'orders table', { limit: 2 });
    expect(r.table.numRows).toBe(2);
    expect(r.table.getChild('region')?.get(1)).toBe('South');
    expect(r.totalCount).toBe(2475);
    expect(r.requestId).toBe('abc');
    const call = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(call[0]).toBe('/api/v1/dashboards/sales/widgets/orders%20table/query');
    expect(call[1].method).toBe('POST');
    expect((call[1].headers as Record<string, string>).Accept).toBe('application/vnd.apache.arrow.stream');
    expect(call[1].body).toBe('{"limit":2}');
  });

  it('throws the parsed problem on an error status', async () => {
    vi.stubGlobal('fetch', async () =>
      new Response(JSON.stringify({ status: 504, detail: 'too slow', hint: 'narrow the filters', request_id: 'r1' }), {
        status: 504,
        headers: { 'Content-Type': 'application/problem+json' },
      }),
    );
    await expect(queryWidget('sales', 'x', {})).rejects.toMatchObject({ status: 504, detail: 'too slow', hint: 'narrow the filters', requestId: 'r1' });
  });

  it('builds option URLs with q and limit', () => {
    expect(optionsUrl('sales', 'product', 'tent & co', 50)).toBe('/api/v1/dashboards/sales/filters/product/options?q=tent+%26+co&limit=50');
    expect(optionsUrl('sales', 'units')).toBe('/api/v1/dashboards/sales/filters/units/options');
  });
});

describe('busy answers', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('retries a 503 with Retry-After with backoff, then answers', async () => {
    const { setRetrySleep } = await import('../src/api/client');
    const waits: number[] = [];
    const before = setRetrySleep(async (ms) => { waits.push(ms); });
    try {
      const ipc = tableToIPC(tableFromArrays({ n: Int32Array.from([7]) }), 'stream');
      let calls = 0;
      vi.stubGlobal('fetch', async () => {
        calls += 1;
        if (calls <= 2)
          return new Response(JSON.stringify({ type: 'urn:sightline:problem:unavailable', status: 503, detail: 'the server is busy' }), {
            status: 503, headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '1' },
          });
        return new Response(ipc.slice() as unknown as BodyInit, { status: 200, headers: { 'Content-Type': 'application/vnd.apache.arrow.stream' } });
      });
      const told: number[] = [];
      const r = await queryWidget('sales', 'revenue', {}, undefined, null, (ms) => told.push(ms));
      expect(r.table.getChild('n')?.get(0)).toBe(7);
      expect(calls).toBe(3);
      expect(waits.length).toBe(2);
      expect(told).toEqual(waits);
      expect(waits[1]).toBeGreaterThan(waits[0] ?? Infinity);
    } finally {
      setRetrySleep(before);
    }
  });

  it('gives up after a few tries with the server\'s words, and never retries a 503 without Retry-After', async () => {
    const { setRetrySleep, BUSY_RETRIES } = await import('../src/api/client');
    const before = setRetrySleep(async () => undefined);
    try {
      let calls = 0;
      vi.stubGlobal('fetch', async () => {
        calls += 1;
        return new Response(JSON.stringify({ status: 503, detail: 'the server is busy' }), {
          status: 503, headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '1' },
        });
      });
      await expect(queryWidget('sales', 'x', {})).rejects.toMatchObject({ status: 503, detail: 'the server is busy' });
      expect(calls).toBe(BUSY_RETRIES + 1);
      calls = 0;
      vi.stubGlobal('fetch', async () => {
        calls += 1;
        return new Response(JSON.stringify({ status: 503, detail: 'still loading' }), { status: 503, headers: { 'Content-Type': 'application/problem+json' } });
      });
      await expect(queryWidget('sales', 'x', {})).rejects.toMatchObject({ status: 503 });
      expect(calls).toBe(1);
    } finally {
      setRetrySleep(before);
    }
  });

  it('backs off from the server\'s Retry-After, doubling, within 8 s', async () => {
    const { retryDelayMs } = await import('../src/api/client');
    expect(retryDelayMs('1', 0, () => 0.5)).toBe(1000);
    expect(retryDelayMs('1', 2, () => 0.5)).toBe(4000);
    expect(retryDelayMs('2', 5, () => 0.5)).toBe(8000);
    expect(retryDelayMs('nonsense', 0, () => 0.5)).toBe(500);
  });
});
