#include "auth/oidc.h"

#include <algorithm>
#include <cctype>

#include "auth/crypto.h"

namespace sightline::auth {

namespace {

using namespace std::chrono_literals;

constexpr auto kRetryFailedFetchAfter = 5s;    // a provider that is down is asked at most this often
constexpr auto kUnknownKidRefetchEvery = 30s;  // key rotation vs. a flood of tokens with made-up kids
constexpr std::size_t kMaxCodeBytes = 4096;
constexpr std::size_t kMaxProviderText = 200;

// Provider-supplied text made safe and short for an error message.
std::string printable(std::string_view text, std::size_t max = kMaxProviderText) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '?';
  }
  if (text.size() > max) out += "...";
  return out;
}

// Host part of an http(s) URL ("host", "127.0.0.1", "[::1]"), lowercased; empty when not one.
std::string url_host(std::string_view url) {
  std::size_t start;
  if (url.rfind("https://", 0) == 0) {
    start = 8;
  } else if (url.rfind("http://", 0) == 0) {
    start = 7;
  } else {
    return {};
  }
  std::string_view rest = url.substr(start);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) return {};  // userinfo: refused outright
  std::string_view host = rest;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

// https URLs always; plain http only when `allow_http` (the issuer itself is loopback http).
// Fragments are refused: we append query parameters, and a fragment would swallow them.
bool acceptable_endpoint(std::string_view url, bool allow_http) {
  if (url_host(url).empty() || url.find('#') != std::string_view::npos) return false;
  return url.rfind("https://", 0) == 0 || allow_http;
}

bool issuer_is_loopback_http(const std::string& issuer) {
  return issuer.rfind("http://", 0) == 0 && is_loopback_host(url_host(issuer));
}

// `base` with `params` appended as a percent-encoded query, respecting an existing query string.
std::string with_query(const std::string& base, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out = base;
  char sep = '?';
  if (base.find('?') != std::string::npos) sep = (base.back() == '?' || base.back() == '&') ? '\0' : '&';
  for (const auto& [name, value] : params) {
    if (sep) out += sep;
    sep = '&';
    out += percent_encode(name);
    out += '=';
    out += percent_encode(value);
  }
  return out;
}

// A local path the login may send the browser back to, or "/".
std::string safe_return_to(const std::string& return_to) {
  if (return_to.empty() || return_to.front() != '/') return "/";
  if (return_to.size() > 1 && (return_to[1] == '/' || return_to[1] == '\\')) return "/";  // //host, /\host
  for (unsigned char c : return_to) {
    if (c < 0x20 || c == 0x7F) return "/";
  }
  return return_to;
}

std::optional<std::string> string_member(const nlohmann::json& doc, const char* name) {
  auto it = doc.find(name);
  if (it == doc.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

bool array_contains(const nlohmann::json& doc, const char* name, std::initializer_list<const char*> any_of) {
  auto it = doc.find(name);
  if (it == doc.end() || !it->is_array()) return true;  // absent: nothing to check
  for (const auto& v : *it) {
    for (const char* want : any_of) {
      if (v == want) return true;
    }
  }
  return false;
}

Identity identity_from_claims(const nlohmann::json& claims, const OidcSettings& settings) {
  Identity id;
  id.issuer = claims.value("iss", std::string());
  id.subject = claims.value("sub", std::string());
  if (auto email = claims.find(settings.email_claim); email != claims.end() && email->is_string()) id.email = email->get<std::string>();
  if (auto name = claims.find(settings.name_claim);
      name != claims.end() && name->is_string() && !name->get_ref<const std::string&>().empty()) {
    id.name = name->get<std::string>();
  } else if (auto user = claims.find("preferred_username"); user != claims.end() && user->is_string()) {
    id.name = user->get<std::string>();
  }
  if (auto groups = claims.find(settings.groups_claim); groups != claims.end()) {
    if (groups->is_string() && !groups->get_ref<const std::string&>().empty()) {
      id.groups.push_back(groups->get<std::string>());
    } else if (groups->is_array()) {
      for (const auto& g : *groups) {
        if (g.is_string() && !g.get_ref<const std::string&>().empty()) id.groups.push_back(g.get<std::string>());
      }
    }
  }
  id.claims = claims;
  return id;
}

std::optional<Error> settings_problem(const OidcSettings& settings) {
  auto r = check_oidc_settings(settings);
  if (r) return std::nullopt;
  return r.error();
}

}  // namespace

Result<void> check_oidc_settings(const OidcSettings& s) {
  auto bad = [](std::string message) { return fail(ErrorKind::InvalidInput, "auth.oidc: " + std::move(message)); };
  if (s.issuer.empty()) return bad("issuer is required");
  if (s.issuer.rfind("https://", 0) != 0 && !issuer_is_loopback_http(s.issuer)) {
    return bad("issuer must be an https URL (plain http is allowed only on localhost)");
  }
  if (url_host(s.issuer).empty() || s.issuer.find_first_of("?#") != std::string::npos) {
    return bad("issuer is not a valid URL (no query or fragment allowed)");
  }
  if (s.client_id.empty()) return bad("client_id is required");
  if (s.redirect_uri.empty() || url_host(s.redirect_uri).empty()) return bad("redirect_uri must be an http(s) URL");
  if (std::find(s.scopes.begin(), s.scopes.end(), "openid") == s.scopes.end()) return bad("scopes must include openid");
  for (const auto& scope : s.scopes) {
    if (scope.empty() || scope.find_first_of(" \t\r\n\"\\") != std::string::npos)
      return bad("scope \"" + printable(scope, 40) + "\" is not a valid scope name");
  }
  return {};
}

OidcClient::OidcClient(OidcSettings settings, HttpClient& http, std::function<TimePoint()> clock)
    : settings_(std::move(settings)), http_(http), clock_(std::move(clock)), settings_error_(settings_problem(settings_)) {}

// ---------------------------------------------------------------------------------------------
// Discovery: fetched once, then cached for the client's lifetime. A failure is answered again for
// kRetryFailedFetchAfter, then retried on the next call.

Result<OidcClient::Discovery> OidcClient::discovery() {
  auto cached = [&]() -> std::optional<Result<Discovery>> {
    std::lock_guard lock(mutex_);
    if (discovery_) return *discovery_;
    if (discovery_error_ && clock_() - discovery_failed_at_ < kRetryFailedFetchAfter) return fail(*discovery_error_);
    return std::nullopt;
  };
  if (auto hit = cached()) return *hit;
  std::lock_guard fetching(fetch_mutex_);
  if (auto hit = cached()) return *hit;  // another thread fetched (or failed) while we waited
  auto fetched = fetch_discovery();
  std::lock_guard lock(mutex_);
  if (fetched) {
    discovery_ = *fetched;
    discovery_error_.reset();
  } else {
    discovery_error_ = fetched.error();
    discovery_failed_at_ = clock_();
  }
  return fetched;
}

Result<OidcClient::Discovery> OidcClient::fetch_discovery() {
  std::string base = settings_.issuer;
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto response = http_.get(base + "/.well-known/openid-configuration");
  if (!response) return fail(ErrorKind::Unavailable, "OpenID discovery failed: " + response.error().message);
  auto unusable = [](std::string why) {
    return fail(ErrorKind::Unavailable, "the identity provider's discovery document is unusable: " + std::move(why));
  };
  if (response->status != 200) return unusable("HTTP status " + std::to_string(response->status));
  auto doc = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return unusable("not a JSON object");

  auto issuer = string_member(doc, "issuer");
  if (!issuer) return unusable("no issuer");
  if (*issuer != settings_.issuer) {
    return fail(ErrorKind::Unavailable,
                "the identity provider calls itself \"" + printable(*issuer) + "\", not the configured issuer \"" +
                    printable(settings_.issuer) + "\"",
                "set auth.oidc.issuer to exactly the provider's issuer (a trailing slash matters)");
  }
  const bool allow_http = issuer_is_loopback_http(settings_.issuer);
  Discovery d;
  for (auto [name, field] : {std::pair{"authorization_endpoint", &d.authorization_endpoint}, std::pair{"token_endpoint", &d.token_endpoint},
                             std::pair{"jwks_uri", &d.jwks_uri}}) {
    auto value = string_member(doc, name);
    if (!value) return unusable(std::string("no ") + name);
    if (!acceptable_endpoint(*value, allow_http)) return unusable(std::string(name) + " is not an https URL without a fragment");
    *field = std::move(*value);
  }
  if (auto end = string_member(doc, "end_session_endpoint")) {
    if (!acceptable_endpoint(*end, allow_http)) return unusable("end_session_endpoint is not an https URL without a fragment");
    d.end_session_endpoint = std::move(*end);
  }
  if (!array_contains(doc, "code_challenge_methods_supported", {"S256"})) {
    return unusable("the provider does not support PKCE with S256 (code_challenge_methods_supported)");
  }
  if (!array_contains(doc, "id_token_signing_alg_values_supported", {"RS256", "ES256"})) {
    return unusable("the provider signs ID tokens with neither RS256 nor ES256");
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// Signing keys: fetched on first use; fetched again when a token names a kid we do not have (the
// provider rotated its keys), but at most once per kUnknownKidRefetchEvery, so tokens with made-up
// kids cannot make us hammer the provider. Between refetches an unknown kid just fails to verify.

Result<JsonWebKeySet> OidcClient::signing_keys(const Discovery& d, const std::optional<std::string>& kid) {
  auto usable = [&]() { return jwks_ && (!kid || jwks_->has_key(*kid)); };
  {
    std::lock_guard lock(mutex_);
    if (usable()) return *jwks_;
    TimePoint now = clock_();
    if (!jwks_) {
      if (jwks_error_ && now - jwks_failed_at_ < kRetryFailedFetchAfter) return fail(*jwks_error_);
    } else {
      if (last_unknown_kid_refetch_ && now - *last_unknown_kid_refetch_ < kUnknownKidRefetchEvery) return *jwks_;
      last_unknown_kid_refetch_ = now;  // claimed under the lock: concurrent unknown kids do not refetch too
    }
  }
  std::lock_guard fetching(fetch_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (usable()) return *jwks_;  // another thread fetched while we waited
  }
  auto fetched = fetch_jwks(d.jwks_uri);
  std::lock_guard lock(mutex_);
  if (fetched) {
    jwks_ = *fetched;
    jwks_error_.reset();
  } else if (!jwks_) {
    jwks_error_ = fetched.error();
    jwks_failed_at_ = clock_();
  }
  return fetched;
}

Result<JsonWebKeySet> OidcClient::fetch_jwks(const std::string& jwks_uri) {
  auto response = http_.get(jwks_uri);
  if (!response) return fail(ErrorKind::Unavailable, "fetching the identity provider's signing keys failed: " + response.error().message);
  if (response->status != 200) {
    return fail(ErrorKind::Unavailable, "the identity provider's jwks_uri answered HTTP " + std::to_string(response->status));
  }
  auto doc = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail(ErrorKind::Unavailable, "the identity provider's jwks_uri did not answer JSON");
  auto keys = JsonWebKeySet::parse(doc);
  if (!keys) return fail(ErrorKind::Unavailable, "the identity provider's signing keys are unusable: " + keys.error().message);
  return keys;
}

// ---------------------------------------------------------------------------------------------

Result<LoginStart> OidcClient::begin_login(std::string return_to) {
  if (settings_error_) return fail(*settings_error_);
  auto d = discovery();
  if (!d) return fail(d.error());

  LoginStart start;
  PendingLogin& p = start.pending;
  p.state = random_token(32);
  p.nonce = random_token(32);
  p.code_verifier = random_token(32);  // 43 characters: RFC 7636's minimum, 256 bits
  p.return_to = safe_return_to(return_to);
  p.created = clock_();

  std::string scope;
  for (const auto& s : settings_.scopes) {
    if (!scope.empty()) scope += ' ';
    scope += s;
  }
  start.authorization_url = with_query(d->authorization_endpoint, {{"response_type", "code"},
                                                                   {"client_id", settings_.client_id},
                                                                   {"redirect_uri", settings_.redirect_uri},
                                                                   {"scope", scope},
                                                                   {"state", p.state},
                                                                   {"nonce", p.nonce},
                                                                   {"code_challenge", pkce_challenge(p.code_verifier)},
                                                                   {"code_challenge_method", "S256"}});
  return start;
}

Result<LoginResult> OidcClient::finish_login(const std::string& code, const PendingLogin& pending) {
  if (settings_error_) return fail(*settings_error_);
  if (code.empty() || code.size() > kMaxCodeBytes) return fail(ErrorKind::InvalidInput, "the authorization code is missing or too long");
  if (pending.nonce.empty() || pending.code_verifier.empty()) {
    return fail(ErrorKind::InvalidInput, "the login attempt is incomplete (no nonce or code verifier)", "start the sign-in again");
  }
  auto d = discovery();
  if (!d) return fail(d.error());

  std::vector<std::pair<std::string, std::string>> form = {{"grant_type", "authorization_code"},
                                                           {"code", code},
                                                           {"redirect_uri", settings_.redirect_uri},
                                                           {"code_verifier", pending.code_verifier}};
  std::optional<std::pair<std::string, std::string>> basic_auth;
  if (settings_.client_secret.empty()) {
    form.emplace_back("client_id", settings_.client_id);  // public client: identified, authenticated by PKCE
  } else {
    basic_auth.emplace(settings_.client_id, settings_.client_secret);  // client_secret_basic
  }
  auto response = http_.post_form(d->token_endpoint, form, basic_auth);
  if (!response) return fail(ErrorKind::Unavailable, "the token exchange failed: " + response.error().message);

  auto body = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (response->status != 200) {
    std::string what = "HTTP " + std::to_string(response->status);
    if (body.is_object()) {
      if (auto error = string_member(body, "error")) what += ": " + printable(*error, 60);
      if (auto description = string_member(body, "error_description")) {
        // A provider might echo the code back; it must not reach our logs.
        for (auto at = description->find(code); at != std::string::npos; at = description->find(code, at + 6)) {
          description->replace(at, code.size(), "[code]");
        }
        what += " (" + printable(*description) + ")";
      }
    }
    bool provider_trouble = response->status >= 500 || response->status == 429;
    return fail(provider_trouble ? ErrorKind::Unavailable : ErrorKind::Unauthenticated,
                "the identity provider refused the authorization code: " + what);
  }
  if (!body.is_object()) return fail(ErrorKind::Unavailable, "the identity provider's token response is not a JSON object");
  auto id_token = string_member(body, "id_token");
  if (!id_token)
    return fail(ErrorKind::Unauthenticated, "the identity provider's token response has no id_token", "is \"openid\" among the scopes?");

  auto keys = signing_keys(*d, jws_key_id(*id_token));
  if (!keys) return fail(keys.error());
  IdTokenExpectations expect;
  expect.issuer = settings_.issuer;
  expect.audience = settings_.client_id;
  expect.nonce = pending.nonce;
  expect.now = clock_();
  auto claims = verify_id_token(*id_token, *keys, expect);
  if (!claims) return fail(claims.error());

  LoginResult result;
  result.identity = identity_from_claims(*claims, settings_);
  result.id_token = std::move(*id_token);
  return result;
}

Result<std::string> OidcClient::end_session_url(const std::string& id_token_hint) {
  if (settings_error_) return fail(*settings_error_);
  auto d = discovery();
  if (!d) return fail(d.error());
  if (d->end_session_endpoint.empty()) {
    return fail(ErrorKind::NotFound, "the identity provider publishes no end_session_endpoint", "only the Sightline session is ended");
  }
  std::vector<std::pair<std::string, std::string>> params;
  if (!id_token_hint.empty()) params.emplace_back("id_token_hint", id_token_hint);
  if (!settings_.post_logout_redirect_uri.empty()) params.emplace_back("post_logout_redirect_uri", settings_.post_logout_redirect_uri);
  params.emplace_back("client_id", settings_.client_id);
  return with_query(d->end_session_endpoint, params);
}

}  // namespace sightline::auth
