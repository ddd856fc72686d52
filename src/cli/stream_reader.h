// Sources that read a stream (docs/freshness.md): a Redis stream (`redis: { url, stream, group,
// batch }`) or an MQTT topic filter (`mqtt: { url, topic, client_id, batch }`, stream/mqtt_client.h).
// One thread per such source reads messages, turns each batch into a Parquet file of the source's
// columns in its folder of the state directory (cli/stream_batch.h), appends it
// (api::append_received_batch: one transaction with the source's error checks) and only then
// acknowledges the messages (XACK; MQTT PUBACK).
//
// Redis, exactly once: a batch's file is named after the last entry id it holds, so after a crash
// the entries Redis delivers again (they were never acknowledged) that are at or before the newest
// file's id are acknowledged without being appended a second time; a file written but not yet
// appended is appended by the next sync (at the latest when the server starts again).
// MQTT, at least once (QoS 1's contract): the broker keeps the session while the server is away
// and sends again every message not acknowledged; MQTT gives messages no identity to recognize
// them by, so messages whose batch was being committed when the server was killed arrive twice.
// Messages whose fields do not fit the columns (an unknown field, a value that does not convert,
// an MQTT payload that is not a JSON object) are acknowledged and dropped, each logged
// (`stream_entry_refused`) with the reason; the rest of their batch is appended.
//
// Readers run from serve's start to its stop for the stream sources of the project as it was at
// start (a source added by a reload starts reading at the next start); they follow the serving
// snapshot for everything else. Thread-safe: start() and the destructor from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/snapshot.h"
#include "api/source_board.h"
#include "core/error.h"
#include "core/log.h"

namespace sightline::cli {

class StreamReaders {
 public:
  StreamReaders(api::SnapshotHolder& holder, api::SourceBoard& board, Logger& log);
  // Starts a reader for each stream source (Redis or MQTT) of the serving snapshot.
  void start();
  // Stops every reader (each finishes the batch it is appending; a blocked read ends within ~1 s).
  ~StreamReaders();
  StreamReaders(const StreamReaders&) = delete;
  StreamReaders& operator=(const StreamReaders&) = delete;

 private:
  // Calls `step` with the serving snapshot and the source's spec until stopped, pausing after a
  // step that failed (false) and while the source reads no stream.
  void follow(const std::string& source, const std::function<bool(const api::Snapshot&, const config::SourceSpec&)>& step);
  void run(const std::string& source);       // a Redis source's (stream_reader.cpp)
  void run_mqtt(const std::string& source);  // an MQTT source's (mqtt_reader.cpp)
  // Waits up to `ms` or until stopped; returns false when stopped.
  bool pause(int ms);

  api::SnapshotHolder& holder_;
  api::SourceBoard& board_;
  Logger& log_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace sightline::cli
