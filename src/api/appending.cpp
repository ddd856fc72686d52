#include "api/appending.h"

#include <chrono>

namespace sightline::api {

AppendOutcome sync_append_source(const Snapshot& snap, const config::SourceSpec& source, int64_t now_ms, Logger& log) {
  AppendOutcome out;
  const engine::Engine& eng = *snap.engine;
  const auto before = eng.freshness(source.name).rows;
  std::optional<engine::SourceChecks> checked;
  // The source's rules run inside the transaction, over the rows as they would be: an error
  // rolls the append back, so the last good rows keep serving.
  auto verify = [&](engine::Connection& conn, const engine::AppendChange&) -> Result<void> {
    if (source.checks.empty()) return {};
    checked = engine::run_checks(eng, source, {.now_ms = now_ms, .previous_rows = before, .connection = &conn});
    log.info("source_checks", {{"source", source.name},
                               {"rules", checked->results.size()},
                               {"error", checked->failing(config::CheckSeverity::Error)},
                               {"warn", checked->failing(config::CheckSeverity::Warn)}});
    for (const auto& r : checked->results)
      if (!r.passed && r.severity == config::CheckSeverity::Error) return fail(ErrorKind::SourceFailed, r.failure_text());
    return {};
  };
  auto started = std::chrono::steady_clock::now();
  auto synced = eng.sync_appends(source.name, now_ms, verify);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  out.checks = std::move(checked);
  if (!synced) {
    const std::string why = engine::describe_read_error(synced.error().for_author(), snap.project.dir);
    log.error("source_append_failed", {{"source", source.name}, {"seconds", seconds}, {"error", synced.error().for_author()}});
    out.error = "source '" + source.name + "' cannot be read: " + why;
    return out;
  }
  const auto& c = synced->change;
  out.changed = c.any();
  out.change = c;
  out.state = synced->state;
  if (out.changed)
    log.info("source_appended", {{"source", source.name},
                                 {"seconds", seconds},
                                 {"files_added", c.added},
                                 {"files_replaced", c.replaced},
                                 {"files_removed", c.removed},
                                 {"files_expired", c.expired},
                                 {"rows_added", c.rows_added},
                                 {"rows_removed", c.rows_removed},
                                 {"rows", synced->state.rows}});
  return out;
}

Result<ReceivedBatch> append_received_batch(const Snapshot& snap, const config::SourceSpec& source, std::string_view body,
                                            engine::IngestFormat format, const std::filesystem::path& target, int64_t now_ms,
                                            SourceBoard& board, Logger& log) {
  std::vector<engine::IngestColumn> columns;
  for (const auto& [name, type] : source.columns) columns.push_back({name, type});
  auto written = engine::write_ingest_batch(body, format, columns, target, target.parent_path().parent_path());
  if (!written) return fail(written.error());
  ReceivedBatch out;
  out.rows = written->rows;
  out.outcome = sync_append_source(snap, source, now_ms, log);
  if (!out.outcome.error.empty()) {
    std::error_code ec;
    std::filesystem::remove(target, ec);
    out.refused = out.outcome.checks && out.outcome.checks->failing(config::CheckSeverity::Error) > 0;
    if (out.refused) {
      for (const auto& r : out.outcome.checks->results)
        if (!r.passed && r.severity == config::CheckSeverity::Error && out.refusal.empty()) out.refusal = r.failure_text();
    } else {
      board.finished(source.name, RefreshOutcome::Failed, now_ms, out.outcome.error);
    }
    return out;
  }
  board.finished(source.name, out.outcome.changed ? RefreshOutcome::Refreshed : RefreshOutcome::Unchanged, now_ms);
  board.version(source.name, snap.engine->data_versions().of(source.name), [&] { return snap.engine->freshness(source.name).as_of_ms; });
  return out;
}

}  // namespace sightline::api
