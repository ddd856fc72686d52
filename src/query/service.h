// Runs planned statements on the engine, through a result cache.
//
//   QueryService service(256 << 20, log);
//   RunContext context{engine.data_versions().all, {{"request_id", id}}};   // once per request
//   auto out = service.run(engine, plan.data, scope, context, "sales/revenue", "orders");
//
// Thread-safe. Identical concurrent statements run once: later callers wait for the first
// (single flight), so a burst of the same dashboard view costs one query per widget. When the
// first caller's client goes away (its statement cancelled), a waiting caller runs it itself.
#pragma once

#include <condition_variable>
#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/cancel.h"
#include "core/log.h"
#include "core/trace.h"
#include "engine/engine.h"
#include "query/planner.h"

namespace sightline::query {

struct RunResult {
  std::shared_ptr<const engine::QueryOutput> output;
  bool cache_hit = false;
  double millis = 0;
};

// What every statement of one request shares: the data version it reads (taken once, before
// anything is read: part of every cache key, so an answer is never served for newer data than
// it was read from) and the fields its log lines carry (request id, user).
struct RunContext {
  uint64_t data_version = 0;
  LogContext log;
  // Set when the request's client can go away before the answer (see HttpRequest::cancel): its
  // statements are then interrupted and fail with ErrorKind::Cancelled.
  std::shared_ptr<Cancellation> cancel;
  // Tracing: statements are spans under `trace` (null tracer: not traced).
  std::optional<TraceContext> trace;
  Tracer* tracer = nullptr;
};

class QueryService {
 public:
  QueryService(size_t cache_bytes, Logger& log);

  // `label` names the statement in logs (e.g. "sales/revenue"); `read_from` says which relation
  // or rollup it reads ("" when not worth saying).
  Result<RunResult> run(const engine::Engine& engine, const Statement& statement, const Scope& scope, const RunContext& context,
                        const std::string& label, const std::string& read_from);

  // Runs `statement` past the cache, handing each batch of its result to `sink` as the engine
  // produces it (a download: see engine::PreparedStatement::execute_streaming), for at most the
  // engine's export_timeout. Logged and traced like run().
  Result<engine::StreamedRows> stream(const engine::Engine& engine, const Statement& statement, const RunContext& context,
                                      const std::string& label, const std::string& read_from, const engine::BatchSink& sink);
  size_t cached_bytes() const;
  size_t cached_entries() const;
  // Since start: answers from the cache (or a statement already running), statements run, and
  // answers evicted to make room.
  struct CacheCounts {
    uint64_t hits = 0, misses = 0, evictions = 0;
  };
  CacheCounts cache_counts() const;

 private:
  struct Entry {
    std::shared_ptr<const engine::QueryOutput> output;
    size_t bytes = 0;
    std::list<std::string>::iterator lru;
  };
  struct Flight {
    bool done = false;
    Result<std::shared_ptr<const engine::QueryOutput>> result = std::shared_ptr<const engine::QueryOutput>();
  };
  void insert(const std::string& key, std::shared_ptr<const engine::QueryOutput> output);

  size_t capacity_;
  Logger& log_;
  mutable std::mutex mutex_;
  std::condition_variable flight_done_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // front: most recent
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
  size_t bytes_ = 0;
  std::atomic<uint64_t> hits_{0}, misses_{0}, evictions_{0};
};

// Rough memory held by a result (for cache accounting).
size_t estimate_bytes(const engine::QueryOutput& out);

}  // namespace sightline::query
