// Bin edges of a range filter (FilterSpec.bins): where a value falls among them.

/**
 * The index of the edge a range end at `value` snaps to: for a low end the last edge at or below
 * it, for a high end the first edge at or above it (so the snapped range holds the value), within
 * the edges' own indexes. `edges` is ascending.
 */
export function edgeIndex(edges: readonly number[], value: number, side: 'low' | 'high'): number {
  if (side === 'low') {
    let i = 0;
    while (i + 1 < edges.length && (edges[i + 1] ?? Infinity) <= value) i++;
    return i;
  }
  let i = edges.length - 1;
  while (i > 0 && (edges[i - 1] ?? -Infinity) >= value) i--;
  return i;
}
