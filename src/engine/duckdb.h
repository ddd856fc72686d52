// RAII wrappers over DuckDB's C API: a database, connections, prepared statements and results,
// with results exported as Arrow (the C data interface).
//
//   auto db = Database::open(":memory:", {.threads = 2, .memory_limit = "4GB"});
//   auto conn = Connection::open(**db);
//   auto stmt = conn->prepare("SELECT sum(revenue) FROM orders WHERE region = ?");
//   auto table = stmt->execute({Param{std::string("North")}}, /*max_rows=*/1000);
//
// Thread-safety: a Database may be shared by many threads; a Connection (and the statements
// prepared on it) must be used by one thread at a time, except interrupt(), which any thread
// may call to cancel the running query.
//
// Hardening (see lock_down and Connection::restrict_statements): once a database has loaded what
// it needs, lock_down() makes DuckDB itself refuse files outside a sandbox, extensions and any
// change of settings; restricted connections additionally refuse statements that DuckDB's
// settings cannot stop (ATTACH, COPY, PRAGMA, ...).
#pragma once

#include <duckdb.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "arrow/c_data.h"
#include "core/error.h"

namespace sightline::engine {

// A value bound to a prepared statement's `?` parameter. Dates and timestamps travel as ISO
// strings and the SQL casts them (the query builder writes CAST(? AS DATE)).
using Param = std::variant<std::nullptr_t, bool, int64_t, double, std::string>;

struct DatabaseOptions {
  int threads = 0;             // 0: DuckDB's default (all cores)
  std::string memory_limit;    // e.g. "4GB"; empty: DuckDB's default (80% of RAM; Engine::build sets its own)
  std::string temp_directory;  // spill location; empty: DuckDB's default
  std::string max_spill;       // e.g. "20GB": the most the spill files may hold; empty: DuckDB's default (90% of the free disk)
};

class Database {
 public:
  // path: a DuckDB file, or ":memory:" for an in-memory database.
  static Result<std::unique_ptr<Database>> open(const std::string& path, const DatabaseOptions& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  duckdb_database handle() const { return db_; }

 private:
  Database() = default;
  duckdb_database db_ = nullptr;
};

// The prefix of the ENUM types Sightline creates for repeated text (their values sorted).
inline constexpr std::string_view kEnumTypePrefix = "__sightline_enum_";

struct ColumnInfo {
  std::string name;
  std::string type;  // DuckDB's SQL name of the type, e.g. "BIGINT", "DECIMAL(10,2)"
  // For text kept as an ENUM whose values are sorted (Sightline's own, see encode_repeated_text in
  // engine.cpp): the type as SQL ("ENUM('East', 'North')") and its values in order. Empty
  // otherwise, and always in query results (only PreparedStatement::columns(true) reads them).
  std::string enum_type;
  std::shared_ptr<const std::vector<std::string>> dictionary;
};

// A fully materialized query result in Arrow form.
struct QueryOutput {
  std::vector<ColumnInfo> columns;
  arrow::Table table;
  bool truncated = false;  // more rows existed than max_rows; table holds max_rows of them
};

// What a streaming run (PreparedStatement::execute_streaming) hands over, in order: the columns
// once, then each batch. A sink that fails stops the run with its error.
struct BatchSink {
  std::function<Result<void>(const std::vector<ColumnInfo>& columns, const ArrowSchema& schema)> start;
  std::function<Result<void>(const ArrowArray& batch)> batch;
};

struct StreamedRows {
  int64_t rows = 0;
  bool truncated = false;  // more rows existed than max_rows
};

class PreparedStatement {
 public:
  ~PreparedStatement();
  PreparedStatement(PreparedStatement&& other) noexcept;
  PreparedStatement& operator=(PreparedStatement&&) = delete;
  PreparedStatement(const PreparedStatement&) = delete;

  int64_t parameter_count() const;
  // Columns the statement returns (known after prepare, before execution).
  // The result's columns; with `dictionaries`, also the values of Sightline's ENUM types.
  std::vector<ColumnInfo> columns(bool dictionaries = false) const;
  // Binds `params` (must match parameter_count) and runs. At most max_rows rows are kept;
  // if more exist, `truncated` is set. A run stopped by Connection::interrupt() fails with
  // ErrorKind::Timeout.
  Result<QueryOutput> execute(const std::vector<Param>& params, int64_t max_rows);
  // The same, handing each batch of the result to `sink` as DuckDB produces it instead of
  // keeping them: memory stays at a few chunks whatever the result's size. A failure after the
  // first batch (an interrupt at the deadline, a file that cannot be read) is an error like any
  // other: the rows handed over so far are then not the whole answer.
  Result<StreamedRows> execute_streaming(const std::vector<Param>& params, int64_t max_rows, const BatchSink& sink);

 private:
  Result<void> bind(const std::vector<Param>& params);
  friend class Connection;
  explicit PreparedStatement(duckdb_prepared_statement s) : stmt_(s) {}
  duckdb_prepared_statement stmt_ = nullptr;
};

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> open(Database& db);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // From now on this connection runs only statements that read or that create, change and drop
  // the engine's own in-memory tables, views, types and macros: SELECT (also DESCRIBE, SUMMARIZE,
  // PRAGMA table_info...), EXPLAIN, CREATE, DROP, INSERT, UPDATE, DELETE, ALTER and transactions.
  // Anything else (ATTACH, DETACH, INSTALL, LOAD, SET, RESET, USE, PRAGMA, COPY, EXPORT, IMPORT,
  // CALL, VACUUM, SQL-level PREPARE/EXECUTE, ...) fails with ErrorKind::Forbidden before it runs.
  // Each statement's kind is DuckDB's own (from its parser), never a guess from the text. This is
  // the layer that stops ATTACH (and COPY TO) inside the sandbox, which lock_down cannot.
  // Irreversible; meant for the connections that answer requests (ConnectionPool).
  void restrict_statements() { restricted_ = true; }
  bool restricted() const { return restricted_; }

  // Runs SQL whose result is not needed (DDL, SET). Errors carry DuckDB's message.
  Result<void> execute(std::string_view sql);
  // Runs SQL and returns the result (no parameters).
  Result<QueryOutput> query(std::string_view sql, int64_t max_rows);
  Result<PreparedStatement> prepare(std::string_view sql);
  // Asks the running query (if any) to stop; safe from any thread.
  void interrupt();
  // The C handle, for registering functions (engine/bitmap_functions.h); owned by this object.
  duckdb_connection handle() const { return conn_; }
  // Fraction done of the running query in [0,1], or -1 when unknown.
  double progress();

 private:
  Connection() = default;
  // Restricted connections: runs each statement of `sql` in turn (prepared, kind checked, then
  // executed); the last one's result is left in `last`, which the caller destroys.
  Result<void> run_checked(const std::string& sql, duckdb_result* last);
  duckdb_connection conn_ = nullptr;
  bool restricted_ = false;
};

// What a locked-down database may still read (and, as DuckDB cannot tell reading from writing,
// write: COPY TO and ATTACH need a restricted connection to be refused there too).
struct Sandbox {
  std::vector<std::filesystem::path> directories;  // whole trees; absolute
  std::vector<std::filesystem::path> files;        // single files; absolute
};

// Locks the whole database down, for every connection, open or future, through DuckDB's own
// settings, in this order:
//   autoinstall_known_extensions, autoload_known_extensions = false  (no extension fetched or
//     loaded behind a query's back: s3://, https://, sqlite ATTACH ...)
//   allow_community_extensions, allow_unsigned_extensions, allow_persistent_secrets = false
//   allowed_directories = sandbox.directories, allowed_paths = sandbox.files
//   enable_external_access = false  (then: no file outside the sandbox, no network, no INSTALL
//     or LOAD; DuckDB keeps its temp_directory (spills) and already attached database files
//     usable by itself)
//   lock_configuration = true  (every later SET, RESET or PRAGMA x=y fails; DuckDB exempts only
//     `schema` and `search_path`)
// Irreversible: call it once the database has created and loaded all it needs. Paths are
// compared as text after DuckDB removes `.` and `..`, so pass the same absolute, lexically normal
// paths the views use. Fails (and the database must then not serve) when any setting is refused.
//
// What DuckDB (1.4) cannot block, even after this:
//   - ATTACH of a DuckDB file inside the sandbox (also creating a new one there), and
//     ATTACH ':memory:'; COPY ... TO and EXPORT DATABASE into the sandbox (restricted
//     connections refuse those statements; EXPORT DATABASE still makes its empty target folder
//     inside the sandbox, as DuckDB does that while preparing, before the kind can be checked).
//   - symbolic links inside an allowed directory are followed wherever they point.
//   - PRAGMAs that are not settings (enable_profiling, disable_optimizer, enable_verification,
//     disable_checkpoint_on_shutdown, ...) still change the session or database (restricted
//     connections refuse PRAGMA statements).
//   - the table functions enable_logging / disable_logging / truncate_duckdb_logs change the
//     database's logging despite lock_configuration (even as SELECT * FROM enable_logging(...),
//     which a statement-kind check cannot see): file logs can be written into the sandbox, and a
//     log path outside it makes every later query fail. Only SQL the project wrote reaches the
//     engine; the checks of project SQL must refuse these functions.
Result<void> lock_down(Connection& conn, const Sandbox& sandbox);

// Errors from DuckDB, classified once. Only the Sightline code that asks a question knows
// whether the caller could have caused an error; DuckDB's text never reaches a caller: it is the
// returned Error's `detail` (core/error.h), for the log and the project's author.
//
//   TimeLimit  interrupted at the query's deadline            -> ErrorKind::Timeout (504)
//   Resources  out of memory                                   -> ErrorKind::Unavailable (503)
//   Data       the data cannot be read: conversion, overflow, IO, a missing or corrupt file, a
//              schema that changed under a view (binder/catalog errors at run time)
//                                                              -> ErrorKind::SourceFailed (502)
//   Internal   anything else (parser, planner, DuckDB internals) -> ErrorKind::Internal (500)
// Client input is never among them: requests carry values, never SQL, and values are validated
// before they are bound (query/request.h); a value DuckDB still refuses is Sightline's bug.
enum class EngineErrorClass { TimeLimit, Resources, Data, Internal };
EngineErrorClass engine_error_class(duckdb_error_type type);
// DuckDB's error type, read back from the prefix of one of its messages ("Binder Error: ...");
// DUCKDB_ERROR_INVALID when there is none.
duckdb_error_type engine_error_type_of(std::string_view message);
// The Error for a DuckDB error of `type` whose own message is `engine_message` (kept as detail).
Error classify_engine_error(duckdb_error_type type, std::string engine_message);

// Quotes an identifier for SQL: foo -> "foo", a"b -> "a""b".
std::string quote_identifier(std::string_view name);
// Quotes a string literal for SQL: it's -> 'it''s'. Only for trusted project text (paths).
std::string quote_literal(std::string_view text);

const char* duckdb_version();

}  // namespace sightline::engine
