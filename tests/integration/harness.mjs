// Shared test harness: builds small demo projects, starts the real `sightline` binary on an
// ephemeral port, and asks the independent DuckDB oracle for expected answers.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BIN = process.env.SIGHTLINE_BIN;
export const ORACLE = process.env.ORACLE_BIN;
export const SOURCE_DIR = process.env.SIGHTLINE_SOURCE_DIR;
export const BUILD_DIR = process.env.SIGHTLINE_BUILD_DIR;
if (!BIN || !ORACLE || !SOURCE_DIR || !BUILD_DIR) {
  throw new Error('run through ctest: SIGHTLINE_BIN, ORACLE_BIN, SIGHTLINE_SOURCE_DIR and SIGHTLINE_BUILD_DIR must be set');
}

// Every folder made here goes when the test file's process exits (its servers are stopped by
// then, or die with it), so a test run leaves nothing behind in $TMPDIR.
const madeDirs = [];
process.on('exit', () => {
  for (const dir of madeDirs) {
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort at exit */ }
  }
});

export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sightline-${prefix}-`));
  madeDirs.push(dir);
  return dir;
}

// Demo data is generated once per row count and shared by the test files of one build.
export function demoData(rows) {
  const dir = path.join(BUILD_DIR, 'test-data', `demo-${rows}`);
  const stamp = path.join(dir, '.complete');
  if (!fs.existsSync(stamp)) {
    fs.mkdirSync(dir, { recursive: true });
    const lock = path.join(BUILD_DIR, 'test-data', `demo-${rows}.lock`);
    // Two test files may race to generate; the loser waits for the winner's stamp.
    let owner = false;
    try { fs.mkdirSync(lock); owner = true; } catch { /* another process generates */ }
    if (owner) {
      try {
        execFileSync(BIN, ['demo-data', '--rows', String(rows), '--out', dir, '--threads', '2'], { stdio: 'pipe' });
        fs.writeFileSync(stamp, 'ok');
      } finally { fs.rmSync(lock, { recursive: true, force: true }); }
    } else {
      const deadline = Date.now() + 300_000;
      while (!fs.existsSync(stamp)) {
        if (Date.now() > deadline) throw new Error('timed out waiting for demo data');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      }
    }
  }
  return dir;
}

// A copy of examples/sales whose data/ points at generated demo data. `edit(dir)` may change files.
export function salesProject(rows, edit) {
  const dir = tempDir('project');
  fs.cpSync(path.join(SOURCE_DIR, 'examples', 'sales'), dir, {
    recursive: true,
    filter: (src) => !src.includes(`${path.sep}data`),
  });
  fs.symlinkSync(demoData(rows), path.join(dir, 'data'));
  if (edit) edit(dir);
  return dir;
}

export function writeProject(files) {
  const dir = tempDir('fixture');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

// Starts `sightline serve dir --port 0`; resolves when it prints its URL.
export async function startServer(dir, extraArgs = [], env = {}) {
  const child = spawn(BIN, ['serve', dir, '--port', '0', ...extraArgs], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  let stderrBuf = '';
  child.stderr.on('data', (d) => {
    stderrBuf += d.toString();
    let i;
    while ((i = stderrBuf.indexOf('\n')) >= 0) {
      const line = stderrBuf.slice(0, i);
      logs.push(line);
      // SIGHTLINE_TEST_LOGS=1: the servers' log lines on this process's stderr, to debug a test.
      if (process.env.SIGHTLINE_TEST_LOGS === '1') process.stderr.write(line + '\n');
      stderrBuf = stderrBuf.slice(i + 1);
    }
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${logs.join('\n')}`)), 120_000);
    child.stdout.on('data', (d) => {
      out += d.toString();
      const m = out.match(/at (https?:\/\/[^\s]+\/)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${logs.join('\n')}`)); });
  });
  const server = {
    url, child, logs,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return await new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    },
    jsonLogs() {
      return logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    },
  };
  return server;
}

export async function post(server, p, body, headers = {}) {
  return fetch(new URL(p, server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export async function queryJson(server, dashboard, widget, body = {}) {
  const res = await post(server, `/api/v1/dashboards/${dashboard}/widgets/${widget}/query`, body, { accept: 'application/json' });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`query ${dashboard}/${widget} answered ${res.status}: ${text}`);
  return { res, data: JSON.parse(text) };
}

// Runs SQL in a fresh DuckDB through the oracle; every value comes back as DuckDB's text.
export function oracle(sql) {
  const r = spawnSync(ORACLE, [sql], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`oracle failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// Runs statements in a fresh DuckDB through the oracle, for fixtures (COPY (...) TO 'x.parquet').
export function oracleExec(sql) {
  const r = spawnSync(ORACLE, ['--exec', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`oracle failed: ${r.stderr}`);
}

export function ordersScan(rows) {
  return `read_parquet('${demoData(rows)}/orders/**/*.parquet', hive_partitioning=true)`;
}
