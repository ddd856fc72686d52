// One color per category value for the whole page, so 'Online' looks the same in the pie and
// in the stacked bars. Colors are handed out in order of first sight and never change while the
// page lives.

import type { ColorRegistry } from '../types';

/**
 * Ten mid-luminance hues (after Tableau 10) that keep at least 3:1 contrast against both a white
 * and a near-black card, and stay apart for the common color-vision deficiencies when taken in
 * order.
 */
export const PALETTE: readonly string[] = [
  '#4e79a7', // blue
  '#f28e2b', // orange
  '#59a14f', // green
  '#e15759', // red
  '#b07aa1', // purple
  '#76b7b2', // teal
  '#edc948', // yellow
  '#ff9da7', // pink
  '#9c755f', // brown
  '#8cd17d', // light green
];

/** Color of the null category: a neutral gray outside the rotation. */
export const NULL_COLOR = '#9ca3af';

/** The registry key of a null category value. */
export const NULL_KEY = '\u0000null';

/** The color of a chart with a single series and no color encoding. */
export const SINGLE_SERIES_COLOR = PALETTE[0] ?? '#4e79a7';

export function createColorRegistry(palette: readonly string[] = PALETTE): ColorRegistry {
  const assigned = new Map<string, string>();
  return {
    colorFor(value: string): string {
      if (value === NULL_KEY) return NULL_COLOR;
      let color = assigned.get(value);
      if (color === undefined) {
        color = palette[assigned.size % palette.length] ?? '#888888';
        assigned.set(value, color);
      }
      return color;
    },
  };
}
