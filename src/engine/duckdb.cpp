#include "engine/duckdb.h"

#include <algorithm>
#include <cstring>
#include <optional>

namespace sightline::engine {
namespace {

// Owns a duckdb_logical_type.
struct LogicalType {
  duckdb_logical_type t = nullptr;
  ~LogicalType() {
    if (t) duckdb_destroy_logical_type(&t);
  }
};

struct ErrorData {
  duckdb_error_data e = nullptr;
  ~ErrorData() {
    if (e) duckdb_destroy_error_data(&e);
  }
};

std::string type_name(duckdb_logical_type t) {
  switch (duckdb_get_type_id(t)) {
    case DUCKDB_TYPE_BOOLEAN:
      return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT:
      return "TINYINT";
    case DUCKDB_TYPE_SMALLINT:
      return "SMALLINT";
    case DUCKDB_TYPE_INTEGER:
      return "INTEGER";
    case DUCKDB_TYPE_BIGINT:
      return "BIGINT";
    case DUCKDB_TYPE_UTINYINT:
      return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT:
      return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER:
      return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT:
      return "UBIGINT";
    case DUCKDB_TYPE_HUGEINT:
      return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT:
      return "UHUGEINT";
    case DUCKDB_TYPE_FLOAT:
      return "FLOAT";
    case DUCKDB_TYPE_DOUBLE:
      return "DOUBLE";
    case DUCKDB_TYPE_DECIMAL:
      return "DECIMAL(" + std::to_string(duckdb_decimal_width(t)) + "," + std::to_string(duckdb_decimal_scale(t)) + ")";
    case DUCKDB_TYPE_VARCHAR:
      return "VARCHAR";
    case DUCKDB_TYPE_BLOB:
      return "BLOB";
    case DUCKDB_TYPE_DATE:
      return "DATE";
    case DUCKDB_TYPE_TIME:
      return "TIME";
    case DUCKDB_TYPE_TIME_TZ:
      return "TIME WITH TIME ZONE";
    case DUCKDB_TYPE_TIMESTAMP:
      return "TIMESTAMP";
    case DUCKDB_TYPE_TIMESTAMP_S:
      return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS:
      return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS:
      return "TIMESTAMP_NS";
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_INTERVAL:
      return "INTERVAL";
    case DUCKDB_TYPE_ENUM:
      return "ENUM";
    case DUCKDB_TYPE_LIST:
      return "LIST";
    case DUCKDB_TYPE_STRUCT:
      return "STRUCT";
    case DUCKDB_TYPE_MAP:
      return "MAP";
    case DUCKDB_TYPE_ARRAY:
      return "ARRAY";
    case DUCKDB_TYPE_UUID:
      return "UUID";
    case DUCKDB_TYPE_SQLNULL:
      return "NULL";
    default:
      return "OTHER";
  }
}

// DuckDB appends a "LINE 1: <statement>" excerpt; it shows generated SQL, not the user's text.
std::string clean_message(const char* msg, const char* fallback) {
  std::string text = msg ? msg : fallback;
  if (auto cut = text.find("\n\nLINE "); cut != std::string::npos) text.resize(cut);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

Error error_from_result(duckdb_result* result) {
  return classify_engine_error(duckdb_result_error_type(result), clean_message(duckdb_result_error(result), "query failed"));
}

// A failed prepare carries only DuckDB's message ("Binder Error: ..."); its type is read back
// from the message's prefix (DuckDB's own names of its error types).
Error error_from_prepare_message(const char* msg) {
  std::string text = clean_message(msg, "could not prepare statement");
  return classify_engine_error(engine_error_type_of(text), text);
}

// Statement kinds a restricted connection runs (see Connection::restrict_statements). An allow
// list: kinds DuckDB adds later are refused until someone decides otherwise.
bool allowed_when_restricted(duckdb_statement_type t) {
  switch (t) {
    case DUCKDB_STATEMENT_TYPE_SELECT:
    case DUCKDB_STATEMENT_TYPE_EXPLAIN:
    case DUCKDB_STATEMENT_TYPE_CREATE:
    case DUCKDB_STATEMENT_TYPE_CREATE_FUNC:
    case DUCKDB_STATEMENT_TYPE_DROP:
    case DUCKDB_STATEMENT_TYPE_INSERT:
    case DUCKDB_STATEMENT_TYPE_UPDATE:
    case DUCKDB_STATEMENT_TYPE_DELETE:
    case DUCKDB_STATEMENT_TYPE_ALTER:
    case DUCKDB_STATEMENT_TYPE_TRANSACTION:
      return true;
    default:
      return false;
  }
}

const char* statement_kind_name(duckdb_statement_type t) {
  switch (t) {
    case DUCKDB_STATEMENT_TYPE_ATTACH:
      return "ATTACH";
    case DUCKDB_STATEMENT_TYPE_DETACH:
      return "DETACH";
    case DUCKDB_STATEMENT_TYPE_LOAD:
      return "INSTALL/LOAD";
    case DUCKDB_STATEMENT_TYPE_SET:
      return "SET/RESET/USE";
    case DUCKDB_STATEMENT_TYPE_VARIABLE_SET:
      return "SET VARIABLE";
    case DUCKDB_STATEMENT_TYPE_PRAGMA:
      return "PRAGMA";
    case DUCKDB_STATEMENT_TYPE_COPY:
      return "COPY";
    case DUCKDB_STATEMENT_TYPE_EXPORT:
      return "EXPORT DATABASE";
    case DUCKDB_STATEMENT_TYPE_CALL:
      return "CALL";
    case DUCKDB_STATEMENT_TYPE_VACUUM:
      return "VACUUM";
    case DUCKDB_STATEMENT_TYPE_ANALYZE:
      return "ANALYZE";
    case DUCKDB_STATEMENT_TYPE_PREPARE:
      return "PREPARE";
    case DUCKDB_STATEMENT_TYPE_EXECUTE:
      return "EXECUTE";
    default:
      return "this kind of";
  }
}

Result<void> check_restricted(duckdb_prepared_statement stmt) {
  duckdb_statement_type t = duckdb_prepared_statement_type(stmt);
  if (allowed_when_restricted(t)) return {};
  return fail(ErrorKind::Forbidden, std::string(statement_kind_name(t)) + " statements are not allowed on the engine's query connections",
              "the engine only reads the project's sources and creates its own in-memory tables");
}

// Reads a result's chunks as Arrow batches: the schema first, then each chunk in turn, at most
// `max_rows` rows in all (the batch that reaches it is sliced; `truncated` says more existed).
// For a streaming result, a chunk DuckDB could not produce (an interrupt, a failed read) is an
// error, never a quiet end.
class ArrowChunks {
 public:
  ArrowChunks(duckdb_result* result, int64_t max_rows) : result_(result), max_rows_(max_rows) {
    options_ = duckdb_result_get_arrow_options(result);
  }
  ~ArrowChunks() { duckdb_destroy_arrow_options(&options_); }
  ArrowChunks(const ArrowChunks&) = delete;
  ArrowChunks& operator=(const ArrowChunks&) = delete;

  // The result's columns and Arrow schema (into `columns` and `schema`).
  Result<void> schema(std::vector<ColumnInfo>& columns, arrow::OwnedSchema& schema) {
    idx_t ncols = duckdb_column_count(result_);
    std::vector<LogicalType> types(ncols);
    std::vector<duckdb_logical_type> raw_types(ncols);
    std::vector<const char*> names(ncols);
    for (idx_t i = 0; i < ncols; ++i) {
      types[i].t = duckdb_column_logical_type(result_, i);
      raw_types[i] = types[i].t;
      names[i] = duckdb_column_name(result_, i);
      columns.push_back({names[i] ? names[i] : "", type_name(types[i].t)});
    }
    ErrorData err;
    err.e = duckdb_to_arrow_schema(options_, raw_types.data(), names.data(), ncols, schema.out());
    if (duckdb_error_data_has_error(err.e))
      return fail(ErrorKind::Internal, std::string("Arrow schema export failed: ") + duckdb_error_data_message(err.e));
    return {};
  }

  // The next batch, or nullopt at the end (or once max_rows are taken).
  Result<std::optional<arrow::OwnedArray>> next() {
    while (!done_) {
      duckdb_data_chunk chunk = duckdb_fetch_chunk(*result_);
      if (!chunk) {
        done_ = true;
        if (const char* e = duckdb_result_error(result_); e && *e) return fail(error_from_result(result_));
        break;
      }
      struct ChunkGuard {
        duckdb_data_chunk c;
        ~ChunkGuard() { duckdb_destroy_data_chunk(&c); }
      } chunk_guard{chunk};
      int64_t size = static_cast<int64_t>(duckdb_data_chunk_get_size(chunk));
      if (size == 0) continue;
      if (rows_ >= max_rows_) {
        truncated_ = true;
        done_ = true;
        break;
      }
      arrow::OwnedArray array;
      ErrorData err;
      err.e = duckdb_data_chunk_to_arrow(options_, chunk, array.out());
      if (duckdb_error_data_has_error(err.e))
        return fail(ErrorKind::Internal, std::string("Arrow export failed: ") + duckdb_error_data_message(err.e));
      int64_t keep = std::min(size, max_rows_ - rows_);
      if (keep < size) {
        // Slice in place: the C data interface allows buffers longer than `length`. Null counts
        // of the shortened columns become unknown (-1) and are recomputed by consumers.
        auto* raw = const_cast<ArrowArray*>(&*array);
        raw->length = keep;
        raw->null_count = -1;
        for (int64_t c = 0; c < raw->n_children; ++c) {
          raw->children[c]->length = keep;
          raw->children[c]->null_count = -1;
        }
        truncated_ = true;
        done_ = true;
      }
      rows_ += keep;
      return std::optional<arrow::OwnedArray>(std::move(array));
    }
    return std::optional<arrow::OwnedArray>();
  }

  int64_t rows() const { return rows_; }
  bool truncated() const { return truncated_; }

 private:
  duckdb_result* result_;
  int64_t max_rows_;
  duckdb_arrow_options options_;
  int64_t rows_ = 0;
  bool truncated_ = false;
  bool done_ = false;
};

// Takes every chunk of `result` into Arrow, keeping at most max_rows rows.
Result<QueryOutput> collect(duckdb_result* result, int64_t max_rows) {
  QueryOutput out;
  ArrowChunks chunks(result, max_rows);
  if (auto ok = chunks.schema(out.columns, out.table.schema); !ok) return fail(ok.error());
  while (true) {
    auto batch = chunks.next();
    if (!batch) return fail(batch.error());
    if (!*batch) break;
    out.table.batches.push_back(std::move(**batch));
  }
  out.table.num_rows = chunks.rows();
  out.truncated = chunks.truncated();
  return out;
}

}  // namespace

// --- Database -----------------------------------------------------------------------------------

Result<std::unique_ptr<Database>> Database::open(const std::string& path, const DatabaseOptions& options) {
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) == DuckDBError) return fail(ErrorKind::Internal, "could not create DuckDB config");
  struct ConfigGuard {
    duckdb_config c;
    ~ConfigGuard() { duckdb_destroy_config(&c); }
  } guard{config};
  auto set = [&](const char* name, const std::string& value) -> Result<void> {
    if (duckdb_set_config(config, name, value.c_str()) == DuckDBError) {
      return fail(ErrorKind::InvalidInput, std::string("invalid engine setting ") + name + ": '" + value + "'");
    }
    return {};
  };
  if (options.threads > 0) {
    if (auto r = set("threads", std::to_string(options.threads)); !r) return fail(r.error());
  }
  if (!options.memory_limit.empty()) {
    if (auto r = set("memory_limit", options.memory_limit); !r) return fail(r.error());
  }
  if (!options.temp_directory.empty()) {
    if (auto r = set("temp_directory", options.temp_directory); !r) return fail(r.error());
  }
  std::unique_ptr<Database> db(new Database());
  char* err = nullptr;
  if (duckdb_open_ext(path == ":memory:" ? nullptr : path.c_str(), &db->db_, config, &err) == DuckDBError) {
    std::string message = err ? err : "unknown error";
    if (err) duckdb_free(err);
    return fail(ErrorKind::Unavailable, "could not open DuckDB database '" + path + "': " + message);
  }
  if (!options.max_spill.empty()) {
    // Set once the database is open: given with the other settings, DuckDB applies
    // temp_directory after it, which puts the cap back to its default.
    auto conn = Connection::open(*db);
    if (!conn) return fail(conn.error());
    if (auto r = (*conn)->execute("SET GLOBAL max_temp_directory_size = " + quote_literal(options.max_spill)); !r)
      return fail(ErrorKind::InvalidInput, "invalid engine setting max_temp_directory_size: '" + options.max_spill + "'");
  }
  return db;
}

Database::~Database() {
  if (db_) duckdb_close(&db_);
}

// --- Connection ---------------------------------------------------------------------------------

duckdb_error_type engine_error_type_of(std::string_view message) {
  // DuckDB's names of its error types, as its messages begin ("<name> Error: ...").
  static constexpr std::pair<std::string_view, duckdb_error_type> kNames[] = {
      {"Out of Range", DUCKDB_ERROR_OUT_OF_RANGE},
      {"Conversion", DUCKDB_ERROR_CONVERSION},
      {"Unknown Type", DUCKDB_ERROR_UNKNOWN_TYPE},
      {"Decimal", DUCKDB_ERROR_DECIMAL},
      {"Mismatch Type", DUCKDB_ERROR_MISMATCH_TYPE},
      {"Divide by Zero", DUCKDB_ERROR_DIVIDE_BY_ZERO},
      {"Object Size", DUCKDB_ERROR_OBJECT_SIZE},
      {"Invalid type", DUCKDB_ERROR_INVALID_TYPE},
      {"Serialization", DUCKDB_ERROR_SERIALIZATION},
      {"TransactionContext", DUCKDB_ERROR_TRANSACTION},
      {"Not implemented", DUCKDB_ERROR_NOT_IMPLEMENTED},
      {"Expression", DUCKDB_ERROR_EXPRESSION},
      {"Catalog", DUCKDB_ERROR_CATALOG},
      {"Parser", DUCKDB_ERROR_PARSER},
      {"Binder", DUCKDB_ERROR_BINDER},
      {"Planner", DUCKDB_ERROR_PLANNER},
      {"Scheduler", DUCKDB_ERROR_SCHEDULER},
      {"Executor", DUCKDB_ERROR_EXECUTOR},
      {"Constraint", DUCKDB_ERROR_CONSTRAINT},
      {"Index", DUCKDB_ERROR_INDEX},
      {"Stat", DUCKDB_ERROR_STAT},
      {"Connection", DUCKDB_ERROR_CONNECTION},
      {"Syntax", DUCKDB_ERROR_SYNTAX},
      {"Settings", DUCKDB_ERROR_SETTINGS},
      {"Optimizer", DUCKDB_ERROR_OPTIMIZER},
      {"NullPointer", DUCKDB_ERROR_NULL_POINTER},
      {"IO", DUCKDB_ERROR_IO},
      {"INTERRUPT", DUCKDB_ERROR_INTERRUPT},
      {"FATAL", DUCKDB_ERROR_FATAL},
      {"INTERNAL", DUCKDB_ERROR_INTERNAL},
      {"Invalid Input", DUCKDB_ERROR_INVALID_INPUT},
      {"Out of Memory", DUCKDB_ERROR_OUT_OF_MEMORY},
      {"Permission", DUCKDB_ERROR_PERMISSION},
      {"Parameter Not Resolved", DUCKDB_ERROR_PARAMETER_NOT_RESOLVED},
      {"Parameter Not Allowed", DUCKDB_ERROR_PARAMETER_NOT_ALLOWED},
      {"Dependency", DUCKDB_ERROR_DEPENDENCY},
      {"Missing Extension", DUCKDB_ERROR_MISSING_EXTENSION},
      {"HTTP", DUCKDB_ERROR_HTTP},
      {"Extension Autoloading", DUCKDB_ERROR_AUTOLOAD},
      {"Sequence", DUCKDB_ERROR_SEQUENCE},
      {"Invalid Configuration", DUCKDB_INVALID_CONFIGURATION},
      {"Invalid", DUCKDB_ERROR_INVALID},  // last: a prefix of "Invalid Input" and "Invalid type"
  };
  for (const auto& [name, type] : kNames) {
    if (message.starts_with(name) && message.substr(name.size()).starts_with(" Error")) return type;
  }
  return DUCKDB_ERROR_INVALID;
}

EngineErrorClass engine_error_class(duckdb_error_type type) {
  switch (type) {
    case DUCKDB_ERROR_INTERRUPT:
      return EngineErrorClass::TimeLimit;
    case DUCKDB_ERROR_OUT_OF_MEMORY:
      return EngineErrorClass::Resources;
    // Reading the data: values that do not convert or overflow, files that are missing, corrupt
    // or unreadable, a schema that changed under a view (binder and catalog errors at run time,
    // once `check` has bound every statement against the data as it was).
    case DUCKDB_ERROR_OUT_OF_RANGE:
    case DUCKDB_ERROR_CONVERSION:
    case DUCKDB_ERROR_DECIMAL:
    case DUCKDB_ERROR_MISMATCH_TYPE:
    case DUCKDB_ERROR_DIVIDE_BY_ZERO:
    case DUCKDB_ERROR_OBJECT_SIZE:
    case DUCKDB_ERROR_INVALID_TYPE:
    case DUCKDB_ERROR_UNKNOWN_TYPE:
    case DUCKDB_ERROR_CATALOG:
    case DUCKDB_ERROR_BINDER:
    case DUCKDB_ERROR_DEPENDENCY:
    case DUCKDB_ERROR_IO:
    case DUCKDB_ERROR_NETWORK:
    case DUCKDB_ERROR_HTTP:
    case DUCKDB_ERROR_INVALID_INPUT:
    case DUCKDB_ERROR_MISSING_EXTENSION:
    case DUCKDB_ERROR_AUTOLOAD:
      return EngineErrorClass::Data;
    default:  // parser, planner, internals; also the sandbox's refusals (Permission), which only
              // something other than reading the project's sources can meet
      return EngineErrorClass::Internal;
  }
}

Error classify_engine_error(duckdb_error_type type, std::string engine_message) {
  switch (engine_error_class(type)) {
    case EngineErrorClass::TimeLimit:
      return Error{ErrorKind::Timeout, "the query was stopped because it ran past its time limit",
                   "narrow the filters, or ask the project's owner to raise engine.query_timeout", std::move(engine_message)};
    case EngineErrorClass::Resources:
      return Error{ErrorKind::Unavailable, "the query needed more memory than the engine may use",
                   "try again, or narrow the filters; the project's owner can raise engine.memory_limit", std::move(engine_message)};
    case EngineErrorClass::Data:
      return Error{ErrorKind::SourceFailed, "the data could not be read",
                   "the project's owner finds the cause in the server log under this request id, or with `sightline check`",
                   std::move(engine_message)};
    case EngineErrorClass::Internal:
      break;
  }
  return Error{ErrorKind::Internal, "the engine failed", "", std::move(engine_message)};
}

Result<std::unique_ptr<Connection>> Connection::open(Database& db) {
  std::unique_ptr<Connection> c(new Connection());
  if (duckdb_connect(db.handle(), &c->conn_) == DuckDBError) {
    return fail(ErrorKind::Unavailable, "could not connect to DuckDB");
  }
  return c;
}

Connection::~Connection() {
  if (conn_) duckdb_disconnect(&conn_);
}

Result<void> Connection::run_checked(const std::string& sql, duckdb_result* last) {
  duckdb_extracted_statements extracted = nullptr;
  idx_t count = duckdb_extract_statements(conn_, sql.c_str(), &extracted);
  struct ExtractedGuard {
    duckdb_extracted_statements e;
    ~ExtractedGuard() { duckdb_destroy_extracted(&e); }
  } guard{extracted};
  if (count == 0) {
    return fail(error_from_prepare_message(duckdb_extract_statements_error(extracted)));
  }
  for (idx_t i = 0; i < count; ++i) {
    duckdb_prepared_statement raw = nullptr;
    if (duckdb_prepare_extracted_statement(conn_, extracted, i, &raw) == DuckDBError) {
      Error e = error_from_prepare_message(duckdb_prepare_error(raw));
      duckdb_destroy_prepare(&raw);
      return fail(std::move(e));
    }
    PreparedStatement stmt(raw);  // owns `raw` from here
    if (auto allowed = check_restricted(raw); !allowed) return fail(allowed.error());
    duckdb_result result;
    if (duckdb_execute_prepared(raw, &result) == DuckDBError) {
      Error e = error_from_result(&result);
      duckdb_destroy_result(&result);
      return fail(std::move(e));
    }
    if (i + 1 < count) {
      duckdb_destroy_result(&result);
    } else {
      *last = result;
    }
  }
  return {};
}

Result<void> Connection::execute(std::string_view sql) {
  if (restricted_) {
    duckdb_result result;
    auto r = run_checked(std::string(sql), &result);
    if (r) duckdb_destroy_result(&result);
    return r;
  }
  duckdb_result result;
  std::string text(sql);
  bool ok = duckdb_query(conn_, text.c_str(), &result) == DuckDBSuccess;
  Result<void> r;
  if (!ok) r = fail(error_from_result(&result));
  duckdb_destroy_result(&result);
  return r;
}

Result<QueryOutput> Connection::query(std::string_view sql, int64_t max_rows) {
  duckdb_result result;
  std::string text(sql);
  if (restricted_) {
    if (auto r = run_checked(text, &result); !r) return fail(r.error());
    auto out = collect(&result, max_rows);
    duckdb_destroy_result(&result);
    return out;
  }
  if (duckdb_query(conn_, text.c_str(), &result) == DuckDBError) {
    Error e = error_from_result(&result);
    duckdb_destroy_result(&result);
    return fail(std::move(e));
  }
  auto out = collect(&result, max_rows);
  duckdb_destroy_result(&result);
  return out;
}

namespace {

// Results carry an ENUM column as an Arrow dictionary holding every value of its type, copied
// into each batch: for a type of millions of values (street names) a ten-row answer would weigh
// tens of megabytes. Such columns are turned back into text after the query's own work (which
// groups, sorts and filters by the codes).
constexpr uint32_t kMaxResultDictionary = 256;

// `sql` wrapped so that its ENUM columns of more than kMaxResultDictionary values come out as
// VARCHAR, by position (names may repeat); "" when none does. The wrapper only projects, so
// rows keep the statement's order.
std::string with_large_enums_as_text(duckdb_prepared_statement stmt, const std::string& sql) {
  const idx_t n = duckdb_prepared_statement_column_count(stmt);
  bool any = false;
  std::string select;
  for (idx_t i = 0; i < n; ++i) {
    duckdb_logical_type t = duckdb_prepared_statement_column_logical_type(stmt, i);
    const bool large = t && duckdb_get_type_id(t) == DUCKDB_TYPE_ENUM && duckdb_enum_dictionary_size(t) > kMaxResultDictionary;
    if (t) duckdb_destroy_logical_type(&t);
    const char* name = duckdb_prepared_statement_column_name(stmt, i);
    const std::string position = "#" + std::to_string(i + 1);
    select += std::string(i ? ", " : "") + (large ? "CAST(" + position + " AS VARCHAR)" : position) + " AS " +
              quote_identifier(name ? name : "");
    any = any || large;
  }
  return any ? "SELECT " + select + " FROM (" + sql + ") AS sightline_result" : "";
}

}  // namespace

Result<PreparedStatement> Connection::prepare(std::string_view sql) {
  duckdb_prepared_statement stmt = nullptr;
  std::string text(sql);
  if (duckdb_prepare(conn_, text.c_str(), &stmt) == DuckDBError) {
    Error e = error_from_prepare_message(duckdb_prepare_error(stmt));
    duckdb_destroy_prepare(&stmt);
    return fail(std::move(e));
  }
  PreparedStatement prepared(stmt);
  if (restricted_) {
    if (auto allowed = check_restricted(stmt); !allowed) return fail(allowed.error());
  }
  if (duckdb_prepared_statement_type(stmt) == DUCKDB_STATEMENT_TYPE_SELECT) {
    if (std::string wrapped = with_large_enums_as_text(stmt, text); !wrapped.empty()) {
      duckdb_prepared_statement as_text = nullptr;
      if (duckdb_prepare(conn_, wrapped.c_str(), &as_text) == DuckDBSuccess) return PreparedStatement(as_text);
      duckdb_destroy_prepare(&as_text);  // kept as it is: correct, only heavier
    }
  }
  return prepared;
}

void Connection::interrupt() {
  duckdb_interrupt(conn_);
}

double Connection::progress() {
  duckdb_query_progress_type p = duckdb_query_progress(conn_);
  return p.percentage < 0 ? -1.0 : p.percentage / 100.0;
}

// --- PreparedStatement --------------------------------------------------------------------------

PreparedStatement::~PreparedStatement() {
  if (stmt_) duckdb_destroy_prepare(&stmt_);
}

PreparedStatement::PreparedStatement(PreparedStatement&& other) noexcept : stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

int64_t PreparedStatement::parameter_count() const {
  return static_cast<int64_t>(duckdb_nparams(stmt_));
}

namespace {

// An ENUM type's values when they are sorted (Sightline's own ENUMs are), with the type's SQL
// spelling in `type_sql`; null for any other type. Sorted values let a comparison with a value of
// the type stand for text order (query/filters.cpp).
std::shared_ptr<const std::vector<std::string>> sorted_enum_values(duckdb_logical_type t, std::string& type_sql) {
  if (duckdb_get_type_id(t) != DUCKDB_TYPE_ENUM) return nullptr;
  auto values = std::make_shared<std::vector<std::string>>();
  const uint32_t n = duckdb_enum_dictionary_size(t);
  values->reserve(n);
  std::string sql = "ENUM(";
  for (uint32_t i = 0; i < n; ++i) {
    char* v = duckdb_enum_dictionary_value(t, i);
    values->push_back(v ? v : "");
    duckdb_free(v);
    sql += (i ? ", " : "") + quote_literal(values->back());
  }
  if (n == 0 || !std::is_sorted(values->begin(), values->end())) return nullptr;
  type_sql = sql + ")";
  return values;
}

}  // namespace

std::vector<ColumnInfo> PreparedStatement::columns(bool dictionaries) const {
  std::vector<ColumnInfo> cols;
  idx_t n = duckdb_prepared_statement_column_count(stmt_);
  for (idx_t i = 0; i < n; ++i) {
    LogicalType t;
    t.t = duckdb_prepared_statement_column_logical_type(stmt_, i);
    const char* name = duckdb_prepared_statement_column_name(stmt_, i);
    ColumnInfo c{name ? name : "", t.t ? type_name(t.t) : "UNKNOWN", "", nullptr};
    if (dictionaries && t.t) c.dictionary = sorted_enum_values(t.t, c.enum_type);
    cols.push_back(std::move(c));
  }
  return cols;
}

Result<void> PreparedStatement::bind(const std::vector<Param>& params) {
  if (static_cast<int64_t>(params.size()) != parameter_count()) {
    return fail(ErrorKind::Internal,
                "statement expects " + std::to_string(parameter_count()) + " parameters, got " + std::to_string(params.size()));
  }
  duckdb_clear_bindings(stmt_);
  for (size_t i = 0; i < params.size(); ++i) {
    idx_t idx = i + 1;
    duckdb_state st = std::visit(
        [&](const auto& v) -> duckdb_state {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>)
            return duckdb_bind_null(stmt_, idx);
          else if constexpr (std::is_same_v<T, bool>)
            return duckdb_bind_boolean(stmt_, idx, v);
          else if constexpr (std::is_same_v<T, int64_t>)
            return duckdb_bind_int64(stmt_, idx, v);
          else if constexpr (std::is_same_v<T, double>)
            return duckdb_bind_double(stmt_, idx, v);
          else
            return duckdb_bind_varchar_length(stmt_, idx, v.data(), v.size());
        },
        params[i]);
    if (st == DuckDBError) return fail(ErrorKind::Internal, "could not bind parameter " + std::to_string(idx));
  }
  return {};
}

Result<QueryOutput> PreparedStatement::execute(const std::vector<Param>& params, int64_t max_rows) {
  if (auto ok = bind(params); !ok) return fail(ok.error());
  duckdb_result result;
  if (duckdb_execute_prepared(stmt_, &result) == DuckDBError) {
    Error e = error_from_result(&result);
    duckdb_destroy_result(&result);
    return fail(std::move(e));
  }
  auto out = collect(&result, max_rows);
  duckdb_destroy_result(&result);
  return out;
}

Result<StreamedRows> PreparedStatement::execute_streaming(const std::vector<Param>& params, int64_t max_rows, const BatchSink& sink) {
  if (auto ok = bind(params); !ok) return fail(ok.error());
  duckdb_pending_result pending = nullptr;
  struct PendingGuard {
    duckdb_pending_result* p;
    ~PendingGuard() {
      if (*p) duckdb_destroy_pending(p);
    }
  } pending_guard{&pending};
  // A streaming result: DuckDB hands out chunks as the pipeline produces them, so the whole
  // answer never sits in memory (the only way in DuckDB 1.4's C API; marked deprecated there in
  // favour of an API not released yet).
  if (duckdb_pending_prepared_streaming(stmt_, &pending) == DuckDBError) {
    const char* msg = duckdb_pending_error(pending);
    return fail(error_from_prepare_message(msg));
  }
  duckdb_result result;
  if (duckdb_execute_pending(pending, &result) == DuckDBError) {
    Error e = error_from_result(&result);
    duckdb_destroy_result(&result);
    return fail(std::move(e));
  }
  struct ResultGuard {
    duckdb_result* r;
    ~ResultGuard() { duckdb_destroy_result(r); }
  } result_guard{&result};
  ArrowChunks chunks(&result, max_rows);
  std::vector<ColumnInfo> columns;
  arrow::OwnedSchema schema;
  if (auto ok = chunks.schema(columns, schema); !ok) return fail(ok.error());
  if (auto ok = sink.start(columns, *schema); !ok) return fail(ok.error());
  while (true) {
    auto batch = chunks.next();
    if (!batch) return fail(batch.error());
    if (!*batch) break;
    if (auto ok = sink.batch(***batch); !ok) return fail(ok.error());
  }
  return StreamedRows{chunks.rows(), chunks.truncated()};
}

// --- helpers ------------------------------------------------------------------------------------

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// --- lock_down ----------------------------------------------------------------------------------

Result<void> lock_down(Connection& conn, const Sandbox& sandbox) {
  auto list = [](const std::vector<std::filesystem::path>& paths) {
    std::string out;
    for (const auto& p : paths) out += (out.empty() ? "" : ", ") + quote_literal(p.lexically_normal().string());
    return "[" + out + "]";
  };
  for (const auto& p : sandbox.directories) {
    // DuckDB would take "/" (or a relative path, resolved against the working directory) as asked.
    if (!p.is_absolute() || p.lexically_normal() == p.root_path()) {
      return fail(ErrorKind::Internal, "refusing to allow the engine to read '" + p.string() + "': not a data folder");
    }
  }
  for (const auto& p : sandbox.files) {
    if (!p.is_absolute()) return fail(ErrorKind::Internal, "refusing to allow the engine to read relative path '" + p.string() + "'");
  }
  const std::vector<std::string> statements = {
      "SET autoinstall_known_extensions = false",
      "SET autoload_known_extensions = false",
      "SET allow_community_extensions = false",
      "SET allow_unsigned_extensions = false",
      "SET allow_persistent_secrets = false",
      "SET allowed_directories = " + list(sandbox.directories),
      "SET allowed_paths = " + list(sandbox.files),
      // From here on DuckDB refuses every file outside the lists above (and its own temp
      // directory and attached databases), the network, INSTALL and LOAD.
      "SET enable_external_access = false",
      // Last: every later SET (including of the settings above) fails.
      "SET lock_configuration = true",
  };
  for (const auto& sql : statements) {
    if (auto r = conn.execute(sql); !r) {
      return fail(ErrorKind::Internal, "could not lock the engine down (" + sql + "): " + r.error().for_author());
    }
  }
  return {};
}

const char* duckdb_version() {
  return duckdb_library_version();
}

}  // namespace sightline::engine
