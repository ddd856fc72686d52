// Charts: bar, line, area, scatter, pie, histogram and heatmap widgets drawn with ECharts.
export { createChartView, type SightlineChartHook } from './view';
export { createColorRegistry, PALETTE, NULL_COLOR } from './colors';
export {
  buildChartModel,
  buildChartOption,
  formatAxisNumber,
  optionShape,
  EMPTY_MESSAGE,
  type ChartModel,
  type MarkRef,
} from './options';
