#include "api/source_board.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <thread>
#include <utility>

namespace sightline::api {

std::string DataVersion::token() const {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return std::to_string(number) + "-" + hex;
}

std::string utc_time_text(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
  return buf;
}

const char* refresh_outcome_name(RefreshOutcome outcome) {
  switch (outcome) {
    case RefreshOutcome::Refreshed: return "refreshed";
    case RefreshOutcome::Unchanged: return "unchanged";
    case RefreshOutcome::Failed: return "failed";
  }
  return "failed";
}

// The subscribers. Their own lock, never held while a listener runs nor together with the
// board's lock.
struct SourceBoard::Listeners {
  struct Slot {
    Listener listener;
    bool removed = false;                  // no call starts once set
    std::vector<std::thread::id> calling;  // threads inside the listener now (one entry per call)
  };
  std::mutex mutex;
  std::condition_variable idle;  // a call ended
  std::map<uint64_t, std::shared_ptr<Slot>> slots;
  uint64_t next_id = 1;

  void remove(uint64_t id) {
    std::unique_lock lock(mutex);
    auto it = slots.find(id);
    if (it == slots.end()) return;
    std::shared_ptr<Slot> slot = it->second;
    slots.erase(it);
    slot->removed = true;
    const auto me = std::this_thread::get_id();
    // Wait for calls on other threads; a call on this thread is the caller itself (a listener
    // ending its own subscription) and ends when it returns.
    idle.wait(lock, [&] { return std::all_of(slot->calling.begin(), slot->calling.end(), [&](auto t) { return t == me; }); });
    // What the listener holds goes now (outside the lock: its destructors may do anything),
    // unless this thread is inside it.
    if (!slot->calling.empty()) return;
    Listener gone = std::move(slot->listener);
    slot->listener = nullptr;
    lock.unlock();
  }
};

SourceBoard::Subscription::Subscription(Subscription&& other) noexcept
    : listeners_(std::move(other.listeners_)), id_(std::exchange(other.id_, 0)) {}

SourceBoard::Subscription& SourceBoard::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    listeners_ = std::move(other.listeners_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void SourceBoard::Subscription::reset() {
  if (!listeners_) return;
  listeners_->remove(id_);
  listeners_.reset();
  id_ = 0;
}

SourceBoard::SourceBoard() : listeners_(std::make_shared<Listeners>()) {}
SourceBoard::~SourceBoard() = default;

SourceBoard::Subscription SourceBoard::subscribe(Listener listener) {
  std::lock_guard lock(listeners_->mutex);
  const uint64_t id = listeners_->next_id++;
  auto slot = std::make_shared<Listeners::Slot>();
  slot->listener = std::move(listener);
  listeners_->slots.emplace(id, std::move(slot));
  return Subscription(listeners_, id);
}

size_t SourceBoard::subscribers() const {
  std::lock_guard lock(listeners_->mutex);
  return listeners_->slots.size();
}

void SourceBoard::notify(const std::string& relation, const DataVersion& version) {
  std::vector<std::shared_ptr<Listeners::Slot>> slots;
  {
    std::lock_guard lock(listeners_->mutex);
    if (listeners_->slots.empty()) return;
    slots.reserve(listeners_->slots.size());
    for (const auto& [id, slot] : listeners_->slots) slots.push_back(slot);
  }
  const auto me = std::this_thread::get_id();
  for (const auto& slot : slots) {
    {
      std::lock_guard lock(listeners_->mutex);
      if (slot->removed) continue;
      slot->calling.push_back(me);
    }
    try {
      slot->listener(relation, version);
    } catch (...) {
      // A listener's failure is its own business: the others still hear of the version.
    }
    {
      std::lock_guard lock(listeners_->mutex);
      slot->calling.erase(std::find(slot->calling.begin(), slot->calling.end(), me));
    }
    listeners_->idle.notify_all();
  }
}

DataVersion SourceBoard::version(const std::string& relation, uint64_t hash, const std::function<int64_t()>& as_of) {
  DataVersion next;
  {
    std::lock_guard lock(mutex_);
    auto it = versions_.find(relation);
    if (it != versions_.end() && it->second.hash == hash) return it->second;
    const bool first = it == versions_.end();
    next = DataVersion{first ? 1 : it->second.number + 1, hash, as_of ? as_of() : 0};
    versions_[relation] = next;
    if (first) return next;
  }
  notify(relation, next);
  return next;
}

std::optional<DataVersion> SourceBoard::last_version(const std::string& relation) const {
  std::lock_guard lock(mutex_);
  auto it = versions_.find(relation);
  if (it == versions_.end()) return std::nullopt;
  return it->second;
}

RefreshStatus& SourceBoard::slot(const std::string& source) {
  auto& s = refreshes_[source];
  s.source = source;
  return s;
}

void SourceBoard::request(const std::string& source) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    requested_.insert(source);
    slot(source).requested = true;
    wake = wake_;
  }
  if (wake) wake();
}

std::vector<std::string> SourceBoard::take_requests() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out(requested_.begin(), requested_.end());
  requested_.clear();
  for (const auto& name : out) {
    auto& s = slot(name);
    s.requested = false;
    s.running = true;
  }
  return out;
}

void SourceBoard::started(const std::string& source) {
  std::lock_guard lock(mutex_);
  slot(source).running = true;
}

void SourceBoard::finished(const std::string& source, RefreshOutcome outcome, int64_t now_ms, const std::string& error) {
  std::lock_guard lock(mutex_);
  auto& s = slot(source);
  s.running = false;
  s.last_check_ms = now_ms;
  s.last_outcome = outcome;
  if (outcome == RefreshOutcome::Failed) {
    ++s.failed;
    s.last_error = error.empty() ? "the refresh failed" : error;
    if (s.failing_since_ms == 0) s.failing_since_ms = now_ms;
    return;
  }
  ++(outcome == RefreshOutcome::Refreshed ? s.refreshed : s.unchanged);
  s.last_success_ms = now_ms;
  s.last_error.clear();
  s.failing_since_ms = 0;
}

void SourceBoard::set_next_check(const std::string& source, std::optional<int64_t> next_ms) {
  std::lock_guard lock(mutex_);
  slot(source).next_check_ms = next_ms;
}

void SourceBoard::on_request(std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  wake_ = std::move(wake);
}

RefreshStatus SourceBoard::status(const std::string& source) const {
  std::lock_guard lock(mutex_);
  auto it = refreshes_.find(source);
  if (it != refreshes_.end()) return it->second;
  RefreshStatus s;
  s.source = source;
  return s;
}

std::vector<std::string> SourceBoard::failing() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, s] : refreshes_)
    if (s.last_outcome == RefreshOutcome::Failed) out.push_back(name);
  return out;
}

}  // namespace sightline::api
