// End to end: a server that sheds every query (--max-queued 0, as when overloaded). The page
// says "Server busy, retrying…" on each widget while it retries with backoff, and ends with the
// server's own words in the widget, never a blank or a stuck spinner.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { salesProject, startServer } from '../integration/harness.mjs';
import { launchBrowser, openPage } from './browser.mjs';

let server;
let browser;
before(async () => {
  server = await startServer(salesProject(20_000), ['--no-reload', '--no-state', '--max-queued', '0']);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('shed queries show "Server busy, retrying" and then the server\'s reason', async () => {
  const shed = (url) => url.includes('/widgets/') || url.includes('/filters/');
  const { page, problems } = await openPage(browser, { expected: shed });
  await page.goto(new URL('/d/sales', server.url).href);
  const revenue = page.locator('.widget[data-widget-id="revenue"]');
  await revenue.locator('.server-busy').waitFor({ state: 'visible', timeout: 15_000 });
  assert.equal(await revenue.locator('.server-busy').innerText(), 'Server busy, retrying…');
  assert.equal(await revenue.getAttribute('data-state'), 'loading', 'still loading while it retries, not an error');
  // After the last retry (about 8 s of backoff) the widget shows why.
  await page.waitForFunction(() => document.querySelector('.widget[data-widget-id="revenue"]')?.dataset.state === 'error', null, { timeout: 40_000 });
  assert.match(await revenue.locator('[role=alert]').innerText(), /the server is busy/);
  assert.equal(await revenue.locator('.server-busy').isVisible(), false);
  assert.deepEqual(problems, []);
  const shedCount = server.jsonLogs().filter((l) => l.event === 'request' && l.status === 503 && l.path.endsWith('/widgets/revenue/query')).length;
  assert.equal(shedCount, 5, 'the first try and four retries');
});
