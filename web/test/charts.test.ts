import { Int32, Table, TimeUnit, Timestamp, makeData, makeVector, vectorFromArray } from 'apache-arrow';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// The view is tested against a stand-in for ECharts (jsdom has no canvas); the option builders
// are pure and tested as they are.
const fakeCharts: FakeChart[] = [];
interface FakeChart {
  options: unknown[];
  setOpts: unknown[];
  handlers: Record<string, (p: unknown) => void>;
  actions: unknown[];
  disposed: boolean;
  cleared: number;
}
vi.mock('echarts/core', () => ({
  use: () => undefined,
  init: () => {
    const fake: FakeChart = { options: [], setOpts: [], handlers: {}, actions: [], disposed: false, cleared: 0 };
    fakeCharts.push(fake);
    return {
      on: (name: string, fn: (p: unknown) => void) => {
        fake.handlers[name] = fn;
      },
      setOption: (o: unknown, opts: unknown) => {
        fake.options.push(o);
        fake.setOpts.push(opts);
      },
      dispatchAction: (a: unknown) => fake.actions.push(a),
      resize: () => undefined,
      clear: () => {
        fake.cleared++;
      },
      dispose: () => {
        fake.disposed = true;
      },
      convertToPixel: (_finder: unknown, coord: [number, number]) => [coord[0] * 10 + 5, 100 - coord[1]],
      getModel: () => ({
        getSeriesByIndex: () => ({
          getData: () => ({ getItemLayout: (i: number) => ({ x: i * 20, y: 10, width: 10, height: 50 }) }),
        }),
      }),
    };
  },
}));

import { NULL_COLOR, PALETTE, createColorRegistry } from '../src/charts/colors';
import { createChartView } from '../src/charts/index';
import { DIMMED_OPACITY, EMPTY_MESSAGE, buildChartModel, buildChartOption, formatAxisNumber, optionShape } from '../src/charts/options';
import { decodeQuery, emptyState, urlFor, withSelection } from '../src/state/url';
import type { Selection, WidgetContext, WidgetSpec } from '../src/types';
import { date32, dec, f64, i64, utf8 } from './fixtures';

// ---------------------------------------------------------------------------------------------
// Fixtures shaped like the demo server's responses (docs/api.md, "What each widget type returns")

function widget(partial: Partial<WidgetSpec> & Pick<WidgetSpec, 'type' | 'encoding'>): WidgetSpec {
  return { id: 'w', title: 'W', layout: { width: 6 }, options: {}, ...partial };
}

function context(over: Partial<WidgetContext> = {}): WidgetContext & { picks: (Selection | null)[] } {
  const picks: (Selection | null)[] = [];
  return { theme: 'light', colors: createColorRegistry(), onSelect: (s) => picks.push(s), picks, ...over };
}

const months = ['2024-01-01', '2024-02-01', '2024-03-01'];
const regions = ['Central', 'East', 'North'];

const trendWidget = widget({
  id: 'trend',
  type: 'line',
  encoding: {
    x: { field: 'month', column: 'order_date', label: 'Month', grain: 'month' },
    color: { field: 'region', column: 'region', label: 'Region' },
    y: [{ field: 'revenue', label: 'Revenue', format: 'currency' }],
  },
});
function trendTable(): Table {
  const month: string[] = [];
  const region: string[] = [];
  const revenue: number[] = [];
  // Server order: by month then region; March has no East row.
  for (const m of months)
    for (const r of regions) {
      if (m === '2024-03-01' && r === 'East') continue;
      month.push(m);
      region.push(r);
      revenue.push(1000 + month.length * 10.25);
    }
  return new Table({ month: date32(month), region: utf8(region), revenue: dec(revenue) });
}

const byChannel = widget({
  id: 'by_channel',
  type: 'pie',
  encoding: { x: { field: 'channel', column: 'channel', label: 'Channel' }, y: [{ field: 'revenue', label: 'Revenue' }] },
});
const byChannelTable = (): Table =>
  new Table({
    channel: utf8(['Online', 'Retail', 'Partner', 'Direct', null]),
    revenue: dec([19741690.34, 11612352.25, 6673588.54, 5141093.02, 216320.62]),
  });

const categoryChannel = widget({
  id: 'category_channel',
  type: 'bar',
  options: { stacked: true },
  encoding: {
    x: { field: 'category', column: 'category', label: 'Category' },
    color: { field: 'channel', column: 'channel', label: 'Channel' },
    y: [{ field: 'revenue', label: 'Revenue' }],
  },
});
const categoryChannelTable = (): Table =>
  new Table({
    category: utf8(['Electronics', 'Home & Kitchen', 'Electronics', 'Toys', 'Home & Kitchen']),
    channel: utf8(['Retail', 'Online', 'Online', 'Online', 'Retail']),
    revenue: dec([3090932.45, 3542033.22, 5118179.4, 1503137.69, 2100967.13]),
  });

const topProducts = widget({
  id: 'top_products',
  type: 'bar',
  encoding: { x: { field: 'product', column: 'product', label: 'Product' }, y: [{ field: 'revenue', label: 'Revenue' }] },
});
const topProductsTable = (): Table =>
  new Table({ product: utf8(['Trail Tent Q3092', 'Essential Shredder E8141', 'Cosmic Puzzle I1357']), revenue: dec([1279819.87, 884102.79, 881632.22]) });

const histogram = widget({
  id: 'price_histogram',
  type: 'histogram',
  encoding: { bins: 30, value: { field: 'count', label: 'Count' }, x: { field: 'unit_price', column: 'unit_price', label: 'Unit price' } },
});
const histogramTable = (): Table =>
  new Table({
    bin_start: f64([1.96, 74.658, 147.356, 947.034]),
    bin_end: f64([74.658, 147.356, 220.054, 1019.732]),
    count: i64([152112, 20640, 8000, 289]),
  });

const heatmap = widget({
  id: 'region_category',
  type: 'heatmap',
  encoding: {
    value: { field: 'revenue', label: 'Revenue' },
    x: { field: 'region', column: 'region', label: 'Region' },
    y: { field: 'category', column: 'category', label: 'Category' },
  },
});
const heatmapTable = (): Table =>
  new Table({
    region: utf8(['Central', 'Central', 'East', 'East']),
    category: utf8(['Beauty & Health', 'Electronics', 'Beauty & Health', 'Electronics']),
    revenue: dec([608387.38, 2942030.92, 210788.11, 1066090.85]),
  });

const scatter = widget({
  id: 'units_vs_revenue',
  type: 'scatter',
  limit: 5000,
  encoding: {
    color: { field: 'segment', column: 'segment', label: 'Segment' },
    x: { field: 'units', column: 'units', label: 'Units' },
    y: { field: 'revenue', column: 'revenue', label: 'Revenue' },
  },
});
function scatterTable(n: number): Table {
  const segs = ['Consumer', 'SMB', 'Enterprise'];
  return new Table({
    units: vectorFromArray(Array.from({ length: n }, (_, i) => (i % 50) + 1), new Int32()),
    revenue: dec(Array.from({ length: n }, (_, i) => 10 + i * 1.5)),
    segment: utf8(Array.from({ length: n }, (_, i) => segs[i % 3] ?? null)),
  });
}

type AnyRecord = Record<string, any>;
const opt = (o: unknown): AnyRecord => o as AnyRecord;

// ---------------------------------------------------------------------------------------------

describe('createColorRegistry', () => {
  it('assigns palette colors on first sight and keeps them', () => {
    const colors = createColorRegistry();
    expect(colors.colorFor('Online')).toBe(PALETTE[0]);
    expect(colors.colorFor('Retail')).toBe(PALETTE[1]);
    expect(colors.colorFor('Online')).toBe(PALETTE[0]);
    expect(new Set(PALETTE).size).toBe(PALETTE.length);
    expect(PALETTE.length).toBeGreaterThanOrEqual(8);
  });

  it('gives one value the same color in a pie and in stacked bars', () => {
    const ctx = context();
    const pie = opt(buildChartOption(byChannel, byChannelTable(), ctx));
    const bars = opt(buildChartOption(categoryChannel, categoryChannelTable(), ctx));
    const sliceColor = (name: string) => pie.series[0].data.find((d: AnyRecord) => d.name === name).itemStyle.color;
    const barColor = (name: string) => bars.series.find((s: AnyRecord) => s.name === name).color;
    expect(barColor('Online')).toBe(sliceColor('Online'));
    expect(barColor('Retail')).toBe(sliceColor('Retail'));
    expect(barColor('Online')).not.toBe(barColor('Retail'));
    // null is its own neutral color, labelled for humans.
    expect(sliceColor('(none)')).toBe(NULL_COLOR);
  });
});

describe('bar charts', () => {
  it('draws one series for a single measure with categories in result order', () => {
    const model = buildChartModel(topProducts, topProductsTable(), context());
    const o = opt(model.option);
    expect(o.series).toHaveLength(1);
    expect(o.series[0].type).toBe('bar');
    expect(o.xAxis.data).toEqual(['Trail Tent Q3092', 'Essential Shredder E8141', 'Cosmic Puzzle I1357']);
    expect(o.series[0].data).toEqual([1279819.87, 884102.79, 881632.22]);
    expect(o.xAxis.axisLabel.overflow).toBe('truncate');
    expect(o.legend.show).toBe(false);
    expect(model.markCount).toBe(3);
    expect(o.animationDuration).toBeLessThanOrEqual(200);
  });

  it('stacks one series per color value, aligned on the categories', () => {
    const model = buildChartModel(categoryChannel, categoryChannelTable(), context());
    const o = opt(model.option);
    expect(o.series.map((s: AnyRecord) => s.name)).toEqual(['Retail', 'Online']);
    expect(o.series.every((s: AnyRecord) => s.stack === 'revenue')).toBe(true);
    expect(o.xAxis.data).toEqual(['Electronics', 'Home & Kitchen', 'Toys']);
    expect(o.series[0].data).toEqual([3090932.45, 2100967.13, null]);
    expect(o.series[1].data).toEqual([5118179.4, 3542033.22, 1503137.69]);
    expect(o.legend.show).toBe(true);
    expect(model.markCount).toBe(5);
  });

  it('groups without stacking, and goes horizontal when asked', () => {
    const grouped = opt(buildChartOption({ ...categoryChannel, options: { horizontal: true } }, categoryChannelTable(), context()));
    expect(grouped.series.every((s: AnyRecord) => s.stack === undefined)).toBe(true);
    expect(grouped.yAxis.type).toBe('category');
    expect(grouped.xAxis.type).toBe('value');
  });

  it('charts every numeric column of a custom SQL widget, whose clicks do nothing', () => {
    const custom = widget({ type: 'bar', custom_sql: true, encoding: { x: { field: 'account_manager', label: 'Account manager' } } });
    const table = new Table({ account_manager: utf8(['am3@example.com', 'am4@example.com']), revenue: dec([908405.93, 797423.6]), customers: i64([211, 183]) });
    const model = buildChartModel(custom, table, context());
    const o = opt(model.option);
    expect(o.series.map((s: AnyRecord) => s.name)).toEqual(['revenue', 'customers']);
    // A count next to revenue gets its own axis, or it would be a flat line at zero.
    expect(o.series.map((s: AnyRecord) => s.yAxisIndex)).toEqual([0, 1]);
    expect(o.yAxis).toHaveLength(2);
    expect(o.yAxis[1].axisLabel.color).toBe(PALETTE[1]);
    expect(o.series[1].color).toBe(PALETTE[1]);
    expect(model.click({ seriesIndex: 0, dataIndex: 0 })).toBeUndefined();
  });

  it('formats value axes compactly, as currency when the measure is', () => {
    const o = opt(buildChartOption(trendWidget, trendTable(), context()));
    expect(o.yAxis.axisLabel.formatter(1_500_000)).toBe('$1.5M');
    expect(formatAxisNumber(2500)).toBe('2.5K');
    expect(formatAxisNumber(0.25, 'percent')).toBe('25%');
    expect(formatAxisNumber(500, 'currency')).toBe('$500');
  });

  it('selects the clicked category, and clears on a second click', () => {
    const ctx = context();
    const model = buildChartModel(categoryChannel, categoryChannelTable(), ctx);
    const pick = model.click({ seriesIndex: 1, dataIndex: 1 });
    expect(pick).toEqual({ column: 'category', values: ['Home & Kitchen'], widget: 'category_channel' });
    const again = buildChartModel(categoryChannel, categoryChannelTable(), { ...ctx, selection: pick as Selection });
    expect(again.click({ seriesIndex: 0, dataIndex: 1 })).toBeNull();
    expect(again.click({ seriesIndex: 0, dataIndex: 0 })).toEqual({
      column: 'category',
      values: ['Electronics'],
      widget: 'category_channel',
    });
  });

  it('dims the marks outside the selection', () => {
    const selection: Selection = { column: 'product', values: ['Essential Shredder E8141'], widget: 'top_products' };
    const o = opt(buildChartOption(topProducts, topProductsTable(), context({ selection })));
    const data = o.series[0].data;
    expect(data[0]).toEqual({ value: 1279819.87, itemStyle: { opacity: DIMMED_OPACITY } });
    expect(data[1]).toBe(884102.79);
  });

  it('escapes data in tooltips', () => {
    const table = new Table({ product: utf8(['<img src=x onerror=alert(1)>']), revenue: dec([1]) });
    const o = opt(buildChartOption(topProducts, table, context()));
    const html: string = o.tooltip.formatter([{ seriesIndex: 0, dataIndex: 0, value: 1, axisValue: 'x' }]);
    expect(html).not.toContain('<img');
    expect(html).toContain('&#60;img');
  });
});

describe('line and area charts', () => {
  it('uses a time axis with one series per color value', () => {
    const model = buildChartModel(trendWidget, trendTable(), context());
    const o = opt(model.option);
    expect(o.xAxis.type).toBe('time');
    expect(o.useUTC).toBe(true);
    expect(o.series.map((s: AnyRecord) => s.name)).toEqual(regions);
    expect(o.series[0].data[0]).toEqual([Date.UTC(2024, 0, 1), 1010.25]);
    // East has no March row: a gap, not a zero.
    expect(o.series[1].data[2]).toEqual([Date.UTC(2024, 2, 1), null]);
    expect(o.xAxis.axisLabel.formatter(Date.UTC(2024, 1, 1))).toBe('Feb 2024');
    expect(model.markCount).toBe(8);
    expect(model.brush).toBe(true);
    expect(o.brush.brushType).toBe('lineX');
  });

  it('selects the whole period of a clicked point with a grain', () => {
    const model = buildChartModel(trendWidget, trendTable(), context());
    expect(model.click({ seriesIndex: 2, dataIndex: 1 })).toEqual({
      column: 'order_date',
      range: ['2024-02-01', '2024-02-29'],
      widget: 'trend',
    });
    const quarterly = { ...trendWidget, encoding: { ...trendWidget.encoding, x: { field: 'month', column: 'order_date', grain: 'quarter' } } };
    expect(buildChartModel(quarterly, trendTable(), context()).click({ seriesIndex: 0, dataIndex: 0 })).toEqual({
      column: 'order_date',
      range: ['2024-01-01', '2024-03-31'],
      widget: 'trend',
    });
    // Clicking the selected period again clears it.
    const selected = buildChartModel(trendWidget, trendTable(), context({ selection: { column: 'order_date', range: ['2024-02-01', '2024-02-29'], widget: 'trend' } }));
    expect(selected.click({ seriesIndex: 0, dataIndex: 1 })).toBeNull();
    expect(opt(selected.option).series[0].markArea.data[0]).toEqual([{ xAxis: Date.UTC(2024, 1, 1) }, { xAxis: Date.UTC(2024, 1, 29) + 86_399_999 }]);
  });

  it('turns a brushed time span into a range of whole periods', () => {
    const model = buildChartModel(trendWidget, trendTable(), context());
    // Any touched month counts whole.
    expect(model.brushed([Date.UTC(2024, 0, 20), Date.UTC(2024, 2, 5)])).toEqual({
      column: 'order_date',
      range: ['2024-01-01', '2024-03-31'],
      widget: 'trend',
    });
    expect(model.brushed([Date.UTC(2024, 1, 5), Date.UTC(2024, 1, 20)])).toEqual({
      column: 'order_date',
      range: ['2024-02-01', '2024-02-29'],
      widget: 'trend',
    });
    expect(model.brushed([Date.UTC(2024, 3, 5), Date.UTC(2024, 4, 20)])).toBeUndefined();
  });

  it('stacks areas and fills missing groups with zero', () => {
    const area = { ...trendWidget, type: 'area' as const, options: { stacked: true } };
    const o = opt(buildChartOption(area, trendTable(), context()));
    expect(o.series.every((s: AnyRecord) => s.stack === 'revenue' && s.areaStyle)).toBe(true);
    expect(o.series[1].data[2]).toEqual([Date.UTC(2024, 2, 1), 0]);
    const unstacked = opt(buildChartOption({ ...trendWidget, type: 'area' }, trendTable(), context()));
    expect(unstacked.series.every((s: AnyRecord) => s.stack === undefined && s.areaStyle)).toBe(true);
  });

  it('samples long series and turns animation off for large data', () => {
    const n = 2400;
    const days = Array.from({ length: n }, (_, i) => new Date(Date.UTC(2020, 0, 1) + i * 86_400_000).toISOString().slice(0, 10));
    const daily = widget({ type: 'line', encoding: { x: { field: 'day', column: 'order_date', grain: 'day' }, y: [{ field: 'v' }] } });
    const o = opt(buildChartOption(daily, new Table({ day: date32(days), v: f64(days.map((_, i) => i)) }), context()));
    expect(o.series[0].sampling).toBe('lttb');
    expect(o.series[0].showSymbol).toBe(false);
    expect(o.animation).toBe(false);
  });

  it('uses a category axis for a dimension that is not a date', () => {
    const byRegion = widget({ id: 'r', type: 'line', encoding: { x: { field: 'region', column: 'region' }, y: [{ field: 'revenue' }] } });
    const model = buildChartModel(byRegion, new Table({ region: utf8(['East', 'West']), revenue: dec([1, 2]) }), context());
    expect(opt(model.option).xAxis.type).toBe('category');
    expect(model.click({ seriesIndex: 0, dataIndex: 1 })).toEqual({ column: 'region', values: ['West'], widget: 'r' });
    expect(model.brushed([0.2, 1.4])).toEqual({ column: 'region', values: ['West'], widget: 'r' });
  });
});

// ---------------------------------------------------------------------------------------------
// Nanosecond timestamps: a double has about a quarter of a microsecond at today's dates, so the
// values must reach picks, the URL and back as the exact text.

const TWO_53 = 2n ** 53n;
const LAST_NS = '2025-06-30T23:59:59.999999999';

function nsTable(): Table {
  const units = [1751327999999999999n, 1751328000000000000n, TWO_53 + 1n, TWO_53];
  const ts = makeVector(makeData({ type: new Timestamp(TimeUnit.NANOSECOND), length: units.length, data: new BigInt64Array(units) }));
  return new Table({ ts, v: f64([1, 2, 4, 8]) });
}

describe('nanosecond timestamps', () => {
  const byMoment = widget({ id: 'by_moment', type: 'bar', encoding: { x: { field: 'ts', column: 'ts', label: 'Moment' }, y: [{ field: 'v', label: 'V' }] } });

  it('keeps moments a nanosecond apart apart, each labelled in its own minute and day', () => {
    const o = opt(buildChartOption(byMoment, nsTable(), context()));
    expect(o.xAxis.data).toEqual(['2025-06-30 23:59', '2025-07-01', '1970-04-15 05:59', '1970-04-15 05:59']);
    expect(o.series[0].data).toEqual([1, 2, 4, 8]);
  });

  it('picks the exact value and gets it back from the URL without drift', () => {
    const model = buildChartModel(byMoment, nsTable(), context());
    const pick = model.click({ seriesIndex: 0, dataIndex: 0 }) as Selection;
    expect(pick).toEqual({ column: 'ts', values: [LAST_NS], widget: 'by_moment' });
    expect(model.click({ seriesIndex: 0, dataIndex: 2 })).toEqual({ column: 'ts', values: ['1970-04-15T05:59:59.254740993'], widget: 'by_moment' });
    expect(model.click({ seriesIndex: 0, dataIndex: 3 })).toEqual({ column: 'ts', values: ['1970-04-15T05:59:59.254740992'], widget: 'by_moment' });

    const state = emptyState('events');
    state.selections = withSelection([], 'by_moment', pick);
    const url = urlFor(state);
    const back = decodeQuery('events', url.slice(url.indexOf('?')));
    expect(back.selections).toEqual([pick]);
    expect(urlFor(back)).toBe(url);

    // Drawn again with the pick from the URL: that bar alone stands out, and clicking it clears.
    const ctx = context({ selection: back.selections[0] });
    const bars = opt(buildChartOption(byMoment, nsTable(), ctx)).series[0].data;
    expect(bars.map((d: AnyRecord | number) => (typeof d === 'object' ? d.itemStyle?.opacity : 1))).toEqual([1, DIMMED_OPACITY, DIMMED_OPACITY, DIMMED_OPACITY]);
    expect(buildChartModel(byMoment, nsTable(), ctx).click({ seriesIndex: 0, dataIndex: 0 })).toBeNull();
  });

  it('selects a whole day of a timestamp column to its last nanosecond', () => {
    const daily = widget({ id: 'daily', type: 'line', encoding: { x: { field: 'ts', column: 'ts', grain: 'day' }, y: [{ field: 'v' }] } });
    const model = buildChartModel(daily, nsTable(), context());
    // Points are in time order: the 2^53 pair first.
    const pick = model.click({ seriesIndex: 0, dataIndex: 2 });
    expect(pick).toEqual({ column: 'ts', range: ['2025-06-30T00:00:00', LAST_NS], widget: 'daily' });
    // The shaded span ends with that day, not a day later.
    const shaded = opt(buildChartOption(daily, nsTable(), context({ selection: pick as Selection }))).series[0].markArea.data[0];
    expect(shaded).toEqual([{ xAxis: Date.UTC(2025, 5, 30) }, { xAxis: Date.UTC(2025, 5, 30, 23, 59, 59, 999) }]);
  });

  it('brushes a span of moments without a grain into their exact values', () => {
    const line = widget({ id: 'moments', type: 'line', encoding: { x: { field: 'ts', column: 'ts' }, y: [{ field: 'v' }] } });
    const model = buildChartModel(line, nsTable(), context());
    expect(model.brushed([Date.UTC(2025, 5, 30, 12), Date.UTC(2025, 6, 2)])).toEqual({
      column: 'ts',
      range: [LAST_NS, '2025-07-01T00:00:00'],
      widget: 'moments',
    });
    expect(model.locate(LAST_NS)?.dataIndex).toBe(2);
  });
});

describe('scatter charts', () => {
  it('draws one series per color value and switches to large mode past 2000 points', () => {
    const small = buildChartModel(scatter, scatterTable(30), context());
    const o = opt(small.option);
    expect(o.series.map((s: AnyRecord) => s.name)).toEqual(['Consumer', 'SMB', 'Enterprise']);
    expect(o.series[0].large).toBe(false);
    expect(o.series[0].data[0]).toEqual([1, 10]);
    expect(small.markCount).toBe(30);
    const big = opt(buildChartOption(scatter, scatterTable(3000), context()));
    expect(big.series.every((s: AnyRecord) => s.large === true)).toBe(true);
    expect(big.animation).toBe(false);
  });

  it('brushes a whole-number range on an integer x column', () => {
    const model = buildChartModel(scatter, scatterTable(30), context());
    expect(model.brush).toBe(true);
    expect(model.brushed([12.4, 3.6])).toEqual({ column: 'units', range: [4, 12], widget: 'units_vs_revenue' });
    expect(model.brushed([3.2, 3.8])).toBeUndefined();
    expect(model.brushed([10.0004, 29.9993])).toEqual({ column: 'units', range: [10, 30], widget: 'units_vs_revenue' });
    expect(model.click({ seriesIndex: 0, dataIndex: 0 })).toBeUndefined();
  });
});

describe('pie charts', () => {
  it('draws a donut with one slice per value', () => {
    const model = buildChartModel(byChannel, byChannelTable(), context());
    const o = opt(model.option);
    expect(o.series[0].type).toBe('pie');
    expect(o.series[0].radius[0]).not.toBe(0);
    expect(o.series[0].data.map((d: AnyRecord) => d.name)).toEqual(['Online', 'Retail', 'Partner', 'Direct', '(none)']);
    expect(model.markCount).toBe(5);
    const plain = opt(buildChartOption({ ...byChannel, options: { donut: false } }, byChannelTable(), context()));
    expect(plain.series[0].radius[0]).toBe(0);
  });

  it('selects the clicked slice, including the null one', () => {
    const model = buildChartModel(byChannel, byChannelTable(), context());
    expect(model.click({ seriesIndex: 0, dataIndex: 1 })).toEqual({ column: 'channel', values: ['Retail'], widget: 'by_channel' });
    expect(model.click({ seriesIndex: 0, dataIndex: 4 })).toEqual({ column: 'channel', values: [null], widget: 'by_channel' });
    const selected = opt(buildChartOption(byChannel, byChannelTable(), context({ selection: { column: 'channel', values: ['Retail'] } })));
    expect(selected.series[0].data.map((d: AnyRecord) => d.itemStyle.opacity)).toEqual([DIMMED_OPACITY, 1, DIMMED_OPACITY, DIMMED_OPACITY, DIMMED_OPACITY]);
  });
});

describe('histograms', () => {
  it('labels bars with their ranges, without gaps', () => {
    const model = buildChartModel(histogram, histogramTable(), context());
    const o = opt(model.option);
    expect(o.xAxis.data).toEqual(['1.96–74.66', '74.66–147.36', '147.36–220.05', '947.03–1.02K']);
    expect(o.series[0].barCategoryGap).toBe('0%');
    expect(o.series[0].data).toEqual([152112, 20640, 8000, 289]);
    expect(model.markCount).toBe(4);
  });

  it('selects the clicked bin and brushed bins as ranges', () => {
    const model = buildChartModel(histogram, histogramTable(), context());
    expect(model.click({ seriesIndex: 0, dataIndex: 1 })).toEqual({
      column: 'unit_price',
      range: [74.658, 147.356],
      widget: 'price_histogram',
    });
    expect(model.brushed([0.6, 2.2])).toEqual({ column: 'unit_price', range: [74.658, 220.054], widget: 'price_histogram' });
    const selected = buildChartModel(histogram, histogramTable(), context({ selection: { column: 'unit_price', range: [74.658, 147.356], widget: 'price_histogram' } }));
    expect(selected.click({ seriesIndex: 0, dataIndex: 1 })).toBeNull();
    expect(opt(selected.option).series[0].data[0]).toEqual({ value: 152112, itemStyle: { opacity: DIMMED_OPACITY } });
    expect(opt(selected.option).series[0].data[1]).toBe(20640);
  });
});

describe('heatmaps', () => {
  it('maps x × y cells and sets the visual range from the values', () => {
    const model = buildChartModel(heatmap, heatmapTable(), context());
    const o = opt(model.option);
    expect(o.xAxis.data).toEqual(['Central', 'East']);
    expect(o.yAxis.data).toEqual(['Beauty & Health', 'Electronics']);
    expect(o.series[0].data).toEqual([
      [0, 0, 608387.38],
      [0, 1, 2942030.92],
      [1, 0, 210788.11],
      [1, 1, 1066090.85],
    ]);
    expect(o.visualMap.min).toBe(210788.11);
    expect(o.visualMap.max).toBe(2942030.92);
    expect(model.markCount).toBe(4);
    expect(model.click({ seriesIndex: 0, dataIndex: 2 })).toEqual({ column: 'region', values: ['East'], widget: 'region_category' });
  });

  it('uses theme colors for the scale', () => {
    const light = opt(buildChartOption(heatmap, heatmapTable(), context()));
    const dark = opt(buildChartOption(heatmap, heatmapTable(), context({ theme: 'dark' })));
    expect(light.visualMap.inRange.color).not.toEqual(dark.visualMap.inRange.color);
    expect(light.textStyle.color).not.toBe(dark.textStyle.color);
  });
});

describe('empty results', () => {
  it.each([
    ['bar', topProducts, () => new Table({ product: utf8([]), revenue: dec([]) })],
    ['line', trendWidget, () => new Table({ month: date32([]), region: utf8([]), revenue: dec([]) })],
    ['pie', byChannel, () => new Table({ channel: utf8([]), revenue: dec([]) })],
    ['histogram', histogram, () => new Table({ bin_start: f64([]), bin_end: f64([]), count: i64([]) })],
    ['heatmap', heatmap, () => new Table({ region: utf8([]), category: utf8([]), revenue: dec([]) })],
    ['scatter', scatter, () => scatterTable(0)],
  ])('%s shows a message', (_name, w, table) => {
    const model = buildChartModel(w, table(), context());
    expect(model.message).toBe(EMPTY_MESSAGE);
    expect(model.markCount).toBe(0);
    expect(model.click({ seriesIndex: 0, dataIndex: 0 })).toBeUndefined();
    expect(model.locate('x')).toBeNull();
  });

  it('names a missing column', () => {
    const model = buildChartModel(topProducts, new Table({ other: utf8(['a']) }), context());
    expect(model.message).toMatch(/product/);
  });
});

describe('createChartView', () => {
  let el: HTMLElement;
  beforeEach(() => {
    fakeCharts.length = 0;
    el = document.createElement('div');
    document.body.append(el);
  });
  afterEach(() => el.remove());

  it('sets the option, the marks hook and forwards clicks as selections', () => {
    const ctx = context();
    const view = createChartView(el, categoryChannel, ctx);
    view.update(categoryChannelTable(), ctx);
    const chart = fakeCharts[0]!;
    expect(chart.options).toHaveLength(1);
    expect(el.dataset.marks).toBe('5');
    chart.handlers.click?.({ componentType: 'series', seriesIndex: 0, dataIndex: 2 });
    expect(ctx.picks).toEqual([{ column: 'category', values: ['Toys'], widget: 'category_channel' }]);
    const hook = (el as unknown as { sightlineChart: { pixelOf(v: string): [number, number] | null } }).sightlineChart;
    expect(hook.pixelOf('Home & Kitchen')).toEqual([25, 35]);
    expect(hook.pixelOf('nope')).toBeNull();
    view.dispose();
    expect(chart.disposed).toBe(true);
    expect(el.dataset.marks).toBeUndefined();
  });

  it('shows the empty message instead of the chart, and recovers', () => {
    const ctx = context();
    const view = createChartView(el, topProducts, ctx);
    view.update(new Table({ product: utf8([]), revenue: dec([]) }), ctx);
    expect(el.textContent).toContain(EMPTY_MESSAGE);
    expect(el.dataset.marks).toBe('0');
    view.update(topProductsTable(), ctx);
    expect(el.dataset.marks).toBe('3');
    const status = el.querySelector<HTMLElement>('[role=status]')!;
    expect(status.style.display).toBe('none');
  });

  it('turns brushes into range selections and arms the brush cursor', () => {
    const ctx = context();
    const view = createChartView(el, histogram, ctx);
    view.update(histogramTable(), ctx);
    const chart = fakeCharts[0]!;
    expect(chart.actions).toContainEqual(expect.objectContaining({ type: 'takeGlobalCursor', key: 'brush' }));
    chart.handlers.brushEnd?.({ areas: [{ coordRange: [0, 1] }] });
    chart.handlers.brushEnd?.({ areas: [] });
    expect(ctx.picks).toEqual([{ column: 'unit_price', range: [1.96, 147.356], widget: 'price_histogram' }]);
  });

  it('draws again only for new data or context, merging options of the same shape', () => {
    const ctx = context();
    const view = createChartView(el, categoryChannel, ctx);
    const table = categoryChannelTable();
    view.update(table, ctx);
    const chart = fakeCharts[0]!;
    expect(chart.setOpts[0]).toMatchObject({ notMerge: true });
    // The same table in the same context: nothing to do.
    view.update(table, context());
    expect(chart.options).toHaveLength(1);
    // Other values, same shape (one color value fewer): a merge that replaces series by id, and
    // no animation after the first drawing.
    const fewer = new Table({
      category: utf8(['Electronics', 'Toys']),
      channel: utf8(['Online', 'Online']),
      revenue: dec([5118179.4, 1503137.69]),
    });
    view.update(fewer, ctx);
    expect(chart.options).toHaveLength(2);
    expect(chart.setOpts[1]).toMatchObject({ replaceMerge: ['series'] });
    expect((chart.options[1] as { animation: boolean }).animation).toBe(false);
    expect((chart.options[1] as { series: { id: string }[] }).series).toHaveLength(1);
    // A pick changes the drawing (dimmed bars) of the same data.
    view.update(fewer, context({ selection: { column: 'category', values: ['Toys'], widget: 'category_channel' } }));
    expect(chart.options).toHaveLength(3);
    // The dark theme redraws too.
    view.update(fewer, context({ theme: 'dark', selection: { column: 'category', values: ['Toys'], widget: 'category_channel' } }));
    expect(chart.options).toHaveLength(4);
    // The brush cursor is armed once per brush component, not on every update.
    const hv = createChartView(document.createElement('div'), histogram, ctx);
    hv.update(histogramTable(), ctx);
    hv.update(histogramTable(), ctx);
    const hist = fakeCharts[1]!;
    expect(hist.options).toHaveLength(2);
    expect(hist.actions.filter((a) => (a as { type: string }).type === 'takeGlobalCursor')).toHaveLength(1);
    expect(hist.actions.filter((a) => (a as { type: string }).type === 'brush')).toHaveLength(0);
  });

  it('locates line points through convertToPixel', () => {
    const ctx = context();
    const view = createChartView(el, trendWidget, ctx);
    view.update(trendTable(), ctx);
    const hook = (el as unknown as { sightlineChart: { pixelOf(v: string): [number, number] | null } }).sightlineChart;
    // The fake layout answers every item with a rectangle; a real line series answers points.
    expect(hook.pixelOf('2024-02-01')).toEqual([25, 35]);
  });
});

describe('optionShape', () => {
  it('ignores values and data but not keys, component lists or types', () => {
    const a = buildChartOption(categoryChannel, categoryChannelTable(), context());
    const b = buildChartOption(categoryChannel, new Table({ category: utf8(['Toys']), channel: utf8(['Online']), revenue: dec([1]) }), context({ theme: 'dark' }));
    expect(optionShape(b)).toBe(optionShape(a));
    expect(optionShape({ ...a, legend: undefined })).not.toBe(optionShape(a));
    expect(optionShape({ xAxis: { type: 'category', data: [1] } })).toBe(optionShape({ xAxis: { type: 'category', data: [2, 3] } }));
    expect(optionShape({ xAxis: { type: 'category' } })).not.toBe(optionShape({ xAxis: { type: 'value' } }));
    expect(optionShape({ yAxis: [{ type: 'value' }] })).not.toBe(optionShape({ yAxis: [{ type: 'value' }, { type: 'value' }] }));
    expect(optionShape({ xAxis: { axisLabel: { width: 96 } } })).not.toBe(optionShape({ xAxis: { axisLabel: {} } }));
    // Series may come and go (they are replaced by id); their kinds may not change.
    expect(optionShape({ series: [{ type: 'bar', data: [] }] })).toBe(optionShape({ series: [{ type: 'bar' , data: [] }, { type: 'bar', data: [1] }] }));
    expect(optionShape({ series: [{ type: 'bar' }] })).not.toBe(optionShape({ series: [{ type: 'line' }] }));
  });
});

describe('dimensions', () => {
  it('makes no picks on columns the dashboard does not declare', () => {
    const dims = ['region', 'country', 'channel', 'category', 'product', 'order_date', 'units'];
    const hist = buildChartModel(histogram, histogramTable(), context({ dimensions: dims }));
    expect(hist.click({ seriesIndex: 0, dataIndex: 0 })).toBeUndefined();
    expect(hist.brush).toBe(false);
    const pie = buildChartModel(byChannel, byChannelTable(), context({ dimensions: dims }));
    expect(pie.click({ seriesIndex: 0, dataIndex: 0 })).toEqual({ column: 'channel', values: ['Online'], widget: 'by_channel' });
    const trend = buildChartModel(trendWidget, trendTable(), context({ dimensions: dims }));
    expect(trend.brush).toBe(true);
  });
});
