#include "core/cancel.h"

namespace sightline {

void Cancellation::cancel() {
  // Under the lock, so that no interrupt runs after its work has left.
  std::lock_guard lock(mutex_);
  if (cancelled_) return;
  cancelled_ = true;
  for (auto& [ticket, interrupt] : running_) interrupt();
  running_.clear();
}

bool Cancellation::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

std::optional<uint64_t> Cancellation::enter(std::function<void()> interrupt) {
  std::lock_guard lock(mutex_);
  if (cancelled_) return std::nullopt;
  uint64_t ticket = next_++;
  running_.emplace(ticket, std::move(interrupt));
  return ticket;
}

void Cancellation::leave(uint64_t ticket) {
  std::lock_guard lock(mutex_);
  running_.erase(ticket);
}

}  // namespace sightline
