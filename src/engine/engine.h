// The engine: one DuckDB database holding the project's sources and models as views (or
// tables when materialized), a catalog of their columns, and a connection pool.
//
//   auto built = Engine::build(project);
//   if (!built.engine) { report(built.diagnostics); }
//   const Relation* orders = built.engine->relation("orders");
//
// Thread-safe after build(); immutable except for the pool's internal state.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "config/project.h"
#include "engine/duckdb.h"
#include "engine/pool.h"

namespace sightline::engine {

// What kind of values a column holds, for validating filter input.
enum class ValueKind { Text, Integer, Float, Decimal, Boolean, Date, Timestamp, Other };
ValueKind value_kind(std::string_view duckdb_type);

struct Relation {
  std::string name;
  bool is_model = false;
  std::vector<ColumnInfo> columns;
  const ColumnInfo* column(std::string_view name) const;
  std::string column_list() const;  // "a, b, c" for hints
};

struct EngineBuild;

class Engine {
 public:
  // Opens the database, creates every source and model, and reads their columns. Problems are
  // diagnostics at the source's/model's position in sightline.yaml.
  static EngineBuild build(const config::Project& project);

  const Relation* relation(std::string_view name) const;
  const std::vector<Relation>& relations() const { return relations_; }
  ConnectionPool& pool() const { return *pool_; }
  std::chrono::milliseconds query_timeout() const { return query_timeout_; }
  int64_t max_rows() const { return max_rows_; }
  // Distinguishes one loaded copy of the data from the next (part of every cache key).
  uint64_t data_version() const { return data_version_; }
  double load_seconds() const { return load_seconds_; }

 private:
  Engine() = default;
  std::unique_ptr<Database> db_;
  std::unique_ptr<ConnectionPool> pool_;
  std::vector<Relation> relations_;
  std::chrono::milliseconds query_timeout_{30'000};
  int64_t max_rows_ = 100'000;
  uint64_t data_version_ = 0;
  double load_seconds_ = 0;
};

struct EngineBuild {
  std::shared_ptr<const Engine> engine;  // null on errors
  std::vector<config::Diagnostic> diagnostics;
};

// Adds to `sandbox` what source `s` still reads from disk after the engine is built, in the
// form the source's view names it (absolute, `.` and `..` resolved): for a glob, the folder
// before its first wildcard (data/orders/**/*.parquet: data/orders); for a folder (Parquet), the
// folder; for a single file, that file alone. Materialized sources add nothing (loaded before
// the lock), nor do DuckDB files (attached before the lock, and DuckDB keeps them readable).
// Fails (InvalidInput) when the source would open the whole filesystem (a wildcard right below /).
//
// Engine::build calls it for every source, then lock_down() (engine/duckdb.h) with the result
// plus the spill folder, once every source and model exists and before the pool opens: the
// connections that answer requests can then read nothing else, attach nothing, load no extension
// and change no setting.
Result<void> allow_source(Sandbox& sandbox, const config::SourceSpec& s, const std::filesystem::path& project_dir);

}  // namespace sightline::engine
