#include "engine/state_ledger.h"

#include <nlohmann/json.hpp>

#include "engine/result_rows.h"

namespace sightline::engine {

namespace {

// Bumped whenever what the state file holds changes meaning (ledger columns, table layout,
// how versions are computed): a file of another format is emptied and loaded anew.
constexpr int kStateFormat = 1;

Result<nlohmann::json> rows(Connection& conn, const std::string& sql) {
  auto out = conn.query(sql, 1'000'000);
  if (!out) return fail(out.error());
  return rows_of(*out);
}

std::string text_of(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// Names of the objects of `main` of one kind: "table", "view" or "type" (user-made only).
Result<std::vector<std::string>> names_in_main(Connection& conn, std::string_view kind) {
  std::string sql = kind == "table"  ? "SELECT table_name FROM duckdb_tables() WHERE NOT internal AND NOT temporary"
                    : kind == "view" ? "SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary"
                                     : "SELECT type_name FROM duckdb_types() WHERE NOT internal";
  sql += " AND schema_name = 'main' AND database_name = current_database()";
  auto got = rows(conn, sql);
  if (!got) return fail(got.error());
  std::vector<std::string> out;
  for (const auto& r : *got) out.push_back(text_of(r[0]));
  return out;
}

Result<void> drop_everything(Connection& conn) {
  for (std::string_view kind : {"view", "table", "type"}) {
    auto names = names_in_main(conn, kind);
    if (!names) return fail(names.error());
    const std::string what = kind == "view" ? "VIEW" : kind == "table" ? "TABLE" : "TYPE";
    for (const auto& n : *names)
      if (auto r = conn.execute("DROP " + what + " IF EXISTS " + quote_identifier(n)); !r) return fail(r.error());
  }
  for (const char* sql : {"DELETE FROM sightline_state.relations", "DELETE FROM sightline_state.rollups", "DELETE FROM sightline_state.format"})
    if (auto r = conn.execute(sql); !r) return fail(r.error());
  return conn.execute("INSERT INTO sightline_state.format VALUES (" + std::to_string(kStateFormat) + ")");
}

// "__sightline_enum_<table>_<n>" -> "<table>"; "" for any other name.
std::string enum_owner(const std::string& type) {
  constexpr std::string_view prefix = kEnumTypePrefix;
  if (!type.starts_with(prefix)) return "";
  auto underscore = type.rfind('_');
  if (underscore <= prefix.size() || underscore + 1 == type.size()) return "";
  if (type.find_first_not_of("0123456789", underscore + 1) != std::string::npos) return "";
  return type.substr(prefix.size(), underscore - prefix.size());
}

}  // namespace

Result<StateLedger> StateLedger::open(Connection& conn) {
  for (const char* sql : {"CREATE SCHEMA IF NOT EXISTS sightline_state",
                          "CREATE TABLE IF NOT EXISTS sightline_state.format (version INTEGER NOT NULL)",
                          "CREATE TABLE IF NOT EXISTS sightline_state.relations (name VARCHAR PRIMARY KEY, version VARCHAR NOT NULL, "
                          "rows BIGINT, loaded_at TIMESTAMPTZ)",
                          "CREATE TABLE IF NOT EXISTS sightline_state.rollups (key VARCHAR NOT NULL, description VARCHAR NOT NULL, "
                          "tables VARCHAR NOT NULL)"}) {
    if (auto r = conn.execute(sql); !r) return fail(r.error());
  }
  auto format = rows(conn, "SELECT version FROM sightline_state.format");
  if (!format) return fail(format.error());
  if (format->size() != 1 || as_count((*format)[0][0]) != kStateFormat) {
    if (auto r = drop_everything(conn); !r) return fail(r.error());
  }
  auto views = names_in_main(conn, "view");
  if (!views) return fail(views.error());
  for (const auto& v : *views)
    if (auto r = conn.execute("DROP VIEW IF EXISTS " + quote_identifier(v)); !r) return fail(r.error());

  StateLedger ledger;
  auto stored = rows(conn, "SELECT key, description, tables FROM sightline_state.rollups LIMIT 1");
  if (!stored) return fail(stored.error());
  if (!stored->empty()) {
    auto tables = nlohmann::json::parse(text_of((*stored)[0][2]), nullptr, false);
    if (tables.is_array()) {
      StoredRollups r{text_of((*stored)[0][0]), text_of((*stored)[0][1]), {}};
      for (const auto& t : tables)
        if (t.is_string()) r.tables.push_back(t.get<std::string>());
      ledger.rollups_ = std::move(r);
    }
  }
  return ledger;
}

bool StateLedger::holds(Connection& conn, const std::string& name, const std::string& version) const {
  auto got = rows(conn,
                  "SELECT count(*) FROM sightline_state.relations r JOIN duckdb_tables() t ON t.table_name = r.name AND "
                  "t.schema_name = 'main' AND t.database_name = current_database() WHERE r.name = " +
                      quote_literal(name) + " AND r.version = " + quote_literal(version));
  return got && !got->empty() && as_count((*got)[0][0]) == 1;
}

Result<void> StateLedger::record(Connection& conn, const std::string& name, const std::string& version, int64_t rows) {
  return conn.execute("INSERT OR REPLACE INTO sightline_state.relations VALUES (" + quote_literal(name) + ", " + quote_literal(version) +
                      ", " + std::to_string(rows) + ", now())");
}

std::optional<StateLedger::Made> StateLedger::made(Connection& conn, const std::string& name) const {
  auto got = rows(conn, "SELECT CAST(epoch_ms(loaded_at) AS BIGINT), rows FROM sightline_state.relations WHERE name = " + quote_literal(name));
  if (!got || got->empty()) return std::nullopt;
  auto at = as_count((*got)[0][0]);
  auto n = as_count((*got)[0][1]);
  if (!at) return std::nullopt;
  return Made{*at, n.value_or(0)};
}

Result<void> drop_enum_types_of(Connection& conn, const std::string& table) {
  auto types = names_in_main(conn, "type");
  if (!types) return fail(types.error());
  for (const auto& t : *types)
    if (enum_owner(t) == table)
      if (auto r = conn.execute("DROP TYPE IF EXISTS " + quote_identifier(t)); !r) return fail(r.error());
  return {};
}

Result<void> StateLedger::drop_all_but(Connection& conn, const std::set<std::string>& keep) {
  std::set<std::string> kept = keep;
  if (rollups_) kept.insert(rollups_->tables.begin(), rollups_->tables.end());
  auto tables = names_in_main(conn, "table");
  if (!tables) return fail(tables.error());
  for (const auto& t : *tables) {
    if (kept.count(t)) continue;
    if (auto r = conn.execute("DROP TABLE IF EXISTS " + quote_identifier(t)); !r) return fail(r.error());
  }
  auto types = names_in_main(conn, "type");
  if (!types) return fail(types.error());
  for (const auto& t : *types) {
    std::string owner = enum_owner(t);
    if (owner.empty() || kept.count(owner)) continue;
    if (auto r = conn.execute("DROP TYPE IF EXISTS " + quote_identifier(t)); !r) return fail(r.error());
  }
  auto recorded = rows(conn, "SELECT name FROM sightline_state.relations");
  if (!recorded) return fail(recorded.error());
  for (const auto& r : *recorded) {
    std::string name = text_of(r[0]);
    if (kept.count(name)) continue;
    if (auto done = conn.execute("DELETE FROM sightline_state.relations WHERE name = " + quote_literal(name)); !done) return fail(done.error());
  }
  return {};
}

Result<void> StateLedger::store_rollups(Connection& conn, const StoredRollups& stored) {
  nlohmann::json tables = stored.tables;
  if (auto r = conn.execute("BEGIN TRANSACTION"); !r) return fail(r.error());
  auto done = conn.execute("DELETE FROM sightline_state.rollups");
  if (done)
    done = conn.execute("INSERT INTO sightline_state.rollups VALUES (" + quote_literal(stored.key) + ", " +
                        quote_literal(stored.description) + ", " + quote_literal(tables.dump()) + ")");
  if (!done) {
    (void)conn.execute("ROLLBACK");
    return fail(done.error());
  }
  if (auto r = conn.execute("COMMIT"); !r) return fail(r.error());
  rollups_ = stored;
  return {};
}

}  // namespace sightline::engine
