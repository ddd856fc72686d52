import { describe, expect, it } from 'vitest';
import { clampActive, listNav, type ListNavState } from '../src/filters/listnav';

const closed: ListNavState = { open: false, active: -1, count: 5 };

describe('combobox keyboard logic', () => {
  it('opens on ArrowDown at the first option and on ArrowUp at the last', () => {
    expect(listNav(closed, 'ArrowDown')).toEqual({ state: { open: true, active: 0, count: 5 }, action: 'open', handled: true });
    expect(listNav(closed, 'ArrowUp').state).toEqual({ open: true, active: 4, count: 5 });
    expect(listNav(closed, 'ArrowDown', true).state.active).toBe(-1);
  });

  it('moves and wraps the highlight', () => {
    let s: ListNavState = { open: true, active: 3, count: 5 };
    s = listNav(s, 'ArrowDown').state;
    expect(s.active).toBe(4);
    s = listNav(s, 'ArrowDown').state;
    expect(s.active).toBe(0);
    s = listNav(s, 'ArrowUp').state;
    expect(s.active).toBe(4);
    expect(listNav({ open: true, active: -1, count: 5 }, 'ArrowUp').state.active).toBe(4);
    expect(listNav({ open: true, active: 2, count: 5 }, 'Home').state.active).toBe(0);
    expect(listNav({ open: true, active: 2, count: 5 }, 'End').state.active).toBe(4);
  });

  it('picks with Enter only when an option is highlighted', () => {
    expect(listNav({ open: true, active: 2, count: 5 }, 'Enter').action).toBe('pick');
    expect(listNav({ open: true, active: -1, count: 5 }, 'Enter')).toMatchObject({ action: 'none', handled: false });
    expect(listNav(closed, 'Enter').handled).toBe(false);
  });

  it('closes with Escape, then clears the text', () => {
    const r = listNav({ open: true, active: 2, count: 5 }, 'Escape');
    expect(r).toEqual({ state: { open: false, active: -1, count: 5 }, action: 'close', handled: true });
    expect(listNav(r.state, 'Escape').action).toBe('clear-text');
    expect(listNav({ open: true, active: 1, count: 5 }, 'ArrowUp', true).action).toBe('close');
  });

  it('does nothing with an empty list but keeps it open', () => {
    const s = { open: true, active: -1, count: 0 };
    expect(listNav(s, 'ArrowDown')).toEqual({ state: s, action: 'none', handled: true });
    expect(listNav(s, 'Enter').action).toBe('none');
  });

  it('closes on Tab without swallowing it', () => {
    expect(listNav({ open: true, active: 1, count: 5 }, 'Tab')).toMatchObject({ action: 'close', handled: false });
  });

  it('clamps the highlight when options change', () => {
    expect(clampActive({ open: true, active: 4, count: 5 }, 2)).toEqual({ open: true, active: 1, count: 2 });
    expect(clampActive({ open: true, active: 4, count: 5 }, 0)).toEqual({ open: true, active: -1, count: 0 });
  });
});
