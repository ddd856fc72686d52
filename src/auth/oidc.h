// The relying-party side of OpenID Connect: authorization code flow with PKCE (S256).
//
//   OidcClient oidc(settings, http, [] { return std::chrono::system_clock::now(); });
//   // GET /auth/login
//   auto start = oidc.begin_login("/d/sales");          // keep start->pending server-side, keyed by state
//   redirect(start->authorization_url);
//   // GET /auth/callback?code=…&state=…
//   PendingLogin pending = take_pending(state);           // caller: look up by state, use once
//   auto login = oidc.finish_login(code, pending);        // Identity, or Unauthenticated
//
// The client talks to the provider only through HttpClient (discovery, JWKS, token endpoint), reads
// time only from the injected clock, uses the ID token alone to establish who signed in (never the
// access token) and forwards no token anywhere. Thread-safe: concurrent logins share the cached
// discovery document and key set.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/http_client.h"
#include "auth/identity.h"
#include "auth/jwt.h"
#include "core/error.h"

namespace sightline::auth {

struct OidcSettings {
  // The provider's issuer URL exactly as its discovery document spells it (trailing slash and all).
  // https, or http only on a loopback host (localhost, 127.0.0.1, [::1]) for development and tests.
  std::string issuer;
  std::string client_id;
  std::string client_secret;                                         // empty: a public client, authenticated by PKCE alone
  std::string redirect_uri;                                          // our callback, registered with the provider
  std::vector<std::string> scopes = {"openid", "profile", "email"};  // must include "openid"
  std::string email_claim = "email", name_claim = "name", groups_claim = "groups";
  std::string post_logout_redirect_uri;  // optional: where the provider sends the browser after sign-out
};

// Everything about one login attempt that must survive the round trip through the provider.
// Secret: keep it server-side (or sealed), never in a URL.
struct PendingLogin {
  std::string state, nonce, code_verifier, return_to;
  std::chrono::system_clock::time_point created;
};

struct LoginStart {
  std::string authorization_url;  // send the browser here (302)
  PendingLogin pending;
};

struct LoginResult {
  Identity identity;
  std::string id_token;  // kept only as the id_token_hint for end_session_url
};

// Start-up check of the settings: issuer, client_id and redirect_uri present, issuer https (or
// loopback http), "openid" among the scopes. InvalidInput with a message naming the setting.
Result<void> check_oidc_settings(const OidcSettings& settings);

class OidcClient {
 public:
  // `http` must outlive the client. Invalid settings (see check_oidc_settings) do not throw: every
  // call then returns that error.
  OidcClient(OidcSettings settings, HttpClient& http, std::function<std::chrono::system_clock::time_point()> clock);
  OidcClient(const OidcClient&) = delete;
  OidcClient& operator=(const OidcClient&) = delete;

  // A new attempt: fresh random state, nonce and PKCE verifier (256 bits each), and the provider's
  // authorization URL carrying response_type=code, client_id, redirect_uri, scope, state, nonce,
  // code_challenge and code_challenge_method=S256. `return_to` must be a local path ("/…" but not
  // "//…" or "/\…"); anything else becomes "/", so a login link can never redirect off-site.
  // Errors: Unavailable when the provider's discovery document cannot be had.
  Result<LoginStart> begin_login(std::string return_to);

  // Exchanges `code` (with the PKCE verifier) at the token endpoint and verifies the returned ID
  // token against the provider's keys, our client_id, and pending.nonce. The CALLER must have
  // matched the callback's `state` to `pending` (and used it once) before calling this.
  // Errors: InvalidInput for a missing/oversized code; Unauthenticated when the provider refuses
  // the code (4xx: its error and error_description, truncated) or the ID token fails verification;
  // Unavailable when the provider cannot be reached or answers 429/5xx.
  Result<LoginResult> finish_login(const std::string& code, const PendingLogin& pending);

  // The provider's end_session_endpoint with id_token_hint (when not empty), post_logout_redirect_uri
  // (when configured) and client_id. NotFound when the provider publishes no end_session_endpoint:
  // the caller then just ends the local session.
  Result<std::string> end_session_url(const std::string& id_token_hint);

  const OidcSettings& settings() const { return settings_; }

 private:
  struct Discovery {
    std::string authorization_endpoint, token_endpoint, jwks_uri, end_session_endpoint;
  };
  using TimePoint = std::chrono::system_clock::time_point;

  Result<Discovery> discovery();
  Result<Discovery> fetch_discovery();
  Result<JsonWebKeySet> signing_keys(const Discovery& d, const std::optional<std::string>& kid);
  Result<JsonWebKeySet> fetch_jwks(const std::string& jwks_uri);

  const OidcSettings settings_;
  HttpClient& http_;
  const std::function<TimePoint()> clock_;
  const std::optional<Error> settings_error_;

  std::mutex fetch_mutex_;  // serialises trips to the provider for discovery and keys
  std::mutex mutex_;        // guards the fields below; never held during network calls
  std::optional<Discovery> discovery_;
  std::optional<Error> discovery_error_;  // the last failure, answered again for 5 s
  TimePoint discovery_failed_at_;
  std::optional<JsonWebKeySet> jwks_;
  std::optional<Error> jwks_error_;  // the last failure of the first fetch, answered again for 5 s
  TimePoint jwks_failed_at_;
  std::optional<TimePoint> last_unknown_kid_refetch_;  // refetches for unknown kids: one per 30 s
};

}  // namespace sightline::auth
