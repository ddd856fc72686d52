// Syncing an append source (engine/append_store.h) on a snapshot's engine, with its data checks
// run inside the append's transaction: shared by the refresher (cli/refresher.h) and the ingest
// endpoint (POST /api/v1/sources/{name}/rows).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <optional>
#include <string>

#include "api/snapshot.h"
#include "config/project.h"
#include "core/log.h"
#include "api/source_board.h"
#include "engine/data_checks.h"
#include "engine/ingest_writer.h"

namespace sightline::api {

// What syncing one append source did: whether rows changed, the checks that ran (inside its
// transaction), and why it failed (for the board; empty on success).
struct AppendOutcome {
  bool changed = false;
  engine::AppendChange change;
  engine::AppendState state;  // after the sync (on success)
  std::optional<engine::SourceChecks> checks;
  std::string error;
};
// Reads what changed in `source`'s files into `snap`'s engine (Engine::sync_appends), its checks
// run inside the transaction; logs source_appended or source_append_failed. Thread-safe (the
// engine serializes syncs): also called by the ingest endpoint.
AppendOutcome sync_append_source(const api::Snapshot& snap, const config::SourceSpec& source, int64_t now_ms, Logger& log);

// A batch of rows a source received (over HTTP, or from a stream), once appended.
struct ReceivedBatch {
  int64_t rows = 0;      // rows of the batch
  AppendOutcome outcome;  // of its sync; outcome.error says why it was not appended
  // A `severity: error` check refused it (outcome.error is then set too): the sender's to fix,
  // so the source is not marked failing. `refusal` names the first such rule's failure.
  bool refused = false;
  std::string refusal;
};
// Writes `body` as the batch file `target` in the source's folder (engine/ingest_writer.h:
// checked against its columns) and appends it (sync_append_source). On the board: the outcome,
// a failure unless refused, and the new data version (so open dashboards hear of it). When the
// batch is not appended, its file goes, so that no later sync takes it in. Fails (nothing kept)
// when the body does not fit the columns: InvalidInput, as write_ingest_batch says.
Result<ReceivedBatch> append_received_batch(const Snapshot& snap, const config::SourceSpec& source, std::string_view body,
                                            engine::IngestFormat format, const std::filesystem::path& target, int64_t now_ms,
                                            SourceBoard& board, Logger& log);


}  // namespace sightline::api
