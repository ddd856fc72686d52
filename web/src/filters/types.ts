import type { FilterValue } from '../types';

export type HistoryMode = 'push' | 'replace';

/** What a filter control may ask of the page. */
export interface FilterHost {
  dashboard: string;
  /** Sets the filter to a value. */
  set(filterId: string, value: FilterValue, history: HistoryMode): void;
  /** Removes the filter's condition: "not set" when it has no default, else an explicit null. */
  clear(filterId: string, history: HistoryMode): void;
}

export interface FilterControl {
  el: HTMLElement;
  /** Shows the value in effect (the state's, or the default when not set; null: none). */
  set(value: FilterValue | null): void;
  dispose(): void;
}
