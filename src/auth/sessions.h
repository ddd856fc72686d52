// Server-side sessions and pending sign-ins.
//
//   SessionStore sessions(secret, idle, absolute, clock);
//   auto [cookie, csrf] = sessions.create(identity, id_token);   // at sign-in: a new id
//   auto s = sessions.find(cookie);                              // per request; refreshes idle
//   sessions.remove(cookie);                                     // sign-out: effective at once
//
// The cookie value is 256 random bits; the store keeps only an HMAC of it (keyed with the
// configured secret), so a memory dump or log line of the map never yields a usable cookie.
// CSRF tokens are an HMAC of the session id, so they are checked without extra state.
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/identity.h"
#include "auth/oidc.h"

namespace sightline::auth {

using Clock = std::function<std::chrono::system_clock::time_point()>;

struct Session {
  std::string id;  // server-side id (an HMAC of the cookie value), for logs and the audit trail
  Identity identity;
  std::string id_token;  // for the provider's end-session id_token_hint only
  std::chrono::system_clock::time_point created, last_seen;
};

struct NewSession {
  std::string cookie_value;
  std::string csrf_token;
  std::string id;
};

class SessionStore {
 public:
  SessionStore(std::string secret, std::chrono::milliseconds idle_timeout, std::chrono::milliseconds absolute_timeout, Clock clock,
               size_t max_sessions = 100'000);

  NewSession create(Identity identity, std::string id_token);
  // The live session for a cookie value; refreshes its idle timer. Expired sessions are removed.
  std::optional<Session> find(const std::string& cookie_value);
  // Ends the session (a replayed cookie then finds nothing). Returns whether one existed.
  bool remove(const std::string& cookie_value);
  // The CSRF token belonging to a session (constant for its lifetime).
  std::string csrf_token(const std::string& session_id) const;
  bool csrf_valid(const std::string& session_id, const std::string& presented) const;
  size_t size() const;

 private:
  std::string key_of(const std::string& cookie_value) const;
  void evict_expired_locked(std::chrono::system_clock::time_point now);
  std::string secret_;
  std::chrono::milliseconds idle_, absolute_;
  Clock clock_;
  size_t max_sessions_;
  mutable std::mutex mutex_;
  std::map<std::string, Session> sessions_;
};

// Sign-ins under way: state -> what the callback needs. Each state is usable once, for ten
// minutes, and only by the browser holding the matching binding cookie.
class PendingLogins {
 public:
  explicit PendingLogins(Clock clock, size_t max_pending = 10'000);
  // Stores the attempt; returns the binding value for the browser's sign-in cookie.
  std::string add(PendingLogin login);
  // Removes and returns the attempt for `state` if `binding` matches and it has not expired.
  std::optional<PendingLogin> take(const std::string& state, const std::string& binding);

 private:
  struct Entry {
    PendingLogin login;
    std::string binding_hash;
  };
  Clock clock_;
  size_t max_pending_;
  std::mutex mutex_;
  std::map<std::string, Entry> pending_;
};

// A fixed-window counter per key (e.g. client address): at most `limit` events a minute.
class RateLimiter {
 public:
  RateLimiter(int per_minute, Clock clock, size_t max_keys = 100'000);
  bool allow(const std::string& key);

 private:
  int limit_;
  Clock clock_;
  size_t max_keys_;
  std::mutex mutex_;
  std::map<std::string, std::pair<int64_t, int>> windows_;  // key -> (minute, count)
};

// Concurrent requests per user: acquire() gives a guard while under the limit. A guard keeps
// its limiter alive, so a limiter replaced (config reload) while requests run is freed only
// after the last of them ends.
class ConcurrencyLimiter : public std::enable_shared_from_this<ConcurrencyLimiter> {
 public:
  explicit ConcurrencyLimiter(int per_user) : limit_(per_user) {}
  class Guard {
   public:
    Guard() = default;  // holds nothing (no limit applies)
    Guard(std::shared_ptr<ConcurrencyLimiter> owner, std::string key) : owner_(std::move(owner)), key_(std::move(key)) {}
    Guard(Guard&& o) noexcept = default;
    Guard& operator=(Guard&&) = delete;
    ~Guard() {
      if (owner_) owner_->release(key_);
    }

   private:
    std::shared_ptr<ConcurrencyLimiter> owner_;
    std::string key_;
  };
  // Must be called on a limiter owned by a shared_ptr.
  std::optional<Guard> acquire(const std::string& key);

 private:
  void release(const std::string& key);
  int limit_;
  std::mutex mutex_;
  std::map<std::string, int> running_;
};

}  // namespace sightline::auth
