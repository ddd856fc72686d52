// Filtered subsets. When a dashboard state's filters select a small share of a large relation
// and no rollup can answer (a product search together with a units range, say), every widget of
// the state would scan the whole relation for the same few rows. A subset is those rows, made
// once into a table (CREATE TABLE ... AS SELECT * ... WHERE <filters>); the state's widgets then
// read it (plan_widget's `subset`). One scan instead of one per widget.
//
//   SubsetCache subsets(engine, log);
//   auto s = subsets.get(relation, where_sql, params, scope);   // made once, shared after
//   plan_widget(..., &(*s)->relation);
//
// Thread-safe; concurrent requests for the same subset wait for one build. Subsets are evicted
// least recently used beyond `max_subsets` or `max_rows` in all; a table is dropped when the last
// request reading it lets go of it.
#pragma once

#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/log.h"
#include "engine/engine.h"
#include "query/scope.h"

namespace sightline::query {

struct SubsetOptions {
  size_t max_subsets = 8;
  int64_t max_rows = 4'000'000;  // in all subsets together
};

// A made subset: its table, described as a relation with the source's columns.
class Subset {
 public:
  Subset(std::shared_ptr<const engine::Engine> engine, engine::Relation relation, int64_t rows);
  ~Subset();  // drops the table
  Subset(const Subset&) = delete;
  Subset& operator=(const Subset&) = delete;
  const engine::Relation& relation() const { return relation_; }
  int64_t rows() const { return rows_; }

 private:
  std::shared_ptr<const engine::Engine> engine_;
  engine::Relation relation_;
  int64_t rows_;
};

class SubsetCache {
 public:
  SubsetCache(std::shared_ptr<const engine::Engine> engine, Logger& log, SubsetOptions options = {});
  SubsetCache(const SubsetCache&) = delete;
  SubsetCache& operator=(const SubsetCache&) = delete;

  // The rows of `relation` (under `scope`) for which `where_sql` (with `params`) holds, as a
  // table; made on first use. `data_version`: the relation's (DataVersions::of), so a subset
  // made from older files is never used again. `label` and `log` name the request in the log.
  // `lookup`, when not empty, is one condition of `where_sql` on an indexed column
  // (Rollups::indexed: a value list): its rows are found through the index first and the rest
  // of `where_sql` is applied to them, since DuckDB uses an index only for a scan's sole filter.
  Result<std::shared_ptr<const Subset>> get(const engine::Relation& relation, const std::string& where_sql,
                                            const std::vector<engine::Param>& params, const Scope& scope, uint64_t data_version,
                                            const std::string& label, const LogContext* log = nullptr, const SqlFragment& lookup = {});

  size_t size() const;

  // A number worked out once per `key` (e.g. how many widgets of a dashboard state would read the
  // rows): `compute` runs for the first caller, later callers get the remembered value. At most
  // `max_remembered` keys, the oldest forgotten first. `compute` must not call back into this cache.
  int remembered(const std::string& key, const std::function<int()>& compute);

 private:
  struct Slot {
    bool done = false;
    Result<std::shared_ptr<const Subset>> result = std::shared_ptr<const Subset>();
    std::list<std::string>::iterator lru;
  };
  Result<std::shared_ptr<const Subset>> make(const engine::Relation& relation, const std::string& where_sql,
                                             const std::vector<engine::Param>& params, const Scope& scope, const SqlFragment& lookup);
  void evict_locked();

  std::shared_ptr<const engine::Engine> engine_;
  Logger& log_;
  SubsetOptions options_;
  std::string prefix_;  // unique per cache, so tables of two caches on one engine never clash
  mutable std::mutex mutex_;
  std::condition_variable built_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;
  std::list<std::string> lru_;  // front: most recent
  uint64_t next_id_ = 0;
  static constexpr size_t max_remembered = 512;
  std::map<std::string, int> remembered_;
  std::list<std::string> remembered_order_;  // front: oldest
};

}  // namespace sightline::query
