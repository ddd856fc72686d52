// A browser-like HTTP client for the sign-in tests: cookie jars kept per host:port, redirects
// followed by hand (so a test sees every hop), and the provider's development login and consent
// forms filled in from their HTML.

/** Cookies per host:port (RFC 6265 keeps them per host; loopback services differ by port here). */
export class CookieJar {
  constructor() { this.hosts = new Map(); }

  /** The Map name → { value, attributes } of one origin's cookies. */
  for(url) {
    const key = new URL(url).host;
    if (!this.hosts.has(key)) this.hosts.set(key, new Map());
    return this.hosts.get(key);
  }

  /** Stores the Set-Cookie headers of a response to `url`; a past expiry or Max-Age=0 deletes. */
  store(url, setCookies) {
    const jar = this.for(url);
    for (const line of setCookies) {
      const c = parseSetCookie(line);
      if (!c) continue;
      const expired = c.attributes['max-age'] !== undefined
        ? Number(c.attributes['max-age']) <= 0
        : c.attributes.expires !== undefined && Date.parse(c.attributes.expires) <= Date.now();
      if (expired) jar.delete(c.name);
      else jar.set(c.name, c);
    }
  }

  header(url) {
    const path = new URL(url).pathname;
    const parts = [];
    for (const c of this.for(url).values()) {
      const p = c.attributes.path ?? '/';
      if (path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`) || p === '/') parts.push(`${c.name}=${c.value}`);
    }
    return parts.join('; ');
  }

  get(url, name) { return this.for(url).get(name)?.value; }
  set(url, name, value, attributes = {}) { this.for(url).set(name, { name, value, attributes, raw: `${name}=${value}` }); }
  delete(url, name) { this.for(url).delete(name); }
}

export function parseSetCookie(line) {
  const [pair, ...attrs] = line.split(';');
  const eq = pair.indexOf('=');
  if (eq <= 0) return undefined;
  const attributes = {};
  for (const a of attrs) {
    const i = a.indexOf('=');
    const k = (i < 0 ? a : a.slice(0, i)).trim().toLowerCase();
    if (!k) continue;
    attributes[k] = i < 0 ? true : a.slice(i + 1).trim();
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes, raw: line };
}

/** The Set-Cookie headers of a fetch Response, one per cookie. */
export function setCookies(res) {
  return typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
}

/** The parsed Set-Cookie of `name` in a response, or undefined. */
export function responseCookie(res, name) {
  return setCookies(res).map(parseSetCookie).find((c) => c && c.name === name);
}

/**
 * A fetch that sends and stores the jar's cookies and never follows redirects by itself.
 * `opts` are fetch's, plus `form` (an object sent as application/x-www-form-urlencoded) and
 * `timeout` (ms, default 15 s). Each answer is pushed on `log` when given.
 */
export function makeRequest(jar, log) {
  return async function request(url, opts = {}) {
    const { form, timeout = 15_000, headers = {}, ...rest } = opts;
    const h = new Headers(headers);
    const cookie = jar.header(url);
    if (cookie && !h.has('cookie')) h.set('cookie', cookie);
    let body = rest.body;
    if (form) {
      body = new URLSearchParams(form).toString();
      h.set('content-type', 'application/x-www-form-urlencoded');
    }
    const res = await fetch(url, {
      ...rest,
      method: rest.method ?? (form ? 'POST' : 'GET'),
      headers: h,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeout),
    });
    jar.store(url, setCookies(res));
    const text = await res.text();
    const entry = {
      url: String(url),
      method: rest.method ?? (form ? 'POST' : 'GET'),
      status: res.status,
      headers: res.headers,
      location: res.headers.get('location') ? new URL(res.headers.get('location'), url).href : undefined,
      setCookies: setCookies(res),
      text,
      json() { return JSON.parse(text); },
    };
    log?.push(entry);
    return entry;
  };
}

/** A fresh jar and its request function. */
export function newClient() {
  const jar = new CookieJar();
  const responses = [];
  return { jar, responses, request: makeRequest(jar, responses) };
}

const decode = (s) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;|&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#x2F;/g, '/');

/** The first <form> of an HTML page: its absolute action and its named inputs' values. */
export function parseForm(html, baseUrl) {
  const m = html.match(/<form\b([^>]*)>([\s\S]*?)<\/form>/i);
  if (!m) return undefined;
  const action = m[1].match(/action="([^"]*)"/i)?.[1] ?? '';
  const fields = {};
  for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
    const name = input[1].match(/name="([^"]*)"/i)?.[1];
    if (!name) continue;
    fields[decode(name)] = decode(input[1].match(/value="([^"]*)"/i)?.[1] ?? '');
  }
  return { action: new URL(decode(action), baseUrl).href, fields };
}

/**
 * Follows redirects from `url` with `request`, answering the provider's login and consent forms
 * with `login` / `password` on the way, until a response that is neither a redirect nor one of
 * those forms, or until `stopAt(url)` is true for the next URL (then returns without requesting it).
 */
export async function follow(request, url, { login, password = 'any-password', stopAt, maxHops = 20 } = {}) {
  let next = url;
  let last;
  for (let hop = 0; hop < maxHops; hop++) {
    if (stopAt?.(next)) return { last, stoppedAt: next };
    last = await request(next);
    if (last.location && last.status >= 300 && last.status < 400) { next = last.location; continue; }
    if (last.status === 200 && /<form\b/i.test(last.text)) {
      const form = parseForm(last.text, last.url);
      if (form.fields.prompt === 'login') {
        if (!login) throw new Error('the provider asks for a login but no login was given');
        last = await request(form.action, { form: { ...form.fields, login, password } });
      } else if (form.fields.prompt === 'consent') {
        last = await request(form.action, { form: form.fields });
      } else {
        return { last };
      }
      if (last.location && last.status >= 300 && last.status < 400) { next = last.location; continue; }
      return { last };
    }
    return { last };
  }
  throw new Error(`more than ${maxHops} redirects from ${url}`);
}

/**
 * Signs in to Sightline through its OpenID provider as a browser would: GET /auth/login, the
 * provider's login and consent pages, back to /auth/callback, then to return_to. Returns the cookie
 * jar, the session cookie (parsed Set-Cookie), the last Location Sightline sent, the CSRF token
 * from /api/v1/me and every response on the way. `client` reuses an existing jar (newClient()).
 * `stopAtCallback` returns before requesting the callback URL (`callbackUrl`), so a test can
 * replay it, drop cookies first, or hand it to another browser.
 */
export async function loginOverHttp(sightlineUrl, { login, password, returnTo = '/', rawReturnTo, client = newClient(), stopAtCallback = false } = {}) {
  const base = new URL(sightlineUrl);
  const { jar, request, responses } = client;
  const first = responses.length;
  // rawReturnTo goes into the query string as it is (to send hostile encodings).
  const start = new URL(`/auth/login?return_to=${rawReturnTo ?? encodeURIComponent(returnTo)}`, base).href;
  const isSightline = (u) => new URL(u).host === base.host;
  const isCallback = (u) => isSightline(u) && new URL(u).pathname === '/auth/callback';
  // Walk until the provider sends the browser back to Sightline's callback.
  const toCallback = await follow(request, start, { login, password, stopAt: (u) => u !== start && isCallback(u) });
  if (!toCallback.stoppedAt) {
    throw new Error(`sign-in never reached /auth/callback; last answer ${toCallback.last?.status} from ${toCallback.last?.url}: ${toCallback.last?.text.slice(0, 500)}`);
  }
  const callbackUrl = toCallback.stoppedAt;
  if (stopAtCallback) return { jar, cookieJar: jar, request, callbackUrl, responses: responses.slice(first) };
  const callback = await request(callbackUrl);
  const sessionCookie = callback.setCookies.map(parseSetCookie).find((c) => c?.name === 'sightline_session');
  let finalLocation = callback.location;
  let csrfToken;
  let me;
  if (callback.status >= 300 && callback.status < 400 && sessionCookie) {
    const r = await request(new URL('/api/v1/me', base).href, { headers: { accept: 'application/json' } });
    if (r.status === 200) { me = r.json(); csrfToken = me.csrf_token; }
  }
  return {
    jar, cookieJar: jar, request, callbackUrl, callback, sessionCookie, finalLocation, csrfToken, me,
    responses: responses.slice(first),
  };
}
