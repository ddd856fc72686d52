// A fixed pool of DuckDB connections on one database, with per-query deadlines.
//
//   ConnectionPool pool(db, 4);
//   auto out = pool.run(std::chrono::seconds(10), [&](Connection& c) { return c.query(sql, 1000); });
//
// Thread-safe. run() waits for a free connection (up to the queue timeout: Unavailable after
// that), runs the function, and interrupts the query if it is still running at the deadline
// (the function then sees ErrorKind::Timeout from DuckDB).
//
// The pool's connections are the ones that answer requests: each is restricted
// (Connection::restrict_statements), so they read and create in-memory tables, nothing else.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/cancel.h"
#include "engine/duckdb.h"

namespace sightline::engine {

class ConnectionPool {
 public:
  // Opens `size` restricted connections.
  static Result<std::unique_ptr<ConnectionPool>> create(Database& db, int size, std::chrono::milliseconds queue_timeout);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // With `cancel`, cancel->cancel() interrupts the function's query, which then fails with
  // ErrorKind::Cancelled (as does a run that starts after it).
  template <class T>
  Result<T> run(std::chrono::milliseconds time_limit, const std::function<Result<T>(Connection&)>& fn, Cancellation* cancel = nullptr) {
    if (cancel && cancel->cancelled()) return fail(cancelled());
    auto lease = acquire();
    if (!lease) return fail(lease.error());
    Connection* conn = *lease;
    std::optional<uint64_t> entered;
    if (cancel && !(entered = cancel->enter([conn] { conn->interrupt(); }))) {
      release(conn);
      return fail(cancelled());
    }
    uint64_t ticket = arm(conn, time_limit);
    Result<T> out = fn(*conn);
    disarm(ticket);
    if (entered) cancel->leave(*entered);
    release(conn);
    if (!out && cancel && cancel->cancelled() && out.error().kind == ErrorKind::Timeout) return fail(cancelled());
    return out;
  }

  int size() const { return static_cast<int>(all_.size()); }
  // For shutdown: interrupts every running query and makes every later run() fail
  // (Unavailable) at once, so background work such as building rollups ends promptly.
  void close();
  int in_use() const;
  // Callers waiting for a free connection.
  int waiting() const;

 private:
  ConnectionPool() = default;
  Result<Connection*> acquire();
  void release(Connection* c);
  uint64_t arm(Connection* c, std::chrono::milliseconds limit);
  void disarm(uint64_t ticket);
  void watch();
  static Error cancelled();

  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> free_;
  std::chrono::milliseconds queue_timeout_{0};
  bool closed_ = false;
  int waiting_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable available_;

  // Watchdog: deadlines of running queries, by ticket.
  struct Deadline {
    Connection* conn;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex watch_mutex_;
  std::condition_variable watch_cv_;
  std::map<uint64_t, Deadline> deadlines_;
  uint64_t next_ticket_ = 1;
  bool stopping_ = false;
  std::thread watchdog_;
};

}  // namespace sightline::engine
