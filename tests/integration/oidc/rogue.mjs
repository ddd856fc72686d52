// A small, scriptable OpenID provider for negative protocol tests. It speaks the code flow like a
// real provider (discovery, JWKS, /authorize, /token with PKCE and client authentication) but
// hands out the ID token `rogue.mode` asks for: valid, or broken in one precise way.
//
//   const rogue = await startRogueProvider({ clientSecret });
//   rogue.mode = 'wrong-aud';
//   ... sign in through Sightline ...
//   rogue.requests / rogue.authorizations / rogue.tokenRequests / rogue.jwksFetches
import http from 'node:http';
import crypto from 'node:crypto';

export const MODES = [
  'valid-rs256', 'valid-es256', 'tampered-signature', 'tampered-payload', 'wrong-aud', 'wrong-iss',
  'expired', 'not-yet-valid', 'alg-none', 'hs256-with-public-key', 'hs256-with-public-key-n',
  'unknown-kid', 'nonce-mismatch', 'missing-nonce',
];
export const VALID_MODES = ['valid-rs256', 'valid-es256'];

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const json64 = (obj) => b64u(JSON.stringify(obj));
export const s256 = (verifier) => crypto.createHash('sha256').update(verifier).digest('base64url');

function rsaKey(kid) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, alg: 'RS256', privateKey, publicKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}
function ecKey(kid) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, alg: 'ES256', privateKey, publicKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' } };
}

/** A compact JWS over `payload` with `header`, signed per header.alg with `key`. */
export function signJwt(header, payload, key) {
  const input = `${json64(header)}.${json64(payload)}`;
  let sig;
  switch (header.alg) {
    case 'RS256': sig = crypto.sign('sha256', Buffer.from(input), key); break;
    case 'ES256': sig = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }); break;
    case 'HS256': sig = crypto.createHmac('sha256', key).update(input).digest(); break;
    case 'none': sig = Buffer.alloc(0); break;
    default: throw new Error(`unsupported alg ${header.alg}`);
  }
  return `${input}.${b64u(sig)}`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => { size += c.length; if (size > 1 << 20) req.destroy(); else chunks.push(c); });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Starts the rogue provider on 127.0.0.1:0. `clientId` is the audience of valid ID tokens;
 * `clientSecret`, when given, is enforced at /token (client_secret_basic or _post); `user` the
 * claims of the signed-in user (`user.claims`: any further ID token claims, e.g. { max_revenue: 500 }).
 */
export async function startRogueProvider({
  clientId = 'sightline',
  clientSecret,
  user = { sub: 'rogue-user-1', email: 'rita@example.com', name: 'Rita Rogue', groups: ['sightline-admins'] },
} = {}) {
  const rsa = [rsaKey('rsa-1')];
  const ec = ecKey('ec-1');
  let pending = rsaKey('rsa-2'); // signs 'unknown-kid' tokens; rotate() publishes it
  let active = rsa[0];

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      rogue.errors.push(err.stack ?? String(err));
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'server_error' }));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const codes = new Map();
  const rogue = {
    issuer,
    clientId,
    user,
    /** Which ID token /token hands out next (see MODES). */
    mode: 'valid-rs256',
    /** When set, /authorize refuses other redirect URIs (as a real provider does). */
    redirectUri: undefined,
    /** Like a provider with PKCE required: /authorize without a code_challenge answers an error. */
    requirePkce: true,
    /** Every request: { method, path, query, headers, body }. */
    requests: [],
    /** Every /authorize request's parameters (state, nonce, code_challenge, ...). */
    authorizations: [],
    /** Every /token request: { headers, authorization, params, outcome, idToken }. */
    tokenRequests: [],
    /** How many times the JWKS was fetched. */
    jwksFetches: 0,
    /** ID tokens handed out, newest last. */
    idTokens: [],
    /** Codes handed out, newest last. */
    issuedCodes: [],
    errors: [],
    get jwks() {
      return { keys: [...rsa.map((k) => k.jwk), ec.jwk] };
    },
    get rsaPublicKey() { return active.publicKey; },
    /** Publishes the key 'unknown-kid' signs with, makes it the one valid RS256 tokens use, and prepares a new unpublished one. */
    rotate() {
      rsa.push(pending);
      active = pending;
      pending = rsaKey(`rsa-${rsa.length + 1}`);
    },
    /** The ID token for `mode` (exported so a test can also craft one by hand). */
    idToken(mode, { nonce, aud = clientId, claims = {} } = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload = {
        iss: issuer, sub: rogue.user.sub, aud, iat: now, exp: now + 300, auth_time: now,
        ...(nonce !== undefined ? { nonce } : {}),
        email: rogue.user.email, email_verified: true, name: rogue.user.name, groups: rogue.user.groups,
        ...claims,
      };
      const rs = { alg: 'RS256', typ: 'JWT', kid: active.kid };
      switch (mode) {
        case 'valid-rs256': return signJwt(rs, payload, active.privateKey);
        case 'valid-es256': return signJwt({ alg: 'ES256', typ: 'JWT', kid: ec.kid }, payload, ec.privateKey);
        case 'tampered-signature': {
          const [h, p, s] = signJwt(rs, payload, active.privateKey).split('.');
          const sig = Buffer.from(s, 'base64url');
          sig[sig.length >> 1] ^= 0x01;
          return `${h}.${p}.${b64u(sig)}`;
        }
        case 'tampered-payload': {
          const [h, , s] = signJwt(rs, payload, active.privateKey).split('.');
          const forged = { ...payload, email: 'mallory@example.com', name: 'Mallory', groups: ['sightline-admins', 'everyone'] };
          return `${h}.${json64(forged)}.${s}`;
        }
        case 'wrong-aud': return signJwt(rs, { ...payload, aud: 'some-other-client' }, active.privateKey);
        case 'wrong-iss': return signJwt(rs, { ...payload, iss: 'http://127.0.0.1:1/not-the-issuer' }, active.privateKey);
        case 'expired': return signJwt(rs, { ...payload, iat: now - 7200, auth_time: now - 7200, exp: now - 3600 }, active.privateKey);
        case 'not-yet-valid': return signJwt(rs, { ...payload, iat: now + 3600, nbf: now + 3600, auth_time: now + 3600, exp: now + 7200 }, active.privateKey);
        case 'alg-none': return signJwt({ alg: 'none', typ: 'JWT' }, payload, undefined);
        case 'hs256-with-public-key': {
          // The classic key-confusion attack: HMAC keyed with the published RSA key's PEM text.
          const pem = active.publicKey.export({ type: 'spki', format: 'pem' });
          return signJwt({ alg: 'HS256', typ: 'JWT', kid: active.kid }, payload, pem);
        }
        case 'hs256-with-public-key-n': {
          // ...and keyed with the raw modulus bytes of the published JWK.
          return signJwt({ alg: 'HS256', typ: 'JWT', kid: active.kid }, payload, Buffer.from(active.jwk.n, 'base64url'));
        }
        case 'unknown-kid': return signJwt({ alg: 'RS256', typ: 'JWT', kid: pending.kid }, payload, pending.privateKey);
        case 'nonce-mismatch': return signJwt(rs, { ...payload, nonce: 'not-the-nonce-that-was-sent' }, active.privateKey);
        case 'missing-nonce': {
          const { nonce: _, ...rest } = payload;
          return signJwt(rs, rest, active.privateKey);
        }
        default: throw new Error(`unknown rogue mode ${mode}`);
      }
    },
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };

  const send = (res, status, body, headers = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'cache-control': 'no-store', ...headers });
    res.end(text);
  };

  async function handle(req, res) {
    const url = new URL(req.url, issuer);
    const body = req.method === 'POST' ? await readBody(req) : '';
    rogue.requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body });

    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return send(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          end_session_endpoint: `${issuer}/logout`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256', 'ES256'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          scopes_supported: ['openid', 'profile', 'email', 'groups'],
          claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'email', 'name', 'groups'],
        });
      case '/jwks':
        rogue.jwksFetches += 1;
        return send(res, 200, rogue.jwks, { 'content-type': 'application/jwk-set+json' });
      case '/authorize': {
        const p = Object.fromEntries(url.searchParams);
        rogue.authorizations.push(p);
        if (!p.redirect_uri) return send(res, 400, 'missing redirect_uri');
        if (rogue.redirectUri && p.redirect_uri !== rogue.redirectUri) return send(res, 400, 'redirect_uri not registered');
        if (p.client_id !== clientId) return send(res, 400, 'unknown client');
        const back = new URL(p.redirect_uri);
        if (p.response_type !== 'code') {
          back.searchParams.set('error', 'unsupported_response_type');
        } else if (rogue.requirePkce && !p.code_challenge) {
          back.searchParams.set('error', 'invalid_request');
          back.searchParams.set('error_description', 'PKCE is required');
        } else {
          const code = crypto.randomBytes(24).toString('base64url');
          codes.set(code, {
            nonce: p.nonce, code_challenge: p.code_challenge, code_challenge_method: p.code_challenge_method,
            redirect_uri: p.redirect_uri, used: false, expires: Date.now() + 60_000,
          });
          rogue.issuedCodes.push(code);
          back.searchParams.set('code', code);
        }
        if (p.state !== undefined) back.searchParams.set('state', p.state);
        res.writeHead(302, { location: back.href, 'cache-control': 'no-store' });
        return res.end();
      }
      case '/token': {
        const params = Object.fromEntries(new URLSearchParams(body));
        const record = { headers: req.headers, authorization: req.headers.authorization, params, outcome: undefined, idToken: undefined };
        rogue.tokenRequests.push(record);
        const fail = (status, error, description) => { record.outcome = error; return send(res, status, { error, error_description: description }); };
        if (req.method !== 'POST') return fail(405, 'invalid_request', 'POST only');
        // Client authentication.
        let id; let secret;
        const auth = req.headers.authorization;
        if (auth?.startsWith('Basic ')) {
          const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
          const i = decoded.indexOf(':');
          id = decodeURIComponent(decoded.slice(0, i));
          secret = decodeURIComponent(decoded.slice(i + 1));
          record.authMethod = 'client_secret_basic';
        } else if (params.client_secret !== undefined) {
          id = params.client_id; secret = params.client_secret;
          record.authMethod = 'client_secret_post';
        } else {
          id = params.client_id;
          record.authMethod = 'none';
        }
        if (id !== clientId || (clientSecret !== undefined && secret !== clientSecret)) {
          return fail(401, 'invalid_client', 'client authentication failed');
        }
        if (params.grant_type !== 'authorization_code') return fail(400, 'unsupported_grant_type', params.grant_type);
        const grant = codes.get(params.code);
        if (!grant) return fail(400, 'invalid_grant', 'unknown code');
        if (grant.used) return fail(400, 'invalid_grant', 'code already used');
        grant.used = true;
        if (Date.now() > grant.expires) return fail(400, 'invalid_grant', 'code expired');
        if (params.redirect_uri !== grant.redirect_uri) return fail(400, 'invalid_grant', 'redirect_uri mismatch');
        // PKCE exactly as a real provider checks it.
        if (grant.code_challenge) {
          if (!params.code_verifier) return fail(400, 'invalid_grant', 'code_verifier missing');
          if (grant.code_challenge_method !== 'S256') return fail(400, 'invalid_grant', 'only S256 is supported');
          if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(params.code_verifier)) return fail(400, 'invalid_grant', 'malformed code_verifier');
          if (s256(params.code_verifier) !== grant.code_challenge) return fail(400, 'invalid_grant', 'PKCE verification failed');
        } else if (params.code_verifier) {
          return fail(400, 'invalid_grant', 'code_verifier without a challenge');
        }
        const idToken = rogue.idToken(rogue.mode, { nonce: grant.nonce, claims: rogue.user.claims });
        record.idToken = idToken;
        record.outcome = 'ok';
        rogue.idTokens.push(idToken);
        return send(res, 200, {
          access_token: crypto.randomBytes(24).toString('base64url'),
          token_type: 'Bearer',
          expires_in: 300,
          scope: 'openid profile email groups',
          id_token: idToken,
        });
      }
      case '/logout':
        return send(res, 200, 'signed out at the rogue provider');
      default:
        return send(res, 404, { error: 'not_found' });
    }
  }

  return rogue;
}
