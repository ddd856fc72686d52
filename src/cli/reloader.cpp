#include "cli/reloader.h"

#include <algorithm>

#include "auth/check.h"
#include "query/check.h"

namespace sightline::cli {
namespace fs = std::filesystem;

SnapshotLoad load_snapshot(const std::string& dir, std::shared_ptr<const api::Snapshot> previous, uint64_t generation, Logger& log,
                           bool rollups) {
  SnapshotLoad out;
  auto loaded = config::load_project(dir, config::system_environment());
  out.diagnostics = loaded.diagnostics;
  if (!loaded.project) return out;
  std::shared_ptr<const engine::Engine> engine;
  if (previous && previous->project.engine_fingerprint() == loaded.project->engine_fingerprint()) {
    engine = previous->engine;
  } else {
    auto built = engine::Engine::build(*loaded.project);
    out.diagnostics.insert(out.diagnostics.end(), built.diagnostics.begin(), built.diagnostics.end());
    if (!built.engine) return out;
    engine = built.engine;
  }
  query::SqlWidgetColumns sql_columns;
  auto checked = query::check_dashboards(*loaded.project, *engine, &sql_columns);
  std::vector<std::optional<std::vector<std::string>>> policy_columns;
  auto secured = auth::check_security(*loaded.project, *engine, &policy_columns);
  checked.insert(checked.end(), secured.begin(), secured.end());
  for (size_t i = 0; i < policy_columns.size() && i < loaded.project->policies.size(); ++i) {
    if (!policy_columns[i]) continue;
    loaded.project->policies[i].columns = *policy_columns[i];
    loaded.project->policies[i].columns_known = true;
  }
  out.diagnostics.insert(out.diagnostics.end(), checked.begin(), checked.end());
  if (std::any_of(checked.begin(), checked.end(), [](const auto& d) { return d.severity == config::Diagnostic::Severity::Error; }))
    return out;
  auto snap = std::make_shared<api::Snapshot>();
  snap->rollups =
      rollups ? query::Rollups::build(*loaded.project, engine, log, previous ? previous->rollups : nullptr) : query::Rollups::none();
  snap->sql_widget_columns = std::move(sql_columns);
  snap->rollups_enabled = rollups;
  snap->project = std::move(*loaded.project);
  snap->subsets = std::make_shared<query::SubsetCache>(engine, log);
  snap->engine = std::move(engine);
  snap->generation = generation;
  out.snapshot = std::move(snap);
  return out;
}

Reloader::Reloader(std::string dir, api::SnapshotHolder& holder, Logger& log, std::chrono::milliseconds interval, bool rollups,
                   bool beyond_loopback, std::filesystem::file_time_type loaded_at)
    : dir_(std::move(dir)),
      holder_(holder),
      log_(log),
      interval_(interval),
      rollups_(rollups),
      beyond_loopback_(beyond_loopback),
      loaded_at_(loaded_at) {
  thread_ = std::thread([this] { loop(); });
}

Reloader::~Reloader() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

// Modification times of sightline.yaml, the dashboard files, and any file in the folders
// dashboards live in (so a new dashboard file is noticed).
Reloader::Stamps Reloader::stamp() const {
  Stamps s;
  std::error_code ec;
  auto add = [&](const fs::path& p) {
    auto t = fs::last_write_time(p, ec);
    if (!ec) s[p] = t;
  };
  fs::path root = fs::absolute(dir_, ec);
  add(root / "sightline.yaml");
  auto snap = holder_.get();
  std::vector<fs::path> dirs = {root / "dashboards"};
  if (snap) {
    for (const auto& f : snap->project.files) {
      add(f);
      dirs.push_back(f.parent_path());
    }
  }
  for (const auto& d : dirs) {
    if (!fs::is_directory(d, ec)) continue;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.is_regular_file(ec) && (e.path().extension() == ".yaml" || e.path().extension() == ".yml" || e.path().extension() == ".sql"))
        add(e.path());
  }
  return s;
}

void Reloader::loop() {
  Stamps last = stamp();
  // Edited while the server was starting: the serving snapshot may predate the edit.
  if (std::any_of(last.begin(), last.end(), [&](const auto& entry) { return entry.second > loaded_at_; })) last.clear();
  std::unique_lock lock(mutex_);
  while (!cv_.wait_for(lock, interval_, [&] { return stopping_; })) {
    lock.unlock();
    Stamps now = stamp();
    if (now != last) {
      last = now;
      auto current = holder_.get();
      uint64_t generation = current ? current->generation + 1 : 1;
      auto started = std::chrono::steady_clock::now();
      auto loaded = load_snapshot(dir_, current, generation, log_, rollups_);
      if (loaded.snapshot && beyond_loopback_ && !loaded.snapshot->project.auth.enabled() && !loaded.snapshot->project.auth.allow_remote) {
        loaded.diagnostics.push_back(
            {config::Diagnostic::Severity::Error,
             loaded.snapshot->project.auth.pos.file.empty() ? config::Position{"sightline.yaml", 0, 0} : loaded.snapshot->project.auth.pos,
             "this edit turns sign-in off while the server listens beyond loopback",
             "keep auth on, or restart on 127.0.0.1 (or set auth.allow_remote: true)"});
        loaded.snapshot.reset();
      }
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
      if (loaded.snapshot) {
        holder_.set(loaded.snapshot);
        holder_.set_last_error("");
        log_.info(
            "reloaded",
            {{"generation", generation}, {"duration_ms", ms}, {"engine_reused", current && loaded.snapshot->engine == current->engine}});
      } else {
        std::string all;
        for (const auto& d : loaded.diagnostics)
          if (d.severity == config::Diagnostic::Severity::Error) all += (all.empty() ? "" : "\n") + config::format_diagnostic(d);
        holder_.set_last_error(all);
        log_.error("reload_failed", {{"errors", all}, {"serving_generation", current ? current->generation : 0}});
      }
    }
    lock.lock();
  }
}

}  // namespace sightline::cli
