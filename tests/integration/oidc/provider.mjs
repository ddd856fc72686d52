// A real OpenID provider (panva's oidc-provider, certified) on 127.0.0.1 for the sign-in tests.
//
// Sightline needs the issuer before it starts, and the provider's client needs Sightline's
// redirect URI, which is known only once Sightline listens. So `startProvider()` first listens on
// an ephemeral port (the issuer is then known) and `registerClient()` builds the provider with the
// one client `sightline` once the redirect URI is known. Requests that arrive in between get 503.
//
// Users sign in through the provider's built-in development pages (devInteractions): the login
// name picks the account, any password is accepted, then a consent page asks to continue.
import http from 'node:http';
import crypto from 'node:crypto';

// oidc-provider prints development-only notices (unsupported runtime, dev interactions, the
// in-memory adapter) through console.warn/info. They are expected here: keep them out of test output.
const quiet = (original) => function filtered(...args) {
  if (typeof args[0] === 'string' && /^(\x1b\[[0-9;]*m)?oidc-provider (WARNING|NOTICE)/.test(args[0])) return;
  return original.apply(this, args);
};
if (!console.warn.oidcQuiet) {
  console.warn = Object.assign(quiet(console.warn), { oidcQuiet: true });
  console.info = Object.assign(quiet(console.info), { oidcQuiet: true });
}
const { default: Provider } = await import('../../js/node_modules/oidc-provider/lib/index.js');

export const DEFAULT_USERS = [
  { sub: 'alice', email: 'alice@example.com', name: 'Alice Admin', groups: ['sightline-admins'] },
  { sub: 'nora', email: 'nora@example.com', name: 'Nora North', groups: ['sales-north'] },
  { sub: 'sam', email: 'sam@example.com', name: 'Sam South', groups: ['sales-south', 'other'] },
];

function privateJwk(key) {
  return key.export({ format: 'jwk' });
}

/**
 * Starts the provider's HTTP server. `users`: [{ sub, email, name, groups }]; the login name typed
 * into the development login page is the user's `sub` (the provider makes the login name the
 * account id, and the account id is the ID token's subject); unknown names cannot sign in. `clientSecret`: the client `sightline`'s secret; `alg`: the ID token's signing
 * algorithm, 'RS256' (default) or 'ES256'.
 */
export async function startProvider({ users = DEFAULT_USERS, clientSecret = 'sightline-client-secret-for-tests', alg = 'RS256', idTokenTtl = 300 } = {}) {
  let handler = (req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('provider not configured yet: call registerClient()');
  };
  const server = http.createServer((req, res) => handler(req, res));
  // Keep-alive connections would hold stop() open.
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const bySub = new Map(users.map((u) => [u.sub, u]));
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwks = {
    keys: [
      { ...privateJwk(rsa.privateKey), kid: 'rsa-1', use: 'sig', alg: 'RS256' },
      { ...privateJwk(ec.privateKey), kid: 'ec-1', use: 'sig', alg: 'ES256' },
    ],
  };
  const errors = [];

  const result = {
    issuer,
    provider: undefined,
    clientSecret,
    users,
    /** Errors the provider reported (server_error, grant errors...), for a test's diagnostics. */
    errors,
    /** Codes, ID tokens and access tokens the provider handed out (to look for leaks in logs). */
    issued: { codes: [], idTokens: [], accessTokens: [] },
    /**
     * Builds the provider with the client `sightline` and starts answering. Each argument is a URI
     * or a list of them.
     */
    registerClient({ redirectUri, postLogoutRedirectUri = [] }) {
      const list = (v) => (Array.isArray(v) ? v : [v]).filter(Boolean);
      const provider = new Provider(issuer, {
        clients: [{
          client_id: 'sightline',
          client_secret: clientSecret,
          redirect_uris: list(redirectUri),
          post_logout_redirect_uris: list(postLogoutRedirectUri),
          response_types: ['code'],
          grant_types: ['authorization_code'],
          token_endpoint_auth_method: 'client_secret_basic',
          id_token_signed_response_alg: alg,
        }],
        pkce: { required: () => true },
        jwks,
        cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
        claims: {
          openid: ['sub'],
          email: ['email', 'email_verified'],
          profile: ['name'],
          groups: ['groups'],
        },
        scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
        // Claims released by scopes go into the ID token too (not only the userinfo endpoint).
        conformIdTokenClaims: false,
        features: {
          devInteractions: { enabled: true },
          rpInitiatedLogout: { enabled: true },
        },
        ttl: { IdToken: idTokenTtl },
        async findAccount(_ctx, id) {
          const user = bySub.get(id);
          if (!user) return undefined;
          return {
            accountId: id,
            async claims() {
              return {
                sub: user.sub,
                email: user.email,
                email_verified: true,
                name: user.name,
                groups: user.groups ?? [],
              };
            },
          };
        },
      });
      // Loopback plain HTTP: no proxy in front of it.
      provider.proxy = false;
      // The built-in development pages @import a web font from the internet; this machine has no
      // network beyond loopback and the tests' browser must not try. Strip it, and forbid any
      // other outside load with a CSP.
      provider.use(async (ctx, next) => {
        await next();
        if (typeof ctx.body === 'string' && ctx.body.includes('@import')) {
          ctx.body = ctx.body.replace(/@import url\([^)]*\);?/g, '');
        }
        if (ctx.response.is('html')) {
          ctx.set('Content-Security-Policy', "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
        }
      });
      for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error', 'jwks.error']) {
        provider.on(event, (ctx, err) => errors.push({ event, path: ctx?.path, error: err?.message ?? String(ctx?.message ?? ctx) }));
      }
      provider.on('authorization.success', (_ctx, out) => { if (out?.code) result.issued.codes.push(out.code); });
      provider.on('grant.success', (ctx) => {
        if (ctx.body?.id_token) result.issued.idTokens.push(ctx.body.id_token);
        if (ctx.body?.access_token) result.issued.accessTokens.push(ctx.body.access_token);
      });
      result.provider = provider;
      handler = provider.callback();
      return provider;
    },
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return result;
}
