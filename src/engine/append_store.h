// Append mode (`mode: append`, and sources that receive rows: `ingest:`): a source's rows kept in
// a table of the engine's database with a ledger of the files they came from, so that a refresh
// reads only new files and a restart reads nothing already read.
//
//   AppendTarget t = ...;                       // the source's table and how to read one file
//   auto opened = open_append_table(conn, t, first_files);   // at build: create or reuse
//   auto synced = sync_append_table(conn, t, list_files(pattern), now_ms, verify);
//
// The table (`__sightline_append_<source>` in `main`) holds the source's columns and one more,
// `__sightline_batch`: the ledger's number of the file each row came from. The source's view
// hides that column. The ledger (`sightline_state.append_files`, one row per file: path, size,
// modification time, rows, when it arrived, whether it expired) and the per-source summary
// (`sightline_state.append_sources`: the recipe, a change counter, rows, as of) are written in
// the same transaction as the rows. DuckDB's write-ahead log makes that transaction atomic, so a
// crash (kill -9) at any moment leaves either the rows of a file and its ledger row, or neither:
// nothing is lost (the file is read again) and nothing is read twice.
//
// A sync compares the files now with the ledger: a new file is appended; a file whose size or
// modification time changed replaces exactly its rows; a removed file removes its rows; with
// `keep_ms`, the rows of files that arrived (were modified) longer ago than that are removed and
// the file marked expired (not read again while it stays as it is). All of one sync is one
// transaction: a file that cannot be read fails the sync and the table stays as it was.
//
// A recipe that changed (path, format, reader options, declared columns, time zone) makes the
// table and its ledger rows go: the next sync reads every file anew.
//
// Free functions over a Connection; the caller serializes syncs of one table (Engine does).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/duckdb.h"
#include "engine/source_files.h"

namespace sightline::engine {

// The hidden column holding each row's file number.
inline constexpr std::string_view kBatchColumn = "__sightline_batch";
// The table a source's appended rows live in.
std::string append_table_name(const std::string& source);

struct AppendTarget {
  std::string source;  // the source (its view)
  std::string recipe;  // what the rows are made by; another recipe starts the table afresh
  // The SELECT that reads one file with the source's reader options and type overrides.
  std::function<std::string(const std::string& file)> read_file;
  std::string order_by;  // quoted columns each file's rows are appended in, or ""
  // Declared columns (name, SQL type), for sources that receive rows: the table is made from
  // them, so it exists before the first batch. Empty: made from the first files' columns.
  std::vector<std::pair<std::string, std::string>> columns;
  std::optional<int64_t> keep_ms;  // rows of files modified longer ago than this are removed
};

// What an append table holds, as the ledger says.
struct AppendState {
  uint64_t version = 0;  // changes with every sync that changed rows; equal across restarts
  int64_t rows = 0;
  int64_t files = 0;              // files whose rows are held
  int64_t as_of_ms = 0;           // when rows last changed (milliseconds since 1970)
  int64_t oldest_kept_ns = 0;     // the oldest modification time among held files (0: none)
  uint64_t files_fingerprint = 0; // of the files as the last sync saw them (see files_fingerprint)
};

// What one sync did.
struct AppendChange {
  int64_t added = 0;     // files read for the first time
  int64_t replaced = 0;  // files read again (changed)
  int64_t removed = 0;   // files gone
  int64_t expired = 0;   // files past keep_ms
  int64_t rows_added = 0;
  int64_t rows_removed = 0;
  bool any() const { return added + replaced + removed + expired > 0; }
};

// A fingerprint of a file listing (paths, sizes, modification times).
uint64_t files_fingerprint(const std::vector<FileEntry>& files);

// Creates the ledger's tables when missing (and the schema sightline_state).
Result<void> ensure_append_ledger(Connection& conn);

// Makes sure `target`'s table exists for its recipe: reused when the ledger records the same
// recipe, else (dropped and) created empty, from the declared columns or from the columns of
// `schema_file`'s rows (a file the source reads; required then). Returns the ledger's state.
Result<AppendState> open_append_table(Connection& conn, const AppendTarget& target, const std::optional<std::string>& schema_file);

// Brings the table up to `files` (the source's files now, as list_files gives them) in one
// transaction. `verify` runs inside it, after the rows changed and before the commit (on `conn`,
// seeing the new rows): an error rolls everything back and is returned. `now_ms` is the arrival
// time recorded and the clock keep_ms is measured by. On success returns what changed and the
// new state (`version` unchanged when nothing changed).
struct AppendSync {
  AppendChange change;
  AppendState state;
  uint64_t version_before = 0;  // the table's version when the sync began (state.version: after)
  // The batch numbers this sync gave its new files' rows: [first_batch, end_batch).
  int64_t first_batch = 0;
  int64_t end_batch = 0;
  std::vector<std::string> expired_files;  // files this sync marked expired (their rows removed)
};
using AppendVerify = std::function<Result<void>(Connection& conn, const AppendChange& change)>;
Result<AppendSync> sync_append_table(Connection& conn, const AppendTarget& target, const std::vector<FileEntry>& files, int64_t now_ms,
                                     const AppendVerify& verify = nullptr);

// The ledger's state of `source` (nullopt when it has none).
Result<std::optional<AppendState>> read_append_state(Connection& conn, const std::string& source);

// Removes the tables and ledger rows of sources not in `keep`.
Result<void> drop_append_tables_except(Connection& conn, const std::vector<std::string>& keep);

}  // namespace sightline::engine
