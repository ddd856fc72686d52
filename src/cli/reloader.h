// Hot reload: watches the project's files and swaps in a new snapshot when they change.
// A broken edit keeps the last good snapshot serving; the errors are logged and shown by /readyz.
// Also rebuilds the rollups of sources read at query time once their files change and settle.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/snapshot.h"
#include "core/log.h"

namespace sightline::cli {

class Refresher;

struct SnapshotLoad {
  std::shared_ptr<const api::Snapshot> snapshot;  // null on errors
  std::vector<config::Diagnostic> diagnostics;
};

// Loads and checks the project; reuses `previous`'s engine when sources/models are unchanged
// (unless `new_engine`: a refresh, which reads the sources' files again).
// Builds the dashboards' rollups unless `rollups` is false.
// `state_dir`: where engines keep their database (Engine::build); empty: in memory. The first
// load reuses what it holds; an engine built while another serves takes a new generation.
// `fetch_objects`: fetch what changed in object sources' objects first (false: read the copies as
// they are; the refresher fetched the sources it refreshes).
SnapshotLoad load_snapshot(const std::string& dir, std::shared_ptr<const api::Snapshot> previous, uint64_t generation, Logger& log,
                           bool rollups, const std::filesystem::path& state_dir = {}, bool new_engine = false,
                           bool fetch_objects = true);

// `current` with rollups of its engine's data as it is now: extended with the rows appended
// since, when only rows were appended (query::Rollups::extend), else built anew; the rest shared.
std::shared_ptr<const api::Snapshot> with_updated_rollups(const api::Snapshot& current, Logger& log);

// Reads a newly built engine's tables into memory (engine::Engine::warm_buffers) and logs what it
// did ("buffers_warmed"). Run after the engine serves, on a background thread: it takes seconds
// at 10M rows. `stopping` (if given) ends it early: the server is shutting down.
void warm_new_engine(const engine::Engine& engine, Logger& log, const std::function<bool()>& stopping = nullptr);
// Swaps in `current` with its rollups built anew from its engine's data as it is now (sources
// read at query time whose files changed), the rest shared, unless another snapshot replaced
// `current` meanwhile; logs rollups_refreshed. Returns whether it swapped.
bool refresh_rollups(api::SnapshotHolder& holder, const std::shared_ptr<const api::Snapshot>& current, Logger& log);

// The errors among `diagnostics`, one line each with its hint, paths relative to the project and
// engine messages cut at their first line (they can go on with rows and reader settings): for
// /readyz and the sources API. full_errors: every error in full, for the log.
std::string brief_errors(const std::vector<config::Diagnostic>& diagnostics, const std::string& dir);
std::string full_errors(const std::vector<config::Diagnostic>& diagnostics);

// Reads each source whose values are converted at query time (Engine::converting_live_sources)
// completely once; logs each that fails (with the engine's message) and returns their names.
std::vector<std::string> find_unreadable_sources(const engine::Engine& engine, Logger& log);

class Reloader {
 public:
  // `beyond_loopback`: the server listens on more than loopback, so a reload that turns sign-in
  // off (auth mode none without allow_remote) is refused like any broken edit.
  // `loaded_at`: when the serving snapshot started loading; a file changed after it (while the
  // server was starting) is reloaded at once rather than taken as the baseline.
  // `refresher`: also runs the sources' refresh policies on this thread (null: none).
  // `watch_project`: false under --no-reload (only refreshes then).
  Reloader(std::string dir, api::SnapshotHolder& holder, Logger& log, std::chrono::milliseconds interval, bool rollups,
           bool beyond_loopback = false, std::filesystem::file_time_type loaded_at = std::filesystem::file_time_type::min(),
           std::filesystem::path state_dir = {}, Refresher* refresher = nullptr, bool watch_project = true);
  // Wakes the loop now (a refresh was asked for).
  void wake();
  ~Reloader();

 private:
  using Stamps = std::map<std::filesystem::path, std::filesystem::file_time_type>;
  Stamps stamp() const;
  void loop();
  void refresh_stale_rollups(uint64_t& pending_version);
  bool stopping();

  std::string dir_;
  api::SnapshotHolder& holder_;
  Logger& log_;
  std::chrono::milliseconds interval_;
  bool rollups_;
  bool beyond_loopback_;
  std::filesystem::file_time_type loaded_at_;
  std::filesystem::path state_dir_;
  Refresher* refresher_;
  bool watch_project_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace sightline::cli
