// Light and dark themes: the system's preference unless the user picked one (kept in
// localStorage).

import type { Theme } from '../types';

const KEY = 'sightline.theme';

function stored(): Theme | null {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : null;
  } catch {
    return null;
  }
}

function systemTheme(): Theme {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function currentTheme(): Theme {
  return stored() ?? systemTheme();
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
}

export function saveTheme(theme: Theme): void {
  try {
    localStorage.setItem(KEY, theme);
  } catch {
    // Storage may be off (private mode); the choice then lasts for this page only.
  }
}

/** Calls back when the system preference changes while the user has not picked a theme. */
export function watchSystemTheme(onChange: (t: Theme) => void): void {
  if (typeof matchMedia !== 'function') return;
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    if (stored() === null) onChange(systemTheme());
  });
}
