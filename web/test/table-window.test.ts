import { describe, expect, it } from 'vitest';
import { MAX_SPACER, contentTop, locateRow, pageRequest, pagesFor, rangeLabel, renderRows, rowTop, spacerHeight, visibleRows } from '../src/table/window';

describe('table page window', () => {
  it('finds the visible rows, counting partly visible ones', () => {
    expect(visibleRows(0, 320, 32, 2475)).toEqual({ first: 0, end: 10 });
    expect(visibleRows(16, 320, 32, 2475)).toEqual({ first: 0, end: 11 });
    expect(visibleRows(3200, 320, 32, 2475)).toEqual({ first: 100, end: 110 });
    expect(visibleRows(0, 320, 32, 3)).toEqual({ first: 0, end: 3 });
    expect(visibleRows(0, 320, 32, 0)).toEqual({ first: 0, end: 0 });
    expect(visibleRows(99999, 320, 32, 50)).toEqual({ first: 49, end: 50 });
    expect(visibleRows(-40, 320, 32, 50)).toEqual({ first: 0, end: 10 });
  });

  it('adds overscan within bounds', () => {
    expect(renderRows({ first: 5, end: 15 }, 10, 20)).toEqual({ first: 0, end: 20 });
    expect(renderRows({ first: 0, end: 0 }, 10, 0)).toEqual({ first: 0, end: 0 });
  });

  it('maps rows to pages with prefetch at page edges', () => {
    expect(pagesFor({ first: 0, end: 10 }, 100, 2475)).toEqual([0]);
    expect(pagesFor({ first: 95, end: 105 }, 100, 2475)).toEqual([0, 1]);
    expect(pagesFor({ first: 85, end: 95 }, 100, 2475, 20)).toEqual([0, 1]);
    expect(pagesFor({ first: 105, end: 115 }, 100, 2475, 20)).toEqual([0, 1]);
    expect(pagesFor({ first: 2470, end: 2475 }, 100, 2475, 20)).toEqual([24]);
    expect(pagesFor({ first: 0, end: 0 }, 100, 0)).toEqual([]);
    expect(pagesFor({ first: 0, end: 10 }, 100, 10, 50)).toEqual([0]);
  });

  it('turns pages into offset/limit and rows into page positions', () => {
    expect(pageRequest(3, 100)).toEqual({ offset: 300, limit: 100 });
    expect(locateRow(0, 100)).toEqual({ page: 0, row: 0 });
    expect(locateRow(2474, 100)).toEqual({ page: 24, row: 74 });
  });

  it('labels the range like "1–50 of 2,475 rows"', () => {
    expect(rangeLabel({ first: 0, end: 50 }, 2475)).toBe('1–50 of 2,475 rows');
    expect(rangeLabel({ first: 2450, end: 2475 }, 2475)).toBe('2,451–2,475 of 2,475 rows');
    expect(rangeLabel({ first: 0, end: 0 }, 0)).toBe('No rows');
    expect(rangeLabel({ first: 0, end: 1 }, 1)).toBe('1 row');
  });

  it('caps the spacer height', () => {
    expect(spacerHeight(2475, 32)).toBe(79200);
    expect(spacerHeight(10_000_000, 32)).toBe(15_000_000);
  });

  it('scrolls tables taller than the spacer cap to their last row', () => {
    const rh = 32;
    const viewport = 448;
    // Below the cap the scroll position is the content offset.
    expect(contentTop(3200, viewport, rh, 2475)).toBe(3200);
    expect(rowTop(100, 3200, 3200, rh)).toBe(3200);

    // 10 million rows: 320M px of rows in a 15M px spacer.
    const total = 10_000_000;
    expect(spacerHeight(total, rh)).toBe(MAX_SPACER);
    const maxScroll = MAX_SPACER - viewport;
    expect(contentTop(0, viewport, rh, total)).toBe(0);
    // The end of the scrollbar shows the last rows, the last one ending at the viewport's bottom.
    const end = contentTop(maxScroll, viewport, rh, total);
    expect(end).toBe(total * rh - viewport);
    expect(visibleRows(end, viewport, rh, total)).toEqual({ first: total - 14, end: total });
    expect(rowTop(total - 1, maxScroll, end, rh) + rh).toBe(MAX_SPACER);
    // Overscrolling clamps; the middle of the scrollbar is the middle of the rows.
    expect(contentTop(maxScroll + 500, viewport, rh, total)).toBe(end);
    expect(contentTop(maxScroll / 2, viewport, rh, total)).toBeCloseTo(end / 2, 3);
    // A row drawn on screen sits inside the spacer, next to the scroll position.
    const mid = contentTop(maxScroll / 2, viewport, rh, total);
    const first = visibleRows(mid, viewport, rh, total).first;
    const y = rowTop(first, maxScroll / 2, mid, rh);
    expect(y).toBeGreaterThan(maxScroll / 2 - rh);
    expect(y).toBeLessThanOrEqual(maxScroll / 2);
    // Just past the cap (468,751 rows) still reaches the end.
    const just = Math.floor(MAX_SPACER / rh) + 1;
    const e2 = contentTop(MAX_SPACER - viewport, viewport, rh, just);
    expect(visibleRows(e2, viewport, rh, just).end).toBe(just);
  });
});
