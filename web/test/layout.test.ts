// The page layout that jsdom can check: the header's dashboard switcher on narrow screens and
// KPI cards in rows of taller widgets. Widths themselves are checked in a browser (jsdom lays
// nothing out); here, the rules and attributes that layout rests on.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../src/app/app';
import type { DashboardSpec } from '../src/types';

vi.mock('../src/charts/view', () => ({
  createChartView: () => ({ update: () => undefined, resize: () => undefined, dispose: () => undefined }),
}));

const CSS = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../src/styles.css'), 'utf8');
const LONG = 'Quarterly revenue, margin and returns by region and sales channel';

function spec(id: string, title: string): DashboardSpec {
  return {
    id,
    title,
    dimensions: ['segment'],
    filters: [],
    widgets: [
      { id: 'revenue', type: 'kpi', title: 'Revenue', layout: { width: 4 }, options: {}, encoding: { value: { field: 'revenue' } } },
      {
        id: 'by_segment',
        type: 'bar',
        title: 'Revenue by segment',
        layout: { width: 8 },
        options: {},
        encoding: { x: { field: 'segment', column: 'segment' }, y: [{ field: 'revenue' }] },
      },
    ],
  };
}

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
}

function serve(): void {
  const specs: Record<string, DashboardSpec> = { customers: spec('customers', 'Customers'), quarterly: spec('quarterly', LONG) };
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string) => {
      const url = String(input);
      if (url === '/api/v1/me') return json({ auth_mode: 'proxy', user: { name: 'Ada Lovelace' }, csrf_token: 't' });
      if (url === '/api/v1/dashboards') return json({ dashboards: Object.values(specs).map((s) => ({ id: s.id, title: s.title })) });
      const m = /^\/api\/v1\/dashboards\/([^/]+)$/.exec(url);
      if (m && specs[m[1]!]) return json(specs[m[1]!]);
      if (url.endsWith('/query')) {
        const bytes = tableToIPC(tableFromArrays({ revenue: Float64Array.from([5]), segment: ['SMB'] }), 'stream');
        return new Response(bytes.slice(), { status: 200, headers: { 'Content-Type': 'application/vnd.apache.arrow.stream' } });
      }
      if (url === '/readyz') return json({ status: 'ready' });
      return new Response('{}', { status: 404 });
    }),
  );
}

/** The style rule for `selector`, inside the media rule `media` when given. */
function ruleFor(sheet: CSSStyleSheet, selector: string, media?: string): CSSStyleDeclaration | undefined {
  let rules = Array.from(sheet.cssRules);
  if (media) {
    const block = rules.find((r): r is CSSMediaRule => r instanceof CSSMediaRule && r.media.mediaText === media);
    rules = block ? Array.from(block.cssRules) : [];
  }
  const rule = rules.find((r): r is CSSStyleRule => r instanceof CSSStyleRule && r.selectorText.split(',').map((s) => s.trim()).includes(selector));
  return rule?.style;
}

let sheet: CSSStyleSheet;

beforeEach(() => {
  const style = document.createElement('style');
  style.textContent = CSS;
  document.head.append(style);
  sheet = style.sheet!;
  history.replaceState(null, '', '/d/quarterly');
});

afterEach(() => {
  vi.unstubAllGlobals();
  document.head.replaceChildren();
  document.body.replaceChildren();
});

describe('the dashboard switcher on a phone', () => {
  it('names the chosen dashboard in full in its title, also after switching', async () => {
    serve();
    const mount = document.createElement('div');
    document.body.append(mount);
    await new App(mount).start();
    const switcher = mount.querySelector<HTMLSelectElement>('#dashboard-switcher')!;
    expect(switcher.value).toBe('quarterly');
    expect(switcher.title).toBe(LONG);
    // Its accessible name stays the label; each option keeps the whole name.
    expect(mount.querySelector('label[for="dashboard-switcher"]')?.textContent).toBe('Dashboard');
    expect(Array.from(switcher.options, (o) => o.text)).toEqual(['Customers', LONG]);
    expect(mount.querySelector('.dash-title')?.textContent).toBe(LONG);

    switcher.value = 'customers';
    switcher.dispatchEvent(new Event('change'));
    expect(switcher.title).toBe('Customers');
    await vi.waitFor(() => expect(mount.querySelector('.dash-title')?.textContent).toBe('Customers'));
    expect(location.pathname).toBe('/d/customers');

    history.back();
    await vi.waitFor(() => expect(switcher.value).toBe('quarterly'));
    await vi.waitFor(() => expect(switcher.title).toBe(LONG));
  });

  it('keeps the brand link named when only its mark shows', async () => {
    serve();
    const mount = document.createElement('div');
    document.body.append(mount);
    await new App(mount).start();
    const brand = mount.querySelector<HTMLAnchorElement>('a.brand')!;
    expect(brand.getAttribute('aria-label')).toBe('Sightline home');
    expect(brand.querySelector('.brand-text')?.textContent).toBe('Sightline');
    expect(ruleFor(sheet, '.brand-text', '(max-width: 720px)')?.getPropertyValue('display')).toBe('none');
  });

  it('lets the switcher take the row left and end a long name in an ellipsis', () => {
    const base = ruleFor(sheet, '.switcher')!;
    expect(base.getPropertyValue('text-overflow')).toBe('ellipsis');
    expect(base.getPropertyValue('white-space')).toBe('nowrap');
    expect(base.getPropertyValue('overflow')).toBe('hidden');
    const phone = ruleFor(sheet, '.switcher', '(max-width: 720px)')!;
    // Grows into the room the other controls leave, from nothing (not from its longest option).
    expect(phone.getPropertyValue('flex')).toBe('1 1 0');
    expect(phone.getPropertyValue('max-width')).toBe('none');
    expect(parseFloat(phone.getPropertyValue('min-width'))).toBeGreaterThanOrEqual(120);
    const actions = ruleFor(sheet, '.top-actions', '(max-width: 720px)')!;
    expect(actions.getPropertyValue('min-width')).toBe('0');
    expect(actions.getPropertyValue('flex-wrap')).toBe('wrap');
    // The title wraps below at full width instead of being cut.
    expect(ruleFor(sheet, '.dash-title', '(max-width: 720px)')?.getPropertyValue('white-space')).toBe('normal');
    expect(ruleFor(sheet, '.title-block', '(max-width: 900px)')?.getPropertyValue('flex-basis')).toBe('100%');
  });
});

describe('KPI cards in a row of taller widgets', () => {
  it('keep their own height at the top of the row while charts fill it', async () => {
    serve();
    const mount = document.createElement('div');
    document.body.append(mount);
    await new App(mount).start();
    const grid = mount.querySelector<HTMLElement>('.grid')!;
    const kpi = mount.querySelector<HTMLElement>('[data-widget-id="revenue"]')!;
    const bar = mount.querySelector<HTMLElement>('[data-widget-id="by_segment"]')!;
    expect(kpi.classList.contains('widget-kpi')).toBe(true);
    expect(getComputedStyle(grid).alignItems).toBe('stretch');
    expect(getComputedStyle(kpi).alignSelf).toBe('start');
    expect(['', 'auto', 'stretch']).toContain(getComputedStyle(bar).alignSelf);
  });
});
