// The thin, DOM-owning half of a chart: one ECharts instance per widget element, fed by the
// pure builders in options.ts.

import type { Table } from 'apache-arrow';
import { BarChart, HeatmapChart, LineChart, PieChart, ScatterChart } from 'echarts/charts';
import {
  BrushComponent,
  GridComponent,
  LegendScrollComponent,
  MarkAreaComponent,
  ToolboxComponent,
  TooltipComponent,
  VisualMapContinuousComponent,
} from 'echarts/components';
import { type ECharts, init, use } from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import type { WidgetContext, WidgetSpec, WidgetView } from '../types';
import { type ChartModel, type MarkLocation, buildChartModel, optionShape } from './options';

use([
  BarChart,
  LineChart,
  ScatterChart,
  PieChart,
  HeatmapChart,
  GridComponent,
  TooltipComponent,
  LegendScrollComponent,
  VisualMapContinuousComponent,
  BrushComponent,
  // The brush component always registers a toolbox button set; the toolbox itself stays hidden.
  ToolboxComponent,
  MarkAreaComponent,
  CanvasRenderer,
]);

/**
 * End-to-end test hook, set on the widget element after every update:
 *
 * - `el.dataset.marks`: how many marks (bars, points, slices, cells, bins) are drawn; "0" when
 *   the widget shows its empty message.
 * - `el.sightlineChart.pixelOf(value)`: the [x, y] position, in CSS pixels relative to the
 *   top-left corner of `el`, of the center of the mark for a category value (a bar, a slice, a
 *   line point; histograms: a value inside the bin; heatmaps: an x value, or 'x|y' for one
 *   cell), or null when no mark shows it. A test clicks the real canvas there.
 */
export interface SightlineChartHook {
  pixelOf(value: string | number): [number, number] | null;
}

interface ItemLayout {
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  cx?: number;
  cy?: number;
  r?: number;
  r0?: number;
  startAngle?: number;
  endAngle?: number;
}

/** ECharts' internals, reached for the exact geometry of a drawn mark. */
interface ChartInternals {
  getModel(): {
    getSeriesByIndex(i: number): { getData(): { getItemLayout(i: number): unknown } } | undefined;
  };
}

function markCenter(chart: ECharts, loc: MarkLocation): [number, number] | null {
  let layout: unknown;
  try {
    layout = (chart as unknown as ChartInternals).getModel().getSeriesByIndex(loc.seriesIndex)?.getData().getItemLayout(loc.dataIndex);
  } catch {
    layout = undefined;
  }
  if (Array.isArray(layout) && typeof layout[0] === 'number' && typeof layout[1] === 'number') {
    return [layout[0], layout[1]];
  }
  if (layout && typeof layout === 'object') {
    const l = layout as ItemLayout;
    if (l.cx !== undefined && l.cy !== undefined && l.r !== undefined && l.startAngle !== undefined && l.endAngle !== undefined) {
      const angle = (l.startAngle + l.endAngle) / 2;
      const radius = ((l.r0 ?? 0) + l.r) / 2;
      return [l.cx + radius * Math.cos(angle), l.cy + radius * Math.sin(angle)];
    }
    if (l.x !== undefined && l.y !== undefined && l.width !== undefined && l.height !== undefined) {
      return [l.x + l.width / 2, l.y + l.height / 2];
    }
  }
  if (loc.coord) {
    const p = chart.convertToPixel({ seriesIndex: loc.seriesIndex }, loc.coord) as unknown;
    if (Array.isArray(p) && typeof p[0] === 'number' && typeof p[1] === 'number') return [p[0], p[1]];
  }
  return null;
}

/** What of the context changes a drawing: the theme and this widget's own pick. */
function contextKey(ctx: WidgetContext): string {
  return `${ctx.theme}|${ctx.selection ? JSON.stringify(ctx.selection) : ''}|${ctx.dimensions?.join(',') ?? '*'}`;
}

/**
 * The chart of a widget. The element's size is the caller's business: it calls resize() when
 * the element's size changed (one ResizeObserver per widget, in the frame).
 */
export function createChartView(el: HTMLElement, widget: WidgetSpec, ctx: WidgetContext): WidgetView {
  let context = ctx;
  let model: ChartModel | undefined;
  let chart: ECharts | undefined;
  // What is drawn: the result and context it was drawn from, and the shape of its option.
  let drawnData: Table | null = null;
  let drawnContext = '';
  let shape: string | null = null;
  let drawnOnce = false;
  // Whether the brush cursor is armed on the current brush component, and whether a brushed
  // range is left on the canvas.
  let cursorArmed = false;
  let brushDrawn = false;

  el.classList.add('sl-chart');
  const host = document.createElement('div');
  host.className = 'sl-chart-canvas';
  host.style.width = '100%';
  host.style.height = '100%';
  host.style.minHeight = '160px';
  const message = document.createElement('div');
  message.className = 'sl-chart-empty';
  message.setAttribute('role', 'status');
  message.style.cssText =
    'display:none;align-items:center;justify-content:center;height:100%;min-height:160px;opacity:0.7;font-size:0.9em;text-align:center';
  el.append(host, message);

  const hook: SightlineChartHook = {
    pixelOf(value) {
      if (!chart || !model || model.message) return null;
      const loc = model.locate(value);
      if (!loc) return null;
      const p = markCenter(chart, loc);
      if (!p) return null;
      const hostBox = host.getBoundingClientRect();
      const elBox = el.getBoundingClientRect();
      return [p[0] + hostBox.left - elBox.left, p[1] + hostBox.top - elBox.top];
    },
  };
  (el as HTMLElement & { sightlineChart?: SightlineChartHook }).sightlineChart = hook;

  function ensureChart(): ECharts {
    if (chart) return chart;
    const c = init(host, undefined, { renderer: 'canvas' });
    c.on('click', (params) => {
      if (!model || params.componentType !== 'series') return;
      const sel = model.click({ seriesIndex: params.seriesIndex ?? 0, dataIndex: params.dataIndex });
      if (sel !== undefined) context.onSelect(sel);
    });
    c.on('brushEnd', (params) => {
      brushDrawn = true;
      const areas = (params as { areas?: { coordRange?: unknown }[] }).areas ?? [];
      const range = areas[0]?.coordRange;
      if (!model || !Array.isArray(range) || typeof range[0] !== 'number' || typeof range[1] !== 'number') return;
      const sel = model.brushed([range[0], range[1]]);
      if (sel !== undefined) context.onSelect(sel);
    });
    chart = c;
    return c;
  }

  function setMarks(n: number): void {
    const v = String(n);
    if (el.dataset.marks !== v) el.dataset.marks = v;
  }

  return {
    update(data: Table, next: WidgetContext) {
      const key = contextKey(next);
      context = next;
      // The same result in the same context: what is drawn is already right.
      if (data === drawnData && key === drawnContext && model) return;
      drawnData = data;
      drawnContext = key;
      model = buildChartModel(widget, data, next);
      if (model.message) {
        chart?.clear();
        shape = null;
        cursorArmed = false;
        brushDrawn = false;
        host.style.display = 'none';
        message.style.display = 'flex';
        message.textContent = model.message;
        setMarks(0);
        return;
      }
      if (message.style.display !== 'none') message.style.display = 'none';
      const wasHidden = host.style.display === 'none';
      if (wasHidden) host.style.display = '';
      const c = ensureChart();
      if (wasHidden) c.resize();
      // Marks grow in on the first drawing only: an animated update repaints the whole canvas
      // every frame for its duration, for every chart the change touched.
      const option = drawnOnce ? { ...model.option, animation: false } : model.option;
      drawnOnce = true;
      const nextShape = optionShape(option);
      if (nextShape === shape) {
        // Only values changed: merge, keeping every component and its view.
        c.setOption(option, { replaceMerge: ['series'], lazyUpdate: false });
      } else {
        c.setOption(option, { notMerge: true, lazyUpdate: false });
        shape = nextShape;
        // A new brush component: its cursor is not armed and it holds no range.
        cursorArmed = false;
        brushDrawn = false;
      }
      // A brushed range stays drawn until the next update, which shows the widget's selection
      // as a shaded band instead.
      if (brushDrawn) {
        c.dispatchAction({ type: 'brush', areas: [] });
        brushDrawn = false;
      }
      if (model.brush && !cursorArmed) {
        // Dragging across the plot brushes an x range; a plain click still hits marks.
        c.dispatchAction({
          type: 'takeGlobalCursor',
          key: 'brush',
          brushOption: { brushType: 'lineX', brushMode: 'single' },
        });
        cursorArmed = true;
      } else if (!model.brush && cursorArmed) {
        c.dispatchAction({ type: 'takeGlobalCursor', key: 'brush', brushOption: { brushType: false } });
        cursorArmed = false;
      }
      setMarks(model.markCount);
    },
    resize() {
      chart?.resize();
    },
    dispose() {
      chart?.dispose();
      chart = undefined;
      model = undefined;
      drawnData = null;
      host.remove();
      message.remove();
      delete el.dataset.marks;
      delete (el as HTMLElement & { sightlineChart?: SightlineChartHook }).sightlineChart;
    },
  };
}
