// Appending a batch of stream messages (Redis entries, MQTT messages) to their source, shared by
// the stream readers (cli/stream_reader.h): the messages become one Parquet batch file in the
// source's folder of the state directory and are appended in one transaction with the source's
// checks (api::append_received_batch). Messages whose fields do not fit the columns (an unknown
// field, a value that does not convert) are found one by one, logged (`stream_entry_refused`)
// and left out; the rest of the batch is appended. Thread-safe as append_received_batch is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/snapshot.h"
#include "api/source_board.h"
#include "config/project.h"
#include "core/log.h"

namespace sightline::cli {

// One message: how logs name it (a Redis entry id, an MQTT topic) and its fields.
struct StreamMessage {
  std::string label;
  nlohmann::json fields = nlohmann::json::object();
};

enum class BatchFate {
  Appended,  // the messages that fit are in the source
  Dropped,   // none is appended and none ever will be (none fits, or a `severity: error` check refused the batch)
  Failed,    // not appended for a reason of ours (storage, a failed sync): read the messages again later
};

struct BatchResult {
  BatchFate fate = BatchFate::Failed;
  int64_t appended = 0;  // messages appended
  int64_t refused = 0;   // messages left out
  // Failed: why, for the board; empty when the sync's failure is on the board already.
  std::string error;
};

// A stream source's health on the board and in the log, kept by its reader thread (not
// thread-safe): a run of failures is logged once (`stream_failed`) and each is on the board.
class StreamHealth {
 public:
  StreamHealth(std::string source, api::SourceBoard& board, Logger& log) : source_(std::move(source)), board_(board), log_(log) {}
  // Reports `why`; returns false, for the failed step to return.
  bool failed(const std::string& why, int64_t now_ms);
  // Ends a run of failures (the next one is logged again).
  void recovered() { failing_ = false; }

 private:
  std::string source_;
  api::SourceBoard& board_;
  Logger& log_;
  bool failing_ = false;
};

// Appends `messages` (not empty) as the batch file `target` of `spec`'s folder.
BatchResult append_stream_batch(const api::Snapshot& snap, const config::SourceSpec& spec, const std::filesystem::path& target,
                                const std::vector<const StreamMessage*>& messages, int64_t now_ms, api::SourceBoard& board, Logger& log);

}  // namespace sightline::cli
