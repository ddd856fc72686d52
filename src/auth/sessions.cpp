#include "auth/sessions.h"

#include "auth/crypto.h"

namespace sightline::auth {

SessionStore::SessionStore(std::string secret, std::chrono::milliseconds idle_timeout, std::chrono::milliseconds absolute_timeout,
                           Clock clock, size_t max_sessions)
    : secret_(std::move(secret)), idle_(idle_timeout), absolute_(absolute_timeout), clock_(std::move(clock)), max_sessions_(max_sessions) {}

std::string SessionStore::key_of(const std::string& cookie_value) const {
  return base64url_encode(hmac_sha256(secret_, "session:" + cookie_value));
}

std::string SessionStore::csrf_token(const std::string& session_id) const {
  return base64url_encode(hmac_sha256(secret_, "csrf:" + session_id));
}

bool SessionStore::csrf_valid(const std::string& session_id, const std::string& presented) const {
  return !presented.empty() && constant_time_equal(csrf_token(session_id), presented);
}

void SessionStore::evict_expired_locked(std::chrono::system_clock::time_point now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    bool expired = now - it->second.last_seen > idle_ || now - it->second.created > absolute_;
    it = expired ? sessions_.erase(it) : std::next(it);
  }
}

NewSession SessionStore::create(Identity identity, std::string id_token) {
  NewSession out;
  out.cookie_value = random_token(32);
  out.id = key_of(out.cookie_value);
  out.csrf_token = csrf_token(out.id);
  auto now = clock_();
  std::lock_guard lock(mutex_);
  if (sessions_.size() >= max_sessions_) evict_expired_locked(now);
  if (sessions_.size() >= max_sessions_) {
    // Still full: drop the least recently used session rather than refuse sign-ins.
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(),
                                   [](const auto& a, const auto& b) { return a.second.last_seen < b.second.last_seen; });
    sessions_.erase(oldest);
  }
  sessions_[out.id] = Session{out.id, std::move(identity), std::move(id_token), now, now};
  return out;
}

std::optional<Session> SessionStore::find(const std::string& cookie_value) {
  if (cookie_value.empty() || cookie_value.size() > 128) return std::nullopt;
  std::string key = key_of(cookie_value);
  auto now = clock_();
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return std::nullopt;
  if (now - it->second.last_seen > idle_ || now - it->second.created > absolute_) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.last_seen = now;
  return it->second;
}

bool SessionStore::remove(const std::string& cookie_value) {
  std::string key = key_of(cookie_value);
  std::lock_guard lock(mutex_);
  return sessions_.erase(key) > 0;
}

size_t SessionStore::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

PendingLogins::PendingLogins(Clock clock, size_t max_pending) : clock_(std::move(clock)), max_pending_(max_pending) {}

std::string PendingLogins::add(PendingLogin login) {
  std::string binding = random_token(32);
  auto now = clock_();
  std::lock_guard lock(mutex_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    it = now - it->second.login.created > std::chrono::minutes(10) ? pending_.erase(it) : std::next(it);
  }
  if (pending_.size() >= max_pending_) {
    auto oldest = std::min_element(pending_.begin(), pending_.end(),
                                   [](const auto& a, const auto& b) { return a.second.login.created < b.second.login.created; });
    pending_.erase(oldest);
  }
  std::string state = login.state;
  pending_[state] = Entry{std::move(login), sha256(binding)};
  return binding;
}

std::optional<PendingLogin> PendingLogins::take(const std::string& state, const std::string& binding) {
  if (state.empty() || state.size() > 128) return std::nullopt;
  auto now = clock_();
  std::lock_guard lock(mutex_);
  auto it = pending_.find(state);
  if (it == pending_.end()) return std::nullopt;
  // A wrong binding leaves the attempt in place: the real browser may still complete it.
  if (binding.empty() || !constant_time_equal(it->second.binding_hash, sha256(binding))) return std::nullopt;
  PendingLogin login = std::move(it->second.login);
  pending_.erase(it);
  if (now - login.created > std::chrono::minutes(10)) return std::nullopt;
  return login;
}

RateLimiter::RateLimiter(int per_minute, Clock clock, size_t max_keys)
    : limit_(per_minute), clock_(std::move(clock)), max_keys_(max_keys) {}

bool RateLimiter::allow(const std::string& key) {
  int64_t minute = std::chrono::duration_cast<std::chrono::minutes>(clock_().time_since_epoch()).count();
  std::lock_guard lock(mutex_);
  if (windows_.size() >= max_keys_ && !windows_.count(key)) {
    for (auto it = windows_.begin(); it != windows_.end();) it = it->second.first != minute ? windows_.erase(it) : std::next(it);
    // A flood of distinct keys: new keys wait for the next minute, known ones keep their budget.
    if (windows_.size() >= max_keys_) return false;
  }
  auto& [window, count] = windows_[key];
  if (window != minute) window = minute, count = 0;
  if (count >= limit_) return false;
  ++count;
  return true;
}

std::optional<ConcurrencyLimiter::Guard> ConcurrencyLimiter::acquire(const std::string& key) {
  std::lock_guard lock(mutex_);
  int& n = running_[key];
  if (n >= limit_) return std::nullopt;
  ++n;
  return Guard(shared_from_this(), key);
}

void ConcurrencyLimiter::release(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(key);
  if (it == running_.end()) return;
  if (--it->second <= 0) running_.erase(it);
}

}  // namespace sightline::auth
