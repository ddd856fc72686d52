// Pure builders: a widget, its result and the page context in, an ECharts option out, along
// with what the view needs to map marks back to values (clicks, brushes, the test hook). Nothing
// here touches the DOM, so every chart type is unit-tested without a browser.

import type { EChartsOption } from 'echarts';
import type { Table } from 'apache-arrow';
import { type CellValue, formatCompact, formatDate, formatNumber, hasColumn, isoDate } from '../format/index';
import type { FieldEncoding, Selection, WidgetContext, WidgetSpec } from '../types';
import { PALETTE, SINGLE_SERIES_COLOR } from './colors';
import {
  type Categories,
  type Column,
  asNumber,
  asTime,
  categoriesOf,
  isSelected,
  keyOf,
  labelOf,
  labelOfField,
  measuresOf,
  pickRange,
  pickValue,
  pickValues,
  periodEnd,
  rangeEndTime,
  readColumn,
  selectionOn,
  toggle,
} from './data';
import { type ChartTheme, chartTheme } from './theme';

/** A drawn mark: a series and an item of its data. */
export interface MarkRef {
  seriesIndex: number;
  dataIndex: number;
}

/** Where the test hook should point for a value: a mark, or data coordinates of series 0. */
export interface MarkLocation extends MarkRef {
  coord?: [number, number];
}

export interface ChartModel {
  option: EChartsOption;
  /** Marks drawn: bars, points, slices, cells or bins. */
  markCount: number;
  /** Shown instead of the chart when set (no rows, a missing column). */
  message?: string;
  /** Whether dragging across the plot brushes an x range. */
  brush: boolean;
  /** The source column a brush selects. */
  brushColumn?: string;
  /** The selection a click on a mark makes: a pick, null to clear, undefined for nothing. */
  click(ref: MarkRef): Selection | null | undefined;
  /**
   * The selection a brushed x range makes. The bounds are x axis values: category indexes on
   * category axes, epoch ms on time axes, numbers on value axes.
   */
  brushed(range: [number, number]): Selection | null | undefined;
  /** The mark of a category value (for the end-to-end test hook). */
  locate(value: string | number): MarkLocation | null;
}

export const EMPTY_MESSAGE = 'No data for these filters';

/** Beyond this many marks, animation is off and series switch to their large modes. */
export const LARGE_DATA = 2000;
/** Line series with more points than this are downsampled (LTTB) for drawing. */
export const SAMPLING_POINTS = 500;
/** Opacity of marks that are not part of the widget's selection. */
export const DIMMED_OPACITY = 0.25;

const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

// ---------------------------------------------------------------------------------------------
// Shared pieces

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Axis tick labels: compact, as currency or percent when the measure is. */
export function formatAxisNumber(value: number, format?: string): string {
  if (format === 'percent') return formatNumber(value, 'percent');
  if (format === 'currency') {
    if (Math.abs(value) < 1000) return `${value < 0 ? '-' : ''}$${formatNumber(Math.abs(value))}`;
    return formatCompact(value, { currency: true });
  }
  return formatCompact(value);
}

function formatMeasure(value: unknown, format?: string): string {
  const n = typeof value === 'number' ? value : null;
  return formatNumber(n, format);
}

function baseOption(t: ChartTheme, markCount: number): Record<string, unknown> {
  const large = markCount > LARGE_DATA;
  return {
    backgroundColor: 'transparent',
    useUTC: true,
    animation: !large,
    animationDuration: 200,
    animationDurationUpdate: 0,
    textStyle: { color: t.text, fontFamily: FONT, fontSize: 12 },
    tooltip: baseTooltip(t),
  };
}

function baseTooltip(t: ChartTheme): Record<string, unknown> {
  return {
    confine: true,
    backgroundColor: t.tooltipBackground,
    borderColor: t.tooltipBorder,
    textStyle: { color: t.tooltipText, fontFamily: FONT, fontSize: 12 },
  };
}

/** The tooltip of charts whose marks each tell their own values (scatter, pie, bins, cells). */
function itemTooltip<P>(t: ChartTheme, formatter: (p: P) => string): Record<string, unknown> {
  return { ...baseTooltip(t), trigger: 'item', formatter };
}

function legend(t: ChartTheme, show: boolean): Record<string, unknown> {
  return {
    show,
    type: 'scroll',
    top: 0,
    left: 'center',
    itemWidth: 12,
    itemHeight: 8,
    textStyle: { color: t.text, fontFamily: FONT },
    pageTextStyle: { color: t.mutedText },
    pageIconColor: t.text,
    pageIconInactiveColor: t.axisLine,
  };
}

function grid(showLegend: boolean, bottom = 8): Record<string, unknown> {
  return {
    left: 8,
    right: 20,
    top: showLegend ? 36 : 16,
    bottom,
    outerBoundsMode: 'same',
    outerBoundsContain: 'axisLabel',
  };
}

function valueAxis(t: ChartTheme, format: string | undefined, name?: string): Record<string, unknown> {
  return {
    type: 'value',
    name,
    // Narrow charts: ticks that would collide are hidden instead of drawn over each other.
    axisLabel: { color: t.mutedText, hideOverlap: true, formatter: (v: number) => formatAxisNumber(v, format) },
    axisLine: { show: false },
    splitLine: { lineStyle: { color: t.splitLine } },
  };
}

function categoryAxis(t: ChartTheme, labels: string[], options: { rotate?: number; width?: number } = {}): Record<string, unknown> {
  return {
    type: 'category',
    data: labels,
    axisLine: { lineStyle: { color: t.axisLine } },
    axisTick: { show: false },
    axisLabel: {
      color: t.mutedText,
      // Long labels are cut with an ellipsis; the axis tooltip shows them whole.
      // Both keys always present (undefined when not cut), so options keep one shape.
      width: options.width,
      overflow: options.width ? 'truncate' : 'none',
      rotate: options.rotate ?? 0,
      // Few categories: try every label (overlaps are still hidden); many: let ECharts thin them.
      interval: labels.length <= 12 ? 0 : 'auto',
      hideOverlap: true,
    },
  };
}

/** The shortest tick step of a time axis by grain, so ticks never repeat a label (Oct 2025, Oct 2025). */
const DAY_MS = 86_400_000;
const MIN_TICK: Record<string, number> = { day: DAY_MS, week: 7 * DAY_MS, month: 28 * DAY_MS, quarter: 89 * DAY_MS, year: 365 * DAY_MS };

function timeAxis(t: ChartTheme, grain: string | undefined): Record<string, unknown> {
  return {
    type: 'time',
    minInterval: grain ? MIN_TICK[grain] : undefined,
    axisLine: { lineStyle: { color: t.axisLine } },
    axisTick: { show: false },
    axisLabel: {
      color: t.mutedText,
      hideOverlap: true,
      formatter: (v: number) => formatDate(v, grain === 'day' || grain === 'week' ? 'day' : grain),
    },
    splitLine: { show: false },
  };
}

function emptyModel(message: string): ChartModel {
  return {
    option: {},
    markCount: 0,
    message,
    brush: false,
    click: () => undefined,
    brushed: () => undefined,
    locate: () => null,
  };
}

function missing(table: Table, fields: (string | undefined)[]): string | undefined {
  for (const f of fields) if (f && !hasColumn(table, f)) return `The result has no column '${f}'`;
  return undefined;
}

/** The x dimension: encoding.x, else (custom SQL) the first result column. */
function xEncoding(widget: WidgetSpec, table: Table): FieldEncoding | undefined {
  const x = widget.encoding?.x;
  if (x) return x;
  const first = table.schema.fields[0];
  return first ? { field: first.name, label: first.name } : undefined;
}

function rowIndexTooltip(title: string, rows: [string, string, string?][]): string {
  const lines = rows.map(
    ([marker, name, value]) =>
      `<div style="display:flex;gap:12px;justify-content:space-between"><span>${marker}${escapeHtml(name)}</span>` +
      (value !== undefined ? `<b>${escapeHtml(value)}</b>` : '') +
      '</div>',
  );
  return `<div style="font-weight:600;margin-bottom:4px">${escapeHtml(title)}</div>${lines.join('')}`;
}

function marker(color: string): string {
  return `<span style="display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:6px;background:${escapeHtml(color)}"></span>`;
}

interface SeriesPlan {
  name: string;
  color: string;
  measure: FieldEncoding;
  /** Key of the color value, or undefined without a color encoding. */
  colorKey?: string;
  stack?: string;
  /** The value axis: 0, or 1 for measures of another magnitude. */
  axis: number;
}

/**
 * A series' id: stable across updates, so a merge update keeps the series (and its view) of a
 * color value that is still there, adds the new ones and drops the gone ones.
 */
function seriesId(plan: SeriesPlan): string {
  return `${plan.colorKey ?? ''}\u0001${plan.measure.field}`;
}

/** One series per color value (or one) and measure. */
function planSeries(
  color: Column | undefined,
  colorCats: Categories | undefined,
  measures: FieldEncoding[],
  ctx: WidgetContext,
  stacked: boolean,
  axes: number[] = [],
): SeriesPlan[] {
  const plans: SeriesPlan[] = [];
  if (color && colorCats) {
    for (const [mi, m] of measures.entries()) {
      colorCats.keys.forEach((key, i) => {
        const label = colorCats.labels[i] ?? key;
        plans.push({
          name: measures.length > 1 ? `${label} · ${labelOfField(m)}` : label,
          color: ctx.colors.colorFor(key),
          measure: m,
          colorKey: key,
          stack: stacked ? m.field : undefined,
          axis: axes[mi] ?? 0,
        });
      });
    }
  } else {
    measures.forEach((m, i) => {
      plans.push({
        name: labelOfField(m),
        color: measures.length > 1 ? (PALETTE[i % PALETTE.length] ?? SINGLE_SERIES_COLOR) : SINGLE_SERIES_COLOR,
        measure: m,
        stack: stacked ? `total${axes[i] ?? 0}` : undefined,
        axis: axes[i] ?? 0,
      });
    });
  }
  return plans;
}

function axisTooltip(
  t: ChartTheme,
  plans: SeriesPlan[],
  title: (axisValue: unknown, dataIndex: number) => string,
  valueOf: (item: unknown) => unknown,
): Record<string, unknown> {
  return {
    trigger: 'axis',
    axisPointer: { type: 'shadow', shadowStyle: { color: t.selectionFill } },
    formatter: (params: unknown) => {
      const list = (Array.isArray(params) ? params : [params]) as {
        seriesIndex: number;
        dataIndex: number;
        axisValue?: unknown;
        value: unknown;
        color?: unknown;
      }[];
      const first = list[0];
      if (!first) return '';
      const rows: [string, string, string][] = [];
      for (const p of list) {
        const plan = plans[p.seriesIndex];
        if (!plan) continue;
        const v = valueOf(p.value);
        if (v === null || v === undefined) continue;
        rows.push([marker(plan.color), plan.name, formatMeasure(v, plan.measure.format)]);
      }
      return rowIndexTooltip(title(first.axisValue, first.dataIndex), rows);
    },
  };
}

/**
 * Measures whose magnitudes differ by more than this factor from the first one get a second
 * value axis (a count next to revenue would otherwise be a flat line at zero).
 */
export const SECOND_AXIS_RATIO = 20;

/** For each measure, 0 (the first value axis) or 1 (the second). */
function measureAxes(measures: FieldEncoding[], values: Map<string, CellValue[]>, hasColor: boolean): number[] {
  if (hasColor || measures.length < 2) return measures.map(() => 0);
  const peak = (m: FieldEncoding): number =>
    Math.max(0, ...(values.get(m.field) ?? []).map((v) => Math.abs(asNumber(v) ?? 0)));
  const first = peak(measures[0] as FieldEncoding);
  return measures.map((m, i) => {
    if (i === 0) return 0;
    const p = peak(m);
    if (first === 0 || p === 0) return 0;
    const ratio = first / p;
    return ratio > SECOND_AXIS_RATIO || ratio < 1 / SECOND_AXIS_RATIO ? 1 : 0;
  });
}

/** The value axes: one, or two named ones when some measures use the second. */
function valueAxes(t: ChartTheme, measures: FieldEncoding[], axes: number[]): Record<string, unknown>[] {
  const on = (a: number) => measures.filter((_m, i) => axes[i] === a);
  const primary = on(0);
  const secondary = on(1);
  if (secondary.length === 0) return [valueAxis(t, measures[0]?.format)];
  // Each axis's labels take the color of its (first) measure's series, so a reader can tell
  // which scale belongs to which bars without axis titles.
  const tinted = (axis: Record<string, unknown>, measure: FieldEncoding | undefined) => {
    const i = measure ? measures.indexOf(measure) : 0;
    const color = PALETTE[i % PALETTE.length] ?? t.mutedText;
    return { ...axis, axisLabel: { ...(axis.axisLabel as object), color } };
  };
  return [
    tinted(valueAxis(t, primary[0]?.format), primary[0]),
    { ...tinted(valueAxis(t, secondary[0]?.format), secondary[0]), splitLine: { show: false } },
  ];
}

function itemValue(value: number | null, dimmed: boolean): unknown {
  if (!dimmed || value === null) return value;
  return { value, itemStyle: { opacity: DIMMED_OPACITY } };
}

/** What bar, line and area charts read: an x dimension, an optional color, and series of measures. */
interface MeasureChart {
  x: Column;
  color: Column | undefined;
  measureValues: Map<string, CellValue[]>;
  plans: SeriesPlan[];
  /** The value axis, or a list of two. */
  valAxis: unknown;
  selection: Selection | undefined;
  stacked: boolean;
}

/** The columns and series plan of a bar, line or area chart, or the message to show instead. */
function readMeasureChart(widget: WidgetSpec, table: Table, ctx: WidgetContext, t: ChartTheme): MeasureChart | string {
  const xEnc = xEncoding(widget, table);
  if (!xEnc) return EMPTY_MESSAGE;
  const colorEnc = widget.encoding?.color;
  const miss = missing(table, [xEnc.field, colorEnc?.field]);
  if (miss) return miss;
  const x = readColumn(table, xEnc);
  const color = colorEnc ? readColumn(table, colorEnc) : undefined;
  const measures = measuresOf(widget, table, [x.name, ...(color ? [color.name] : [])]);
  if (measures.length === 0) return 'The result has no numeric column to chart';
  const colorCats = color ? categoriesOf(color) : undefined;
  const stacked = widget.options.stacked === true;
  const measureValues = new Map(measures.map((m) => [m.field, readColumn(table, m).values]));
  const axes = measureAxes(measures, measureValues, color !== undefined);
  const plans = planSeries(color, colorCats, measures, ctx, stacked, axes);
  const valueAxisList = valueAxes(t, measures, axes);
  const valAxis = valueAxisList.length === 1 ? valueAxisList[0] : valueAxisList;
  const selection = selectionOn(ctx.selection, x);
  return { x, color, measureValues, plans, valAxis, selection, stacked };
}

/** data[series][category]: each series' measure summed per x category (null where it has none). */
function sumBySeries(table: Table, chart: MeasureChart, cats: Categories): (number | null)[][] {
  const { x, color, plans, measureValues } = chart;
  const data: (number | null)[][] = plans.map(() => new Array<number | null>(cats.raw.length).fill(null));
  for (let row = 0; row < table.numRows; row++) {
    const ci = cats.index.get(keyOf(x.values[row] ?? null));
    if (ci === undefined) continue;
    plans.forEach((plan, si) => {
      if (plan.colorKey !== undefined && keyOf(color?.values[row] ?? null) !== plan.colorKey) return;
      const v = asNumber(measureValues.get(plan.measure.field)?.[row] ?? null);
      const series = data[si];
      if (series && v !== null) series[ci] = (series[ci] ?? 0) + v;
    });
  }
  return data;
}

function countMarks(data: (number | null)[][]): number {
  let markCount = 0;
  for (const s of data) for (const v of s) if (v !== null) markCount++;
  return markCount;
}

/** The first series with a value at category ci, or -1. */
function seriesWithValue(data: (number | null)[][], ci: number): number {
  return data.findIndex((s) => s[ci] !== null && s[ci] !== undefined);
}

/** A click on the mark of a category toggles a pick of its value. */
function clickCategory(widget: WidgetSpec, x: Column, cats: Categories, ctx: WidgetContext): ChartModel['click'] {
  return ({ dataIndex }) => {
    if (dataIndex < 0 || dataIndex >= cats.raw.length) return undefined;
    return toggle(pickValue(widget, x, cats.raw[dataIndex] ?? null), ctx.selection);
  };
}

// ---------------------------------------------------------------------------------------------
// Bar

function buildBar(widget: WidgetSpec, table: Table, ctx: WidgetContext): ChartModel {
  const t = chartTheme(ctx.theme);
  const chart = readMeasureChart(widget, table, ctx, t);
  if (typeof chart === 'string') return emptyModel(chart);
  const { x, plans, valAxis, selection } = chart;
  const cats = categoriesOf(x);
  const data = sumBySeries(table, chart, cats);
  const markCount = countMarks(data);

  const longest = Math.max(0, ...cats.labels.map((l) => l.length));
  const horizontal =
    widget.options.horizontal === true ||
    (widget.options.horizontal === undefined && cats.raw.length > 8 && longest > 14);
  // Slanted labels when upright ones would not fit side by side: many categories, or the
  // longest name wider than its slot in a narrow card (roughly 7 px per character, a plot of
  // about 65 px per grid column on a desktop screen).
  const slot = (Math.max(1, widget.layout.width || 6) * 65 - 40) / Math.max(1, cats.raw.length);
  const crowded = longest * 7 + 12 > slot;
  const rotate = !horizontal && longest > 6 && (cats.raw.length > 6 || crowded) ? 30 : 0;
  const showLegend = plans.length > 1;
  const large = markCount > LARGE_DATA;

  const series = plans.map((plan, si) => ({
    type: 'bar',
    id: seriesId(plan),
    name: plan.name,
    stack: plan.stack,
    [horizontal ? 'xAxisIndex' : 'yAxisIndex']: plan.axis,
    color: plan.color,
    large,
    barMaxWidth: 48,
    emphasis: { focus: 'none' },
    data: (data[si] ?? []).map((v, ci) =>
      itemValue(v, selection !== undefined && !isSelected(selection, x, cats.raw[ci] ?? null)),
    ),
  }));
  const catAxis = categoryAxis(t, cats.labels, horizontal ? { width: 120 } : rotate ? { rotate, width: 100 } : { width: longest > 12 ? 96 : undefined });
  const option = {
    ...baseOption(t, markCount),
    legend: legend(t, showLegend),
    grid: grid(showLegend),
    tooltip: {
      ...baseTooltip(t),
      ...axisTooltip(t, plans, (_v, i) => cats.labels[i] ?? '', (v) => (typeof v === 'object' && v ? (v as { value: unknown }).value : v)),
    },
    xAxis: horizontal ? valAxis : catAxis,
    yAxis: horizontal ? { ...catAxis, inverse: true } : valAxis,
    series,
  };

  return {
    option: option as unknown as EChartsOption,
    markCount,
    brush: false,
    click: clickCategory(widget, x, cats, ctx),
    brushed: () => undefined,
    locate: (value) => {
      const ci = cats.index.get(String(value));
      if (ci === undefined) return null;
      const si = seriesWithValue(data, ci);
      return si < 0 ? null : { seriesIndex: si, dataIndex: ci };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Line and area

function buildLine(widget: WidgetSpec, table: Table, ctx: WidgetContext, area: boolean): ChartModel {
  const t = chartTheme(ctx.theme);
  const chart = readMeasureChart(widget, table, ctx, t);
  if (typeof chart === 'string') return emptyModel(chart);
  const { x, plans, valAxis, selection, stacked } = chart;
  const grain = x.enc.grain;
  const useTime = x.temporal && x.values.some((v) => asTime(v) !== null);

  // The x positions: distinct values, in time order on a time axis, else in result order.
  let cats = categoriesOf(x);
  if (useTime) {
    const order = cats.raw
      .map((v, i) => ({ i, t: asTime(v) }))
      .filter((e): e is { i: number; t: number } => e.t !== null)
      .sort((a, b) => a.t - b.t);
    const sorted: Categories = { raw: [], keys: [], labels: [], index: new Map() };
    for (const { i } of order) {
      sorted.index.set(cats.keys[i] ?? '', sorted.raw.length);
      sorted.raw.push(cats.raw[i] ?? null);
      sorted.keys.push(cats.keys[i] ?? '');
      sorted.labels.push(cats.labels[i] ?? '');
    }
    cats = sorted;
  }
  const times = cats.raw.map((v) => asTime(v) ?? 0);

  const data = sumBySeries(table, chart, cats);
  // Stacked series need a value at every x to stack on: a missing group adds nothing.
  if (stacked) for (const s of data) for (let i = 0; i < s.length; i++) if (s[i] === null) s[i] = 0;
  const markCount = countMarks(data);

  const showLegend = plans.length > 1;
  const pointsPerSeries = cats.raw.length;

  let markArea: Record<string, unknown> | undefined;
  if (selection && useTime) {
    let lo: number | null;
    let hi: number | null;
    if (selection.range) {
      const [a, b] = selection.range;
      lo = a === null ? null : asTime(a);
      hi = b === null ? null : rangeEndTime(b);
    } else {
      const picked = selection.values ?? [];
      lo = asTime(picked[0] ?? null);
      hi = asTime(picked[picked.length - 1] ?? null);
    }
    markArea = {
      silent: true,
      itemStyle: { color: t.selectionFill },
      data: [[{ xAxis: lo ?? times[0] ?? 0 }, { xAxis: hi ?? times[times.length - 1] ?? 0 }]],
    };
  }

  const series = plans.map((plan, si) => ({
    type: 'line',
    id: seriesId(plan),
    name: plan.name,
    stack: plan.stack,
    yAxisIndex: plan.axis,
    color: plan.color,
    showSymbol: pointsPerSeries <= 24,
    symbolSize: 6,
    sampling: pointsPerSeries > SAMPLING_POINTS ? 'lttb' : undefined,
    lineStyle: { width: 2 },
    areaStyle: area ? { opacity: stacked ? 0.55 : 0.2 } : undefined,
    emphasis: { focus: 'series' },
    markArea: si === 0 ? markArea : undefined,
    data: (data[si] ?? []).map((v, ci) => {
      const dimmed = selection !== undefined && !useTime && !isSelected(selection, x, cats.raw[ci] ?? null);
      const value = useTime ? [times[ci], v] : v;
      return dimmed && v !== null ? { value, itemStyle: { opacity: DIMMED_OPACITY } } : value;
    }),
  }));

  const xAxis = useTime
    ? timeAxis(t, grain)
    : { ...categoryAxis(t, cats.labels), boundaryGap: false };
  const option = {
    ...baseOption(t, markCount),
    legend: legend(t, showLegend),
    grid: grid(showLegend),
    tooltip: {
      ...baseTooltip(t),
      ...axisTooltip(
        t,
        plans,
        (axisValue, i) =>
          useTime ? formatDate(typeof axisValue === 'number' ? axisValue : (times[i] ?? 0), grain) : (cats.labels[i] ?? ''),
        (v) => {
          const raw = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as { value: unknown }).value : v;
          return Array.isArray(raw) ? raw[1] : raw;
        },
      ),
      axisPointer: { type: 'line', lineStyle: { color: t.axisLine } },
    },
    xAxis,
    yAxis: valAxis,
    series,
    ...brushable(t),
  };

  return {
    option: option as unknown as EChartsOption,
    markCount,
    brush: Boolean(x.enc.column),
    brushColumn: x.enc.column,
    click: clickCategory(widget, x, cats, ctx),
    brushed: ([a, b]) => {
      const lo = Math.min(a, b);
      const hi = Math.max(a, b);
      const inside: CellValue[] = [];
      cats.raw.forEach((v, i) => {
        const pos = useTime ? (times[i] ?? NaN) : i;
        // With a grain, a period counts when the brush touches any part of it.
        const end = useTime && grain ? (asTime(periodEnd(isoDate(pos), grain)) ?? pos) + 86_399_999 : pos;
        if (end >= lo && pos <= hi) inside.push(v);
      });
      if (inside.length === 0) return undefined;
      if (useTime && !x.enc.grain && x.enc.column) {
        const first = inside[0] ?? null;
        const last = inside[inside.length - 1] ?? null;
        return pickRange(widget, x.enc.column, [first as string, last as string]);
      }
      return pickValues(widget, x, inside);
    },
    locate: (value) => {
      let ci = cats.index.get(String(value));
      if (ci === undefined && useTime) {
        const wanted = typeof value === 'number' ? value : asTime(value);
        ci = times.findIndex((tm) => tm === wanted);
        if (ci < 0) ci = undefined;
      }
      if (ci === undefined) return null;
      const si = seriesWithValue(data, ci);
      if (si < 0) return null;
      const v = data[si]?.[ci] ?? 0;
      return { seriesIndex: si, dataIndex: ci, coord: [useTime ? (times[ci] ?? 0) : ci, v] };
    },
  };
}

/** The brush of charts that select an x range by dragging (the toolbox it needs stays hidden). */
function brushable(t: ChartTheme): { brush: Record<string, unknown>; toolbox: { show: boolean } } {
  return { brush: brushOption(t), toolbox: { show: false } };
}

function brushOption(t: ChartTheme): Record<string, unknown> {
  return {
    xAxisIndex: 0,
    brushType: 'lineX',
    brushMode: 'single',
    transformable: false,
    removeOnClick: true,
    throttleType: 'debounce',
    throttleDelay: 0,
    brushStyle: { color: t.selectionFill, borderColor: t.axisLine, borderWidth: 1 },
    outOfBrush: { colorAlpha: 0.4 },
  };
}

// ---------------------------------------------------------------------------------------------
// Scatter

function buildScatter(widget: WidgetSpec, table: Table, ctx: WidgetContext): ChartModel {
  const t = chartTheme(ctx.theme);
  const xEnc = xEncoding(widget, table);
  const yRaw = widget.encoding?.y;
  const yEnc: FieldEncoding | undefined = Array.isArray(yRaw) ? yRaw[0] : yRaw;
  if (!xEnc || !yEnc) return emptyModel('The scatter needs an x and a y column');
  const colorEnc = widget.encoding?.color;
  const miss = missing(table, [xEnc.field, yEnc.field, colorEnc?.field]);
  if (miss) return emptyModel(miss);
  const x = readColumn(table, xEnc);
  const y = readColumn(table, yEnc);
  const color = colorEnc ? readColumn(table, colorEnc) : undefined;
  const colorCats = color ? categoriesOf(color) : undefined;
  const groups = colorCats ? colorCats.keys : [''];
  const points: [number, number][][] = groups.map(() => []);
  const xNum = (v: CellValue): number | null => (x.temporal ? asTime(v) : asNumber(v));
  for (let row = 0; row < table.numRows; row++) {
    const xv = xNum(x.values[row] ?? null);
    const yv = asNumber(y.values[row] ?? null);
    if (xv === null || yv === null) continue;
    const gi = colorCats ? (colorCats.index.get(keyOf(color?.values[row] ?? null)) ?? 0) : 0;
    points[gi]?.push([xv, yv]);
  }
  const markCount = points.reduce((n, p) => n + p.length, 0);
  const large = markCount > LARGE_DATA;
  const selection = selectionOn(ctx.selection, x);
  let markArea: Record<string, unknown> | undefined;
  if (selection?.range) {
    const [lo, hi] = selection.range;
    const conv = (v: number | string | null): number | null =>
      v === null ? null : x.temporal ? asTime(v) : asNumber(v);
    const a = conv(lo);
    const b = conv(hi);
    markArea = {
      silent: true,
      itemStyle: { color: t.selectionFill },
      data: [[a === null ? { x: '0%' } : { xAxis: a }, b === null ? { x: '100%' } : { xAxis: b }]],
    };
  }
  const names = colorCats ? colorCats.labels : [labelOfField(yEnc)];
  const series = groups.map((key, gi) => ({
    type: 'scatter',
    id: `g\u0001${key}`,
    name: names[gi] ?? key,
    color: colorCats ? ctx.colors.colorFor(key) : SINGLE_SERIES_COLOR,
    large,
    largeThreshold: LARGE_DATA,
    symbolSize: large ? 4 : 7,
    itemStyle: { opacity: 0.75 },
    markArea: gi === 0 ? markArea : undefined,
    data: points[gi] ?? [],
  }));
  const showLegend = groups.length > 1;
  const xFormat = xEnc.format;
  const xAxis = x.temporal
    ? timeAxis(t, xEnc.grain)
    : { ...valueAxis(t, xFormat, labelOfField(xEnc)), scale: true, splitLine: { show: false }, axisLine: { lineStyle: { color: t.axisLine } }, nameLocation: 'middle', nameGap: 26, nameTextStyle: { color: t.mutedText } };
  const option = {
    ...baseOption(t, markCount),
    legend: legend(t, showLegend),
    grid: grid(showLegend, 28),
    tooltip: itemTooltip(t, (p: { seriesIndex: number; value: [number, number]; color?: string }) => {
      const [xv, yv] = p.value;
      const title = colorCats ? (names[p.seriesIndex] ?? '') : '';
      return rowIndexTooltip(title, [
        ['', labelOfField(xEnc), x.temporal ? formatDate(xv, xEnc.grain) : formatNumber(xv, xFormat)],
        ['', labelOfField(yEnc), formatNumber(yv, yEnc.format)],
      ]);
    }),
    xAxis,
    yAxis: { ...valueAxis(t, yEnc.format), scale: true },
    series,
    ...brushable(t),
  };
  const integerX = /^u?int\d+$/.test(x.typeName);
  return {
    option: option as unknown as EChartsOption,
    markCount,
    brush: Boolean(x.enc.column),
    brushColumn: x.enc.column,
    click: () => undefined,
    brushed: ([a, b]) => {
      let lo = Math.min(a, b);
      let hi = Math.max(a, b);
      if (x.temporal) {
        return pickRange(widget, x.enc.column, [formatDate(lo, 'day'), formatDate(hi, 'day')]);
      }
      if (integerX) {
        // Brush ends come from pixels: an end a hair inside a whole number still includes it.
        const eps = Math.max(0.001, (hi - lo) * 0.005);
        lo = Math.ceil(lo - eps);
        hi = Math.floor(hi + eps);
        if (lo > hi) return undefined;
      } else {
        // Brush bounds are pixel-derived: keep 4 significant digits of the visible span.
        const step = 10 ** (Math.floor(Math.log10(Math.max(hi - lo, 1e-9))) - 3);
        lo = Math.floor(lo / step) * step;
        hi = Math.ceil(hi / step) * step;
        lo = Number(lo.toPrecision(12));
        hi = Number(hi.toPrecision(12));
      }
      return pickRange(widget, x.enc.column, [lo, hi]);
    },
    locate: (value) => {
      const wanted = typeof value === 'number' ? value : x.temporal ? asTime(value) : asNumber(value);
      for (let gi = 0; gi < points.length; gi++) {
        const di = (points[gi] ?? []).findIndex((p) => p[0] === wanted);
        const p = points[gi]?.[di];
        if (di >= 0 && p) return { seriesIndex: gi, dataIndex: di, coord: [p[0], p[1]] };
      }
      return null;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Pie

function buildPie(widget: WidgetSpec, table: Table, ctx: WidgetContext): ChartModel {
  const t = chartTheme(ctx.theme);
  const xEnc = xEncoding(widget, table);
  if (!xEnc) return emptyModel(EMPTY_MESSAGE);
  const miss = missing(table, [xEnc.field]);
  if (miss) return emptyModel(miss);
  const x = readColumn(table, xEnc);
  const measure = measuresOf(widget, table, [x.name])[0];
  if (!measure) return emptyModel('The result has no numeric column to chart');
  const values = readColumn(table, measure).values;
  const cats = categoriesOf(x);
  const sums = new Array<number>(cats.raw.length).fill(0);
  for (let row = 0; row < table.numRows; row++) {
    const ci = cats.index.get(keyOf(x.values[row] ?? null));
    const v = asNumber(values[row] ?? null);
    if (ci !== undefined && v !== null) sums[ci] = (sums[ci] ?? 0) + v;
  }
  // Slices need positive values; a zero or negative group cannot be drawn as an angle.
  const slices = cats.raw.map((_v, ci) => ci).filter((ci) => (sums[ci] ?? 0) > 0);
  const selection = selectionOn(ctx.selection, x);
  const total = slices.reduce((s, ci) => s + (sums[ci] ?? 0), 0);
  const donut = widget.options.donut !== false;
  const data = slices.map((ci) => {
    const raw = cats.raw[ci] ?? null;
    const dimmed = selection !== undefined && !isSelected(selection, x, raw);
    const thin = total > 0 && (sums[ci] ?? 0) / total < 0.03;
    return {
      name: cats.labels[ci] ?? '',
      value: sums[ci] ?? 0,
      // Slivers keep their tooltip but not a label that would collide with the neighbours.
      ...(thin ? { label: { show: false }, labelLine: { show: false } } : {}),
      itemStyle: {
        color: ctx.colors.colorFor(cats.keys[ci] ?? ''),
        opacity: dimmed ? DIMMED_OPACITY : 1,
      },
    };
  });
  const option = {
    ...baseOption(t, data.length),
    legend: legend(t, false),
    tooltip: itemTooltip(t, (p: { name: string; value: number; color?: string; percent?: number }) =>
      rowIndexTooltip(p.name, [
        [marker(String(p.color ?? '')), labelOfField(measure), formatNumber(p.value, measure.format)],
        ['', 'Share', formatNumber(total > 0 ? p.value / total : null, 'percent')],
      ]),
    ),
    series: [
      {
        type: 'pie',
        name: labelOfField(measure),
        // Room around the ring for the labels: they sit at the card's edges (alignTo 'edge'),
        // cut with an ellipsis when long (the tooltip shows them whole), never outside it.
        radius: donut ? ['36%', '60%'] : [0, '60%'],
        center: ['50%', '52%'],
        avoidLabelOverlap: true,
        selectedMode: false,
        itemStyle: { borderColor: t.separator, borderWidth: 1 },
        label: {
          color: t.text,
          alignTo: 'edge',
          edgeDistance: 4,
          minMargin: 4,
          lineHeight: 15,
          width: 96,
          overflow: 'truncate',
          formatter: (p: { name: string; percent?: number }) => `${p.name}\n${formatNumber((p.percent ?? 0) / 100, 'percent')}`,
        },
        labelLine: { length: 10, length2: 0, maxSurfaceAngle: 80, lineStyle: { color: t.axisLine } },
        labelLayout: { hideOverlap: true },
        data,
      },
    ],
  };
  return {
    option: option as unknown as EChartsOption,
    markCount: data.length,
    brush: false,
    click: ({ dataIndex }) => {
      const ci = slices[dataIndex];
      if (ci === undefined) return undefined;
      return toggle(pickValue(widget, x, cats.raw[ci] ?? null), ctx.selection);
    },
    brushed: () => undefined,
    locate: (value) => {
      const ci = cats.index.get(String(value));
      const di = ci === undefined ? -1 : slices.indexOf(ci);
      return di < 0 ? null : { seriesIndex: 0, dataIndex: di };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Histogram

function buildHistogram(widget: WidgetSpec, table: Table, ctx: WidgetContext): ChartModel {
  const t = chartTheme(ctx.theme);
  const countField = widget.encoding?.value?.field ?? 'count';
  const miss = missing(table, ['bin_start', 'bin_end', countField]);
  if (miss) return emptyModel(miss);
  const starts = readColumn(table, { field: 'bin_start' }).values.map(asNumber);
  const ends = readColumn(table, { field: 'bin_end' }).values.map(asNumber);
  const counts = readColumn(table, { field: countField }).values.map(asNumber);
  const bins: { start: number; end: number; count: number }[] = [];
  starts.forEach((s, i) => {
    const e = ends[i];
    if (s === null || e === null || e === undefined) return;
    bins.push({ start: s, end: e, count: counts[i] ?? 0 });
  });
  bins.sort((a, b) => a.start - b.start);
  const xEnc = widget.encoding?.x;
  const column = xEnc?.column;
  const xFormat = xEnc?.format;
  const edge = (v: number): string =>
    xFormat ? formatAxisNumber(v, xFormat) : formatNumber(v, undefined, { compact: true, digits: 2 });
  const labels = bins.map((b) => `${edge(b.start)}–${edge(b.end)}`);
  const selection = ctx.selection && column && ctx.selection.column === column ? ctx.selection : undefined;
  const selectedBin = (b: { start: number; end: number }): boolean => {
    const range = selection?.range;
    if (!range) return false;
    const lo = range[0] === null ? -Infinity : Number(range[0]);
    const hi = range[1] === null ? Infinity : Number(range[1]);
    return b.start >= lo && b.end <= hi;
  };
  const valueEnc = widget.encoding?.value;
  const option = {
    ...baseOption(t, bins.length),
    grid: grid(false),
    tooltip: itemTooltip(t, (p: { dataIndex: number }) => {
      const b = bins[p.dataIndex];
      if (!b) return '';
      return rowIndexTooltip(`${labelOfField(xEnc) || 'Range'}: ${formatNumber(b.start)} – ${formatNumber(b.end)}`, [
        ['', labelOfField(valueEnc) || 'Count', formatNumber(b.count, valueEnc?.format ?? 'integer')],
      ]);
    }),
    xAxis: { ...categoryAxis(t, labels, { width: 110 }) },
    yAxis: valueAxis(t, valueEnc?.format),
    series: [
      {
        type: 'bar',
        name: labelOfField(valueEnc) || 'Count',
        color: SINGLE_SERIES_COLOR,
        barCategoryGap: '0%',
        itemStyle: { borderColor: t.separator, borderWidth: 1 },
        data: bins.map((b) => itemValue(b.count, selection !== undefined && !selectedBin(b))),
      },
    ],
    ...brushable(t),
  };
  return {
    option: option as unknown as EChartsOption,
    markCount: bins.length,
    brush: Boolean(column),
    brushColumn: column,
    click: ({ dataIndex }) => {
      const b = bins[dataIndex];
      if (!b) return undefined;
      return toggle(pickRange(widget, column, [b.start, b.end]), ctx.selection);
    },
    brushed: ([a, c]) => {
      const lo = Math.max(0, Math.ceil(Math.min(a, c)));
      const hi = Math.min(bins.length - 1, Math.floor(Math.max(a, c)));
      const first = bins[lo];
      const last = bins[hi];
      if (!first || !last || lo > hi) return undefined;
      return pickRange(widget, column, [first.start, last.end]);
    },
    locate: (value) => {
      const n = typeof value === 'number' ? value : Number(value);
      let di = labels.indexOf(String(value));
      if (di < 0 && !Number.isNaN(n)) di = bins.findIndex((b) => n >= b.start && n < b.end);
      if (di < 0 && !Number.isNaN(n)) di = bins.findIndex((b) => n === b.end);
      return di < 0 ? null : { seriesIndex: 0, dataIndex: di };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Heatmap

function buildHeatmap(widget: WidgetSpec, table: Table, ctx: WidgetContext): ChartModel {
  const t = chartTheme(ctx.theme);
  const xEnc = widget.encoding?.x;
  const yRaw = widget.encoding?.y;
  const yEnc: FieldEncoding | undefined = Array.isArray(yRaw) ? yRaw[0] : yRaw;
  const valueEnc = widget.encoding?.value;
  if (!xEnc || !yEnc || !valueEnc) return emptyModel('The heatmap needs x, y and value columns');
  const miss = missing(table, [xEnc.field, yEnc.field, valueEnc.field]);
  if (miss) return emptyModel(miss);
  const x = readColumn(table, xEnc);
  const y = readColumn(table, yEnc);
  const values = readColumn(table, valueEnc).values.map(asNumber);
  const xCats = categoriesOf(x);
  const yCats = categoriesOf(y);
  const cells: [number, number, number][] = [];
  const cellRaw: CellValue[] = [];
  let min = Infinity;
  let max = -Infinity;
  for (let row = 0; row < table.numRows; row++) {
    const v = values[row];
    const xi = xCats.index.get(keyOf(x.values[row] ?? null));
    const yi = yCats.index.get(keyOf(y.values[row] ?? null));
    if (v === null || v === undefined || xi === undefined || yi === undefined) continue;
    cells.push([xi, yi, v]);
    cellRaw.push(x.values[row] ?? null);
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (cells.length === 0) return emptyModel(EMPTY_MESSAGE);
  if (min === max) {
    min = Math.min(0, min);
    if (min === max) max = min + 1;
  }
  const selection = selectionOn(ctx.selection, x);
  const longest = Math.max(0, ...xCats.labels.map((l) => l.length));
  const option = {
    ...baseOption(t, cells.length),
    grid: { ...grid(false, 44) },
    tooltip: itemTooltip(t, (p: { value: [number, number, number] }) => {
      const [xi, yi, v] = p.value;
      return rowIndexTooltip(`${xCats.labels[xi] ?? ''} · ${yCats.labels[yi] ?? ''}`, [
        ['', labelOfField(valueEnc), formatNumber(v, valueEnc.format)],
      ]);
    }),
    xAxis: { ...categoryAxis(t, xCats.labels, xCats.raw.length > 6 && longest > 6 ? { rotate: 30, width: 100 } : {}), splitArea: { show: false } },
    yAxis: { ...categoryAxis(t, yCats.labels, { width: 120 }), inverse: true },
    visualMap: {
      type: 'continuous',
      min,
      max,
      calculable: false,
      orient: 'horizontal',
      left: 'center',
      bottom: 0,
      itemHeight: 160,
      itemWidth: 10,
      inRange: { color: t.ramp },
      text: [formatAxisNumber(max, valueEnc.format), formatAxisNumber(min, valueEnc.format)],
      textGap: 6,
      textStyle: { color: t.mutedText },
      formatter: (v: number) => formatAxisNumber(v, valueEnc.format),
    },
    series: [
      {
        type: 'heatmap',
        name: labelOfField(valueEnc),
        itemStyle: { borderColor: t.separator, borderWidth: 1 },
        emphasis: { itemStyle: { borderColor: t.text, borderWidth: 1 } },
        data: cells.map((c, i) =>
          selection !== undefined && !isSelected(selection, x, cellRaw[i] ?? null)
            ? { value: c, itemStyle: { opacity: DIMMED_OPACITY } }
            : c,
        ),
      },
    ],
  };
  return {
    option: option as unknown as EChartsOption,
    markCount: cells.length,
    brush: false,
    click: ({ dataIndex }) => {
      const cell = cells[dataIndex];
      if (!cell) return undefined;
      return toggle(pickValue(widget, x, xCats.raw[cell[0]] ?? null), ctx.selection);
    },
    brushed: () => undefined,
    locate: (value) => {
      // An x value (its first cell), or 'x|y' for one cell.
      const text = String(value);
      const sep = text.lastIndexOf('|');
      let xi = xCats.index.get(text);
      let yi: number | undefined;
      if (xi === undefined && sep >= 0) {
        xi = xCats.index.get(text.slice(0, sep));
        yi = yCats.index.get(text.slice(sep + 1));
        if (yi === undefined) return null;
      }
      if (xi === undefined) return null;
      const di = cells.findIndex((c) => c[0] === xi && (yi === undefined || c[1] === yi));
      const cell = cells[di];
      return cell ? { seriesIndex: 0, dataIndex: di, coord: [cell[0], cell[1]] } : null;
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Drops picks on columns the dashboard does not declare selectable. */
function restrictToDimensions(model: ChartModel, dimensions: string[] | undefined): ChartModel {
  if (!dimensions) return model;
  const allowed = (s: Selection | null | undefined): Selection | null | undefined =>
    s && !dimensions.includes(s.column) ? undefined : s;
  return {
    ...model,
    brush: model.brush && model.brushColumn !== undefined && dimensions.includes(model.brushColumn),
    click: (ref) => allowed(model.click(ref)),
    brushed: (range) => allowed(model.brushed(range)),
  };
}

/** Everything the view needs to draw a widget's result. */
export function buildChartModel(widget: WidgetSpec, table: Table, ctx: WidgetContext): ChartModel {
  if (table.numRows === 0) return emptyModel(EMPTY_MESSAGE);
  let model: ChartModel;
  switch (widget.type) {
    case 'bar':
      model = buildBar(widget, table, ctx);
      break;
    case 'line':
      model = buildLine(widget, table, ctx, false);
      break;
    case 'area':
      model = buildLine(widget, table, ctx, true);
      break;
    case 'scatter':
      model = buildScatter(widget, table, ctx);
      break;
    case 'pie':
      model = buildPie(widget, table, ctx);
      break;
    case 'histogram':
      model = buildHistogram(widget, table, ctx);
      break;
    case 'heatmap':
      model = buildHeatmap(widget, table, ctx);
      break;
    default:
      return emptyModel(`Widget type '${widget.type}' is not a chart`);
  }
  if (!model.message && model.markCount === 0) return emptyModel(EMPTY_MESSAGE);
  return restrictToDimensions(model, ctx.dimensions);
}

/** The ECharts option of a widget's result ({} when there is nothing to draw). */
export function buildChartOption(widget: WidgetSpec, table: Table, ctx: WidgetContext): EChartsOption {
  return buildChartModel(widget, table, ctx).option;
}

export { labelOf };

/**
 * The structure of an option: its components and every key they set, without values (`type`
 * values excepted) and without `data` arrays. Two options of the same shape differ only in
 * values, so the second can be merged into a chart showing the first (series replaced by id):
 * merging leaves no stale key behind and keeps every component (tooltip, brush, axes) and its
 * view instead of rebuilding them.
 */
export function optionShape(option: EChartsOption): string {
  const walk = (v: unknown, top: boolean): unknown => {
    if (Array.isArray(v)) return top ? v.map((x) => walk(x, false)) : 'a';
    if (typeof v === 'function') return 'f';
    if (v === null || v === undefined || typeof v !== 'object') return 'p';
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      // A key set to undefined counts as set: a merge overwrites it too.
      const x = (v as Record<string, unknown>)[k];
      out[k] = k === 'data' ? 'd' : k === 'type' ? x : walk(x, false);
    }
    return out;
  };
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(option).sort()) {
    const x = (option as Record<string, unknown>)[k];
    if (x === undefined) continue;
    if (k === 'series' && Array.isArray(x)) {
      // Series are replaced by id (replaceMerge): their number may change, their kinds not.
      out[k] = [...new Set(x.map((item) => JSON.stringify(walk(item, false))))].sort();
    } else {
      // Other components given as a list merge by position: the list's length is part of the shape.
      out[k] = walk(x, true);
    }
  }
  return JSON.stringify(out);
}
