#include "query/subset.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "arrow/json_writer.h"
#include "query/planner.h"

namespace sightline::query {
using engine::quote_identifier;

namespace {

std::string cache_key(const engine::Relation& relation, const std::string& where_sql, const std::vector<engine::Param>& params,
                      const Scope& scope, uint64_t data_version) {
  Statement probe;  // reuse the statement key's exact encoding of parameters
  probe.sql = relation.name + '\x1e' + where_sql;
  probe.params = params;
  return probe.cache_key(scope, data_version);
}

}  // namespace

Subset::Subset(std::shared_ptr<const engine::Engine> engine, engine::Relation relation, int64_t rows)
    : engine_(std::move(engine)), relation_(std::move(relation)), rows_(rows) {}

Subset::~Subset() {
  // Nothing can read the table any more: every plan that names it holds this object.
  (void)engine_->pool().run<int>(std::chrono::seconds(30), [&](engine::Connection& c) -> Result<int> {
    auto done = c.execute("DROP TABLE IF EXISTS " + relation_.sql_name());
    if (!done) return fail(done.error());
    return 0;
  });
}

SubsetCache::SubsetCache(std::shared_ptr<const engine::Engine> engine, Logger& log, SubsetOptions options)
    : engine_(std::move(engine)), log_(log), options_(options) {
  std::random_device random;
  char buf[24];
  std::snprintf(buf, sizeof buf, "%08x%08x", random(), random());
  prefix_ = std::string("__sightline_subset_") + buf + "_";
}

size_t SubsetCache::size() const {
  std::lock_guard lock(mutex_);
  return slots_.size();
}

Result<std::shared_ptr<const Subset>> SubsetCache::get(const engine::Relation& relation, const std::string& where_sql,
                                                       const std::vector<engine::Param>& params, const Scope& scope, uint64_t data_version,
                                                       const std::string& label, const LogContext* log, const SqlFragment& lookup) {
  const std::string key = cache_key(relation, where_sql, params, scope, data_version);
  std::shared_ptr<Slot> slot;
  {
    std::unique_lock lock(mutex_);
    auto it = slots_.find(key);
    if (it == slots_.end()) {
      slot = std::make_shared<Slot>();
      lru_.push_front(key);
      slot->lru = lru_.begin();
      slots_.emplace(key, slot);
    } else {
      slot = it->second;
      lru_.splice(lru_.begin(), lru_, slot->lru);
      built_.wait(lock, [&] { return slot->done; });
      return slot->result;
    }
  }
  auto started = std::chrono::steady_clock::now();
  auto made = make(relation, where_sql, params, scope, lookup);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (made) {
    log_.info("subset",
              {{"statement", label},
               {"relation", relation.name},
               {"table", (*made)->relation().name},
               {"rows", (*made)->rows()},
               {"duration_ms", std::round(ms * 100) / 100}},
              log);
  } else {
    log_.warn("subset_failed", {{"statement", label}, {"relation", relation.name}, {"reason", made.error().for_author()}}, log);
  }
  std::lock_guard lock(mutex_);
  slot->result = made;
  slot->done = true;
  if (!made) {
    // Not kept: the next request tries again (e.g. after a time-out under load).
    lru_.erase(slot->lru);
    slots_.erase(key);
  } else {
    evict_locked();
  }
  built_.notify_all();
  return made;
}

int SubsetCache::remembered(const std::string& key, const std::function<int()>& compute) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = remembered_.find(key); it != remembered_.end()) return it->second;
  }
  const int value = compute();  // outside the lock: two first callers may both compute, and agree
  std::lock_guard lock(mutex_);
  if (remembered_.emplace(key, value).second) {
    remembered_order_.push_back(key);
    if (remembered_order_.size() > max_remembered) {
      remembered_.erase(remembered_order_.front());
      remembered_order_.pop_front();
    }
  }
  return value;
}

void SubsetCache::evict_locked() {
  auto total_rows = [&] {
    int64_t rows = 0;
    for (const auto& [k, s] : slots_)
      if (s->done && s->result) rows += (*s->result)->rows();
    return rows;
  };
  // Oldest first, never the one just made (front), never one still being made.
  while (slots_.size() > 1 && (slots_.size() > options_.max_subsets || total_rows() > options_.max_rows)) {
    auto victim = std::prev(lru_.end());
    auto it = slots_.find(*victim);
    if (victim == lru_.begin() || !it->second->done) break;
    lru_.erase(victim);
    slots_.erase(it);  // the table goes when the last reader lets go of it
  }
}

Result<std::shared_ptr<const Subset>> SubsetCache::make(const engine::Relation& relation, const std::string& where_sql,
                                                        const std::vector<engine::Param>& params, const Scope& scope,
                                                        const SqlFragment& lookup) {
  engine::Relation described = relation;
  described.is_model = false;
  described.database = std::string(engine::kScratchDatabase);  // never written to a state file
  {
    std::lock_guard lock(mutex_);
    described.name = prefix_ + std::to_string(++next_id_);
  }
  const std::string table = described.sql_name();
  std::vector<engine::Param> all;
  std::string from = relation.sql_name();
  if (!lookup.empty()) {
    // Materialized, so that the other conditions are not pushed into the lookup's scan.
    from = "(WITH lookup_ AS MATERIALIZED (SELECT * FROM " + from + " WHERE " + lookup.sql + ") SELECT * FROM lookup_) AS " +
           engine::quote_identifier(relation.name);
    all = lookup.params;
  }
  SqlFragment restrict = scope.predicate_for(relation.name);
  std::string where = where_sql.empty() ? "TRUE" : where_sql;
  if (!restrict.empty()) {
    where = "(" + restrict.sql + ") AND (" + where + ")";
    all.insert(all.end(), restrict.params.begin(), restrict.params.end());
  }
  all.insert(all.end(), params.begin(), params.end());
  const std::string sql = "CREATE TABLE " + table + " AS SELECT * FROM " + from + " WHERE " + where;
  auto created = engine_->pool().run<int64_t>(engine_->query_timeout(), [&](engine::Connection& c) -> Result<int64_t> {
    auto stmt = c.prepare(sql);
    if (!stmt) return fail(stmt.error());
    auto out = stmt->execute(all, 1);
    if (!out) return fail(out.error());
    auto rows = arrow::write_json_rows(out->table);  // CREATE TABLE AS answers one row: the row count
    if (!rows) return fail(rows.error());
    auto parsed = nlohmann::json::parse(*rows, nullptr, false);
    if (parsed.is_discarded() || parsed["rows"].empty()) return int64_t{-1};
    const auto& n = parsed["rows"][0][0];
    return n.is_number() ? n.get<int64_t>() : n.is_string() ? std::stoll(n.get<std::string>()) : int64_t{-1};
  });
  if (!created) {
    (void)engine_->pool().run<int>(std::chrono::seconds(30), [&](engine::Connection& c) -> Result<int> {
      (void)c.execute("DROP TABLE IF EXISTS " + table);
      return 0;
    });
    return fail(created.error());
  }
  return std::make_shared<const Subset>(engine_, std::move(described), *created);
}

}  // namespace sightline::query
