// Text, grid and surface colors of charts for the light and dark page themes. Chart backgrounds
// stay transparent: the card around the chart paints the surface.

import type { Theme } from '../types';

export interface ChartTheme {
  text: string;
  mutedText: string;
  axisLine: string;
  splitLine: string;
  tooltipBackground: string;
  tooltipBorder: string;
  tooltipText: string;
  /** Separates adjacent marks (histogram bars, heatmap cells, pie slices). */
  separator: string;
  /** Low to high colors of the heatmap scale. */
  ramp: string[];
  /** Brush and selected-range shading. */
  selectionFill: string;
}

const LIGHT: ChartTheme = {
  text: '#374151',
  mutedText: '#6b7280',
  axisLine: '#d1d5db',
  splitLine: '#e5e7eb',
  tooltipBackground: '#ffffff',
  tooltipBorder: '#d1d5db',
  tooltipText: '#111827',
  separator: 'rgba(255,255,255,0.9)',
  ramp: ['#eef4fb', '#9dbcdf', '#4e79a7', '#1f3b63'],
  selectionFill: 'rgba(78,121,167,0.15)',
};

const DARK: ChartTheme = {
  text: '#d1d5db',
  mutedText: '#9ca3af',
  axisLine: '#4b5563',
  splitLine: '#374151',
  tooltipBackground: '#1f2937',
  tooltipBorder: '#4b5563',
  tooltipText: '#f9fafb',
  separator: 'rgba(17,24,39,0.9)',
  ramp: ['#1e2a3a', '#2f5580', '#5b8fc9', '#b5d3f5'],
  selectionFill: 'rgba(147,190,240,0.18)',
};

export function chartTheme(theme: Theme): ChartTheme {
  return theme === 'dark' ? DARK : LIGHT;
}
