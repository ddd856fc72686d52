// The door: who is asking, whether they may, and the sign-in/out endpoints.
//
//   AuthGate gate(log, clock);
//   if (auto handled = gate.route(req, snap)) return *handled;   // /auth/*, /api/v1/me
//   auto user = gate.authenticate(req, snap.project);            // 401 when nobody signed in
//   gate.check_csrf(req, *user, snap.project);                   // state-changing requests
//
// Sessions, pending sign-ins and rate-limit counters outlive project reloads that leave the
// `auth:` section alone; a change to it (mode, URLs, secret, timeouts, oidc, tokens file,
// limits) starts afresh: everyone signs in again. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "api/http.h"
#include "core/metrics.h"
#include "api/snapshot.h"
#include "auth/policies.h"
#include "auth/sessions.h"
#include "core/error.h"
#include "core/log.h"

namespace sightline::auth {
class OidcClient;
class HttpClient;
class TokenFile;
}  // namespace sightline::auth

namespace sightline::api {

class AuthGate {
 public:
  AuthGate(Logger& log, auth::Clock clock);
  ~AuthGate();

  // Counts sign-in events and reports live sessions in `registry` (call before serving).
  void register_metrics(metrics::Registry& registry);

  // Answers /auth/login, /auth/callback, /auth/logout and /api/v1/me; nullopt for other paths.
  std::optional<Result<HttpResponse>> route(const HttpRequest& req, const Snapshot& snap);

  // The caller: a session, a bearer token or a trusted proxy's headers (auth on), or the local
  // development user (auth mode none). ErrorKind::Unauthenticated when nobody is signed in.
  Result<auth::User> authenticate(const HttpRequest& req, const config::Project& project);

  // For methods other than GET/HEAD: a session needs its X-CSRF-Token header, a proxied browser
  // a same-origin Origin. Bearer tokens are not ambient credentials and need neither.
  Result<void> check_csrf(const HttpRequest& req, const auth::User& user, const config::Project& project);

  // A slot for one data request of `user`, or ErrorKind::TooManyRequests.
  Result<auth::ConcurrencyLimiter::Guard> admit(const auth::User& user, const config::Project& project);

  // One JSON line per security event (sign-in, sign-out, failures, token use, data access).
  void audit(std::string_view event, const HttpRequest& req, const auth::User* user, nlohmann::json fields) const;

 private:
  struct State;
  std::shared_ptr<State> state_for(const config::Project& project);
  Result<HttpResponse> login(const HttpRequest& req, const config::Project& project, State& state);
  Result<HttpResponse> callback(const HttpRequest& req, const config::Project& project, State& state);
  Result<HttpResponse> logout(const HttpRequest& req, const config::Project& project, State& state);
  Result<HttpResponse> me(const HttpRequest& req, const config::Project& project);

  Logger& log_;
  auth::Clock clock_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<State>> states_;  // the current auth settings' state, and the one before
  metrics::Family<metrics::Counter>* auth_events_ = nullptr;
};

// Values of cookie `name` in a Cookie header (a browser may send several).
std::vector<std::string> cookie_values(std::string_view cookie_header, std::string_view name);
// True when `address` is `cidr` or inside it ("10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8").
bool address_in(const std::string& address, const std::string& cidr);
// True when `text` is an IP address or a CIDR block ("10.0.0.0/8", "::1").
bool valid_address_or_cidr(const std::string& text);
// The client's address: the peer, or, when the peer is a configured load balancer or proxy
// (auth.forwarded_by, or proxy mode's trusted_proxies), the last X-Forwarded-For hop that is not.
std::string client_address(const HttpRequest& req, const config::AuthSpec& auth);
// A post-sign-in destination that stays on this site: a path starting with one "/", else "/".
std::string safe_return_path(std::string_view requested);

}  // namespace sightline::api
