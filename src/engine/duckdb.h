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
#pragma once

#include <duckdb.h>

#include <cstdint>
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
  int threads = 0;            // 0: DuckDB's default (all cores)
  std::string memory_limit;   // e.g. "4GB"; empty: DuckDB's default (80% of RAM)
  std::string temp_directory; // spill location; empty: DuckDB's default
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

struct ColumnInfo {
  std::string name;
  std::string type;  // DuckDB's SQL name of the type, e.g. "BIGINT", "DECIMAL(10,2)"
};

// A fully materialized query result in Arrow form.
struct QueryOutput {
  std::vector<ColumnInfo> columns;
  arrow::Table table;
  bool truncated = false;  // more rows existed than max_rows; table holds max_rows of them
};

class PreparedStatement {
 public:
  ~PreparedStatement();
  PreparedStatement(PreparedStatement&& other) noexcept;
  PreparedStatement& operator=(PreparedStatement&&) = delete;
  PreparedStatement(const PreparedStatement&) = delete;

  int64_t parameter_count() const;
  // Columns the statement returns (known after prepare, before execution).
  std::vector<ColumnInfo> columns() const;
  // Binds `params` (must match parameter_count) and runs. At most max_rows rows are kept;
  // if more exist, `truncated` is set. A run stopped by Connection::interrupt() fails with
  // ErrorKind::Timeout.
  Result<QueryOutput> execute(const std::vector<Param>& params, int64_t max_rows);

 private:
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

  // Runs SQL whose result is not needed (DDL, SET). Errors carry DuckDB's message.
  Result<void> execute(std::string_view sql);
  // Runs SQL and returns the result (no parameters).
  Result<QueryOutput> query(std::string_view sql, int64_t max_rows);
  Result<PreparedStatement> prepare(std::string_view sql);
  // Asks the running query (if any) to stop; safe from any thread.
  void interrupt();
  // Fraction done of the running query in [0,1], or -1 when unknown.
  double progress();

 private:
  Connection() = default;
  duckdb_connection conn_ = nullptr;
};

// Quotes an identifier for SQL: foo -> "foo", a"b -> "a""b".
std::string quote_identifier(std::string_view name);
// Quotes a string literal for SQL: it's -> 'it''s'. Only for trusted project text (paths).
std::string quote_literal(std::string_view text);

const char* duckdb_version();

}  // namespace sightline::engine
