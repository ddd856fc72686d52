import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  Freshness,
  dataStateKey,
  formatAsOf,
  isNewerVersion,
  parseDataVersion,
  refreshDone,
  refreshResult,
} from '../src/app/freshness';
import { wait } from '../src/app/dom';
import type { SourceStatus } from '../src/types';

function status(over: Partial<SourceStatus['refresh']> = {}, version = '2-ed7f3ea0bdee9018', asOf: string | null = '2026-12-07T01:52:27.424Z'): SourceStatus {
  return {
    name: 'orders',
    read: 'at_load',
    version,
    version_number: Number(version.split('-')[0]),
    as_of: asOf,
    refresh: {
      policy: {},
      can_refresh: true,
      last_check: null,
      last_outcome: null,
      last_success: null,
      failing: false,
      failing_since: null,
      next_check: null,
      running: false,
      requested: false,
      ...over,
    },
  };
}

describe('data versions', () => {
  it('parses "<number>-<hash>" and nothing else', () => {
    expect(parseDataVersion('3-9f2c1a7be04d1c22')).toEqual({ number: 3, hash: '9f2c1a7be04d1c22', token: '3-9f2c1a7be04d1c22' });
    for (const bad of [null, undefined, '', 'abc', '-3-x', '3-', '3.5-ab', '99999999999999999999-ab']) expect(parseDataVersion(bad)).toBeNull();
  });

  it('compares by number: only a larger number is newer', () => {
    const v = (t: string) => parseDataVersion(t);
    expect(isNewerVersion(v('4-aa'), v('3-bb'))).toBe(true);
    expect(isNewerVersion(v('3-aa'), v('3-bb'))).toBe(false);
    expect(isNewerVersion(v('2-aa'), v('3-bb'))).toBe(false);
    expect(isNewerVersion(v('1-aa'), null)).toBe(true);
    expect(isNewerVersion(null, v('1-aa'))).toBe(false);
    // After a server restart numbers begin again: other data as of a later time is newer.
    expect(isNewerVersion(v('1-cc'), v('3-bb'), '2026-12-07T02:00:00Z', '2026-12-07T01:00:00Z')).toBe(true);
    expect(isNewerVersion(v('1-cc'), v('3-bb'), '2026-12-07T00:00:00Z', '2026-12-07T01:00:00Z')).toBe(false);
    expect(isNewerVersion(v('1-bb'), v('3-bb'), '2026-12-07T02:00:00Z', '2026-12-07T01:00:00Z')).toBe(false);
  });

  it('marks the state key with the number of refreshes, leaving it alone before any', () => {
    expect(dataStateKey('d=sales&page=main', 0)).toBe('d=sales&page=main');
    expect(dataStateKey('d=sales&page=main', 2)).toBe('d=sales&page=main&~data=2');
  });
});

describe('formatAsOf', () => {
  it('shows the instant in the given locale and time zone', () => {
    expect(formatAsOf('2026-12-07T01:22:02.393Z', 'en-US', 'UTC')).toBe('Dec 7, 2026, 1:22 AM');
    expect(formatAsOf('2026-12-07T01:22:02.393Z', 'en-US', 'America/New_York')).toBe('Dec 6, 2026, 8:22 PM');
    expect(formatAsOf('2026-12-07T01:22:02.393Z', 'de-DE', 'Europe/Berlin')).toBe('07.12.2026, 02:22');
  });
  it('is null for no time or one that does not parse', () => {
    expect(formatAsOf(null)).toBeNull();
    expect(formatAsOf('')).toBeNull();
    expect(formatAsOf('yesterday')).toBeNull();
  });
});

describe('refresh results', () => {
  it('is done only when neither requested nor running', () => {
    expect(refreshDone(status({ requested: true }))).toBe(false);
    expect(refreshDone(status({ running: true }))).toBe(false);
    expect(refreshDone(status())).toBe(true);
  });
  it('reads the outcome, counting newer data as refreshed', () => {
    const shown = parseDataVersion('2-ed7f3ea0bdee9018');
    expect(refreshResult(status({ last_outcome: 'refreshed' }), shown)).toEqual({ kind: 'refreshed' });
    expect(refreshResult(status({ last_outcome: 'unchanged' }), shown)).toEqual({ kind: 'unchanged' });
    expect(refreshResult(status({ last_outcome: 'unchanged' }, '3-aa'), shown)).toEqual({ kind: 'refreshed' });
    expect(refreshResult(status({ last_outcome: 'failed', last_error: 'bad file' }), shown)).toEqual({ kind: 'failed', error: 'bad file' });
    expect(refreshResult(status({ last_outcome: 'failed' }), shown)).toEqual({ kind: 'failed', error: null });
  });
});

describe('wait', () => {
  it('rejects with an AbortError when aborted', async () => {
    const ctl = new AbortController();
    const p = wait(10_000, ctl.signal);
    ctl.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('the header block', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
    document.body.replaceChildren();
  });

  const data = { relation: 'orders', version: '1-61f54e8c47d0c626', as_of: '2026-12-07T01:52:23.152Z', refresh_failing: false, can_refresh: true };

  it('shows the time with the version in its tooltip, and moves forward only for newer data', () => {
    const f = new Freshness({ reload: () => {}, announce: () => {} });
    f.show(data);
    const label = f.el.querySelector<HTMLElement>('[data-data-as-of]')!;
    expect(f.el.hidden).toBe(false);
    expect(label.hidden).toBe(false);
    expect(label.textContent).toMatch(/^Data as of /);
    expect(label.title).toContain('1-61f54e8c47d0c626');
    f.observe('1-61f54e8c47d0c626', '2026-12-07T01:52:23.152Z');
    f.observe('0-aa', '2020-01-01T00:00:00.000Z');
    expect(label.dataset.version).toBe('1-61f54e8c47d0c626');
    f.observe('2-ed7f3ea0bdee9018', '2026-12-07T01:52:27.424Z');
    expect(label.dataset.version).toBe('2-ed7f3ea0bdee9018');
    expect(label.dataset.asOf).toBe('2026-12-07T01:52:27.424Z');
    expect(f.el.querySelector<HTMLButtonElement>('[data-refresh-data]')!.hidden).toBe(false);
  });

  it('hides the button without the right, the label without a time, and everything without data', () => {
    const f = new Freshness({ reload: () => {}, announce: () => {} });
    f.show({ ...data, can_refresh: false, as_of: null });
    expect(f.el.hidden).toBe(true);
    f.show(undefined);
    expect(f.el.hidden).toBe(true);
  });

  it('refreshes: posts, polls until done, then reloads the widgets and moves the label', async () => {
    const calls: [string, RequestInit | undefined][] = [];
    const answers = [status({ requested: true }, '1-61f54e8c47d0c626'), status({ running: true }, '1-61f54e8c47d0c626'), status({ last_outcome: 'refreshed' })];
    vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
      calls.push([url, init]);
      return new Response(JSON.stringify(answers.shift()), { status: calls.length === 1 ? 202 : 200, headers: { 'Content-Type': 'application/json' } });
    });
    vi.useFakeTimers();
    const reload = vi.fn();
    const f = new Freshness({ reload, announce: () => {} });
    document.body.append(f.el, f.messageEl);
    f.show(data);
    const button = f.el.querySelector<HTMLButtonElement>('[data-refresh-data]')!;
    button.click();
    await vi.advanceTimersByTimeAsync(0);
    expect(button.disabled).toBe(true);
    expect(button.textContent).toBe('Refreshing…');
    await vi.advanceTimersByTimeAsync(2100);
    expect(calls.map(([u, i]) => `${i?.method ?? 'GET'} ${u}`)).toEqual([
      'POST /api/v1/sources/orders/refresh',
      'GET /api/v1/sources/orders',
      'GET /api/v1/sources/orders',
    ]);
    expect(reload).toHaveBeenCalledTimes(1);
    expect(button.disabled).toBe(false);
    expect(f.el.querySelector<HTMLElement>('[data-data-as-of]')!.dataset.version).toBe('2-ed7f3ea0bdee9018');
    expect(f.el.querySelector('[data-refresh-status]')!.textContent).toBe('Data refreshed');
  });

  it('says "Data is up to date" when nothing changed, and shows why a refresh failed', async () => {
    const answers = [status({ last_outcome: 'unchanged' }, '1-61f54e8c47d0c626'), status({ last_outcome: 'failed', failing: true, last_error: 'data/a.csv:3: could not convert' }, '1-61f54e8c47d0c626')];
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify(answers.shift()), { status: 202, headers: { 'Content-Type': 'application/json' } }));
    const reload = vi.fn();
    const f = new Freshness({ reload, announce: () => {} });
    f.show(data);
    const button = f.el.querySelector<HTMLButtonElement>('[data-refresh-data]')!;
    button.click();
    await vi.waitFor(() => expect(f.el.querySelector('[data-refresh-status]')!.textContent).toBe('Data is up to date'));
    expect(reload).not.toHaveBeenCalled();
    button.click();
    await vi.waitFor(() => expect(f.messageEl.hidden).toBe(false));
    expect(f.messageEl.querySelector('[role=alert]')!.textContent).toContain('data/a.csv:3: could not convert');
    const badge = f.el.querySelector<HTMLElement>('[data-refresh-failing]')!;
    expect(badge.hidden).toBe(false);
    expect(badge.textContent).toMatch(/Refresh failed — showing data as of /);
    expect(badge.title).toContain('data/a.csv:3: could not convert');
    expect(reload).not.toHaveBeenCalled();
  });

  it('says clearly when the refresh is not allowed', async () => {
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify({ status: 403, title: 'Forbidden', detail: "you may not refresh source 'orders'" }), { status: 403, headers: { 'Content-Type': 'application/problem+json' } }));
    const f = new Freshness({ reload: () => {}, announce: () => {} });
    f.show(data);
    f.el.querySelector<HTMLButtonElement>('[data-refresh-data]')!.click();
    await vi.waitFor(() => expect(f.messageEl.hidden).toBe(false));
    expect(f.messageEl.textContent).toContain('You may not refresh this data');
    expect(f.messageEl.textContent).toContain("you may not refresh source 'orders'");
  });

  it('stops polling when the dashboard goes away', async () => {
    let n = 0;
    vi.stubGlobal('fetch', async () => {
      n += 1;
      return new Response(JSON.stringify(status({ running: true })), { status: 200, headers: { 'Content-Type': 'application/json' } });
    });
    vi.useFakeTimers();
    const f = new Freshness({ reload: () => {}, announce: () => {} });
    f.show(data);
    f.el.querySelector<HTMLButtonElement>('[data-refresh-data]')!.click();
    await vi.advanceTimersByTimeAsync(3500);
    const seen = n;
    expect(seen).toBeGreaterThanOrEqual(3);
    f.reset();
    await vi.advanceTimersByTimeAsync(5000);
    expect(n).toBe(seen);
  });

  it('gives up after ten minutes', async () => {
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify(status({ running: true })), { status: 200, headers: { 'Content-Type': 'application/json' } }));
    vi.useFakeTimers();
    const f = new Freshness({ reload: () => {}, announce: () => {} });
    f.show(data);
    const button = f.el.querySelector<HTMLButtonElement>('[data-refresh-data]')!;
    button.click();
    await vi.advanceTimersByTimeAsync(10 * 60 * 1000 + 5000);
    expect(f.messageEl.textContent).toContain('taking longer than expected');
    expect(button.disabled).toBe(false);
  });
});
