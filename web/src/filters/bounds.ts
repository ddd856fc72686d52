// Filters bounded by their column's min and max (ranges, date ranges): the bounds come from the
// options endpoint once, when the control is made.

import { type BoundOptions, fetchBounds, isAbort } from '../api/client';
import type { FilterSpec, FilterValue } from '../types';
import type { FilterControl, FilterHost } from './types';

/**
 * The control of a bounded filter: asks for the bounds and hands them to `loaded`, or calls
 * `failed` when they cannot load (not when the control is disposed first); each value the host
 * sets goes to `set`.
 */
export function boundedControl(
  spec: FilterSpec,
  host: FilterHost,
  el: HTMLElement,
  on: { loaded(b: BoundOptions): void; failed(): void; set(v: FilterValue | null): void },
): FilterControl {
  const ctl = new AbortController();
  fetchBounds(host.dashboard, spec.id, ctl.signal).then(
    (b) => on.loaded(b),
    (e: unknown) => {
      if (!isAbort(e)) on.failed();
    },
  );
  return {
    el,
    set(v: FilterValue | null): void {
      on.set(v);
    },
    dispose(): void {
      ctl.abort();
    },
  };
}
