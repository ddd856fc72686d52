// Native TLS: `serve --tls-cert --tls-key` speaks HTTPS only, TLS 1.2 or later, sends HSTS, and
// refuses unusable key files at start with a message naming the file (never its content).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { BIN, salesProject, startServer, tempDir } from './harness.mjs';

let server, cert, certDir, project;

function request(url, { method = 'GET', body, headers = {}, tls = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca: cert, ...tls }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    if (body) req.write(body);
    req.end();
  });
}

before(async () => {
  certDir = tempDir('tls');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem'),
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  cert = fs.readFileSync(path.join(certDir, 'cert.pem'));
  project = salesProject(20000);
  server = await startServer(project, ['--tls-cert', path.join(certDir, 'cert.pem'), '--tls-key', path.join(certDir, 'key.pem')]);
});

after(async () => { await server?.stop(); });

test('serves HTTPS with HSTS, and the API works over it', async () => {
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
  const health = await request(new URL('/healthz', server.url));
  assert.equal(health.status, 200);
  assert.equal(health.headers['strict-transport-security'], 'max-age=31536000');
  const q = await request(new URL('/api/v1/dashboards/sales/widgets/revenue/query', server.url), {
    method: 'POST', body: '{}', headers: { 'content-type': 'application/json', accept: 'application/json' },
  });
  assert.equal(q.status, 200, q.body);
  assert.equal(JSON.parse(q.body).rows.length, 1);
});

test('refuses TLS 1.1 and plain HTTP on the TLS port', async () => {
  await assert.rejects(request(new URL('/healthz', server.url), { tls: { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' } }));
  const port = Number(new URL(server.url).port);
  const answer = await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    let data = '';
    socket.on('data', (d) => { data += d; });
    socket.on('close', () => resolve(data));
    socket.on('error', () => resolve(data));
    socket.setTimeout(10_000, () => socket.destroy());
  });
  assert.ok(!answer.includes('200 OK'), 'no plain-HTTP answer on the TLS port');
  // The server keeps serving after the garbage.
  assert.equal((await request(new URL('/healthz', server.url))).status, 200);
});

test('an unusable key or certificate stops start-up with a message naming the file', () => {
  const bad = path.join(certDir, 'bad-key.pem');
  fs.writeFileSync(bad, '-----BEGIN PRIVATE KEY-----\nTUlTU0lORw==\n-----END PRIVATE KEY-----\n');
  const r = spawnSync(BIN, ['serve', project, '--port', '0', '--tls-cert', path.join(certDir, 'cert.pem'), '--tls-key', bad],
    { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /cannot use the TLS key .*bad-key\.pem/);
  assert.ok(!r.stderr.includes('TUlTU0lORw'), 'the key content is not printed');
  const half = spawnSync(BIN, ['serve', project, '--port', '0', '--tls-cert', path.join(certDir, 'cert.pem')], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(half.status, 0);
  assert.match(half.stderr, /tls-key/);
});
