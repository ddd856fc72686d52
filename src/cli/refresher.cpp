#include "cli/refresher.h"

#include <algorithm>

#include "cli/object_sources.h"
#include "cli/reloader.h"
#include "api/appending.h"
#include "engine/data_checks.h"

namespace sightline::cli {
namespace {

// `snap` with the checks of `sources` (read at query time) run again over the data as it is now;
// null when none of them has checks. Nothing is refused: such a source has no other version.
std::shared_ptr<api::Snapshot> with_checks_rerun(const api::Snapshot& snap, const std::vector<std::string>& sources, int64_t now_ms,
                                                 Logger& log) {
  std::shared_ptr<api::Snapshot> next;
  for (const auto& source : snap.project.sources) {
    if (source.checks.empty() || std::find(sources.begin(), sources.end(), source.name) == sources.end()) continue;
    if (!next) next = std::make_shared<api::Snapshot>(snap);
    auto found = engine::run_checks(*snap.engine, source, {.now_ms = now_ms});
    log.info("source_checks", {{"source", source.name},
                               {"rules", found.results.size()},
                               {"error", found.failing(config::CheckSeverity::Error)},
                               {"warn", found.failing(config::CheckSeverity::Warn)}});
    next->checks[source.name] = std::move(found);
  }
  return next;
}

}  // namespace

Refresher::Refresher(Options options, api::SnapshotHolder& holder, api::SourceBoard& board, Logger& log, metrics::Registry* metrics)
    : options_(std::move(options)), holder_(holder), board_(board), log_(log) {
  if (!options_.fetch_objects)
    options_.fetch_objects = [this](const config::Project& project, const config::SourceSpec& source) -> Result<void> {
      auto fetched = fetch_object_source(project, source, objects_root(options_.dir, options_.state_dir), log_);
      if (!fetched) return fail(fetched.error());
      return {};
    };
  if (!options_.now_ms)
    options_.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    };
  if (metrics)
    checks_ = &metrics->counter("sightline_source_refreshes_total", "Refresh checks of sources, by outcome (refreshed, unchanged, failed).",
                                {"source", "outcome"});
}

const CronSchedule* Refresher::cron_of(const config::SourceSpec& source) {
  if (!source.refresh || source.refresh->cron.empty()) return nullptr;
  auto it = crons_.find(source.refresh->cron);
  if (it == crons_.end()) {
    auto parsed = CronSchedule::parse(source.refresh->cron);  // the loader checked it
    it = crons_.emplace(source.refresh->cron, parsed ? std::optional<CronSchedule>(std::move(*parsed)) : std::nullopt).first;
  }
  return it->second ? &*it->second : nullptr;
}

void Refresher::finish(const std::string& source, api::RefreshOutcome outcome, int64_t now_ms, const std::string& error) {
  board_.finished(source, outcome, now_ms, error);
  if (checks_) checks_->with({source, api::refresh_outcome_name(outcome)}).inc();
}

Refresher::Due Refresher::collect(const api::Snapshot& snap, int64_t now_ms) {
  Due due;
  const auto asked = board_.take_requests();
  const engine::Engine& eng = *snap.engine;
  UtcOffsetAt offset_at = [&eng](std::chrono::sys_seconds t) {
    return std::chrono::seconds(eng.utc_offset_seconds(t.time_since_epoch().count()));
  };
  for (const auto& source : snap.project.sources) {
    auto [it, first_sight] = timing_.try_emplace(source.name);
    RefreshTiming& timing = it->second;
    if (first_sight) timing.last_check_ms = now_ms;  // periods count from when the server started
    auto files = eng.source_files(source.name);
    if (!files) continue;
    std::optional<uint64_t> changed_to;
    if (files->read_at_load && files->now != files->at_load) changed_to = files->now;
    RefreshReason reason = RefreshReason::None;
    if (source.refresh) reason = engine::refresh_due(*source.refresh, cron_of(source), timing, now_ms, changed_to, offset_at);
    if (reason == RefreshReason::None && eng.appends(source.name)) {
      // Rows received land as files in the source's own folder: read them whatever the policy.
      // Retention is due when the oldest kept file passes `keep`.
      const auto status = eng.append_status(source.name);
      // At first sight, files that differ from the ledger are a catch-up the load could not
      // finish (Engine::build kept the rows): try again now, so a failure is reported.
      if ((source.receives_rows() || first_sight) && changed_to) reason = RefreshReason::FilesChanged;
      if (status && status->next_expiry_ms && *status->next_expiry_ms <= now_ms) reason = RefreshReason::Retention;
    }
    const bool asked_for = std::find(asked.begin(), asked.end(), source.name) != asked.end();
    if (source.object) {
      // Object storage tells nobody of changes: fetch before a refresh; with on_change, list the
      // objects every poll period and let a change settle like one of local files.
      int64_t& polled = last_poll_ms_.try_emplace(source.name, now_ms).first->second;
      const bool poll = source.refresh && source.refresh->on_change && now_ms - polled >= source.refresh->poll_ms;
      if (reason != RefreshReason::None || asked_for || poll) {
        polled = now_ms;
        if (auto fetched = options_.fetch_objects(snap.project, source); !fetched) {
          board_.started(source.name);
          finish(source.name, api::RefreshOutcome::Failed, now_ms, fetched.error().message);
          if (reason != RefreshReason::None || asked_for) timing.last_check_ms = now_ms;
          continue;
        }
        files = eng.source_files(source.name);
        if (!files) continue;
        changed_to.reset();
        if (files->read_at_load && files->now != files->at_load) changed_to = files->now;
      }
    }
    if (source.refresh) board_.set_next_check(source.name, engine::next_scheduled_ms(*source.refresh, timing));
    if (reason == RefreshReason::None && !asked_for) continue;
    timing.last_check_ms = now_ms;
    if (source.refresh) board_.set_next_check(source.name, engine::next_scheduled_ms(*source.refresh, timing));
    board_.started(source.name);
    log_.info("source_refresh_due", {{"source", source.name}, {"reason", asked_for ? "requested" : engine::refresh_reason_name(reason)}});
    if (eng.appends(source.name))
      due.append.push_back(source.name);
    else if (!files->read_at_load)
      due.live.push_back(source.name);
    else if (changed_to)
      due.reload.push_back(source.name);
    else
      due.unchanged.push_back(source.name);
  }
  // Asked for a name that is no longer a source (a reload removed it): nothing to do.
  for (const auto& name : asked)
    if (!eng.source_files(name)) finish(name, api::RefreshOutcome::Unchanged, now_ms);
  return due;
}

void Refresher::rebuild(const std::shared_ptr<const api::Snapshot>& current, const std::vector<std::string>& sources) {
  auto started = std::chrono::steady_clock::now();
  auto loaded = load_snapshot(options_.dir, current, current->generation + 1, log_, options_.rollups, options_.state_dir, /*new_engine=*/true,
                              /*fetch_objects=*/false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!loaded.snapshot) {
    const std::string brief = brief_errors(loaded.diagnostics, options_.dir);
    log_.error("source_refresh_failed", {{"sources", sources}, {"seconds", seconds}, {"errors", full_errors(loaded.diagnostics)}});
    for (const auto& name : sources) finish(name, api::RefreshOutcome::Failed, options_.now_ms(), brief);
    return;
  }
  if (!holder_.replace_if(current, loaded.snapshot)) {
    // A reload swapped in another snapshot meanwhile (it read the files too): look again next time.
    log_.info("source_refresh_superseded", {{"sources", sources}});
    for (const auto& name : sources) board_.request(name);
    return;
  }
  for (const auto& name : sources) {
    const auto fresh = loaded.snapshot->engine->freshness(name);
    log_.info("source_refreshed", {{"source", name}, {"seconds", seconds}, {"rows", fresh.rows.value_or(-1)}, {"generation", loaded.snapshot->generation}});
    finish(name, api::RefreshOutcome::Refreshed, options_.now_ms());
  }
}

void Refresher::refresh_live(const std::shared_ptr<const api::Snapshot>& current, const std::vector<std::string>& sources, int64_t now_ms) {
  const auto stale = current->rollups->stale(current->engine->data_versions());
  bool any_stale = false;
  for (const auto& name : sources) any_stale = any_stale || stale.count(name) > 0;
  std::shared_ptr<const api::Snapshot> next;
  if (any_stale && current->rollups_enabled && options_.rollups) next = with_updated_rollups(*current, log_);
  if (auto checked = with_checks_rerun(next ? *next : *current, sources, now_ms, log_)) next = checked;
  if (next) holder_.replace_if(current, next);
  for (const auto& name : sources)
    finish(name, stale.count(name) ? api::RefreshOutcome::Refreshed : api::RefreshOutcome::Unchanged, now_ms);
}

void Refresher::append(const std::shared_ptr<const api::Snapshot>& current, const std::vector<std::string>& sources, int64_t now_ms) {
  auto next = std::make_shared<api::Snapshot>(*current);
  bool changed = false;
  for (const auto& name : sources) {
    auto spec = std::find_if(current->project.sources.begin(), current->project.sources.end(),
                             [&](const config::SourceSpec& s) { return s.name == name; });
    if (spec == current->project.sources.end()) continue;
    auto outcome = api::sync_append_source(*current, *spec, now_ms, log_);
    if (outcome.checks) next->checks[name] = std::move(*outcome.checks);
    if (!outcome.error.empty()) {
      finish(name, api::RefreshOutcome::Failed, now_ms, outcome.error);
      changed = changed || outcome.checks.has_value();
      continue;
    }
    finish(name, outcome.changed ? api::RefreshOutcome::Refreshed : api::RefreshOutcome::Unchanged, now_ms);
    changed = changed || outcome.changed || outcome.checks.has_value();
  }
  if (!changed) return;
  const bool materialized_models = std::any_of(current->project.models.begin(), current->project.models.end(),
                                               [](const config::ModelSpec& m) { return m.materialize; });
  if (materialized_models) {
    // They were made from the rows as they were: a new snapshot makes them again.
    rebuild(current, sources);
    return;
  }
  const auto stale = current->rollups->stale(current->engine->data_versions());
  std::shared_ptr<const api::Snapshot> swapped = next;
  if (!stale.empty() && current->rollups_enabled && options_.rollups) swapped = with_updated_rollups(*next, log_);
  holder_.replace_if(current, swapped);
}

void Refresher::observe_versions(const api::Snapshot& snap) {
  const engine::DataVersions versions = snap.engine->data_versions();
  for (const auto& source : snap.project.sources)
    board_.version(source.name, versions.of(source.name), [&] { return snap.engine->freshness(source.name).as_of_ms; });
}

void Refresher::tick() {
  auto current = holder_.get();
  if (!current) return;
  // The board learns of new data (a refresh, a file changed under a live source) without waiting
  // for a request, so metrics and the sources API are current.
  observe_versions(*current);
  // While the first rollups are built in the background, a new snapshot would race with them.
  if (current->rollups_pending) return;
  const int64_t now_ms = options_.now_ms();
  Due due = collect(*current, now_ms);
  for (const auto& name : due.unchanged) finish(name, api::RefreshOutcome::Unchanged, now_ms);
  if (!due.live.empty()) refresh_live(current, due.live, now_ms);
  if (!due.append.empty()) append(holder_.get(), due.append, now_ms);
  if (!due.reload.empty()) rebuild(holder_.get(), due.reload);
  if (!due.append.empty()) observe_versions(*holder_.get());
}


}  // namespace sightline::cli
