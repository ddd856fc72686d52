#include "engine/append_store.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/result_rows.h"

namespace sightline::engine {
namespace {

using nlohmann::json;

Result<json> rows(Connection& conn, const std::string& sql, const std::vector<Param>& params = {}) {
  auto stmt = conn.prepare(sql);
  if (!stmt) return fail(stmt.error());
  auto out = stmt->execute(params, 10'000'000);
  if (!out) return fail(out.error());
  return rows_of(*out);
}

Result<void> run(Connection& conn, const std::string& sql, const std::vector<Param>& params = {}) {
  if (params.empty()) return conn.execute(sql);
  auto got = rows(conn, sql, params);
  if (!got) return fail(got.error());
  return {};
}

std::string text_of(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

int64_t number_of(const json& v) {
  return as_count(v).value_or(0);
}

// The version of a table: its recipe and how many times its rows changed.
uint64_t version_of(const std::string& recipe, int64_t changes) {
  return hash_combine(hash_combine(0, recipe), static_cast<uint64_t>(changes));
}

// One file the ledger knows.
struct LedgerFile {
  int64_t batch = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t rows = 0;
  bool expired = false;
};

Result<std::map<std::string, LedgerFile>> ledger_files(Connection& conn, const std::string& source) {
  auto got = rows(conn, "SELECT path, batch, size, mtime_ns, rows, expired FROM sightline_state.append_files WHERE source = ?", {source});
  if (!got) return fail(got.error());
  std::map<std::string, LedgerFile> out;
  for (const auto& r : *got)
    out[text_of(r[0])] = {number_of(r[1]), number_of(r[2]), number_of(r[3]), number_of(r[4]), r[5].is_boolean() && r[5].get<bool>()};
  return out;
}

// Rolls back unless committed: every failure path of a sync leaves the table as it was.
class Transaction {
 public:
  explicit Transaction(Connection& conn) : conn_(conn) {}
  Result<void> begin() {
    auto r = conn_.execute("BEGIN TRANSACTION");
    open_ = r.has_value();
    return r;
  }
  Result<void> commit() {
    auto r = conn_.execute("COMMIT");
    open_ = false;  // a failed COMMIT has ended the transaction too
    return r;
  }
  ~Transaction() {
    if (open_) (void)conn_.execute("ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

 private:
  Connection& conn_;
  bool open_ = false;
};

bool table_exists(Connection& conn, const std::string& table) {
  auto got = rows(conn,
                  "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = current_database() AND "
                  "table_name = ?",
                  {table});
  return got && !got->empty() && number_of((*got)[0][0]) == 1;
}

Result<void> forget(Connection& conn, const std::string& source) {
  if (auto r = run(conn, "DELETE FROM sightline_state.append_files WHERE source = ?", {source}); !r) return r;
  if (auto r = run(conn, "DELETE FROM sightline_state.append_sources WHERE source = ?", {source}); !r) return r;
  return conn.execute("DROP TABLE IF EXISTS " + quote_identifier(append_table_name(source)));
}

Result<void> create_table(Connection& conn, const AppendTarget& target, const std::optional<std::string>& schema_file) {
  const std::string table = quote_identifier(append_table_name(target.source));
  const std::string batch = quote_identifier(kBatchColumn);
  if (!target.columns.empty()) {
    std::string cols;
    for (const auto& [name, type] : target.columns) cols += quote_identifier(name) + " " + type + ", ";
    return conn.execute("CREATE TABLE " + table + " (" + cols + batch + " BIGINT)");
  }
  if (!schema_file) return fail(ErrorKind::SourceFailed, "No files found that match the pattern");
  return conn.execute("CREATE TABLE " + table + " AS SELECT *, CAST(NULL AS BIGINT) AS " + batch + " FROM (" +
                      target.read_file(*schema_file) + ") LIMIT 0");
}

}  // namespace

std::string append_table_name(const std::string& source) {
  return "__sightline_append_" + source;
}

uint64_t files_fingerprint(const std::vector<FileEntry>& files) {
  uint64_t h = hash_combine(0, static_cast<uint64_t>(files.size()));
  for (const auto& f : files) {
    h = hash_combine(h, f.path);
    h = hash_combine(h, static_cast<uint64_t>(f.size));
    h = hash_combine(h, static_cast<uint64_t>(f.mtime_ns));
  }
  return h;
}

Result<void> ensure_append_ledger(Connection& conn) {
  for (const char* sql : {"CREATE SCHEMA IF NOT EXISTS sightline_state",
                          "CREATE TABLE IF NOT EXISTS sightline_state.append_sources (source VARCHAR NOT NULL, recipe VARCHAR NOT NULL, "
                          "changes BIGINT NOT NULL, next_batch BIGINT NOT NULL, as_of_ms BIGINT NOT NULL)",
                          "CREATE TABLE IF NOT EXISTS sightline_state.append_files (source VARCHAR NOT NULL, batch BIGINT NOT NULL, "
                          "path VARCHAR NOT NULL, size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL, rows BIGINT NOT NULL, "
                          "arrived_ms BIGINT NOT NULL, expired BOOLEAN NOT NULL)"})
    if (auto r = conn.execute(sql); !r) return r;
  return {};
}

Result<std::optional<AppendState>> read_append_state(Connection& conn, const std::string& source) {
  auto summary = rows(conn, "SELECT recipe, changes, as_of_ms FROM sightline_state.append_sources WHERE source = ?", {source});
  if (!summary) return fail(summary.error());
  if (summary->empty()) return std::optional<AppendState>();
  auto files = ledger_files(conn, source);
  if (!files) return fail(files.error());
  AppendState state;
  state.version = version_of(text_of((*summary)[0][0]), number_of((*summary)[0][1]));
  state.as_of_ms = number_of((*summary)[0][2]);
  std::vector<FileEntry> seen;
  for (const auto& [path, f] : *files) {
    seen.push_back({path, f.size, f.mtime_ns});
    if (f.expired) continue;
    state.rows += f.rows;
    ++state.files;
    if (state.oldest_kept_ns == 0 || f.mtime_ns < state.oldest_kept_ns) state.oldest_kept_ns = f.mtime_ns;
  }
  state.files_fingerprint = files_fingerprint(seen);
  return std::optional<AppendState>(state);
}

Result<AppendState> open_append_table(Connection& conn, const AppendTarget& target, const std::optional<std::string>& schema_file) {
  if (auto r = ensure_append_ledger(conn); !r) return fail(r.error());
  const std::string table = append_table_name(target.source);
  auto recorded = rows(conn, "SELECT recipe FROM sightline_state.append_sources WHERE source = ?", {target.source});
  if (!recorded) return fail(recorded.error());
  const bool same_recipe = !recorded->empty() && text_of((*recorded)[0][0]) == target.recipe;
  if (!same_recipe || !table_exists(conn, table)) {
    Transaction txn(conn);
    if (auto r = txn.begin(); !r) return fail(r.error());
    if (auto r = forget(conn, target.source); !r) return fail(r.error());
    if (auto r = create_table(conn, target, schema_file); !r) return fail(r.error());
    if (auto r = run(conn, "INSERT INTO sightline_state.append_sources VALUES (?, ?, 0, 1, 0)", {target.source, target.recipe}); !r)
      return fail(r.error());
    if (auto r = txn.commit(); !r) return fail(r.error());
  }
  auto state = read_append_state(conn, target.source);
  if (!state) return fail(state.error());
  if (!*state) return fail(ErrorKind::Internal, "the append ledger has no row for source '" + target.source + "'");
  return **state;
}

Result<AppendSync> sync_append_table(Connection& conn, const AppendTarget& target, const std::vector<FileEntry>& files, int64_t now_ms,
                                     const AppendVerify& verify) {
  const std::string table = quote_identifier(append_table_name(target.source));
  const std::string batch_col = quote_identifier(kBatchColumn);
  Transaction txn(conn);
  if (auto r = txn.begin(); !r) return fail(r.error());
  auto known = ledger_files(conn, target.source);
  if (!known) return fail(known.error());
  auto summary = rows(conn, "SELECT changes, next_batch FROM sightline_state.append_sources WHERE source = ?", {target.source});
  if (!summary) return fail(summary.error());
  if (summary->empty()) return fail(ErrorKind::Internal, "the append ledger has no row for source '" + target.source + "'");
  const int64_t changes = number_of((*summary)[0][0]);
  int64_t next_batch = number_of((*summary)[0][1]);
  const int64_t expire_before_ns = target.keep_ms ? (now_ms - *target.keep_ms) * 1'000'000 : INT64_MIN;

  AppendSync out;
  out.version_before = version_of(target.recipe, changes);
  out.first_batch = next_batch;
  auto remove_rows = [&](const LedgerFile& f) -> Result<void> {
    if (f.expired) return {};
    out.change.rows_removed += f.rows;
    return run(conn, "DELETE FROM " + table + " WHERE " + batch_col + " = ?", {f.batch});
  };
  auto drop_entry = [&](const std::string& path) {
    return run(conn, "DELETE FROM sightline_state.append_files WHERE source = ? AND path = ?", {target.source, path});
  };
  // Gone, changed, or past the retention window: their rows go.
  std::map<std::string, const FileEntry*> now;
  for (const auto& f : files) now[f.path] = &f;
  for (const auto& [path, f] : *known) {
    auto it = now.find(path);
    if (it == now.end()) {
      if (auto r = remove_rows(f); !r) return fail(r.error());
      if (auto r = drop_entry(path); !r) return fail(r.error());
      if (!f.expired) ++out.change.removed;
    } else if (it->second->size != f.size || it->second->mtime_ns != f.mtime_ns) {
      if (auto r = remove_rows(f); !r) return fail(r.error());
      if (auto r = drop_entry(path); !r) return fail(r.error());
      ++out.change.replaced;
    } else if (!f.expired && f.mtime_ns < expire_before_ns) {
      if (auto r = remove_rows(f); !r) return fail(r.error());
      if (auto r = run(conn, "UPDATE sightline_state.append_files SET expired = true, rows = 0 WHERE source = ? AND path = ?",
                       {target.source, path});
          !r)
        return fail(r.error());
      ++out.change.expired;
      out.expired_files.push_back(path);
    }
  }
  // New (or changed) files: their rows are appended, each with its own batch number.
  for (const auto& f : files) {
    auto it = known->find(f.path);
    const bool changed = it != known->end() && (it->second.size != f.size || it->second.mtime_ns != f.mtime_ns);
    if (it != known->end() && !changed) continue;
    const int64_t batch = next_batch++;
    int64_t added = 0;
    const bool expired = f.mtime_ns < expire_before_ns;
    if (!expired) {
      std::string sql = "INSERT INTO " + table + " BY NAME SELECT *, CAST(" + std::to_string(batch) + " AS BIGINT) AS " + batch_col +
                        " FROM (" + target.read_file(f.path) + ")";
      if (!target.order_by.empty()) sql += " ORDER BY " + target.order_by;
      auto inserted = rows(conn, sql);
      if (!inserted) return fail(inserted.error());
      added = !inserted->empty() ? number_of((*inserted)[0][0]) : 0;
      out.change.rows_added += added;
      if (!changed) ++out.change.added;
    } else if (!changed) {
      ++out.change.expired;
      out.expired_files.push_back(f.path);
    }
    if (auto r = run(conn, "INSERT INTO sightline_state.append_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     {target.source, batch, f.path, f.size, f.mtime_ns, added, now_ms, expired});
        !r)
      return fail(r.error());
  }
  // Rows changed: a new version (and the verification). Else the transaction at most forgot
  // expired files that are gone, which changes no row and no version.
  if (out.change.any()) {
    if (auto r = run(conn, "UPDATE sightline_state.append_sources SET changes = ?, next_batch = ?, as_of_ms = ? WHERE source = ?",
                     {changes + 1, next_batch, now_ms, target.source});
        !r)
      return fail(r.error());
    if (verify)
      if (auto r = verify(conn, out.change); !r) return fail(r.error());
  }
  out.end_batch = next_batch;
  auto state = read_append_state(conn, target.source);
  if (!state) return fail(state.error());
  if (auto r = txn.commit(); !r) return fail(r.error());
  out.state = state->value_or(AppendState{});
  return out;
}

Result<void> drop_append_tables_except(Connection& conn, const std::vector<std::string>& keep) {
  // A state file made before any source appended has no ledger yet: nothing to tidy then.
  if (auto r = ensure_append_ledger(conn); !r) return r;
  auto got = rows(conn, "SELECT source FROM sightline_state.append_sources");
  if (!got) return fail(got.error());
  for (const auto& r : *got) {
    const std::string source = text_of(r[0]);
    if (std::find(keep.begin(), keep.end(), source) != keep.end()) continue;
    if (auto done = forget(conn, source); !done) return done;
  }
  return {};
}

}  // namespace sightline::engine
