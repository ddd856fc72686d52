// The ledger of an engine's state file (engine/state_dir.h): which loaded tables it holds and
// the version of the data each was made from, and the pre-aggregates stored last. A build reuses
// a table only when its version (recipe + files, see Engine::build) is the one recorded; a table
// and its ledger row are written in one transaction, so a crash (kill -9) at any moment leaves
// either the old table with its old version or the new one with its new version.
//
// The ledger lives in the schema `sightline_state` of the engine's database; the project's
// relations and the pre-aggregates live in `main`.
//
// Used by Engine::build on its setup connection, and afterwards under the engine's lock; not
// thread-safe by itself.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/duckdb.h"

namespace sightline::engine {

// A stored description of the pre-aggregates (opaque to the engine: query/rollup.h writes and
// reads it) and the tables it names.
struct StoredRollups {
  std::string key;
  std::string description;
  std::vector<std::string> tables;
};

class StateLedger {
 public:
  // Reads the ledger of `conn`'s database, creating its tables when missing. A ledger written by
  // an incompatible release is emptied with every table and view it described (a full load).
  // Drops every view of `main`: each build creates the views it needs.
  static Result<StateLedger> open(Connection& conn);

  // Whether table `name` is present and was made from data of `version`.
  bool holds(Connection& conn, const std::string& name, const std::string& version) const;
  // Records that table `name` holds data of `version` (`rows` rows). Call inside the transaction
  // that made the table.
  Result<void> record(Connection& conn, const std::string& name, const std::string& version, int64_t rows);
  // When table `name` was made (milliseconds since 1970) and its rows, as recorded; nullopt when
  // the ledger has no row for it.
  struct Made {
    int64_t at_ms = 0;
    int64_t rows = 0;
  };
  std::optional<Made> made(Connection& conn, const std::string& name) const;

  // Drops every table of `main` except `keep` and the tables of the stored pre-aggregates, every
  // ENUM type made for a table no longer kept (engine.cpp names them __sightline_enum_<table>_<n>),
  // and the ledger rows of what was dropped. Leftovers of an earlier run (a removed source,
  // filtered subsets, pre-aggregates that were replaced) go this way.
  Result<void> drop_all_but(Connection& conn, const std::set<std::string>& keep);

  const std::optional<StoredRollups>& rollups() const { return rollups_; }
  // Replaces the stored pre-aggregates.
  Result<void> store_rollups(Connection& conn, const StoredRollups& rollups);

 private:
  std::optional<StoredRollups> rollups_;
};

// Drops the ENUM types made for table `table` (__sightline_enum_<table>_<n>).
Result<void> drop_enum_types_of(Connection& conn, const std::string& table);

}  // namespace sightline::engine
