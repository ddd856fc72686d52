import { describe, expect, it, vi } from 'vitest';
import { humanSeconds, renderSources } from '../src/app/data_page';
import type { SourceInfo } from '../src/types';

function source(over: Partial<SourceInfo> = {}, refresh: Partial<SourceInfo['refresh']> = {}): SourceInfo {
  return {
    name: 'orders',
    read: 'at_load',
    mode: 'append',
    version: '3-ed7f3ea0bdee9018',
    version_number: 3,
    as_of: '2026-12-07T01:52:27.424Z',
    rows: 1234567,
    refresh: {
      policy: { on_change: true, debounce_seconds: 2 },
      can_refresh: true,
      last_check: '2026-12-07T01:52:27.424Z',
      last_outcome: 'refreshed',
      last_success: '2026-12-07T01:52:27.424Z',
      failing: false,
      failing_since: null,
      next_check: null,
      running: false,
      requested: false,
      ...refresh,
    },
    checks: [
      { rule: 'not_null: id', severity: 'error', passed: true, failing: 0, ran_at: null, samples: [] },
      { rule: 'accepted_values: region', severity: 'warn', passed: false, failing: 12, ran_at: null, samples: ['Nord', 'Süd'] },
    ],
    checks_failing: { error: 0, warn: 1 },
    ...over,
  };
}

describe('the data page', () => {
  it('shows how each source is kept, its version, rows and checks with their failing samples', () => {
    const el = renderSources([source(), source({ name: 'events', mode: 'ingest', rows: undefined, checks: [] }, { can_refresh: false, policy: null })], () => {});
    const cards = el.querySelectorAll('[data-source]');
    expect(cards).toHaveLength(2);
    const orders = el.querySelector('[data-source="orders"]')!;
    expect(orders.querySelector('[data-mode]')!.textContent).toBe('append');
    expect(orders.querySelector('[data-version]')!.textContent).toBe('3-ed7f3ea0bdee9018');
    expect(orders.querySelector('[data-rows]')!.getAttribute('data-rows')).toBe('1234567');
    expect(orders.textContent).toContain('when its files change');
    expect(orders.textContent).toContain('Checks: 1 of 2 pass');
    const warn = orders.querySelector('[data-check="accepted_values: region"]')!;
    expect(warn.getAttribute('data-check-state')).toBe('warning');
    expect(warn.textContent).toContain('fails: 12 e.g. “Nord”, “Süd”');
    const events = el.querySelector('[data-source="events"]')!;
    expect(events.querySelector('[data-mode]')!.textContent).toBe('rows sent over HTTP');
    expect(events.querySelector('[data-policy]')!.textContent).toBe('as rows arrive');
    expect(events.querySelector('[data-rows]')).toBeNull();
    expect(events.querySelector('[data-refresh-source]')).toBeNull();
    expect(events.querySelector('[data-checks]')).toBeNull();
    expect(orders.querySelector('[data-stored-in]')).toBeNull();
  });

  it('names the object store of a source read from S3 or Azure, and how often its objects are looked at', () => {
    const el = renderSources([source({ name: 'lake', stored_in: { type: 's3', store: 'lake' } }, { policy: { on_change: true, debounce_seconds: 2, poll_seconds: 60 } }),
      source({ name: 'blobs', mode: 'replace', stored_in: { type: 'azure', store: 'exports' } }, { policy: { cron: '0 6 * * *' } })], () => {});
    const lake = el.querySelector('[data-source="lake"]')!;
    expect(lake.querySelector('[data-stored-in]')!.textContent).toBe('S3 (lake)');
    expect(lake.querySelector('[data-policy]')!.textContent).toBe('when its objects change (looked at every 1 min)');
    const blobs = el.querySelector('[data-source="blobs"]')!;
    expect(blobs.querySelector('[data-stored-in]')!.textContent).toBe('Azure Blob (exports)');
    expect(blobs.querySelector('[data-policy]')!.textContent).toBe('cron 0 6 * * *');
  });

  it('says why refreshes fail, for those who may see it, and offers Refresh only when allowed and idle', () => {
    const onRefresh = vi.fn();
    const el = renderSources(
      [source({}, { failing: true, failing_since: '2026-12-07T01:00:00Z', last_outcome: 'failed', last_error: "data/orders/x.parquet: not a Parquet file" })],
      onRefresh,
    );
    const status = el.querySelector('[data-refresh-status]')!;
    expect(status.getAttribute('data-refresh-status')).toBe('failing');
    expect(status.textContent).toContain('the last good data serves');
    expect(el.querySelector('[data-last-error]')!.textContent).toBe('data/orders/x.parquet: not a Parquet file');
    const button = el.querySelector<HTMLButtonElement>('[data-refresh-source="orders"]')!;
    button.click();
    expect(onRefresh).toHaveBeenCalledWith('orders');
    const busy = renderSources([source({}, { running: true })], onRefresh);
    expect(busy.querySelector<HTMLButtonElement>('[data-refresh-source]')!.disabled).toBe(true);
    expect(busy.querySelector('[data-refresh-status]')!.textContent).toBe('Refreshing…');
  });

  it('says so when there is no source, and names periods plainly', () => {
    expect(renderSources([], () => {}).textContent).toBe('No sources to show.');
    expect(humanSeconds(300)).toBe('5 min');
    expect(humanSeconds(7200)).toBe('2 h');
    expect(humanSeconds(86400 * 7)).toBe('7 d');
    expect(humanSeconds(45)).toBe('45 s');
  });
});
