import { describe, expect, it } from 'vitest';
import { edgeIndex } from '../src/filters/edges';

describe('edgeIndex', () => {
  const edges = [0, 2.5, 5, 7.5, 10];
  it('snaps a low end down and a high end up, so the range holds the value', () => {
    expect(edgeIndex(edges, 3.1, 'low')).toBe(1);
    expect(edgeIndex(edges, 3.1, 'high')).toBe(2);
  });
  it('keeps an edge where it is', () => {
    expect(edgeIndex(edges, 5, 'low')).toBe(2);
    expect(edgeIndex(edges, 5, 'high')).toBe(2);
  });
  it('stays within the edges beyond them', () => {
    expect(edgeIndex(edges, -4, 'low')).toBe(0);
    expect(edgeIndex(edges, -4, 'high')).toBe(0);
    expect(edgeIndex(edges, 99, 'low')).toBe(4);
    expect(edgeIndex(edges, 99, 'high')).toBe(4);
  });
});
