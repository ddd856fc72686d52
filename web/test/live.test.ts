import { afterEach, describe, expect, it, vi } from 'vitest';
import { LIVE_DEBOUNCE_MS, LIVE_REOPEN_BASE_MS, LiveUpdates, eventsUrl, parseLiveVersion, type EventSourceLike, type LiveVersion } from '../src/app/live';

class FakeEventSource implements EventSourceLike {
  static made: FakeEventSource[] = [];
  readyState = 0;
  closed = false;
  onopen: EventSourceLike['onopen'] = null;
  onerror: EventSourceLike['onerror'] = null;
  private listeners = new Map<string, ((ev: MessageEvent) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.made.push(this);
  }
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.call(this as unknown as EventSource, new Event('open'));
  }
  emit(type: string, data: unknown): void {
    const ev = new MessageEvent(type, { data: typeof data === 'string' ? data : JSON.stringify(data) });
    for (const l of this.listeners.get(type) ?? []) l(ev);
  }
  fail(closed: boolean): void {
    this.readyState = closed ? 2 : 0;
    this.onerror?.call(this as unknown as EventSource, new Event('error'));
  }
}

const version = (n: number): LiveVersion => ({ relation: 'orders', version: `${n}-00000000000000a${n}`, as_of: `2026-12-07T01:0${n}:00.000Z` });

function setup() {
  FakeEventSource.made = [];
  const heard: LiveVersion[] = [];
  const states: string[] = [];
  const live = new LiveUpdates({ heard: (v) => heard.push(v), state: (s) => states.push(s) }, (url) => new FakeEventSource(url));
  return { live, heard, states, last: () => FakeEventSource.made[FakeEventSource.made.length - 1]! };
}

describe('live updates', () => {
  afterEach(() => vi.useRealTimers());

  it('parses event data and builds the stream URL', () => {
    expect(eventsUrl('sales & co')).toBe('/api/v1/events?dashboard=sales%20%26%20co');
    expect(parseLiveVersion(JSON.stringify({ relation: 'orders', version: '2-ab', as_of: null }))).toEqual({ relation: 'orders', version: '2-ab', as_of: null });
    expect(parseLiveVersion(JSON.stringify({ relation: 'orders', version: '2-ab', as_of: '2026-12-07T01:00:00Z' }))?.as_of).toBe('2026-12-07T01:00:00Z');
    for (const bad of ['', 'nope', '[]', 'null', '{"relation":1,"version":"2-ab"}', '{"relation":"o"}', 42]) expect(parseLiveVersion(bad)).toBeNull();
  });

  it('opens a stream for the dashboard and tells the last version of a burst once, after it', () => {
    vi.useFakeTimers();
    const { live, heard, states, last } = setup();
    live.open('sales');
    const es = last();
    expect(es.url).toBe('/api/v1/events?dashboard=sales');
    es.open();
    expect(states).toEqual(['closed', 'connecting', 'open']);
    es.emit('hello', version(1));
    vi.advanceTimersByTime(LIVE_DEBOUNCE_MS);
    expect(heard).toEqual([version(1)]);
    es.emit('data_changed', version(2));
    vi.advanceTimersByTime(200);
    es.emit('data_changed', version(3));
    vi.advanceTimersByTime(200);
    es.emit('data_changed', version(4));
    vi.advanceTimersByTime(LIVE_DEBOUNCE_MS - 1);
    expect(heard).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(heard).toEqual([version(1), version(4)]);
    es.emit('data_changed', '{not json');
    vi.advanceTimersByTime(LIVE_DEBOUNCE_MS);
    expect(heard).toHaveLength(2);
  });

  it('closes the stream when leaving the dashboard, and forgets what it had not told yet', () => {
    vi.useFakeTimers();
    const { live, heard, last } = setup();
    live.open('sales');
    const first = last();
    first.emit('data_changed', version(2));
    live.open('customers');
    expect(first.closed).toBe(true);
    expect(last().url).toBe('/api/v1/events?dashboard=customers');
    first.emit('data_changed', version(3));  // a late event of the old stream
    vi.advanceTimersByTime(LIVE_DEBOUNCE_MS * 2);
    expect(heard).toEqual([]);
    live.close();
    expect(last().closed).toBe(true);
    expect(FakeEventSource.made).toHaveLength(2);
  });

  it('leaves reconnecting to the browser, and opens the stream again (a few times, later and later) when the browser gave up', () => {
    vi.useFakeTimers();
    const { live, last } = setup();
    live.open('sales');
    last().fail(false);  // the browser retries by itself
    expect(FakeEventSource.made).toHaveLength(1);
    last().fail(true);  // an error answer: the browser gave up
    expect(last().closed).toBe(true);
    vi.advanceTimersByTime(LIVE_REOPEN_BASE_MS - 1);
    expect(FakeEventSource.made).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeEventSource.made).toHaveLength(2);
    last().fail(true);
    vi.advanceTimersByTime(LIVE_REOPEN_BASE_MS);
    expect(FakeEventSource.made).toHaveLength(2);
    vi.advanceTimersByTime(LIVE_REOPEN_BASE_MS);
    expect(FakeEventSource.made).toHaveLength(3);
    last().open();  // success resets the count
    for (let i = 0; i < 10; i += 1) {
      last().fail(true);
      vi.advanceTimersByTime(LIVE_REOPEN_BASE_MS * 2 ** 6);
    }
    expect(FakeEventSource.made).toHaveLength(8);
    live.close();
  });

  it('holds no stream while the page is hidden, and opens one again when it shows', () => {
    const { live, last } = setup();
    live.open('sales', true);
    expect(FakeEventSource.made).toHaveLength(0);
    live.resume();
    expect(FakeEventSource.made).toHaveLength(1);
    live.suspend();
    expect(last().closed).toBe(true);
    live.resume();
    expect(FakeEventSource.made).toHaveLength(2);
    expect(last().closed).toBe(false);
    live.close();
    live.resume();
    expect(FakeEventSource.made).toHaveLength(2);
  });
});
