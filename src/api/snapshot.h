// The project as currently served: config + engine, immutable, swapped whole on reload.
//
//   auto snap = holder.get();   // keep it for the whole request
//   holder.set(new_snapshot);   // requests in flight finish on the one they hold
//
// SnapshotHolder is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <vector>
#include <mutex>
#include <string>

#include "config/project.h"
#include "engine/data_checks.h"
#include "engine/engine.h"
#include "query/rollup.h"
#include "query/sql_widgets.h"
#include "query/subset.h"

namespace sightline::api {

struct Snapshot {
  config::Project project;
  std::shared_ptr<const engine::Engine> engine;
  std::shared_ptr<const query::Rollups> rollups;  // never null (may hold none)
  std::shared_ptr<query::SubsetCache> subsets;    // filtered subsets of this engine's relations; may be null
  bool rollups_pending = false;                   // being built in the background
  std::shared_ptr<const query::BuildProgress> rollup_progress;  // while pending: how far (may be null)
  bool rollups_enabled = true;                    // false under --no-rollups
  std::map<std::string, std::vector<std::string>> sql_widget_columns;  // "dashboard/widget" -> result columns
  query::SqlWidgetEquivalents sql_equivalents;  // own-SQL widgets that are plain aggregates, as declarative ones

  // The project as pre-aggregates are planned for: own-SQL widgets with declarative equivalents
  // replaced by them.
  config::Project planning_project() const { return query::with_equivalents(project, sql_equivalents); }
  uint64_t generation = 0;  // 1 for the first load, +1 per successful reload
  // Sources read at query time whose data failed a complete read at load (the log says why).
  std::vector<std::string> unreadable_sources;
  // The data checks of each source with `checks:` (engine/data_checks.h), as they ran on this
  // snapshot's engine: when it was built, or when a reload changed the rules.
  std::map<std::string, engine::SourceChecks> checks;
};

class SnapshotHolder {
 public:
  std::shared_ptr<const Snapshot> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void set(std::shared_ptr<const Snapshot> s) {
    std::lock_guard lock(mutex_);
    current_ = std::move(s);
  }
  // Swaps in `s` only if `expected` is still current (a reload may have replaced it meanwhile).
  bool replace_if(const std::shared_ptr<const Snapshot>& expected, std::shared_ptr<const Snapshot> s) {
    std::lock_guard lock(mutex_);
    if (current_ != expected) return false;
    current_ = std::move(s);
    return true;
  }
  // The last reload error ("" when the last reload succeeded), shown by /readyz.
  std::string last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
  }
  void set_last_error(std::string e) {
    std::lock_guard lock(mutex_);
    last_error_ = std::move(e);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> current_;
  std::string last_error_;
};

}  // namespace sightline::api
