#include "query/service.h"

#include <nlohmann/json.hpp>

namespace sightline::query {

size_t estimate_bytes(const engine::QueryOutput& out) {
  size_t bytes = 256;
  for (const auto& b : out.table.batches) {
    for (int64_t c = 0; c < b->n_children; ++c) {
      const ArrowArray* col = b->children[c];
      bytes += static_cast<size_t>(col->length) * 16;
      // Variable-width data: the last offset is the byte length of the values.
      const ArrowSchema* s = out.table.schema->children[c];
      if (s->format && (s->format[0] == 'u' || s->format[0] == 'z') && s->format[1] == '\0' && col->n_buffers >= 3 && col->buffers[1]) {
        bytes += static_cast<size_t>(static_cast<const int32_t*>(col->buffers[1])[col->offset + col->length]);
      }
    }
  }
  return bytes;
}

QueryService::QueryService(size_t cache_bytes, Logger& log) : capacity_(cache_bytes), log_(log) {}

size_t QueryService::cached_bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

QueryService::CacheCounts QueryService::cache_counts() const { return {hits_.load(), misses_.load(), evictions_.load()}; }

size_t QueryService::cached_entries() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void QueryService::insert(const std::string& key, std::shared_ptr<const engine::QueryOutput> output) {
  size_t bytes = estimate_bytes(*output) + key.size();
  if (bytes > capacity_ / 4) return;  // one answer never takes over the cache
  if (entries_.count(key)) return;
  lru_.push_front(key);
  entries_[key] = Entry{std::move(output), bytes, lru_.begin()};
  bytes_ += bytes;
  while (bytes_ > capacity_ && !lru_.empty()) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.bytes;
    entries_.erase(victim);
    lru_.pop_back();
    ++evictions_;
  }
}

Result<RunResult> QueryService::run(const engine::Engine& engine, const Statement& st, const Scope& scope, const RunContext& context,
                                    const std::string& label, const std::string& read_from) {
  auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count(); };
  // One span per statement: the cache lookup and, on a miss, the engine's run.
  ScopedSpan span(context.tracer, context.trace, "sightline.statement");
  span.attr("sightline.statement", label);
  span.attr("db.system", std::string("duckdb"));
  if (!read_from.empty()) span.attr("sightline.read_from", read_from);
  std::string key = st.cache_key(scope, context.data_version);
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::unique_lock lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      auto output = it->second.output;
      lock.unlock();
      ++hits_;
      log_.info("query", {{"statement", label}, {"duration_ms", elapsed()}, {"rows", output->table.num_rows}, {"cache", "hit"}},
                &context.log);
      span.attr("sightline.cache", std::string("hit"));
      return RunResult{output, true, elapsed()};
    }
    if (auto f = flights_.find(key); f != flights_.end()) {
      flight = f->second;
    } else {
      flight = std::make_shared<Flight>();
      flights_[key] = flight;
      leader = true;
    }
    if (!leader) {
      flight_done_.wait(lock, [&] { return flight->done; });
      if (!flight->result) {
        // The first caller's client went away: that is not this caller's answer.
        if (flight->result.error().kind == ErrorKind::Cancelled && !(context.cancel && context.cancel->cancelled())) {
          lock.unlock();
          return run(engine, st, scope, context, label, read_from);
        }
        return fail(flight->result.error());
      }
      auto output = *flight->result;
      lock.unlock();
      ++hits_;
      log_.info("query", {{"statement", label}, {"duration_ms", elapsed()}, {"rows", output->table.num_rows}, {"cache", "hit"}},
                &context.log);
      return RunResult{output, true, elapsed()};
    }
  }

  ++misses_;
  auto out = engine.pool().run<engine::QueryOutput>(engine.query_timeout(), [&](engine::Connection& c) -> Result<engine::QueryOutput> {
    auto stmt = c.prepare(st.sql);
    if (!stmt) return fail(stmt.error());
    return stmt->execute(st.params, st.max_rows);
  }, context.cancel.get());
  Result<std::shared_ptr<const engine::QueryOutput>> shared =
      out ? Result<std::shared_ptr<const engine::QueryOutput>>(std::make_shared<const engine::QueryOutput>(std::move(*out)))
          : fail(out.error());
  {
    std::lock_guard lock(mutex_);
    if (shared) insert(key, *shared);
    flight->result = shared;
    flight->done = true;
    flights_.erase(key);
  }
  flight_done_.notify_all();
  double ms = elapsed();
  span.attr("sightline.cache", std::string("miss"));
  if (!shared) {
    log_.warn("query", {{"statement", label}, {"duration_ms", ms}, {"error", error_kind_name(shared.error().kind)}}, &context.log);
    span.fail(error_kind_name(shared.error().kind));
    return fail(shared.error());
  }
  span.attr("sightline.rows", static_cast<int64_t>((*shared)->table.num_rows));
  nlohmann::json fields = {{"statement", label}, {"duration_ms", ms}, {"rows", (*shared)->table.num_rows}, {"cache", "miss"}};
  if (!read_from.empty()) fields["read_from"] = read_from;
  log_.info("query", fields, &context.log);
  return RunResult{*shared, false, ms};
}

Result<engine::StreamedRows> QueryService::stream(const engine::Engine& engine, const Statement& st, const RunContext& context,
                                                  const std::string& label, const std::string& read_from, const engine::BatchSink& sink) {
  auto started = std::chrono::steady_clock::now();
  ScopedSpan span(context.tracer, context.trace, "sightline.statement");
  span.attr("sightline.statement", label);
  span.attr("db.system", std::string("duckdb"));
  span.attr("sightline.cache", std::string("bypass"));
  if (!read_from.empty()) span.attr("sightline.read_from", read_from);
  auto out = engine.pool().run<engine::StreamedRows>(engine.export_timeout(), [&](engine::Connection& c) -> Result<engine::StreamedRows> {
    auto stmt = c.prepare(st.sql);
    if (!stmt) return fail(stmt.error());
    return stmt->execute_streaming(st.params, st.max_rows, sink);
  }, context.cancel.get());
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (!out) {
    log_.warn("query", {{"statement", label}, {"duration_ms", ms}, {"error", error_kind_name(out.error().kind)}, {"cache", "bypass"}},
              &context.log);
    span.fail(error_kind_name(out.error().kind));
    return fail(out.error());
  }
  span.attr("sightline.rows", out->rows);
  nlohmann::json fields = {{"statement", label}, {"duration_ms", ms}, {"rows", out->rows}, {"cache", "bypass"}};
  if (!read_from.empty()) fields["read_from"] = read_from;
  log_.info("query", fields, &context.log);
  return out;
}

}  // namespace sightline::query
