// The server and the browser an end-to-end suite drives. `serveAndBrowse(project)` starts the real
// binary on the project folder `project()` returns or resolves to (made when the suite starts, not
// when the file loads) and launches Chromium before the suite's tests, and closes both after them.
// (Node runs a file's `before` hooks at once, not one after another: what the project needs, such
// as a broker's port, is made inside `project`.)
import { before, after } from 'node:test';
import { startServer } from '../integration/harness.mjs';
import { launchBrowser } from './browser.mjs';

export function serveAndBrowse(project) {
  const app = {
    server: undefined,
    browser: undefined,
    /** The absolute URL of a path on the server. */
    url: (p) => new URL(p, app.server.url).href,
  };
  before(async () => {
    app.server = await startServer(await project());
    app.browser = await launchBrowser();
  });
  after(async () => {
    await app.browser?.close();
    await app.server?.stop();
  });
  return app;
}
