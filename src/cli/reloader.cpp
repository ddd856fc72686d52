#include "cli/reloader.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "auth/check.h"
#include "cli/object_sources.h"
#include "cli/refresher.h"
#include "engine/data_checks.h"
#include "query/check.h"

namespace sightline::cli {
namespace fs = std::filesystem;

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Logs one source's check results: `source_checks` always, `source_checks_failed` (an error)
// when an error rule fails, saying whether that refused the new version.
void log_checks(const engine::SourceChecks& found, double seconds, bool blocked, Logger& log) {
  const int errors = found.failing(config::CheckSeverity::Error), warnings = found.failing(config::CheckSeverity::Warn);
  nlohmann::json fields = {
      {"source", found.source}, {"rules", found.results.size()}, {"error", errors}, {"warn", warnings}, {"seconds", seconds}};
  if (errors + warnings == 0)
    log.info("source_checks", fields);
  else
    log.warn("source_checks", fields);
  if (!errors) return;
  nlohmann::json failing = nlohmann::json::array();
  for (const auto& r : found.results)
    if (!r.passed && r.severity == config::CheckSeverity::Error)
      failing.push_back({{"rule", r.rule},
                         {"at", r.pos.file + ":" + std::to_string(r.pos.line) + ":" + std::to_string(r.pos.column)},
                         {"failing", r.failing},
                         {"samples", r.samples},
                         {"detail", r.detail}});
  log.error("source_checks_failed", {{"source", found.source}, {"failing", failing}, {"blocked", blocked}});
}

// Runs the data checks of every source that has some (engine/data_checks.h) on `engine` into
// `out`, and logs them. `previous`: the snapshot serving (null at the first start). A reused
// engine keeps the results of unchanged rules and runs changed ones; nothing it finds is refused
// (its data already serves). Returns a diagnostic per failing error rule over new data (a version
// `previous` does not serve, of a source read at load): such a load must not replace `previous`.
// At the first start there is no last good version: failures are reported, never refused.
std::vector<config::Diagnostic> run_data_checks(const config::Project& project, const engine::Engine& engine, const api::Snapshot* previous,
                                                Logger& log, std::map<std::string, engine::SourceChecks>& out) {
  std::vector<config::Diagnostic> blocking;
  const bool reused = previous && previous->engine.get() == &engine;
  const engine::DataVersions versions = engine.data_versions();
  const engine::DataVersions before = previous && !reused ? previous->engine->data_versions() : engine::DataVersions{};
  for (const auto& source : project.sources) {
    if (source.checks.empty()) continue;
    if (reused)
      if (auto kept = previous->checks.find(source.name);
          kept != previous->checks.end() && kept->second.recipe == engine::checks_recipe(source)) {
        out[source.name] = kept->second;
        continue;
      }
    const bool had = previous && previous->engine->relation(source.name);
    engine::CheckContext context{.now_ms = wall_ms()};
    if (had && !reused) context.previous_rows = engine::count_rows(*previous->engine, source.name);
    const auto started = std::chrono::steady_clock::now();
    engine::SourceChecks found = engine::run_checks(engine, source, context);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // A source read at query time has no other version to keep: the serving engine reads the same files.
    const auto files = engine.source_files(source.name);
    const bool new_data =
        previous && !reused && files && files->read_at_load && (!had || before.of(source.name) != versions.of(source.name));
    const bool blocked = new_data && found.failing(config::CheckSeverity::Error) > 0;
    log_checks(found, seconds, blocked, log);
    if (blocked)
      for (const auto& r : found.results)
        if (!r.passed && r.severity == config::CheckSeverity::Error)
          blocking.push_back({config::Diagnostic::Severity::Error, r.pos, r.failure_text(),
                              "the last good data of '" + source.name + "' keeps serving; `sightline check --data` lists failing values"});
    out[source.name] = std::move(found);
  }
  return blocking;
}

}  // namespace

std::vector<std::string> find_unreadable_sources(const engine::Engine& engine, Logger& log) {
  std::vector<std::string> unreadable;
  for (const auto& name : engine.converting_live_sources()) {
    auto started = std::chrono::steady_clock::now();
    auto rows = engine.read_completely(name);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (rows) {
      log.info("source_read", {{"source", name}, {"rows", *rows}, {"seconds", secs}});
      continue;
    }
    if (rows.error().kind != ErrorKind::SourceFailed) continue;  // shutting down, out of memory: not the data's fault
    unreadable.push_back(name);
    log.error("source_unreadable", {{"source", name}, {"message", rows.error().message}, {"detail", rows.error().for_author()}});
  }
  return unreadable;
}

SnapshotLoad load_snapshot(const std::string& dir, std::shared_ptr<const api::Snapshot> previous, uint64_t generation, Logger& log,
                           bool rollups, const std::filesystem::path& state_dir, bool new_engine, bool fetch_objects) {
  SnapshotLoad out;
  auto loaded = config::load_project(dir, config::system_environment());
  out.diagnostics = loaded.diagnostics;
  if (!loaded.project) return out;
  // Engine messages in the log can quote a source's path, where an ${env:} value may sit.
  log.hide(loaded.project->secret_values);
  // Object storage sources read local copies of their objects: fetch what changed first.
  auto fetched = fetch_object_sources(*loaded.project, objects_root(dir, state_dir), log, /*remove_unused=*/true, fetch_objects);
  out.diagnostics.insert(out.diagnostics.end(), fetched.begin(), fetched.end());
  std::shared_ptr<const engine::Engine> engine;
  if (previous && !new_engine && previous->project.engine_fingerprint() == loaded.project->engine_fingerprint()) {
    engine = previous->engine;
  } else {
    engine::EngineOptions options{.state_dir = state_dir,
                                  .state_use = previous ? engine::StateFileUse::Fresh : engine::StateFileUse::Reuse};
    auto built = engine::Engine::build(*loaded.project, options);
    out.diagnostics.insert(out.diagnostics.end(), built.diagnostics.begin(), built.diagnostics.end());
    name_copies_by_url(out.diagnostics, *loaded.project);
    if (!built.engine) return out;
    engine = built.engine;
  }
  query::SqlWidgetColumns sql_columns;
  auto checked = query::check_dashboards(*loaded.project, *engine, &sql_columns);
  auto rules = engine::validate_checks(*loaded.project, *engine);
  checked.insert(checked.end(), rules.begin(), rules.end());
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
  // Before the rollups: a version the checks refuse is not worth summarizing.
  std::map<std::string, engine::SourceChecks> checks;
  auto refused = run_data_checks(*loaded.project, *engine, previous.get(), log, checks);
  if (!refused.empty()) {
    out.diagnostics.insert(out.diagnostics.end(), refused.begin(), refused.end());
    return out;
  }
  auto snap = std::make_shared<api::Snapshot>();
  snap->checks = std::move(checks);
  snap->sql_equivalents = query::declarative_equivalents(*loaded.project, *engine);
  snap->rollups = rollups ? query::Rollups::build(query::with_equivalents(*loaded.project, snap->sql_equivalents), engine, log,
                                                  previous ? previous->rollups : nullptr)
                          : query::Rollups::none();
  snap->sql_widget_columns = std::move(sql_columns);
  snap->rollups_enabled = rollups;
  snap->project = std::move(*loaded.project);
  snap->subsets = std::make_shared<query::SubsetCache>(engine, log);
  // A reload that made a new engine reads its converting sources now; the first load does it in
  // the background (cli/commands.cpp), and a reused engine keeps what was found.
  if (previous && previous->engine == engine)
    snap->unreadable_sources = previous->unreadable_sources;
  else if (previous)
    snap->unreadable_sources = find_unreadable_sources(*engine, log);
  snap->engine = std::move(engine);
  snap->generation = generation;
  out.snapshot = std::move(snap);
  return out;
}

std::string full_errors(const std::vector<config::Diagnostic>& diagnostics) {
  std::string all;
  for (const auto& d : diagnostics)
    if (d.severity == config::Diagnostic::Severity::Error) all += (all.empty() ? "" : "\n") + config::format_diagnostic(d);
  return all;
}

std::string brief_errors(const std::vector<config::Diagnostic>& diagnostics, const std::string& dir) {
  std::string summary;
  std::string root = fs::absolute(dir).lexically_normal().string();
  if (!root.empty() && root.back() != '/') root += '/';
  for (const auto& d : diagnostics) {
    if (d.severity != config::Diagnostic::Severity::Error) continue;
    config::Diagnostic brief = d;
    brief.message = brief.message.substr(0, brief.message.find('\n'));
    std::string line = config::format_diagnostic(brief);
    for (size_t at = line.find(root); !root.empty() && at != std::string::npos; at = line.find(root, at)) line.erase(at, root.size());
    summary += (summary.empty() ? "" : "\n") + line;
  }
  return summary;
}

std::shared_ptr<const api::Snapshot> with_updated_rollups(const api::Snapshot& current, Logger& log) {
  auto next = std::make_shared<api::Snapshot>(current);
  next->rollups = query::Rollups::extend(current.rollups, current.engine, log);
  if (!next->rollups) next->rollups = query::Rollups::build(current.planning_project(), current.engine, log, current.rollups);
  next->subsets = std::make_shared<query::SubsetCache>(current.engine, log);
  return next;
}

void warm_new_engine(const engine::Engine& engine, Logger& log, const std::function<bool()>& stopping) {
  const auto started = std::chrono::steady_clock::now();
  // Requests go first: each column waits (up to a second) until no statement of theirs runs.
  auto after_requests = [&] {
    for (int i = 0; i < 200 && (engine.pool().in_use() > 0 || engine.pool().waiting() > 0); ++i) {
      if (stopping && stopping()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return !(stopping && stopping());
  };
  const auto warm = engine.warm_buffers(after_requests);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  nlohmann::json fields = {{"tables", warm.tables},
                           {"file_bytes", warm.file_bytes},
                           {"resident_bytes", warm.resident_bytes},
                           {"seconds", std::round(secs * 100) / 100}};
  if (!warm.skipped.empty()) fields["skipped"] = warm.skipped;
  log.info("buffers_warmed", fields);
}

bool refresh_rollups(api::SnapshotHolder& holder, const std::shared_ptr<const api::Snapshot>& current, Logger& log) {
  auto started = std::chrono::steady_clock::now();
  auto next = with_updated_rollups(*current, log);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const bool swapped = holder.replace_if(current, next);
  log.info("rollups_refreshed", {{"rollups", next->rollups->all().size()}, {"seconds", secs}, {"applied", swapped}});
  return swapped;
}

Reloader::Reloader(std::string dir, api::SnapshotHolder& holder, Logger& log, std::chrono::milliseconds interval, bool rollups,
                   bool beyond_loopback, std::filesystem::file_time_type loaded_at, std::filesystem::path state_dir,
                   Refresher* refresher, bool watch_project)
    : dir_(std::move(dir)),
      holder_(holder),
      log_(log),
      interval_(interval),
      rollups_(rollups),
      beyond_loopback_(beyond_loopback),
      loaded_at_(loaded_at),
      state_dir_(std::move(state_dir)),
      refresher_(refresher),
      watch_project_(watch_project) {
  thread_ = std::thread([this] { loop(); });
}

void Reloader::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool Reloader::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
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

// Rollups summarize a source read at query time as its files were. Once the files change,
// requests read the rows instead (query::Rollups::stale) until this rebuilds the rollups, when
// the files have stayed the same for one interval (a copy in progress is not summarized).
void Reloader::refresh_stale_rollups(uint64_t& pending_version) {
  auto current = holder_.get();
  if (!current || !rollups_ || current->rollups_pending || !current->rollups_enabled || !current->engine->has_live_sources()) return;
  engine::DataVersions now = current->engine->data_versions();
  if (current->rollups->stale(now).empty()) {
    pending_version = 0;
    return;
  }
  if (pending_version != now.all) {
    pending_version = now.all;  // changed since the last look: wait for the files to settle
    return;
  }
  refresh_rollups(holder_, current, log_);
  pending_version = 0;
}

void Reloader::loop() {
  uint64_t pending_version = 0;
  Stamps last = stamp();
  // Edited while the server was starting: the serving snapshot may predate the edit.
  if (std::any_of(last.begin(), last.end(), [&](const auto& entry) { return entry.second > loaded_at_; })) last.clear();
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait_for(lock, interval_, [&] { return stopping_ || woken_; });
    if (stopping_) break;
    woken_ = false;
    lock.unlock();
    Stamps now = watch_project_ ? stamp() : last;
    if (now != last) {
      last = now;
      auto current = holder_.get();
      uint64_t generation = current ? current->generation + 1 : 1;
      auto started = std::chrono::steady_clock::now();
      auto loaded = load_snapshot(dir_, current, generation, log_, rollups_, state_dir_);
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
        const bool reused = current && loaded.snapshot->engine == current->engine;
        log_.info("reloaded", {{"generation", generation}, {"duration_ms", ms}, {"engine_reused", reused}});
        if (!reused) warm_new_engine(*loaded.snapshot->engine, log_, [this] { return stopping(); });
      } else {
        const std::string all = full_errors(loaded.diagnostics);
        const std::string summary = brief_errors(loaded.diagnostics, dir_);
        holder_.set_last_error(summary);
        log_.error("reload_failed", {{"errors", all}, {"serving_generation", current ? current->generation : 0}});
      }
    } else {
      if (refresher_) {
        auto before = holder_.get();
        refresher_->tick();
        // A refresh that swapped in a new engine: its tables are read in now, on this thread.
        if (auto after = holder_.get(); after && (!before || after->engine != before->engine))
          warm_new_engine(*after->engine, log_, [this] { return stopping(); });
      }
      refresh_stale_rollups(pending_version);
    }
    lock.lock();
  }
}

}  // namespace sightline::cli
