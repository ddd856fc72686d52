// Page-window arithmetic for the virtual table: which rows are on screen, which server pages
// hold them, and the "1–50 of 2,475 rows" label. Pure functions, tested in test/table-window.

export const ROW_HEIGHT = 32;
export const PAGE_SIZE = 100;

export interface RowRange {
  /** First row index on screen. */
  first: number;
  /** One past the last row index on screen. */
  end: number;
}

/** The rows a viewport shows: partially visible rows count. Empty when there are no rows. */
export function visibleRows(scrollTop: number, viewportHeight: number, rowHeight: number, total: number): RowRange {
  if (total <= 0 || rowHeight <= 0) return { first: 0, end: 0 };
  const top = Math.max(0, scrollTop);
  const first = Math.min(total - 1, Math.floor(top / rowHeight));
  const end = Math.min(total, Math.max(first + 1, Math.ceil((top + Math.max(0, viewportHeight)) / rowHeight)));
  return { first, end };
}

/** Rows to render: the visible ones plus `overscan` on each side, within [0, total). */
export function renderRows(range: RowRange, overscan: number, total: number): RowRange {
  if (range.end <= range.first) return { first: 0, end: 0 };
  return { first: Math.max(0, range.first - overscan), end: Math.min(total, range.end + overscan) };
}

/**
 * The page numbers holding rows [first, end), plus the next or previous page when the range
 * comes within `prefetch` rows of a page edge (so scrolling rarely waits).
 */
export function pagesFor(range: RowRange, pageSize: number, total: number, prefetch = 0): number[] {
  if (range.end <= range.first || total <= 0) return [];
  const lastPage = Math.floor((total - 1) / pageSize);
  const lo = Math.max(0, Math.floor(Math.max(0, range.first - prefetch) / pageSize));
  const hi = Math.min(lastPage, Math.floor((Math.min(total, range.end + prefetch) - 1) / pageSize));
  const pages: number[] = [];
  for (let p = lo; p <= hi; p++) pages.push(p);
  return pages;
}

/** Offset and limit of a page in the request body. */
export function pageRequest(page: number, pageSize: number): { offset: number; limit: number } {
  return { offset: page * pageSize, limit: pageSize };
}

/** Which page and which row inside it hold row `index`. */
export function locateRow(index: number, pageSize: number): { page: number; row: number } {
  return { page: Math.floor(index / pageSize), row: index % pageSize };
}

/**
 * Height of the scroll spacer. Browsers cap element heights (Firefox near 17.9M px, Chrome near
 * 33.5M), so beyond MAX_SPACER (468,750 rows of 32 px) the spacer stays at the cap and the scroll
 * position is scaled onto the rows (contentTop).
 */
export const MAX_SPACER = 15_000_000;
export function spacerHeight(total: number, rowHeight: number): number {
  return Math.min(MAX_SPACER, Math.max(0, total) * rowHeight);
}

/**
 * The offset into the full height of the rows (total × rowHeight) that a scroll position shows.
 * Below the cap it is the scroll position; above it, the scroll range [0, spacer - viewport]
 * maps linearly onto [0, rows - viewport], so the end of the scrollbar is the last row.
 */
export function contentTop(scrollTop: number, viewport: number, rowHeight: number, total: number): number {
  const full = Math.max(0, total) * rowHeight;
  const spacer = spacerHeight(total, rowHeight);
  const top = Math.max(0, scrollTop);
  if (full <= spacer) return top;
  const maxScroll = Math.max(1, spacer - viewport);
  const maxContent = Math.max(0, full - viewport);
  return Math.min(maxContent, (Math.min(top, maxScroll) / maxScroll) * maxContent);
}

/** Where row `index` goes inside the spacer: near the scroll position when scaled. */
export function rowTop(index: number, scrollTop: number, content: number, rowHeight: number): number {
  return Math.max(0, scrollTop) + index * rowHeight - content;
}

const count = new Intl.NumberFormat('en-US');

/** "1–50 of 2,475 rows" (1-based, inclusive), "No rows", or "1 row". */
export function rangeLabel(range: RowRange, total: number): string {
  if (total <= 0) return 'No rows';
  if (total === 1) return '1 row';
  const first = Math.min(range.first + 1, total);
  const last = Math.max(first, Math.min(range.end, total));
  return `${count.format(first)}–${count.format(last)} of ${count.format(total)} rows`;
}
