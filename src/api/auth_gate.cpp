#include "api/auth_gate.h"

#include <array>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "api/api.h"
#include "auth/crypto.h"
#include "auth/http_client.h"
#include "auth/oidc.h"
#include "auth/tokens.h"

namespace sightline::api {
using nlohmann::json;

namespace {

constexpr const char* kSessionCookie = "sightline_session";
constexpr const char* kLoginCookie = "sightline_login";

std::string query_param(const std::string& target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string::npos) return {};
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key == name) {
      std::string_view raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      std::string out;
      for (size_t i = 0; i < raw.size(); ++i) {
        auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
        if (raw[i] == '+') {
          out += ' ';
        } else if (raw[i] == '%' && i + 2 < raw.size() && hex(raw[i + 1]) && hex(raw[i + 2])) {
          out += static_cast<char>(std::stoi(std::string(raw.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          out += raw[i];
        }
      }
      return out;
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

std::string path_of(const std::string& target) {
  return target.substr(0, target.find('?'));
}

HttpResponse json_reply(const json& j, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

HttpResponse redirect(const std::string& location) {
  HttpResponse r;
  r.status = 302;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "Redirecting to " + location + "\n";
  r.headers.emplace_back("Location", location);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

std::string cookie(const std::string& name, const std::string& value, const std::string& path, bool secure,
                   std::optional<int64_t> max_age) {
  std::string c = name + "=" + value + "; Path=" + path + "; HttpOnly; SameSite=Lax";
  if (secure) c += "; Secure";
  if (max_age) c += "; Max-Age=" + std::to_string(*max_age);
  return c;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A sign-in failure the person in front of the browser can read; API clients get problem+json.
HttpResponse sign_in_failed(const HttpRequest& req, const Error& error) {
  HttpResponse r = problem_response(error, req.request_id);
  if (req.header("accept").find("text/html") != std::string::npos) {
    r.content_type = "text/html; charset=utf-8";
    r.body =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed</title></head><body>"
        "<main><h1>Sign-in failed</h1><p>" +
        html_escape(error.message) + "</p><p><a href=\"/auth/login\">Try again</a></p><p><small>Request id " + html_escape(req.request_id) +
        "</small></p></main></body></html>";
  }
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

json user_json(const auth::User& user) {
  return {{"issuer", user.identity.issuer},
          {"subject", user.identity.subject},
          {"email", user.identity.email},
          {"name", user.identity.name},
          {"groups", user.identity.groups}};
}

std::vector<std::string> split_groups(const std::string& header) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= header.size()) {
    size_t comma = header.find(',', start);
    std::string g = header.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    g.erase(0, g.find_first_not_of(" \t"));
    g.erase(g.find_last_not_of(" \t") + 1);
    if (!g.empty() && out.size() < 256) out.push_back(g.substr(0, 256));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string fingerprint(const config::Project& p) {
  const auto& a = p.auth;
  json j = {{"mode", config::auth_mode_name(a.mode)},
            {"public_url", a.public_url},
            {"secret", auth::sha256_hex(a.session_secret)},
            {"idle", a.idle_timeout_ms},
            {"absolute", a.absolute_timeout_ms},
            {"issuer", a.oidc.issuer},
            {"client", a.oidc.client_id},
            {"client_secret", auth::sha256_hex(a.oidc.client_secret)},
            {"scopes", a.oidc.scopes},
            {"claims", {a.oidc.email_claim, a.oidc.name_claim, a.oidc.groups_claim}},
            {"tokens", (p.dir / a.tokens_file).string()},
            {"limits", {a.sign_in_per_minute, a.concurrent_queries_per_user}}};
  return j.dump();
}

}  // namespace

std::vector<std::string> cookie_values(std::string_view header, std::string_view name) {
  std::vector<std::string> out;
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    size_t eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      std::string_view v = part.substr(eq + 1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      out.emplace_back(v);
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return out;
}

bool valid_address_or_cidr(const std::string& text) { return address_in(text.substr(0, text.find('/')), text); }

bool address_in(const std::string& address, const std::string& cidr) {
  std::string net = cidr;
  int bits = -1;
  if (size_t slash = cidr.find('/'); slash != std::string::npos) {
    net = cidr.substr(0, slash);
    try {
      bits = std::stoi(cidr.substr(slash + 1));
    } catch (const std::exception&) {
      return false;
    }
  }
  unsigned char a[16], n[16];
  bool v4 = address.find(':') == std::string::npos;
  if (v4 != (net.find(':') == std::string::npos)) return false;
  int family = v4 ? AF_INET : AF_INET6;
  if (inet_pton(family, address.c_str(), a) != 1 || inet_pton(family, net.c_str(), n) != 1) return false;
  int total = v4 ? 32 : 128;
  if (bits < 0) bits = total;
  if (bits > total) return false;
  for (int i = 0; i < bits / 8; ++i)
    if (a[i] != n[i]) return false;
  if (bits % 8) {
    unsigned char mask = static_cast<unsigned char>(0xFF << (8 - bits % 8));
    if ((a[bits / 8] & mask) != (n[bits / 8] & mask)) return false;
  }
  return true;
}

std::string client_address(const HttpRequest& req, const config::AuthSpec& auth) {
  auto trusted = [&](const std::string& address) {
    auto in = [&](const std::vector<std::string>& list) {
      return std::any_of(list.begin(), list.end(), [&](const std::string& c) { return address_in(address, c); });
    };
    return in(auth.forwarded_by) || (auth.mode == config::AuthMode::Proxy && in(auth.proxy.trusted_proxies));
  };
  if (!trusted(req.peer)) return req.peer;
  // Each trusted hop appends the address it saw: the client is the last entry not one of ours.
  std::string chain = req.header("x-forwarded-for");
  std::string client = req.peer;
  size_t end = chain.size();
  while (end > 0) {
    size_t comma = chain.rfind(',', end - 1);
    size_t start = comma == std::string::npos ? 0 : comma + 1;
    std::string hop = chain.substr(start, end - start);
    hop.erase(0, hop.find_first_not_of(" \t"));
    hop.erase(hop.find_last_not_of(" \t") + 1);
    unsigned char buf[16];
    bool valid = inet_pton(hop.find(':') == std::string::npos ? AF_INET : AF_INET6, hop.c_str(), buf) == 1;
    if (!valid) break;  // garbage: stop at the last address we can vouch for
    client = hop;
    if (!trusted(hop)) break;
    if (comma == std::string::npos) break;
    end = comma;
  }
  return client;
}

std::string safe_return_path(std::string_view requested) {
  if (requested.empty() || requested.size() > 2048 || requested[0] != '/') return "/";
  if (requested.size() > 1 && (requested[1] == '/' || requested[1] == '\\')) return "/";
  for (char c : requested) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') return "/";
  }
  return std::string(requested);
}

struct AuthGate::State {
  std::string fingerprint;
  config::AuthSpec spec;
  bool secure = false;  // served over TLS (public_url is https)
  std::unique_ptr<auth::HttpClient> http;
  std::unique_ptr<auth::OidcClient> oidc;
  std::unique_ptr<auth::SessionStore> sessions;
  std::unique_ptr<auth::PendingLogins> pending;
  std::unique_ptr<auth::RateLimiter> sign_in_limit;
  std::shared_ptr<auth::ConcurrencyLimiter> queries;
  std::unique_ptr<auth::TokenFile> tokens;
};

AuthGate::AuthGate(Logger& log, auth::Clock clock) : log_(log), clock_(std::move(clock)) {}
AuthGate::~AuthGate() = default;

std::shared_ptr<AuthGate::State> AuthGate::state_for(const config::Project& project) {
  std::string fp = fingerprint(project);
  std::lock_guard lock(mutex_);
  // Requests still holding the previous snapshot find its state here too: an older project
  // never replaces (and wipes) the state of a newer one.
  for (const auto& known : states_)
    if (known->fingerprint == fp) return known;
  // New or changed auth settings: new sessions and a new OpenID client (everyone signs in again).
  auto s = std::make_shared<State>();
  s->fingerprint = fp;
  s->spec = project.auth;
  s->secure = project.auth.public_url.starts_with("https://");
  s->sessions = std::make_unique<auth::SessionStore>(project.auth.session_secret, std::chrono::milliseconds(project.auth.idle_timeout_ms),
                                                     std::chrono::milliseconds(project.auth.absolute_timeout_ms), clock_);
  s->pending = std::make_unique<auth::PendingLogins>(clock_);
  s->sign_in_limit = std::make_unique<auth::RateLimiter>(project.auth.sign_in_per_minute, clock_);
  s->queries = std::make_shared<auth::ConcurrencyLimiter>(project.auth.concurrent_queries_per_user);
  s->tokens = std::make_unique<auth::TokenFile>(project.dir / project.auth.tokens_file, clock_);
  if (project.auth.mode == config::AuthMode::Oidc) {
    s->http = auth::make_curl_http_client();
    auth::OidcSettings o;
    o.issuer = project.auth.oidc.issuer;
    o.client_id = project.auth.oidc.client_id;
    o.client_secret = project.auth.oidc.client_secret;
    o.redirect_uri = project.auth.public_url + "/auth/callback";
    o.post_logout_redirect_uri = project.auth.public_url + "/";
    o.scopes = project.auth.oidc.scopes;
    o.email_claim = project.auth.oidc.email_claim;
    o.name_claim = project.auth.oidc.name_claim;
    o.groups_claim = project.auth.oidc.groups_claim;
    s->oidc = std::make_unique<auth::OidcClient>(o, *s->http, clock_);
  }
  states_.push_back(s);
  if (states_.size() > 2) states_.erase(states_.begin());
  return s;
}

namespace {
// The audit events counted as metrics (a fixed set: label values stay bounded).
constexpr std::array<std::string_view, 6> kCountedAuthEvents = {"sign_in",     "sign_in_failed", "sign_in_rate_limited",
                                                                "sign_out",    "token_used",     "token_rejected"};
}  // namespace

void AuthGate::register_metrics(metrics::Registry& registry) {
  auth_events_ = &registry.counter("sightline_auth_events_total",
                                   "Sign-in events: sign_in, sign_in_failed, sign_in_rate_limited, sign_out, token_used, token_rejected.",
                                   {"event"});
  for (auto e : kCountedAuthEvents) auth_events_->with({std::string(e)});
  registry.gauge_function("sightline_active_sessions", "Browser sessions signed in and not expired.", {}, [this] {
    std::lock_guard lock(mutex_);
    double n = 0;
    for (const auto& st : states_)
      if (st->sessions) n += static_cast<double>(st->sessions->size());
    return std::vector<metrics::Sample>{{{}, n}};
  });
}

void AuthGate::audit(std::string_view event, const HttpRequest& req, const auth::User* user, json fields) const {
  if (auth_events_ && std::find(kCountedAuthEvents.begin(), kCountedAuthEvents.end(), event) != kCountedAuthEvents.end())
    auth_events_->with({std::string(event)}).inc();
  json j = std::move(fields);
  j["action"] = event;
  j["request_id"] = req.request_id;
  if (req.trace) j["trace_id"] = req.trace->trace_hex();
  {
    std::lock_guard lock(mutex_);
    j["client"] = !states_.empty() ? client_address(req, states_.back()->spec) : req.peer;
  }
  if (user) {
    j["user"] = {{"issuer", user->identity.issuer}, {"subject", user->identity.subject}, {"email", user->identity.email}};
    j["roles"] = user->roles;
    j["credential"] = auth::credential_name(user->credential);
  }
  log_.info("audit", j);
}

Result<auth::User> AuthGate::authenticate(const HttpRequest& req, const config::Project& project) {
  if (!project.auth.enabled()) {
    auth::User dev;
    dev.identity = {"local", "local", "", "Local development", {}, json::object()};
    for (const auto& r : project.roles) dev.roles.push_back(r.name);
    return dev;
  }
  auto state = state_for(project);
  std::string authorization = req.header("authorization");
  if (!authorization.empty()) {
    // An explicit credential is used alone: a bad token never falls back to a cookie.
    if (authorization.size() < 7 || strncasecmp(authorization.c_str(), "Bearer ", 7) != 0) {
      return fail(ErrorKind::Unauthenticated, "unsupported Authorization scheme",
                  "use Authorization: Bearer <token from `sightline token create`>");
    }
    std::string presented = authorization.substr(7);
    presented.erase(0, presented.find_first_not_of(' '));
    auto record = state->tokens->verify(presented);
    if (!record) {
      audit("token_rejected", req, nullptr, json::object());
      return fail(ErrorKind::Unauthenticated, "the bearer token is unknown, expired or revoked");
    }
    auth::User user;
    user.identity.issuer = "token";
    user.identity.subject = record->subject;
    user.identity.name = record->name;
    for (const auto& role : record->roles) {
      bool defined = std::any_of(project.roles.begin(), project.roles.end(), [&](const auto& r) { return r.name == role; });
      if (defined) user.roles.push_back(role);
    }
    user.credential = auth::Credential::Token;
    user.session_id = "token:" + record->id;
    audit("token_used", req, &user, {{"token_id", record->id}});
    return user;
  }
  if (project.auth.mode == config::AuthMode::Proxy) {
    const auto& px = project.auth.proxy;
    bool trusted =
        std::any_of(px.trusted_proxies.begin(), px.trusted_proxies.end(), [&](const std::string& c) { return address_in(req.peer, c); });
    std::string subject = req.header(px.user_header);
    if (!trusted || subject.empty()) {
      return fail(ErrorKind::Unauthenticated, trusted ? "the authenticating proxy sent no user" : "not signed in",
                  trusted ? "the proxy must set " + px.user_header : "");
    }
    auth::User user;
    user.identity.issuer = "proxy";
    user.identity.subject = subject.substr(0, 256);
    user.identity.email = req.header(px.email_header).substr(0, 256);
    user.identity.name = req.header(px.name_header).substr(0, 256);
    user.identity.groups = split_groups(req.header(px.groups_header));
    user.identity.claims = {{"email", user.identity.email}, {"name", user.identity.name}, {"groups", user.identity.groups}};
    user.roles = auth::roles_for(project, user.identity);
    user.credential = auth::Credential::Proxy;
    return user;
  }
  for (const auto& value : cookie_values(req.header("cookie"), kSessionCookie)) {
    auto session = state->sessions->find(value);
    if (!session) continue;
    auth::User user;
    user.identity = session->identity;
    user.roles = auth::roles_for(project, user.identity);  // from the current config: role changes apply at once
    user.credential = auth::Credential::Session;
    user.session_id = session->id;
    return user;
  }
  return fail(ErrorKind::Unauthenticated, "not signed in", "sign in at /auth/login");
}

Result<void> AuthGate::check_csrf(const HttpRequest& req, const auth::User& user, const config::Project& project) {
  if (req.method == "GET" || req.method == "HEAD") return {};
  if (user.credential == auth::Credential::Token) return {};
  if (user.credential == auth::Credential::Session) {
    auto state = state_for(project);
    if (!state || !state->sessions->csrf_valid(user.session_id, req.header("x-csrf-token"))) {
      return fail(ErrorKind::Forbidden, "missing or wrong X-CSRF-Token header", "send the csrf_token from GET /api/v1/me");
    }
    return {};
  }
  // A proxy's or local browser: the request must come from a page of this site.
  std::string origin = req.header("origin");
  if (origin.empty()) return {};
  std::string host = req.header("host");
  if (origin == "http://" + host || origin == "https://" + host) return {};
  return fail(ErrorKind::Forbidden, "cross-site request refused (Origin " + origin.substr(0, 100) + ")");
}

Result<auth::ConcurrencyLimiter::Guard> AuthGate::admit(const auth::User& user, const config::Project& project) {
  if (!project.auth.enabled()) return auth::ConcurrencyLimiter::Guard();
  auto state = state_for(project);
  auto guard = state->queries->acquire(user.identity.key());
  if (!guard) {
    return fail(ErrorKind::TooManyRequests,
                "too many queries at once for this user (limit " + std::to_string(project.auth.concurrent_queries_per_user) + ")",
                "wait for running queries to finish");
  }
  return std::move(*guard);
}

std::optional<Result<HttpResponse>> AuthGate::route(const HttpRequest& req, const Snapshot& snap) {
  std::string path = path_of(req.target);
  const auto& project = snap.project;
  bool get = req.method == "GET" || req.method == "HEAD";
  auto not_allowed = [&](const char* allow) -> Result<HttpResponse> { return method_not_allowed(req, allow); };

  if (path == "/api/v1/me") {
    if (!get) return not_allowed("GET");
    return me(req, project);
  }
  if (!path.starts_with("/auth/")) return std::nullopt;
  if (project.auth.mode != config::AuthMode::Oidc) {
    return Result<HttpResponse>(fail(
        ErrorKind::NotFound, "sign-in is not configured here (auth mode " + std::string(config::auth_mode_name(project.auth.mode)) + ")"));
  }
  auto state = state_for(project);
  if (path == "/auth/login") {
    if (!get) return not_allowed("GET");
    return login(req, project, *state);
  }
  if (path == "/auth/callback") {
    if (!get) return not_allowed("GET");
    return callback(req, project, *state);
  }
  if (path == "/auth/logout") {
    if (req.method != "POST") return not_allowed("POST");
    return logout(req, project, *state);
  }
  return Result<HttpResponse>(fail(ErrorKind::NotFound, "no such page: " + path.substr(0, 100)));
}

Result<HttpResponse> AuthGate::login(const HttpRequest& req, const config::Project&, State& state) {
  if (!state.sign_in_limit->allow(client_address(req, state.spec))) {
    audit("sign_in_rate_limited", req, nullptr, json::object());
    return fail(ErrorKind::TooManyRequests, "too many sign-in attempts from this address", "wait a minute");
  }
  std::string return_to = safe_return_path(query_param(req.target, "return_to"));
  auto started = state.oidc->begin_login(return_to);
  if (!started) return fail(started.error());
  std::string binding = state.pending->add(started->pending);
  HttpResponse r = redirect(started->authorization_url);
  r.headers.emplace_back("Set-Cookie", cookie(kLoginCookie, binding, "/auth/", state.secure || req.tls, 600));
  return r;
}

Result<HttpResponse> AuthGate::callback(const HttpRequest& req, const config::Project& project, State& state) {
  if (!state.sign_in_limit->allow(client_address(req, state.spec))) {
    audit("sign_in_rate_limited", req, nullptr, json::object());
    return fail(ErrorKind::TooManyRequests, "too many sign-in attempts from this address", "wait a minute");
  }
  auto failed = [&](const std::string& reason) -> Result<HttpResponse> {
    audit("sign_in_failed", req, nullptr, {{"reason", reason}});
    HttpResponse r = sign_in_failed(req, Error{ErrorKind::Unauthenticated, "sign-in failed: " + reason, "start again at /auth/login"});
    r.headers.emplace_back("Set-Cookie", cookie(kLoginCookie, "", "/auth/", state.secure || req.tls, 0));
    return r;
  };
  std::string provider_error = query_param(req.target, "error");
  if (!provider_error.empty()) {
    std::string description = query_param(req.target, "error_description").substr(0, 200);
    return failed("the identity provider answered " + provider_error.substr(0, 64) + (description.empty() ? "" : ": " + description));
  }
  std::string state_param = query_param(req.target, "state");
  std::string code = query_param(req.target, "code");
  if (state_param.empty() || code.empty()) return failed("the callback has no code or state");
  std::optional<auth::PendingLogin> pending;
  for (const auto& binding : cookie_values(req.header("cookie"), kLoginCookie)) {
    pending = state.pending->take(state_param, binding);
    if (pending) break;
  }
  if (!pending) return failed("this sign-in attempt is unknown, already used, expired or was started in another browser");
  auto finished = state.oidc->finish_login(code, *pending);
  if (!finished) return failed(finished.error().message);
  // A session cookie the browser already had (perhaps planted) is ended, never reused.
  for (const auto& old : cookie_values(req.header("cookie"), kSessionCookie)) state.sessions->remove(old);
  auto made = state.sessions->create(finished->identity, finished->id_token);
  auth::User user{finished->identity, auth::roles_for(project, finished->identity), auth::Credential::Session, made.id};
  HttpResponse r = redirect(pending->return_to);
  r.headers.emplace_back("Set-Cookie",
                         cookie(kSessionCookie, made.cookie_value, "/", state.secure || req.tls, state.spec.absolute_timeout_ms / 1000));
  r.headers.emplace_back("Set-Cookie", cookie(kLoginCookie, "", "/auth/", state.secure || req.tls, 0));
  audit("sign_in", req, &user, {{"session", made.id.substr(0, 12)}});
  return r;
}

Result<HttpResponse> AuthGate::logout(const HttpRequest& req, const config::Project& project, State& state) {
  auto user = authenticate(req, project);
  json out = {{"redirect", "/"}};
  if (user && user->credential == auth::Credential::Session) {
    if (auto c = check_csrf(req, *user, project); !c) return fail(c.error());
    std::string id_token;
    for (const auto& value : cookie_values(req.header("cookie"), kSessionCookie)) {
      if (auto s = state.sessions->find(value); s && s->id == user->session_id) {
        id_token = s->id_token;
        state.sessions->remove(value);
      }
    }
    if (!id_token.empty()) {
      if (auto url = state.oidc->end_session_url(id_token); url && !url->empty()) out["redirect"] = *url;
    }
    audit("sign_out", req, &*user, {{"session", user->session_id.substr(0, 12)}});
  }
  HttpResponse r = json_reply(out);
  r.headers.emplace_back("Set-Cookie", cookie(kSessionCookie, "", "/", state.secure || req.tls, 0));
  return r;
}

Result<HttpResponse> AuthGate::me(const HttpRequest& req, const config::Project& project) {
  auto user = authenticate(req, project);
  if (!user) {
    if (project.auth.mode == config::AuthMode::Oidc) {
      Error e = user.error();
      e.hint = "sign in at /auth/login";
      return fail(e);
    }
    return fail(user.error());
  }
  std::string mode = user->credential == auth::Credential::Token ? "token" : config::auth_mode_name(project.auth.mode);
  std::string csrf;
  if (user->credential == auth::Credential::Session) csrf = state_for(project)->sessions->csrf_token(user->session_id);
  return json_reply({{"user", user_json(*user)}, {"roles", user->roles}, {"auth_mode", mode}, {"csrf_token", csrf}});
}

}  // namespace sightline::api
