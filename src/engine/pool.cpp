#include "engine/pool.h"

namespace sightline::engine {

Result<std::unique_ptr<ConnectionPool>> ConnectionPool::create(Database& db, int size, std::chrono::milliseconds queue_timeout) {
  std::unique_ptr<ConnectionPool> pool(new ConnectionPool());
  pool->queue_timeout_ = queue_timeout;
  for (int i = 0; i < std::max(1, size); ++i) {
    auto c = Connection::open(db);
    if (!c) return fail(c.error());
    (*c)->restrict_statements();
    pool->free_.push_back(c->get());
    pool->all_.push_back(std::move(*c));
  }
  pool->watchdog_ = std::thread([p = pool.get()] { p->watch(); });
  return pool;
}

ConnectionPool::~ConnectionPool() {
  {
    std::lock_guard lock(watch_mutex_);
    stopping_ = true;
  }
  watch_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

Error ConnectionPool::cancelled() {
  return Error{ErrorKind::Cancelled, "the request was cancelled: its client went away", "", ""};
}

int ConnectionPool::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_;
}

int ConnectionPool::in_use() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(all_.size() - free_.size());
}

Result<Connection*> ConnectionPool::acquire() {
  std::unique_lock lock(mutex_);
  if (closed_) return fail(ErrorKind::Unavailable, "the server is shutting down");
  ++waiting_;
  bool got = available_.wait_for(lock, queue_timeout_, [&] { return closed_ || !free_.empty(); });
  --waiting_;
  if (!got) {
    return fail(ErrorKind::Unavailable,
                "the server is busy: every query slot stayed taken for " + std::to_string(queue_timeout_.count()) + " ms", "retry shortly");
  }
  if (closed_) return fail(ErrorKind::Unavailable, "the server is shutting down");
  Connection* c = free_.back();
  free_.pop_back();
  return c;
}

void ConnectionPool::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  available_.notify_all();
  std::lock_guard lock(watch_mutex_);
  for (auto& [ticket, deadline] : deadlines_) deadline.conn->interrupt();
  deadlines_.clear();
}

void ConnectionPool::release(Connection* c) {
  {
    std::lock_guard lock(mutex_);
    free_.push_back(c);
  }
  available_.notify_one();
}

uint64_t ConnectionPool::arm(Connection* c, std::chrono::milliseconds limit) {
  std::lock_guard lock(watch_mutex_);
  uint64_t ticket = next_ticket_++;
  deadlines_[ticket] = {c, std::chrono::steady_clock::now() + limit};
  watch_cv_.notify_all();
  return ticket;
}

void ConnectionPool::disarm(uint64_t ticket) {
  // Under the watch mutex, so the watchdog can never interrupt a connection after its query
  // ended and before the next one starts.
  std::lock_guard lock(watch_mutex_);
  deadlines_.erase(ticket);
}

void ConnectionPool::watch() {
  std::unique_lock lock(watch_mutex_);
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    auto next = std::chrono::steady_clock::time_point::max();
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (it->second.at <= now) {
        it->second.conn->interrupt();
        it = deadlines_.erase(it);
      } else {
        next = std::min(next, it->second.at);
        ++it;
      }
    }
    if (next == std::chrono::steady_clock::time_point::max())
      watch_cv_.wait(lock);
    else
      watch_cv_.wait_until(lock, next);
  }
}

}  // namespace sightline::engine
