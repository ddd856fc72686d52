// Signing in and out (docs/security.md): where the sign-in starts, the guard against redirect
// loops, which sign-out redirects the page follows, and the name the header shows.

import type { MeUser } from '../types';

const KEY = 'sightline.sign-in';
/** Redirects to the sign-in counted together: a return within this time is the same attempt. */
export const SIGN_IN_WINDOW_MS = 60_000;
/** Redirects to the sign-in per window before the page stops and shows the signed-out panel. */
const MAX_REDIRECTS = 1;

/** The sign-in URL that brings the browser back to the page it is on. */
export function loginUrl(): string {
  return '/auth/login?return_to=' + encodeURIComponent(location.pathname + location.search);
}

interface Attempts {
  count: number;
  first: number;
}

function readAttempts(storage: Storage): Attempts | null {
  const raw = storage.getItem(KEY);
  if (raw === null) return null;
  try {
    const v = JSON.parse(raw) as unknown;
    if (v === null || typeof v !== 'object') return null;
    const { count, first } = v as Record<string, unknown>;
    return typeof count === 'number' && typeof first === 'number' ? { count, first } : null;
  } catch {
    return null;
  }
}

/**
 * Records a redirect to the sign-in and says whether to make it. False when this tab already
 * went to the sign-in within the last minute and came back still signed out (a cookie that does
 * not stick would otherwise loop through the provider forever), and when session storage is
 * off (the guard could not count; the signed-out panel's link still signs in).
 */
export function beginSignIn(now: number = Date.now()): boolean {
  let storage: Storage;
  try {
    storage = sessionStorage;
    const prev = readAttempts(storage);
    const within = prev !== null && now - prev.first >= 0 && now - prev.first < SIGN_IN_WINDOW_MS;
    const next: Attempts = prev !== null && within ? { count: prev.count + 1, first: prev.first } : { count: 1, first: now };
    storage.setItem(KEY, JSON.stringify(next));
    return next.count <= MAX_REDIRECTS;
  } catch {
    return false;
  }
}

/** Signed in: the next expired session may go to the sign-in again at once. */
export function signInSucceeded(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Storage is off: nothing was counted.
  }
}

/**
 * Where the browser goes after signing out: the server's answer when it is an http(s) URL
 * (the provider's end-session URL is absolute) or a path, anything else (javascript:, data:...)
 * "/".
 */
export function safeRedirect(url: unknown): string {
  if (typeof url !== 'string' || url.trim() === '') return '/';
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? url : '/';
  } catch {
    return '/';
  }
}

/** The name the header shows: the name, else the email, else the subject; null without any. */
export function displayName(user: MeUser | undefined): string | null {
  if (!user) return null;
  for (const v of [user.name, user.email, user.subject]) {
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
  }
  return null;
}
