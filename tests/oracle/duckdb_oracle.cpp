// The tests' independent oracle: runs SQL straight through DuckDB's C API (no Sightline code)
// and prints {"columns": [...], "rows": [[text or null, ...], ...]} with every value as DuckDB's
// own VARCHAR rendering. Usage: duckdb_oracle "<sql>"
// With --exec, runs the statements as they are and prints nothing (tests write fixture files
// with it: COPY (...) TO 'x.parquet').
#include <duckdb.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

int main(int argc, char** argv) {
  const bool exec = argc == 3 && std::string(argv[1]) == "--exec";
  if (argc != 2 && !exec) {
    std::fprintf(stderr, "usage: duckdb_oracle \"<sql>\" | duckdb_oracle --exec \"<statements>\"\n");
    return 2;
  }
  duckdb_database db;
  duckdb_connection conn;
  if (duckdb_open(nullptr, &db) == DuckDBError || duckdb_connect(db, &conn) == DuckDBError) {
    std::fprintf(stderr, "cannot open DuckDB\n");
    return 1;
  }
  std::string sql = exec ? std::string(argv[2]) : std::string("SELECT COLUMNS(*)::VARCHAR FROM (") + argv[1] + ")";
  duckdb_result result;
  int rc = 0;
  if (duckdb_query(conn, sql.c_str(), &result) == DuckDBError) {
    std::fprintf(stderr, "%s\n", duckdb_result_error(&result));
    rc = 1;
  } else if (!exec) {
    nlohmann::json out = {{"columns", nlohmann::json::array()}, {"rows", nlohmann::json::array()}};
    idx_t cols = duckdb_column_count(&result);
    for (idx_t c = 0; c < cols; ++c) out["columns"].push_back(duckdb_column_name(&result, c));
    idx_t rows = duckdb_row_count(&result);
    for (idx_t r = 0; r < rows; ++r) {
      nlohmann::json row = nlohmann::json::array();
      for (idx_t c = 0; c < cols; ++c) {
        if (duckdb_value_is_null(&result, c, r)) {
          row.push_back(nullptr);
        } else {
          char* v = duckdb_value_varchar(&result, c, r);
          row.push_back(std::string(v));
          duckdb_free(v);
        }
      }
      out["rows"].push_back(row);
    }
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  duckdb_destroy_result(&result);
  duckdb_disconnect(&conn);
  duckdb_close(&db);
  return rc;
}
