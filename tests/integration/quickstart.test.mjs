// The README's two commands are real make targets. `make demo` is run here for real on a
// copy of the demo project with a small row count and a free port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR, BUILD_DIR, tempDir, oracle } from './harness.mjs';

test('make demo and make test exist', () => {
  for (const target of ['demo', 'test']) {
    const r = spawnSync('make', ['-n', target, `BUILD_DIR=${BUILD_DIR}`], { cwd: SOURCE_DIR, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  const readme = fs.readFileSync(path.join(SOURCE_DIR, 'README.md'), 'utf8');
  assert.match(readme, /^\s*make demo\s*$/m);
  assert.match(readme, /^\s*make test\s*$/m);
});

test('make demo generates data once and serves the demo project', async () => {
  const demoDir = tempDir('quickstart');
  fs.cpSync(path.join(SOURCE_DIR, 'examples', 'sales'), demoDir, { recursive: true, filter: (s) => !s.includes(`${path.sep}data`) });
  const args = ['demo', 'ROWS=5000', 'PORT=0', `DEMO_DIR=${demoDir}`, `BUILD_DIR=${BUILD_DIR}`];
  const child = spawn('make', args, { cwd: SOURCE_DIR, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`make demo did not start serving:\n${out}`)), 300_000);
      const poll = setInterval(() => {
        const m = out.match(/at (http:\/\/\S+\/)/);
        if (m) { clearInterval(poll); clearTimeout(timer); resolve(m[1]); }
      }, 100);
      child.on('exit', (code) => { clearInterval(poll); clearTimeout(timer); reject(new Error(`make demo exited ${code}:\n${out}`)); });
    });
    assert.equal(fs.readFileSync(path.join(demoDir, 'data', '.rows'), 'utf8').trim(), '5000');
    const ready = await (await fetch(new URL('/readyz', url))).json();
    assert.equal(ready.status, 'ready');
    const res = await fetch(new URL('/api/v1/dashboards/sales/widgets/orders/query', url), {
      method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/json' }, body: '{}',
    });
    const data = await res.json();
    const expected = oracle(`SELECT count(*) FROM read_parquet('${demoDir}/data/orders/**/*.parquet')`).rows[0][0];
    assert.equal(String(data.rows[0][0]), expected);
    assert.equal(expected, '5000');
  } finally {
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
  // A second run finds the data in place and does not regenerate it.
  const again = spawnSync('make', ['demo-data', 'ROWS=5000', `DEMO_DIR=${demoDir}`, `BUILD_DIR=${BUILD_DIR}`], { cwd: SOURCE_DIR, encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /already in/);
});
