// Sources that read a Redis stream (`redis: { url, stream, group, batch }`, docs/freshness.md):
// one thread per such source reads the stream's entries as a member of a consumer group
// (XREADGROUP), turns each batch into a Parquet file of the source's columns in its folder of the
// state directory (engine/ingest_writer.h), appends it (api::sync_append_source: one transaction
// with the source's error checks) and only then acknowledges the entries (XACK).
//
// Exactly once: a batch's file is named after the last entry id it holds, so after a crash the
// entries Redis delivers again (they were never acknowledged) that are at or before the newest
// file's id are acknowledged without being appended a second time; a file written but not yet
// appended is appended by the next sync (at the latest when the server starts again).
// Entries whose fields do not fit the columns (an unknown field, a value that does not convert)
// are acknowledged and dropped, each logged (`stream_entry_refused`) with the reason; the rest of
// their batch is appended.
//
// Readers run from serve's start to its stop for the Redis sources of the project as it was at
// start (a source added by a reload starts reading at the next start); they follow the serving
// snapshot for everything else. Thread-safe: start() and the destructor from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
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
  // Starts a reader for each Redis source of the serving snapshot.
  void start();
  // Stops every reader (each finishes the batch it is appending; a blocked read ends within ~1 s).
  ~StreamReaders();
  StreamReaders(const StreamReaders&) = delete;
  StreamReaders& operator=(const StreamReaders&) = delete;

 private:
  void run(const std::string& source);
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
