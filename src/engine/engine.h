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
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/project.h"
#include "engine/append_store.h"
#include "engine/bins.h"
#include "engine/duckdb.h"
#include "engine/pool.h"
#include "engine/state_dir.h"
#include "engine/state_ledger.h"

namespace sightline::engine {

class ZoneTimeline;

// What kind of values a column holds, for validating filter input.
enum class ValueKind { Text, Integer, Float, Decimal, Boolean, Date, Timestamp, Other };
ValueKind value_kind(std::string_view duckdb_type);

// The in-memory database attached beside the engine's own (which may be a state file): tables that
// live only while the process serves (filtered subsets, query/subset.h) are made there, so making
// and dropping them never writes the state file's log nor grows the file.
inline constexpr std::string_view kScratchDatabase = "sightline_scratch";

struct Relation {
  std::string name;
  bool is_model = false;
  std::vector<ColumnInfo> columns;
  // Fixed bins of the numeric columns dashboards show as histograms or filter by range
  // (engine/bins.h), planned when the relation was loaded; by column.
  std::map<std::string, ColumnBins> bins;
  std::string database;  // the attached database holding it (kScratchDatabase); empty: the engine's own
  const ColumnInfo* column(std::string_view name) const;
  const ColumnBins* bins_of(const std::string& column) const {
    auto it = bins.find(column);
    return it == bins.end() ? nullptr : &it->second;
  }
  std::string column_list() const;  // "a, b, c" for hints
  // The relation as SQL names it: its quoted name, qualified by its database when it has one.
  std::string sql_name() const;
};

// The version of the data each relation reads, taken at one moment (Engine::data_versions()).
// Loaded relations (materialized sources and models, DuckDB files) keep the version of their
// load; a source read at query time changes version whenever its files do, and so do the views
// (models) that may read it.
struct DataVersions {
  uint64_t all = 0;  // changes whenever any relation's data does: part of every cache key
  std::map<std::string, uint64_t, std::less<>> relations;
  // The version of one relation (`all` for a name it does not list).
  uint64_t of(std::string_view relation) const;
};

struct EngineBuild;

struct EngineOptions {
  // For `sightline check`: see Engine::build.
  bool keep_going = false;
  // Where the engine keeps its database file (engine/state_dir.h), so that a restart reuses the
  // loaded tables and pre-aggregates whose data has not changed. Empty: in memory, everything
  // loaded anew by each build. When the directory cannot be used (not writable, another process
  // uses it), the engine runs in memory and a warning says why.
  std::filesystem::path state_dir;
  StateFileUse state_use = StateFileUse::Reuse;
};

class Engine {
 public:
  // Opens the database, creates every source and model, and reads their columns. Problems are
  // diagnostics at the source's/model's position in sightline.yaml. With `keep_going` (for
  // `sightline check`), an engine holding the relations that did load is returned even when
  // others failed, so the dashboards over them can be checked too; such an engine must never
  // serve.
  static EngineBuild build(const config::Project& project, bool keep_going = false);
  static EngineBuild build(const config::Project& project, const EngineOptions& options);
  // Closes the database; an engine whose state file a newer generation has replaced (a reload)
  // removes it.
  ~Engine();

  // Reads every row and every column of `relation` once, each value converted to its type, so a
  // value that does not convert or a corrupt, unreadable or vanished file is found now rather
  // than by a viewer. Returns the rows read. A failure's detail is DuckDB's message.
  Result<int64_t> read_completely(const std::string& relation) const;
  // The project's sources whose values are converted while they are read at query time (CSV
  // and JSON text, or any declared `types:`), and so can fail on a row long after the load:
  // these are the ones worth reading completely at load (Parquet and DuckDB files carry their
  // types and are checked by their metadata when the view is made).
  std::vector<std::string> converting_live_sources() const { return converting_live_sources_; }

  const Relation* relation(std::string_view name) const;
  const std::vector<Relation>& relations() const { return relations_; }
  ConnectionPool& pool() const { return *pool_; }
  // Reads the bytes DuckDB holds in memory (its buffer manager) on a connection of its own and
  // keeps them for memory_sample(). Can wait behind the engine (a checkpoint, say): call it from a
  // background sampler, never from a thread that serves sockets. Thread-safe.
  void sample_memory() const;
  // What warm_buffers() did.
  struct WarmUp {
    int tables = 0;              // tables whose every column was read
    int64_t file_bytes = 0;      // the state file's blocks in use
    int64_t resident_bytes = 0;  // of the tables' blocks, those in memory before
    std::string skipped;         // why nothing was read, if so
  };
  // Reads every column of the tables in the state file once, smallest tables first (rollups and
  // value tables before the rows), one short statement per column, so requests interleave with
  // it. Blocks read cold from the file made a start from it slow until each had been read once:
  // typical widget statements at 10M rows took 2-10x longer the first time. Nothing to do for
  // an engine kept in memory, and skipped when most blocks are in memory already (a start that
  // loaded the sources) or the file's blocks exceed half the memory limit (they would evict each
  // other). `before_each` runs before each statement (to let requests go first) and ends the
  // pass when it returns false (shutting down). Ends too at the first failure to get a
  // connection (a closed pool); a table dropped meanwhile is passed over. Thread-safe.
  WarmUp warm_buffers(const std::function<bool()>& before_each = nullptr) const;
  // What the last sample_memory() read; nullopt before the first one, or when DuckDB could not tell.
  std::optional<int64_t> memory_sample() const {
    const int64_t v = memory_sample_.load();
    return v < 0 ? std::nullopt : std::optional<int64_t>(v);
  }
  std::chrono::milliseconds query_timeout() const { return query_timeout_; }
  int64_t max_rows() const { return max_rows_; }
  // Downloads: the most rows one may hold, and how long its statement may run.
  int64_t max_export_rows() const { return std::max(max_export_rows_, max_rows_); }
  std::chrono::milliseconds export_timeout() const { return std::max(export_timeout_, query_timeout_); }
  // The data's version now. Costs a walk of the folders of the sources read at query time (a
  // stat per file); nothing when every source is loaded. Take it once per request, before
  // reading: an answer is then never keyed by a version newer than the data it was read from.
  DataVersions data_versions() const;
  // What a relation's data is as of: a table made at load (or taken from the state file) when it
  // was made, with its rows; a source read at query time the newest modification of its files;
  // a view model the newest of the relations before it. `version` is data_versions()'s for it.
  // Costs a walk of a live source's folders: callers cache it by version (api/source_board.h).
  struct Freshness {
    uint64_t version = 0;
    int64_t as_of_ms = 0;           // milliseconds since 1970
    std::optional<int64_t> rows;    // known for tables made at load
    bool loaded = false;            // a table (or DuckDB file) read at load: new data needs a refresh
  };
  Freshness freshness(std::string_view relation) const;
  // A source's version as it was read and as its files are now (recipe + files, as at build).
  // For a source read at load (materialized, or a DuckDB file), `now != at_load` means a refresh
  // would read new data; a source read at query time is always current. nullopt: no such source.
  struct SourceFiles {
    uint64_t at_load = 0;
    uint64_t now = 0;
    bool read_at_load = false;
  };
  std::optional<SourceFiles> source_files(std::string_view source) const;
  // Append mode (`mode: append`, `ingest:`; engine/append_store.h). Thread-safe: syncs of the
  // engine's append sources run one at a time; requests keep reading while one runs (DuckDB's
  // transactions: a statement sees the rows as they were when it began, or all of a sync).
  bool appends(std::string_view source) const;
  // Reads what changed in `source`'s files (new, changed, removed, expired) into its table, in
  // one transaction; `verify` runs before the commit (see sync_append_table). The new version
  // is what data_versions() reports from then on. Fails (and changes nothing) when a file cannot
  // be read or `verify` fails; NotFound for a source that does not append.
  Result<AppendSync> sync_appends(const std::string& source, int64_t now_ms, const AppendVerify& verify = nullptr) const;
  // The rows appended to `source` since its version `version`, when every sync since then only
  // added rows (none removed or replaced) and this engine saw them all: `rows_sql` selects them
  // (the source's columns), `version` is the source's version with them. nullopt otherwise
  // (rows went, a restart since, not an append source). Lets pre-aggregates take in new rows
  // without reading the old ones again (query::Rollups::extend).
  struct AppendedRows {
    std::string rows_sql;
    uint64_t version = 0;
    int64_t batches = 0;  // files whose rows they are
  };
  std::optional<AppendedRows> appended_since(std::string_view source, uint64_t version) const;
  // What the ledger says of an append source, and whether its files differ from what the last
  // sync saw (a stat per file).
  struct AppendStatus {
    AppendState state;
    bool files_changed = false;
    std::optional<int64_t> next_expiry_ms;  // when the oldest kept file passes `keep`, if it has one
  };
  std::optional<AppendStatus> append_status(std::string_view source) const;
  // Where the batches a source receives over HTTP are kept (`ingest:` sources); empty otherwise.
  std::filesystem::path ingest_folder(std::string_view source) const;
  // The project time zone's offset from UTC at an instant (seconds east), e.g. for schedules.
  int64_t utc_offset_seconds(int64_t unix_seconds) const;
  // True when some source is read at query time or appends (so data_versions() can change).
  bool has_live_sources() const { return !live_sources_.empty() || !append_sources_.empty(); }
  double load_seconds() const { return load_seconds_; }

  // The state file this engine keeps its tables in; empty when it runs in memory.
  const std::filesystem::path& state_file() const { return state_file_; }
  // The loaded relations (materialized sources and models) taken from the state file as an
  // earlier run left them, their data unchanged; the others were read anew.
  const std::vector<std::string>& reused_relations() const { return reused_relations_; }
  // The column a materialized relation made by this build is clustered by (quoted; "" for none,
  // and for tables taken from the state file as they were): see plan_storage in engine.cpp.
  std::string clustered_by(const std::string& relation) const {
    auto it = clustered_by_.find(relation);
    return it == clustered_by_.end() ? "" : it->second;
  }
  const std::map<std::string, std::string>& clustered() const { return clustered_by_; }

  // Pre-aggregate tables (query/rollup.h) and the state file. The rollups describe themselves
  // (opaque JSON); the engine stores the description with the tables it keeps, and counts who
  // uses which table, so that a table goes when neither a user nor the state file needs it.
  // All thread-safe.
  //
  // The description stored, if any (and if the engine has a state file).
  std::optional<std::string> stored_rollups() const;
  // Stores `description` and the tables it keeps, replacing what was stored; the tables kept
  // before that are no longer kept nor claimed are dropped. Does nothing in memory.
  Result<void> store_rollups(const std::string& description, const std::vector<std::string>& tables) const;
  // One more user of each table.
  void claim_tables(const std::vector<std::string>& tables) const;
  // One user fewer; a table with none left that the state file does not keep is dropped.
  void release_tables(const std::vector<std::string>& tables) const;

 private:
  Engine() = default;
  struct Loaded;
  // `filter_columns`: the columns dashboards filter the relation on by value (clustering
  // candidates, see plan_storage in engine.cpp).
  Result<Loaded> load_relation(Connection& conn, const std::string& name, const std::string& body, const std::string& order_by,
                               bool materialize, const std::string& version, const std::vector<std::string>& filter_columns);
  static Result<std::unique_ptr<Database>> open_database(const EngineOptions& options,
                                                        const DatabaseOptions& db_options, std::filesystem::path& state_file,
                                                        std::vector<config::Diagnostic>& diagnostics);
  static void warn_if_memory_is_short(Connection& conn, std::vector<config::Diagnostic>& diagnostics);
  std::unique_ptr<Database> db_;
  std::unique_ptr<ConnectionPool> pool_;
  std::unique_ptr<Connection> stats_conn_;  // sample_memory() only
  mutable std::mutex stats_mutex_;
  mutable std::atomic<int64_t> memory_sample_{-1};
  std::vector<Relation> relations_;
  std::chrono::milliseconds query_timeout_{30'000};
  int64_t max_rows_ = 100'000;
  int64_t max_export_rows_ = 10'000'000;
  std::chrono::milliseconds export_timeout_{300'000};
  // The version of everything loaded: every source's recipe and files at load, every model's SQL.
  // Equal across restarts when nothing changed.
  uint64_t load_version_ = 0;
  std::map<std::string, uint64_t> loaded_versions_;  // materialized relations: the version they were made from
  std::filesystem::path state_file_;
  mutable std::optional<StateLedger> ledger_;  // with a state file
  std::vector<std::string> reused_relations_;
  std::map<std::string, std::string> clustered_by_;
  mutable std::mutex state_mutex_;  // guards ledger_ and table_users_ after build
  mutable std::map<std::string, int> table_users_;
  void drop_tables(const std::vector<std::string>& tables) const;
  // Sources read at query time: name and the absolute file, folder or glob they read.
  std::vector<std::pair<std::string, std::filesystem::path>> live_sources_;
  std::set<std::string> view_models_;  // models that are views (they may read a live source)
  std::vector<std::string> converting_live_sources_;
  double load_seconds_ = 0;
  // Every source: what its version is made of, so source_files_changed() can compute it again.
  struct SourceStamp {
    std::string name;
    std::filesystem::path pattern;  // absolute file, folder or glob
    uint64_t recipe = 0;            // hash of the recipe, before the files are combined in
    uint64_t version = 0;           // at load
    bool loaded = false;            // materialized or a DuckDB file
  };
  std::vector<SourceStamp> source_stamps_;
  std::map<std::string, StateLedger::Made, std::less<>> made_;  // tables made at load (or reused): when, rows
  int64_t built_at_ms_ = 0;
  std::shared_ptr<const ZoneTimeline> zone_;  // the project's time zone
  bool discard_state_file_ = false;           // a failed build's new generation: removed with it
  // Append sources: how each is read and what its table holds.
  struct AppendSource {
    AppendTarget target;
    std::filesystem::path pattern;  // the files it reads (absolute glob)
    std::filesystem::path ingest;   // ingest sources: the folder received batches are kept in
  };
  std::map<std::string, AppendSource, std::less<>> append_sources_;   // fixed after build
  mutable std::mutex append_sync_mutex_;                              // one sync at a time
  mutable std::mutex append_state_mutex_;                             // guards append_states_ (held briefly)
  mutable std::map<std::string, AppendState, std::less<>> append_states_;
  // The syncs that changed rows, per source, oldest first (the last kAppendHistory), for
  // appended_since; guarded by append_state_mutex_.
  struct AppendStep {
    uint64_t before = 0, after = 0;
    int64_t first_batch = 0, end_batch = 0;
    bool only_added = false;
  };
  mutable std::map<std::string, std::vector<AppendStep>, std::less<>> append_history_;
  std::optional<AppendState> append_state(std::string_view source) const;
  // Creates (or takes from the state file) the table of append source `s` and reads its new files.
  // A catch-up that fails over kept rows is a warning in `diagnostics` (they serve meanwhile).
  Result<void> load_appending(Connection& conn, const config::SourceSpec& s, const config::Project& project, const std::string& recipe,
                              const std::filesystem::path& ingest_root, std::vector<config::Diagnostic>& diagnostics);
};

// Where engines of this process without a state directory keep the rows their ingest sources
// receive (lost when the process ends; `serve` removes the folder when it stops).
std::filesystem::path temporary_ingest_root();

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

// DuckDB's message for a source that could not be read, said shortly for the project's author:
// for a CSV value that does not convert, "data/t.csv:4: column \"amount\": could not convert
// \"x\" to INTEGER"; else the message's first line. Paths below `project_dir` become relative.
std::string describe_read_error(const std::string& engine_message, const std::filesystem::path& project_dir);

}  // namespace sightline::engine
