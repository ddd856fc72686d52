// Keeps sources fresh (docs/freshness.md). Each source's `refresh:` policy says when its data is
// read again: every fixed period, on a cron schedule in the project's time zone, once its files
// have changed and then stayed unchanged for the debounce time, or when someone with a refresh
// role asks (POST /api/v1/sources/{name}/refresh, through api::SourceBoard).
//
// What a refresh does depends on how the source is read:
//   - read at load (materialized, or a DuckDB file): when its files differ from those it was read
//     from, a new snapshot is built beside the serving one: a new engine (a new state file
//     generation), its rollups built before the swap, so answers stay fast; requests in flight
//     finish on the snapshot they hold. A build that fails keeps the last good snapshot serving
//     and the source is reported failing (board, log, /readyz, metrics) until a refresh succeeds.
//     Unchanged files: nothing is read; the check is recorded as "unchanged".
//   - read at query time: answers are always current; a refresh rebuilds the rollups that its
//     file changes made stale, so widgets read rollups again.
// An object source (s3://, az://) first fetches what changed in its objects into its local copy
// (a failed fetch is a failed refresh; the copy stays as it was); with on_change its objects are
// listed every `poll`, and a change is then taken like a change of local files.
//
// Runs on the reloader's thread (Reloader calls tick()), so two engine builds never race on the
// state directory. Not thread-safe: one thread calls tick().
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "api/snapshot.h"
#include "api/source_board.h"
#include "config/project.h"
#include "engine/data_checks.h"
#include "engine/refresh_schedule.h"
#include "core/log.h"
#include "core/metrics.h"

namespace sightline::cli {

using engine::RefreshReason;
using engine::RefreshTiming;

class Refresher {
 public:
  struct Options {
    std::string dir;  // the project
    bool rollups = true;
    std::filesystem::path state_dir;
    std::function<int64_t()> now_ms;  // wall clock, milliseconds since 1970 (injected by tests)
    // Fetches what changed in an object source's objects into its copy (cli/object_sources.h by
    // default; injected by tests).
    std::function<Result<void>(const config::Project&, const config::SourceSpec&)> fetch_objects;
  };
  Refresher(Options options, api::SnapshotHolder& holder, api::SourceBoard& board, Logger& log, metrics::Registry* metrics = nullptr);

  // Looks at every source once and refreshes those that are due or were asked for.
  void tick();

 private:
  struct Due {
    std::vector<std::string> reload;     // read at load, files changed: a new snapshot
    std::vector<std::string> unchanged;  // read at load, files as they were
    std::vector<std::string> live;       // read at query time: rollups made current
    std::vector<std::string> append;     // append mode: new files read into the serving engine
  };
  Due collect(const api::Snapshot& snap, int64_t now_ms);
  void rebuild(const std::shared_ptr<const api::Snapshot>& current, const std::vector<std::string>& sources);
  void refresh_live(const std::shared_ptr<const api::Snapshot>& current, const std::vector<std::string>& sources, int64_t now_ms);
  void append(const std::shared_ptr<const api::Snapshot>& current, const std::vector<std::string>& sources, int64_t now_ms);
  void observe_versions(const api::Snapshot& snap);
  void finish(const std::string& source, api::RefreshOutcome outcome, int64_t now_ms, const std::string& error = {});
  const CronSchedule* cron_of(const config::SourceSpec& source);

  Options options_;
  api::SnapshotHolder& holder_;
  api::SourceBoard& board_;
  Logger& log_;
  metrics::Family<metrics::Counter>* checks_ = nullptr;
  std::map<std::string, RefreshTiming> timing_;
  std::map<std::string, std::optional<CronSchedule>> crons_;  // by expression
  std::map<std::string, int64_t> last_poll_ms_;                 // object sources with on_change: when last listed
};

}  // namespace sightline::cli
