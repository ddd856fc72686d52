// Object-storage emulators for the integration tests, on loopback and free ports:
//  - startS3: s3rver (an S3 emulator) behind a small front that verifies AWS Signature V4 the
//    way S3 does. s3rver itself checks only the access key id, that x-amz-content-sha256 is
//    present and that the request time is within 15 minutes: it never computes a V4
//    signature. The front recomputes each signature with the implementation below and answers
//    403 SignatureDoesNotMatch (with the canonical request and string to sign it expected) when
//    they differ, so a test can prove the server's signer right.
//  - startAzurite: Azurite's blob service, which verifies SharedKey and SAS signatures itself.
// Both put and remove objects with requests signed here with node:crypto, an implementation
// independent of the server's C++ one.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NODE_MODULES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'js', 'node_modules');
const S3RVER_BIN = path.join(NODE_MODULES, 's3rver', 'bin', 's3rver.js');
const AZURITE_BLOB_BIN = path.join(NODE_MODULES, 'azurite', 'dist', 'src', 'blob', 'main.js');
const START_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// Plumbing

// One HTTP request; resolves { status, headers, body: Buffer } for any status.
export function httpRequest(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const toBuffer = (data) => (data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(data) ? data : Buffer.from(data));
const sha256Hex = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data, 'utf8').digest();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - . _ ~ (what SigV4 prescribes).
export function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
// An object key or blob name as a URL path: each '/'-separated segment encoded on its own.
export const encodeKey = (key) => key.split('/').map(uriEncode).join('/');

// Children still running when the test process exits go with it.
const children = new Set();
process.on('exit', () => {
  for (const child of children) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// Starts `node nodeArgs script args`, waits for a stdout line matching `ready` (whose group 1 is the
// port), then polls `probe(port)` until it resolves true. Rejects on exit or after the deadline.
async function startChild(name, nodeArgs, script, args, ready, probe) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  const fail = async (why) => {
    await stopChild(child, exited);
    throw new Error(`${name} did not start: ${why}\n${output.slice(-4000)}`);
  };
  const port = await new Promise((resolve) => {
    const onData = (chunk) => {
      output += chunk;
      const m = ready.exec(output);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (chunk) => { output += chunk; });
    exited.then(() => resolve(null));
    setTimeout(() => resolve(null), Math.max(0, deadline - Date.now())).unref();
  });
  if (!port) return fail(child.exitCode !== null ? `exited with ${child.exitCode}` : 'no listening line in time');
  for (;;) {
    try {
      if (await probe(port)) break;
    } catch { /* not answering yet */ }
    if (child.exitCode !== null || child.signalCode !== null) return fail('exited');
    if (Date.now() > deadline) return fail('did not answer in time');
    await sleep(50);
  }
  return { child, port, exited, output: () => output };
}

async function stopChild(child, exited) {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  } else {
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------
// AWS Signature Version 4

const AMZ_DATE = /^(\d{8})T\d{6}Z$/;
const amzDate = (date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
const parseAmzDate = (s) => new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 11)}:${s.slice(11, 13)}:${s.slice(13)}`);

// Canonical query string from a raw query (no '?'): each name and value percent-decoded, then
// RFC 3986-encoded, sorted by name, then value. '+' is a literal plus, as S3 reads it.
function canonicalQuery(rawQuery, omit = () => false) {
  if (!rawQuery) return '';
  return rawQuery.split('&').filter(Boolean).map((pair) => {
    const eq = pair.indexOf('=');
    const name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    return [name, value];
  }).filter(([name]) => !omit(name))
    .map(([n, v]) => [uriEncode(n), uriEncode(v)])
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([n, v]) => `${n}=${v}`).join('&');
}

// A raw (already percent-encoded) path in canonical form: each segment decoded and re-encoded
// once, as S3 does (no double encoding, no dot-segment removal).
const canonicalPath = (rawPath) => (rawPath || '/').split('/').map((s) => uriEncode(decodeURIComponent(s))).join('/');

const canonicalHeaderValue = (values) => values.map((v) => String(v).trim().replace(/\s+/g, ' ')).join(',');

function signingKey(secret, day, region, service) {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
}

// The parts of a V4 signature. `headers` maps lower-case names to arrays of values.
function sigV4Parts({ method, rawPath, rawQuery, headers, signedHeaders, payloadHash, time, region, secret, service = 's3', omitQuery }) {
  const canonicalRequest = [
    method,
    canonicalPath(rawPath),
    canonicalQuery(rawQuery, omitQuery),
    signedHeaders.map((h) => `${h}:${canonicalHeaderValue(headers[h] ?? [])}\n`).join(''),
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${time.slice(0, 8)}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', time, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = hmac(signingKey(secret, time.slice(0, 8), region, service), stringToSign).toString('hex');
  return { canonicalRequest, stringToSign, scope, signature };
}

// Signs a request to `url` with header authentication; returns the headers to send (the given
// ones plus host, x-amz-date, x-amz-content-sha256 and authorization). Every header given is signed.
export function signS3Request({ method, url, headers = {}, body, accessKeyId, secretAccessKey, region, date = new Date(), unsignedPayload = false }) {
  const u = new URL(url);
  const out = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = String(v);
  out.host = u.host;
  out['x-amz-date'] = amzDate(date);
  out['x-amz-content-sha256'] = unsignedPayload ? 'UNSIGNED-PAYLOAD' : sha256Hex(toBuffer(body));
  const signedHeaders = Object.keys(out).sort();
  const lists = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [v]]));
  const { scope, signature } = sigV4Parts({
    method, rawPath: u.pathname, rawQuery: u.search.slice(1), headers: lists, signedHeaders,
    payloadHash: out['x-amz-content-sha256'], time: out['x-amz-date'], region, secret: secretAccessKey,
  });
  out.authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
  return out;
}

const xmlEscape = (s) => String(s).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' }[c]));
const s3Error = (status, code, message, extra = {}) => ({
  status,
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${
    Object.entries(extra).map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('')}</Error>`,
});

// Verifies one request as S3 does; returns null when it passes, else { status, body }.
function verifyS3Request(req, body, { accessKeyId, secretAccessKey, region, allowAnonymous }) {
  const headers = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    (headers[req.rawHeaders[i].toLowerCase()] ??= []).push(req.rawHeaders[i + 1]);
  }
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  const query = new URLSearchParams(rawQuery);
  const auth = headers.authorization?.[0];
  const presigned = query.has('X-Amz-Algorithm');
  if (!auth && !presigned) {
    return allowAnonymous ? null : s3Error(403, 'AccessDenied', 'Access Denied (anonymous request)');
  }
  if (auth && presigned) {
    return s3Error(400, 'InvalidArgument', 'Only one auth mechanism allowed');
  }
  let credential, signedHeaderList, provided, time, payloadHash;
  const now = Date.now();
  if (auth) {
    const m = /^AWS4-HMAC-SHA256 (.*)$/s.exec(auth);
    if (!m) return s3Error(400, 'InvalidArgument', 'Unsupported Authorization Type (only AWS4-HMAC-SHA256)');
    const parts = Object.fromEntries(m[1].split(',').map((p) => p.trim()).map((p) => {
      const eq = p.indexOf('=');
      return [p.slice(0, eq), p.slice(eq + 1)];
    }));
    if (!parts.Credential || !parts.SignedHeaders || !parts.Signature || Object.keys(parts).length !== 3) {
      return s3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; it needs exactly Credential, SignedHeaders and Signature.');
    }
    credential = parts.Credential;
    signedHeaderList = parts.SignedHeaders;
    provided = parts.Signature;
    time = headers['x-amz-date']?.[0];
    if (!time || !AMZ_DATE.test(time)) {
      return s3Error(403, 'AccessDenied', 'AWS authentication requires a valid x-amz-date header (yyyyMMddTHHmmssZ)');
    }
    if (Math.abs(now - parseAmzDate(time).getTime()) > 15 * 60_000) {
      return s3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', { RequestTime: time });
    }
    payloadHash = headers['x-amz-content-sha256']?.[0];
    if (!payloadHash) return s3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    if (/^[0-9a-f]{64}$/.test(payloadHash)) {
      const actual = sha256Hex(body);
      if (actual !== payloadHash) {
        return s3Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.",
          { ClientComputedContentSHA256: payloadHash, S3ComputedContentSHA256: actual });
      }
    } else if (payloadHash !== 'UNSIGNED-PAYLOAD') {
      return s3Error(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or the lower-case hex SHA-256 of the body (streaming payloads are not supported here)');
    }
  } else {
    if (query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return s3Error(400, 'AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    for (const p of ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature']) {
      if (!query.has(p)) return s3Error(400, 'AuthorizationQueryParametersError', `missing ${p}`);
    }
    credential = query.get('X-Amz-Credential');
    signedHeaderList = query.get('X-Amz-SignedHeaders');
    provided = query.get('X-Amz-Signature');
    time = query.get('X-Amz-Date');
    if (!AMZ_DATE.test(time)) return s3Error(400, 'AuthorizationQueryParametersError', 'X-Amz-Date must be yyyyMMddTHHmmssZ');
    const expires = Number(query.get('X-Amz-Expires'));
    if (!Number.isInteger(expires) || expires < 0 || expires > 604800) return s3Error(400, 'AuthorizationQueryParametersError', 'X-Amz-Expires must be 0..604800');
    if (now > parseAmzDate(time).getTime() + expires * 1000) return s3Error(403, 'AccessDenied', 'Request has expired');
    payloadHash = headers['x-amz-content-sha256']?.[0] ?? 'UNSIGNED-PAYLOAD';
  }
  const [keyId, day, credRegion, service, terminator, ...rest] = credential.split('/');
  if (keyId !== accessKeyId) {
    return s3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: keyId });
  }
  if (rest.length || day !== time.slice(0, 8) || credRegion !== region || service !== 's3' || terminator !== 'aws4_request') {
    return s3Error(400, 'AuthorizationHeaderMalformed', `The credential scope is wrong: expected ${accessKeyId}/${time.slice(0, 8)}/${region}/s3/aws4_request`, { Credential: credential });
  }
  const signedHeaders = signedHeaderList.split(';');
  const sorted = [...signedHeaders].sort();
  if (signedHeaders.some((h, i) => h !== sorted[i] || h !== h.toLowerCase()) || new Set(signedHeaders).size !== signedHeaders.length) {
    return s3Error(400, 'AuthorizationHeaderMalformed', 'SignedHeaders must be lower-case, sorted and unique', { SignedHeaders: signedHeaderList });
  }
  if (!signedHeaders.includes('host')) return s3Error(400, 'AuthorizationHeaderMalformed', 'SignedHeaders must include host');
  const unsigned = Object.keys(headers).filter((h) => h.startsWith('x-amz-') && !signedHeaders.includes(h));
  if (auth && unsigned.length) {
    return s3Error(403, 'AccessDenied', 'There were headers present in the request which were not signed', { HeadersNotSigned: unsigned.join(', ') });
  }
  const expected = sigV4Parts({
    method: req.method, rawPath, rawQuery, headers, signedHeaders, payloadHash, time, region,
    secret: secretAccessKey, omitQuery: presigned ? (n) => n === 'X-Amz-Signature' : undefined,
  });
  if (expected.signature !== provided) {
    return s3Error(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { AWSAccessKeyId: keyId, StringToSign: expected.stringToSign, SignatureProvided: provided, CanonicalRequest: expected.canonicalRequest });
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// S3 (s3rver)

// Starts s3rver on 127.0.0.1, storing under `dir`. With verify (the default) `endpoint` is a
// front that checks SigV4 like S3 and forwards good requests; anonymous requests are refused
// unless allowAnonymous. `requests` records what reached the endpoint: { method, url, headers, status }.
export async function startS3({ dir, verify = true, allowAnonymous = false, region = 'us-east-1' } = {}) {
  if (!dir) throw new Error('startS3: dir is required');
  fs.mkdirSync(dir, { recursive: true });
  const accessKeyId = 'S3RVER'; // s3rver's only key pair: S3RVER / S3RVER
  const secretAccessKey = 'S3RVER';
  // s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its
  // legacy provider: without it a truncated listing answers 500.
  const { child, port, exited } = await startChild('s3rver', ['--openssl-legacy-provider'], S3RVER_BIN,
    ['--directory', dir, '--address', '127.0.0.1', '--port', '0', '--silent', '--no-vhost-buckets'],
    /S3rver listening on [^:\s]+:(\d+)/,
    async (p) => (await httpRequest(`http://127.0.0.1:${p}/`)).status === 200);
  const direct = `http://127.0.0.1:${port}`;
  const requests = [];
  let front = null;
  let endpoint = direct;
  if (verify) {
    front = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const entry = { method: req.method, url: req.url, headers: { ...req.headers }, status: 0 };
        requests.push(entry);
        let refusal;
        try {
          refusal = verifyS3Request(req, body, { accessKeyId, secretAccessKey, region, allowAnonymous });
        } catch (err) {
          refusal = s3Error(400, 'InvalidURI', `Couldn't parse the specified URI: ${err.message}`);
        }
        if (refusal) {
          entry.status = refusal.status;
          res.writeHead(refusal.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(refusal.body) });
          res.end(req.method === 'HEAD' ? undefined : refusal.body);
          return;
        }
        const headers = { ...req.headers };
        delete headers['transfer-encoding'];
        delete headers.connection;
        headers['content-length'] = String(body.length);
        const upstream = http.request(`${direct}${req.url}`, { method: req.method, headers, agent: false }, (up) => {
          entry.status = up.statusCode;
          const out = { ...up.headers };
          delete out.connection;
          delete out['keep-alive'];
          res.writeHead(up.statusCode, out);
          up.pipe(res);
        });
        upstream.on('error', (err) => {
          entry.status = 502;
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(String(err));
        });
        upstream.end(body);
      });
    });
    await new Promise((resolve, reject) => {
      front.once('error', reject);
      front.listen(0, '127.0.0.1', resolve);
    });
    endpoint = `http://127.0.0.1:${front.address().port}`;
  }

  const request = async (method, pathAndQuery, { headers = {}, body, sign = true } = {}) => {
    const url = `${endpoint}${pathAndQuery}`;
    const data = toBuffer(body);
    const sent = sign
      ? signS3Request({ method, url, headers, body: data, accessKeyId, secretAccessKey, region })
      : headers;
    return httpRequest(url, { method, headers: sent, body: data });
  };
  const expect = async (what, promise, ok) => {
    const res = await promise;
    if (!ok.includes(res.status)) throw new Error(`S3 ${what}: HTTP ${res.status} ${res.body.toString()}`);
    return res;
  };
  return {
    endpoint,
    directEndpoint: direct,
    accessKeyId,
    secretAccessKey,
    region,
    requests,
    request,
    createBucket: (name) => expect(`create bucket ${name}`, request('PUT', `/${uriEncode(name)}`), [200]),
    put: (bucket, key, data, headers = {}) =>
      expect(`put ${bucket}/${key}`, request('PUT', `/${uriEncode(bucket)}/${encodeKey(key)}`, { body: data, headers }), [200]),
    remove: (bucket, key) => expect(`delete ${bucket}/${key}`, request('DELETE', `/${uriEncode(bucket)}/${encodeKey(key)}`), [204]),
    async stop() {
      if (front) {
        front.closeAllConnections();
        await new Promise((resolve) => front.close(() => resolve()));
      }
      await stopChild(child, exited);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Azure Blob (Azurite)

export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
export const AZURE_VERSION = '2021-08-06';

// Signs a Blob request with SharedKey (the 2009-09-19+ scheme); returns the headers to send
// (the given ones plus x-ms-date, x-ms-version and authorization). `url` holds the account as
// its first path segment (path style), which the canonicalized resource then names twice.
export function signAzureRequest({ method, url, headers = {}, body, account = AZURITE_ACCOUNT, key = AZURITE_KEY, date = new Date() }) {
  const u = new URL(url);
  const out = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = String(v);
  out['x-ms-date'] ??= date.toUTCString();
  out['x-ms-version'] ??= AZURE_VERSION;
  const length = toBuffer(body).length;
  if (length) out['content-length'] = String(length);
  const h = (name) => out[name] ?? '';
  const canonicalHeaders = Object.keys(out).filter((n) => n.startsWith('x-ms-')).sort()
    .map((n) => `${n}:${out[n].trim().replace(/\s+/g, ' ')}\n`).join('');
  const params = new Map();
  for (const [n, v] of u.searchParams) {
    const name = n.toLowerCase();
    params.set(name, [...(params.get(name) ?? []), v]);
  }
  const canonicalResource = `/${account}${u.pathname}` + [...params.keys()].sort()
    .map((n) => `\n${n}:${params.get(n).sort().join(',')}`).join('');
  const stringToSign = [
    method.toUpperCase(), h('content-encoding'), h('content-language'), length ? String(length) : '',
    h('content-md5'), h('content-type'), h('date'), h('if-modified-since'), h('if-match'),
    h('if-none-match'), h('if-unmodified-since'), h('range'),
  ].join('\n') + '\n' + canonicalHeaders + canonicalResource;
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(stringToSign, 'utf8').digest('base64');
  out.authorization = `SharedKey ${account}:${sig}`;
  return out;
}

// A service SAS for a whole container (sr=c), version 2021-08-06, HTTP allowed; the query
// string without '?'.
export function containerSas({ account = AZURITE_ACCOUNT, key = AZURITE_KEY, container, permissions = 'rl', expires = new Date(Date.now() + 3600_000) }) {
  const se = expires.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const stringToSign = [
    permissions, '', se, `/blob/${account}/${container}`, '', '', '', AZURE_VERSION, 'c',
    '', '', '', '', '', '', '',
  ].join('\n');
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(stringToSign, 'utf8').digest('base64');
  return new URLSearchParams({ sv: AZURE_VERSION, sr: 'c', sp: permissions, se, sig }).toString();
}

// Starts Azurite's blob service on 127.0.0.1, its files under `dir`, without telemetry.
export async function startAzurite({ dir } = {}) {
  if (!dir) throw new Error('startAzurite: dir is required');
  fs.mkdirSync(dir, { recursive: true });
  const account = AZURITE_ACCOUNT;
  const key = AZURITE_KEY;
  const signedRequest = (base) => async (method, pathAndQuery, { headers = {}, body, sign = true } = {}) => {
    const url = `${base}${pathAndQuery}`;
    const data = toBuffer(body);
    const sent = sign ? signAzureRequest({ method, url, headers, body: data, account, key }) : headers;
    return httpRequest(url, { method, headers: sent, body: data });
  };
  const { child, port, exited } = await startChild('azurite-blob', [], AZURITE_BLOB_BIN,
    ['--blobHost', '127.0.0.1', '--blobPort', '0', '--location', dir, '--silent', '--skipApiVersionCheck', '--disableTelemetry'],
    /successfully listens on http:\/\/[^:\s]+:(\d+)/,
    async (p) => (await signedRequest(`http://127.0.0.1:${p}/${account}`)('GET', '?comp=list')).status === 200);
  const endpoint = `http://127.0.0.1:${port}/${account}`;
  const request = signedRequest(endpoint);
  const expect = async (what, promise, ok) => {
    const res = await promise;
    if (!ok.includes(res.status)) throw new Error(`Azure ${what}: HTTP ${res.status} ${res.body.toString()}`);
    return res;
  };
  return {
    endpoint,
    account,
    key,
    request,
    createContainer: (name) => expect(`create container ${name}`, request('PUT', `/${uriEncode(name)}?restype=container`), [201]),
    put: (container, name, data, headers = {}) => expect(`put ${container}/${name}`,
      request('PUT', `/${uriEncode(container)}/${encodeKey(name)}`, { body: data, headers: { 'x-ms-blob-type': 'BlockBlob', ...headers } }), [201]),
    remove: (container, name) => expect(`delete ${container}/${name}`, request('DELETE', `/${uriEncode(container)}/${encodeKey(name)}`), [202]),
    sas: (container, options = {}) => containerSas({ account, key, container, ...options }),
    stop: () => stopChild(child, exited),
  };
}
