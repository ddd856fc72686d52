// Syncing an append source (engine/append_store.h) on a snapshot's engine, with its data checks
// run inside the append's transaction: shared by the refresher (cli/refresher.h) and the ingest
// endpoint (POST /api/v1/sources/{name}/rows).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "api/snapshot.h"
#include "config/project.h"
#include "core/log.h"
#include "engine/data_checks.h"

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


}  // namespace sightline::api
