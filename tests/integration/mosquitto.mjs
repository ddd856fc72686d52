// A real mosquitto broker (Debian's mosquitto package) on a free loopback port, started by the
// test file that needs it, with an optional user and password, and publishing through Debian's
// mosquitto_pub. The broker keeps no state on disk and queues without limit for kept sessions
// (max_queued_messages 0), so that a test's messages are never dropped by the broker's own caps.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { tempDir } from './harness.mjs';

export const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});

const reachable = (port) => new Promise((resolve) => {
  const c = net.connect(port, '127.0.0.1');
  c.on('connect', () => { c.destroy(); resolve(true); });
  c.on('error', () => resolve(false));
});

// Starts mosquitto on `port` (a free one when not given). With `user`, anonymous clients are refused.
export async function startBroker({ port, user, password } = {}) {
  port ??= await freePort();
  const dir = tempDir('mosquitto');
  const conf = [`listener ${port} 127.0.0.1`, 'persistence false', 'max_queued_messages 0'];
  // Started as root, mosquitto would switch to its own user, who cannot read this test's folder.
  if (process.getuid?.() === 0) conf.push('user root');
  if (user) {
    const passwd = path.join(dir, 'passwd');
    const made = spawnSync('mosquitto_passwd', ['-c', '-b', passwd, user, password], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    conf.push('allow_anonymous false', `password_file ${passwd}`);
  } else {
    conf.push('allow_anonymous true');
  }
  fs.writeFileSync(path.join(dir, 'mosquitto.conf'), conf.join('\n') + '\n');
  let child;
  try {
    child = spawn('mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  } catch (e) {
    throw new Error(`mosquitto did not start (is the mosquitto package installed? scripts/install-deps.sh --browser): ${e.message}`);
  }
  const deadline = Date.now() + 10_000;
  while (!(await reachable(port))) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error('mosquitto did not start (is the mosquitto package installed? scripts/install-deps.sh --browser)');
    await new Promise((r) => setTimeout(r, 50));
  }
  const auth = user ? ['-u', user, '-P', password] : [];
  return {
    port,
    url: (credentials = user ? `${user}:${password}@` : '') => `mqtt://${credentials}127.0.0.1:${port}`,
    // Publishes each object of `messages` (or string, as is) as one message at QoS 1.
    publish(topic, messages) {
      const lines = messages.map((m) => (typeof m === 'string' ? m : JSON.stringify(m)));
      const r = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-q', '1', '-l', ...auth],
        { input: lines.join('\n') + '\n', encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
    },
  };
}
