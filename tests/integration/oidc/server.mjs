// Sightline with sign-in on for the auth tests: a copy of the sales demo project with an `auth:`
// section (secrets through ${env:...}), started on a port chosen beforehand, because the
// provider's redirect URI and auth.public_url must name it before Sightline starts.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, salesProject } from '../harness.mjs';

export const ROWS = 20_000;

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it; the race window is tiny). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A random key that passes Sightline's secret checks (long, varied, no placeholder words). */
export function randomSecret(bytes = 36) {
  return crypto.randomBytes(bytes).toString('base64url');
}

// The roles and row policies the sign-in tests use (as in docs/security.md).
export const ROLES_YAML = `
roles:
  admin: { groups: [sightline-admins] }
  north: { groups: [sales-north] }
  south: { groups: [sales-south] }

policies:
  orders:
    admin: all
    north: region = 'North'
    south: "region IN ('South', 'East')"
  customers:
    admin: all
    north: "account_manager = {{ user.email }}"
  orders_enriched:
    admin: all
    north: region = 'North'
`;

/**
 * The `auth:` section for mode oidc. Secrets and the issuer come from the environment variables
 * SIGHTLINE_SESSION_SECRET, SIGHTLINE_OIDC_CLIENT_SECRET and OIDC_ISSUER. `publicClient` leaves
 * out the client secret (a public client: PKCE only).
 */
export function oidcAuthYaml({ publicUrl, idle = '30m', absolute = '12h', signInPerMinute = 10_000, publicClient = false, extra = '' }) {
  return `
auth:
  mode: oidc
  public_url: ${publicUrl}
  session:
    secret: \${env:SIGHTLINE_SESSION_SECRET}
    idle_timeout: ${idle}
    absolute_timeout: ${absolute}
  oidc:
    issuer: \${env:OIDC_ISSUER}
    client_id: sightline
${publicClient ? '' : '    client_secret: \${env:SIGHTLINE_OIDC_CLIENT_SECRET}\n'}    scopes: [openid, profile, email, groups]
  limits:
    sign_in_per_minute: ${signInPerMinute}
${extra}`;
}

/** A sales project copy whose sightline.yaml ends with `yaml` (an auth section, roles...); `edit(dir)` may change more. */
export function authProject(yaml, rows = ROWS, edit = undefined) {
  return salesProject(rows, (dir) => {
    fs.appendFileSync(path.join(dir, 'sightline.yaml'), `\n${yaml}\n`);
    edit?.(dir);
  });
}

/**
 * Starts `sightline serve dir --port <port> ...args` with `env` added to the environment; resolves
 * when it prints its URL. Like harness.startServer (whose `--port 0` cannot be overridden), with
 * stdout and stderr lines collected in `logs` and everything printed in `output()`.
 */
export async function startSightline(dir, { port = 0, args = [], env = {}, timeout = 120_000 } = {}) {
  const child = spawn(BIN, ['serve', dir, '--port', String(port), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  const raw = { stdout: '', stderr: '' };
  const lines = (stream, name) => {
    let buf = '';
    stream.on('data', (d) => {
      raw[name] += d.toString();
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { logs.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
    });
  };
  lines(child.stderr, 'stderr');
  lines(child.stdout, 'stdout');
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server did not start:\n${raw.stderr}`)); }, timeout);
    const check = () => {
      const m = raw.stdout.match(/at (http:\/\/[^\s]+\/)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stdout.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      const err = new Error(`server exited with ${code}:\n${raw.stderr}${raw.stdout}`);
      err.exitCode = code;
      err.output = raw.stderr + raw.stdout;
      reject(err);
    });
  });
  return {
    url,
    /** The origin without a trailing slash, e.g. http://127.0.0.1:40123 */
    base: url.replace(/\/$/, ''),
    child,
    logs,
    output: () => raw.stderr + raw.stdout,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    jsonLogs() {
      return logs.filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l); } catch { return {}; } });
    },
  };
}

/**
 * Runs `sightline serve` expecting it to refuse to start: resolves { exitCode, output, started }
 * when it exits, or with started: true (after stopping it) if it starts serving instead.
 */
export async function serveExpectingRefusal(dir, opts = {}) {
  try {
    const server = await startSightline(dir, { timeout: 60_000, ...opts });
    const output = server.output();
    await server.stop();
    return { started: true, exitCode: undefined, output, server };
  } catch (err) {
    if (err.exitCode === undefined) throw err;
    return { started: false, exitCode: err.exitCode, output: err.output };
  }
}

/**
 * The usual sign-in stack: an OpenID provider (from `startProvider` or `startRogueProvider`),
 * a free port, a project with `auth:` (`authOptions` go to oidcAuthYaml) and Sightline on it.
 * `register(port)` registers the client at the provider before Sightline starts; `editProject(dir)`
 * may add files to the project (e.g. a dashboard).
 */
export async function startSignInStack({ issuer, clientSecret, sessionSecret = randomSecret(), authOptions = {}, register, extraYaml = ROLES_YAML, editProject, args = [], publicScheme = 'http' }) {
  const env = { SIGHTLINE_SESSION_SECRET: sessionSecret, SIGHTLINE_OIDC_CLIENT_SECRET: clientSecret, OIDC_ISSUER: issuer };
  // The port is chosen before Sightline binds it; if another process took it meanwhile, pick again.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // publicScheme 'https' pretends a TLS proxy in front: public_url (and so the redirect URI) is
    // https while the tests still speak plain HTTP to the port.
    const publicUrl = `${publicScheme}://127.0.0.1:${port}`;
    if (register) await register({ port, base: publicUrl });
    const dir = authProject(oidcAuthYaml({ publicUrl, ...authOptions }) + extraYaml, ROWS, editProject);
    try {
      const server = await startSightline(dir, { port, args, env });
      return { server, base, publicUrl, port, dir, env, sessionSecret, clientSecret };
    } catch (err) {
      if (attempt >= 3 || !/already in use|cannot listen/i.test(err.output ?? '')) throw err;
    }
  }
}

/** Post-logout redirect URIs to register for a Sightline at `base` (the spelling the server picks may vary). */
export function postLogoutUris(base) {
  return [base, `${base}/`, `${base}/auth/signed-out`, `${base}/auth/logged-out`, `${base}/auth/logout/done`];
}
