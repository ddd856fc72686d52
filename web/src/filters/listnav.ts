// Keyboard logic of the combobox list, apart from the DOM so it can be tested alone.

export interface ListNavState {
  open: boolean;
  /** Index of the highlighted option, -1 for none. */
  active: number;
  /** How many options the list shows. */
  count: number;
}

export type ListNavAction = 'none' | 'open' | 'close' | 'pick' | 'clear-text';

export interface ListNavResult {
  state: ListNavState;
  action: ListNavAction;
  /** Whether the key was handled (the caller then prevents its default). */
  handled: boolean;
}

/**
 * The next state for a key press in the combobox's input (WAI-ARIA combobox pattern):
 * ArrowDown/ArrowUp open the list and move the highlight (wrapping), Home/End jump when open,
 * Enter picks the highlighted option, Escape closes an open list or else clears the text.
 */
export function listNav(s: ListNavState, key: string, alt = false): ListNavResult {
  const same = (action: ListNavAction = 'none', handled = false): ListNavResult => ({ state: s, action, handled });
  switch (key) {
    case 'ArrowDown': {
      if (!s.open) {
        return { state: { ...s, open: true, active: alt || s.count === 0 ? -1 : Math.max(0, s.active) }, action: 'open', handled: true };
      }
      if (s.count === 0) return same('none', true);
      return { state: { ...s, active: s.active < 0 || s.active >= s.count - 1 ? 0 : s.active + 1 }, action: 'none', handled: true };
    }
    case 'ArrowUp': {
      if (!s.open) {
        return { state: { ...s, open: true, active: s.count === 0 ? -1 : s.count - 1 }, action: 'open', handled: true };
      }
      if (alt) return { state: { ...s, open: false }, action: 'close', handled: true };
      if (s.count === 0) return same('none', true);
      return { state: { ...s, active: s.active <= 0 ? s.count - 1 : s.active - 1 }, action: 'none', handled: true };
    }
    case 'Home':
      if (!s.open || s.count === 0) return same();
      return { state: { ...s, active: 0 }, action: 'none', handled: true };
    case 'End':
      if (!s.open || s.count === 0) return same();
      return { state: { ...s, active: s.count - 1 }, action: 'none', handled: true };
    case 'Enter':
      if (s.open && s.active >= 0 && s.active < s.count) return { state: s, action: 'pick', handled: true };
      return same();
    case 'Escape':
      if (s.open) return { state: { ...s, open: false, active: -1 }, action: 'close', handled: true };
      return { state: s, action: 'clear-text', handled: true };
    case 'Tab':
      return s.open ? { state: { ...s, open: false, active: -1 }, action: 'close', handled: false } : same();
    default:
      return same();
  }
}

/** Keeps the highlight valid when the option count changes. */
export function clampActive(s: ListNavState, count: number): ListNavState {
  return { ...s, count, active: count === 0 ? -1 : Math.min(s.active, count - 1) };
}
