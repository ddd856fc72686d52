#include "cli/stream_batch.h"

#include "api/appending.h"
#include "engine/ingest_writer.h"

namespace sightline::cli {
namespace fs = std::filesystem;
namespace {

std::string ndjson_of(const std::vector<const StreamMessage*>& messages) {
  std::string body;
  for (const auto* m : messages) body += m->fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return body;
}

// The messages that fit the columns, each tried alone (rare: a producer's bug); the others logged.
std::vector<const StreamMessage*> fitting(const config::SourceSpec& spec, const fs::path& folder, const std::vector<const StreamMessage*>& messages,
                                          Logger& log) {
  std::vector<engine::IngestColumn> columns;
  for (const auto& [name, type] : spec.columns) columns.push_back({name, type});
  // Beside the source's folder, so that no sync of the folder takes it.
  const fs::path probe = folder.parent_path() / (".probe-" + spec.name + ".parquet");
  std::vector<const StreamMessage*> fit;
  for (const auto* m : messages) {
    auto alone = engine::write_ingest_batch(ndjson_of({m}), engine::IngestFormat::NdJson, columns, probe, folder.parent_path());
    std::error_code ec;
    fs::remove(probe, ec);
    if (alone) {
      fit.push_back(m);
    } else {
      log.warn("stream_entry_refused", {{"source", spec.name}, {"id", m->label}, {"error", alone.error().message}});
    }
  }
  return fit;
}

}  // namespace

bool StreamHealth::failed(const std::string& why, int64_t now_ms) {
  if (!failing_) log_.error("stream_failed", {{"source", source_}, {"error", why}});
  failing_ = true;
  board_.finished(source_, api::RefreshOutcome::Failed, now_ms, why);
  return false;
}

BatchResult append_stream_batch(const api::Snapshot& snap, const config::SourceSpec& spec, const fs::path& target,
                                const std::vector<const StreamMessage*>& messages, int64_t now_ms, api::SourceBoard& board, Logger& log) {
  BatchResult out;
  auto received = api::append_received_batch(snap, spec, ndjson_of(messages), engine::IngestFormat::NdJson, target, now_ms, board, log);
  size_t sent = messages.size();
  if (!received && received.error().kind == ErrorKind::InvalidInput) {
    const std::vector<const StreamMessage*> fit = fitting(spec, target.parent_path(), messages, log);
    out.refused = static_cast<int64_t>(messages.size() - fit.size());
    if (fit.empty()) {
      out.fate = BatchFate::Dropped;
      return out;
    }
    sent = fit.size();
    received = api::append_received_batch(snap, spec, ndjson_of(fit), engine::IngestFormat::NdJson, target, now_ms, board, log);
  }
  if (!received) {
    out.error = "a batch of source '" + spec.name + "' could not be stored: " + received.error().message;
    return out;
  }
  if (received->refused) {
    // The producer's data breaks a rule: the batch is dropped, as a refused HTTP batch is.
    out.fate = BatchFate::Dropped;
    out.refused += static_cast<int64_t>(sent);
    log.warn("stream_batch_refused", {{"source", spec.name}, {"entries", sent}, {"error", received->outcome.error}});
    return out;
  }
  if (!received->outcome.error.empty()) return out;  // on the board already
  out.fate = BatchFate::Appended;
  out.appended = received->rows;
  log.info("stream_appended", {{"source", spec.name}, {"entries", received->rows}, {"refused", out.refused}, {"rows", received->outcome.state.rows}});
  return out;
}

}  // namespace sightline::cli
