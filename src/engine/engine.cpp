#include "engine/engine.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <cmath>
#include <regex>
#include <thread>

#include "arrow/json_writer.h"
#include "engine/bitmap_functions.h"
#include "engine/zone_timeline.h"
#include "engine/memory_limit.h"
#include "engine/result_rows.h"
#include "engine/source_files.h"

namespace sightline::engine {
namespace fs = std::filesystem;
using config::Diagnostic;

ValueKind value_kind(std::string_view t) {
  if (t == "VARCHAR" || t == "ENUM" || t == "UUID") return ValueKind::Text;
  if (t == "TINYINT" || t == "SMALLINT" || t == "INTEGER" || t == "BIGINT" || t == "HUGEINT" || t == "UTINYINT" || t == "USMALLINT" ||
      t == "UINTEGER" || t == "UBIGINT" || t == "UHUGEINT")
    return ValueKind::Integer;
  if (t == "FLOAT" || t == "DOUBLE") return ValueKind::Float;
  if (t.starts_with("DECIMAL")) return ValueKind::Decimal;
  if (t == "BOOLEAN") return ValueKind::Boolean;
  if (t == "DATE") return ValueKind::Date;
  if (t.starts_with("TIMESTAMP")) return ValueKind::Timestamp;
  return ValueKind::Other;
}

const ColumnInfo* Relation::column(std::string_view n) const {
  for (const auto& c : columns)
    if (c.name == n) return &c;
  return nullptr;
}

std::string Relation::sql_name() const {
  if (database.empty()) return quote_identifier(name);
  return quote_identifier(database) + ".main." + quote_identifier(name);
}

std::string Relation::column_list() const {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + c.name;
  return out;
}

uint64_t DataVersions::of(std::string_view relation) const {
  auto it = relations.find(relation);
  return it == relations.end() ? all : it->second;
}

DataVersions Engine::data_versions() const {
  DataVersions v;
  uint64_t live = load_version_;
  for (const auto& [name, pattern] : live_sources_) {
    uint64_t files = fingerprint_files(pattern);
    v.relations[name] = hash_combine(load_version_, files);
    live = hash_combine(live, files);
  }
  {
    std::lock_guard lock(append_state_mutex_);
    for (const auto& [name, state] : append_states_) {
      v.relations[name] = state.version;
      live = hash_combine(live, state.version);
    }
  }
  const bool changing = !live_sources_.empty() || !append_sources_.empty();
  for (const auto& r : relations_) {
    if (v.relations.count(r.name)) continue;
    // A materialized relation changes only with what it was made from.
    auto loaded = loaded_versions_.find(r.name);
    if (loaded != loaded_versions_.end())
      v.relations[r.name] = loaded->second;
    else
      v.relations[r.name] = changing && view_models_.count(r.name) ? live : load_version_;
  }
  v.all = live;
  return v;
}

int64_t Engine::utc_offset_seconds(int64_t unix_seconds) const {
  if (!zone_) return 0;
  return zone_->offset_at(unix_seconds * 1'000'000) / 1'000'000;
}

Engine::Freshness Engine::freshness(std::string_view relation) const {
  Freshness f;
  const DataVersions versions = data_versions();
  f.version = versions.of(relation);
  if (auto state = append_state(relation)) {
    f.as_of_ms = state->as_of_ms > 0 ? state->as_of_ms : built_at_ms_;
    f.rows = state->rows;
    f.loaded = true;
    return f;
  }
  if (auto made = made_.find(relation); made != made_.end()) {
    f.as_of_ms = made->second.at_ms;
    f.rows = made->second.rows;
    f.loaded = true;
    return f;
  }
  for (const auto& stamp : source_stamps_) {
    if (stamp.name != relation) continue;
    f.loaded = stamp.loaded;
    f.as_of_ms = stamp.loaded ? built_at_ms_ : summarize_files(stamp.pattern).newest_modified_ms;
    return f;
  }
  // A view model: as new as the newest relation before it (it may read any of them).
  for (const auto& r : relations_) {
    if (r.name == relation) break;
    f.as_of_ms = std::max(f.as_of_ms, freshness(r.name).as_of_ms);
  }
  if (f.as_of_ms == 0) f.as_of_ms = built_at_ms_;
  return f;
}

std::optional<Engine::SourceFiles> Engine::source_files(std::string_view source) const {
  if (auto status = append_status(source)) {
    const uint64_t at_load = status->state.files_fingerprint;
    return SourceFiles{at_load, status->files_changed ? ~at_load : at_load, true};
  }
  for (const auto& stamp : source_stamps_)
    if (stamp.name == source) return SourceFiles{stamp.version, hash_combine(stamp.recipe, fingerprint_files(stamp.pattern)), stamp.loaded};
  return std::nullopt;
}

bool Engine::appends(std::string_view source) const {
  return append_sources_.find(source) != append_sources_.end();
}

std::optional<AppendState> Engine::append_state(std::string_view source) const {
  std::lock_guard lock(append_state_mutex_);
  auto it = append_states_.find(source);
  if (it == append_states_.end()) return std::nullopt;
  return it->second;
}

std::optional<Engine::AppendStatus> Engine::append_status(std::string_view source) const {
  auto found = append_sources_.find(source);
  auto state = append_state(source);
  if (found == append_sources_.end() || !state) return std::nullopt;
  AppendStatus status{*state, files_fingerprint(list_files(found->second.pattern)) != state->files_fingerprint, std::nullopt};
  if (found->second.target.keep_ms && state->oldest_kept_ns > 0)
    status.next_expiry_ms = state->oldest_kept_ns / 1'000'000 + *found->second.target.keep_ms;
  return status;
}

std::filesystem::path Engine::ingest_folder(std::string_view source) const {
  auto found = append_sources_.find(source);
  return found == append_sources_.end() ? fs::path() : found->second.ingest;
}

Result<AppendSync> Engine::sync_appends(const std::string& source, int64_t now_ms, const AppendVerify& verify) const {
  auto found = append_sources_.find(source);
  if (found == append_sources_.end() || !pool_) return fail(ErrorKind::NotFound, "source '" + source + "' does not append");
  std::lock_guard sync(append_sync_mutex_);
  const std::vector<FileEntry> files = list_files(found->second.pattern);
  auto synced = pool_->run<AppendSync>(export_timeout(), [&](Connection& c) -> Result<AppendSync> {
    return sync_append_table(c, found->second.target, files, now_ms, verify);
  });
  if (!synced) return fail(synced.error());
  {
    std::lock_guard lock(append_state_mutex_);
    append_states_[source] = synced->state;
    if (synced->change.any()) {
      constexpr size_t kAppendHistory = 64;
      auto& steps = append_history_[source];
      steps.push_back({synced->version_before, synced->state.version, synced->first_batch, synced->end_batch,
                       synced->change.rows_removed == 0});
      if (steps.size() > kAppendHistory) steps.erase(steps.begin());
    }
  }
  // Batches received are Sightline's own files: once expired they go (the next sync forgets them).
  if (!found->second.ingest.empty())
    for (const auto& path : synced->expired_files) {
      std::error_code ec;
      fs::remove(path, ec);
    }
  return synced;
}

std::optional<Engine::AppendedRows> Engine::appended_since(std::string_view source, uint64_t version) const {
  std::lock_guard lock(append_state_mutex_);
  auto state = append_states_.find(source);
  if (state == append_states_.end()) return std::nullopt;
  if (state->second.version == version) return AppendedRows{"", version, 0};
  auto history = append_history_.find(source);
  if (history == append_history_.end()) return std::nullopt;
  const auto& steps = history->second;
  // The chain of syncs from `version` to now: each began where the one before ended.
  auto from = std::find_if(steps.begin(), steps.end(), [&](const AppendStep& s) { return s.before == version; });
  if (from == steps.end()) return std::nullopt;
  uint64_t at = version;
  for (auto it = from; it != steps.end(); ++it) {
    if (it->before != at || !it->only_added) return std::nullopt;
    at = it->after;
  }
  if (at != state->second.version) return std::nullopt;
  const std::string batch = quote_identifier(kBatchColumn);
  AppendedRows out;
  out.version = at;
  out.batches = steps.back().end_batch - from->first_batch;
  out.rows_sql = "SELECT * EXCLUDE (" + batch + ") FROM " + quote_identifier(append_table_name(std::string(source))) + " WHERE " + batch +
                 " >= " + std::to_string(from->first_batch) + " AND " + batch + " < " + std::to_string(steps.back().end_batch);
  return out;
}

const Relation* Engine::relation(std::string_view name) const {
  for (const auto& r : relations_)
    if (r.name == name) return &r;
  return nullptr;
}

namespace {

std::string bool_sql(bool b) {
  return b ? "true" : "false";
}

// DuckDB's rows per row group (its default): the unit whose statistics let a scan skip rows.
constexpr int64_t kRowGroupRows = 122'880;

// The columns `project`'s dashboards over `relation` filter on by value: its select and
// multiselect filters (set in many states), else, when there are none, the dimensions chart
// selections filter on (set only after a click in a chart).
std::vector<std::string> value_filter_columns(const config::Project& project, const std::string& relation) {
  std::vector<std::string> filters, dimensions;
  auto add = [](std::vector<std::string>& to, const std::string& c) {
    if (std::find(to.begin(), to.end(), c) == to.end()) to.push_back(c);
  };
  for (const auto& d : project.dashboards) {
    if (d.source != relation) continue;
    for (const auto& f : d.filters)
      if (f.type == config::FilterType::Select || f.type == config::FilterType::MultiSelect) add(filters, f.column);
    for (const auto& c : d.dimensions) add(dimensions, c);
  }
  return filters.empty() ? dimensions : filters;
}

// How a materialized relation is stored: its text columns that repeat few values (regions,
// channels, products) as ENUMs, and the column its rows are clustered by.
struct StoragePlan {
  std::string body;     // the relation's SELECT, with those columns cast
  std::string cluster;  // quoted column to order by before the declared order, or ""
};

// ENUMs: a filter or a GROUP BY on them then compares small integer codes instead of strings,
// 4-10x faster over millions of rows. The ENUM's values are sorted, so ordering, min and max are
// those of the text.
//
// Clustering: of the columns dashboards filter on by value (`filter_columns`), the one with the
// most distinct values that still leaves every value at least two row groups of its own, on
// average, is put first in the order, before the declared one (time, usually). A filter on it
// then skips the row groups of every other value (measured at 10M rows: a Bezirk of 13 filtered
// in 8 instead of 41 ms, a top 20 of streets under it in 31 instead of 209 ms), while a date
// range still skips within each value's run. Too many values would leave runs shorter than a
// row group, which skip nothing and break up the declared order.
//
// One pass over the relation counts what is needed; anything failing leaves `body` as read and
// no clustering.
StoragePlan plan_storage(Connection& conn, const std::string& source, const std::string& body,
                         const std::vector<std::string>& filter_columns) {
  StoragePlan plan{body, ""};
  auto described = conn.prepare("SELECT * FROM (" + body + ")");
  if (!described) return plan;
  std::vector<std::string> text, clusterable;
  for (const auto& c : described->columns()) {
    if (c.type == "VARCHAR") text.push_back(c.name);
    const bool filtered = std::find(filter_columns.begin(), filter_columns.end(), c.name) != filter_columns.end();
    const ValueKind kind = value_kind(c.type);
    if (filtered && kind != ValueKind::Other && kind != ValueKind::Float) clusterable.push_back(c.name);
  }
  if (text.empty() && clusterable.empty()) return plan;
  std::string estimate = "SELECT count(*)";
  for (const auto& c : text) estimate += ", approx_count_distinct(" + quote_identifier(c) + ")";
  for (const auto& c : clusterable) estimate += ", approx_count_distinct(" + quote_identifier(c) + ")";
  auto counted = conn.query(estimate + " FROM (" + body + ")", 1);
  if (!counted) return plan;
  auto rows = arrow::write_json_rows(counted->table);
  if (!rows) return plan;
  auto parsed = nlohmann::json::parse(*rows, nullptr, false);
  if (parsed.is_discarded() || parsed["rows"].empty()) return plan;
  const auto& row = parsed["rows"][0];
  auto number = [](const nlohmann::json& v) -> int64_t {
    return v.is_number() ? v.get<int64_t>() : v.is_string() ? std::stoll(v.get<std::string>()) : -1;
  };
  const int64_t total = number(row[0]);

  // Clustering (see above): at most half as many values as row groups.
  const int64_t row_groups = (total + kRowGroupRows - 1) / kRowGroupRows;
  int64_t best = 1;
  for (size_t i = 0; i < clusterable.size(); ++i) {
    const int64_t values = number(row[1 + text.size() + i]);
    if (values > best && values * 2 <= row_groups) {
      best = values;
      plan.cluster = quote_identifier(clusterable[i]);
    }
  }

  // ENUMs: worth it when a value repeats at least 20 times on average. At most 256 values:
  // results carry an ENUM column as an Arrow dictionary holding every value of the type, so a
  // large one (customers, products) would cost more bytes on the wire than it saves in time.
  constexpr int64_t kMinRows = 10'000, kMaxValues = 256, kMinRepeat = 20;
  if (total < kMinRows) return plan;
  std::string replace;
  for (size_t i = 0; i < text.size(); ++i) {
    int64_t values = number(row[i + 1]);
    if (values < 1 || values > kMaxValues || values * kMinRepeat > total) continue;
    const std::string type = quote_identifier(std::string(kEnumTypePrefix) + source + "_" + std::to_string(i));
    const std::string col = quote_identifier(text[i]);
    auto made = conn.execute("CREATE TYPE " + type + " AS ENUM (SELECT DISTINCT " + col + " FROM (" + body + ") WHERE " + col +
                             " IS NOT NULL ORDER BY 1)");
    if (!made) continue;
    replace += (replace.empty() ? "" : ", ") + std::string("CAST(") + col + " AS " + type + ") AS " + col;
  }
  if (!replace.empty()) plan.body = "SELECT * REPLACE (" + replace + ") FROM (" + body + ")";
  return plan;
}

// The files a source reads: its path, absolute; a folder of Parquet files means every Parquet
// file below it.
fs::path source_pattern(const config::SourceSpec& s, const fs::path& dir) {
  fs::path p = s.files();
  if (p.is_relative()) p = dir / p;
  std::error_code ec;
  if (s.format == config::SourceFormat::Parquet && fs::is_directory(p, ec)) return p / "**" / "*.parquet";
  return p;
}

// The table function call that reads `path` (a source's files, or one of them) with the source's
// reader options, e.g. read_parquet('/p/data/**/*.parquet', hive_partitioning=true).
std::string reader_sql_of(const config::SourceSpec& s, const std::string& path);

// The SELECT that reads `path` (the source's files, or one of them) with its `types:`.
std::string select_of(const config::SourceSpec& s, const std::string& path) {
  std::string body = "SELECT * FROM " + reader_sql_of(s, path);
  if (s.format != config::SourceFormat::Csv && !s.types.empty()) {
    std::string replace;
    for (const auto& [col, type] : s.types)
      replace += (replace.empty() ? "" : ", ") + std::string("CAST(") + quote_identifier(col) + " AS " + type + ") AS " + quote_identifier(col);
    body = "SELECT * REPLACE (" + replace + ") FROM (" + body + ")";
  }
  return body;
}

std::string reader_sql_of(const config::SourceSpec& s, const std::string& path) {
  std::string args;
  auto add = [&](const std::string& a) { args += ", " + a; };
  if (s.hive_partitioning) add("hive_partitioning=" + bool_sql(*s.hive_partitioning));
  if (s.union_by_name) add("union_by_name=true");
  switch (s.format) {
    case config::SourceFormat::Parquet:
      return "read_parquet(" + quote_literal(path) + args + ")";
    case config::SourceFormat::Json:
      return "read_json_auto(" + quote_literal(path) + args + ")";
    case config::SourceFormat::Csv: {
      const auto& c = s.csv;
      if (c.delimiter) add("delim=" + quote_literal(*c.delimiter));
      if (c.header) add("header=" + bool_sql(*c.header));
      if (c.quote) add("quote=" + quote_literal(*c.quote));
      if (c.escape) add("escape=" + quote_literal(*c.escape));
      if (c.skip) add("skip=" + std::to_string(*c.skip));
      if (c.null_string) add("nullstr=" + quote_literal(*c.null_string));
      if (c.date_format) add("dateformat=" + quote_literal(*c.date_format));
      if (c.timestamp_format) add("timestampformat=" + quote_literal(*c.timestamp_format));
      if (!s.types.empty()) {
        std::string types;
        for (const auto& [col, type] : s.types) types += (types.empty() ? "" : ", ") + quote_literal(col) + ": " + quote_literal(type);
        add("types={" + types + "}");
      }
      return "read_csv(" + quote_literal(path) + args + ")";
    }
    case config::SourceFormat::DuckDB:
      return "";
  }
  return "";
}

}  // namespace

std::string describe_read_error(const std::string& engine_message, const fs::path& project_dir) {
  std::string root = project_dir.lexically_normal().string();
  if (!root.empty() && root.back() != '/') root += '/';
  auto relative = [&](std::string text) {
    for (size_t at = text.find(root); root.size() > 1 && at != std::string::npos; at = text.find(root, at)) text.erase(at, root.size());
    return text;
  };
  static const std::regex csv_line(R"(CSV Error on Line: (\d+))");
  static const std::regex converting(R"re(Error when converting column "([^"]*)"\. ([^\n]*))re");
  static const std::regex file(R"(\n\s*file = ([^\n]+))");
  std::smatch line, column, path;
  if (std::regex_search(engine_message, line, csv_line) && std::regex_search(engine_message, column, converting)) {
    std::string where =
        std::regex_search(engine_message, path, file) ? relative(path[1].str()) + ":" + line[1].str() : "line " + line[1].str();
    std::string why = column[2].str();
    if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
    return where + ": column \"" + column[1].str() + "\": " + why;
  }
  return relative(engine_message.substr(0, engine_message.find('\n')));
}

namespace {

// What to do about a source that cannot be read, from DuckDB's message.
std::string read_error_hint(const std::string& engine_message) {
  if (engine_message.find("Error when converting column") != std::string::npos)
    return "fix the value in the file, declare the column's type differently under types:, or name the file's null marker with "
           "csv: { null_string: ... }";
  return "";
}

}  // namespace

namespace {

// "18.8 GiB", "512.0 MiB", "1000 bytes" (DuckDB's rendering of a size) in bytes; -1 if unreadable.
double size_in_bytes(const std::string& text) {
  static const std::regex size(R"(\s*([0-9]+(?:\.[0-9]+)?)\s*(bytes|B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\s*)");
  std::smatch m;
  if (!std::regex_match(text, m, size)) return -1;
  double n = std::stod(m[1]);
  const std::string unit = m[2];
  const double k = unit.size() == 3 && unit[1] == 'i' ? 1024 : 1000;
  const std::string prefixes = "KMGT";
  if (!unit.empty() && unit != "bytes" && unit != "B") n *= std::pow(k, static_cast<double>(prefixes.find(unit[0]) + 1));
  return n;
}

}  // namespace

// A warning when what is loaded already takes most of the engine's memory limit: queries,
// rollups and subsets need room too, and would fail with 503s (or spill) under load.
void Engine::warn_if_memory_is_short(Connection& conn, std::vector<config::Diagnostic>& diagnostics) {
  auto got = conn.query("SELECT current_setting('memory_limit'), CAST((SELECT sum(memory_usage_bytes) FROM duckdb_memory()) AS DOUBLE)", 1);
  if (!got) return;
  auto rows = arrow::write_json_rows(got->table);
  if (!rows) return;
  auto parsed = nlohmann::json::parse(*rows, nullptr, false);
  if (parsed.is_discarded() || parsed["rows"].empty()) return;
  const auto& row = parsed["rows"][0];
  const double limit = row[0].is_string() ? size_in_bytes(row[0].get<std::string>()) : -1;
  const double used = row[1].is_number() ? row[1].get<double>() : -1;
  if (limit <= 0 || used < 0 || used < 0.6 * limit) return;
  char text[160];
  std::snprintf(text, sizeof text, "the loaded data takes %.1f GiB of the engine's %.1f GiB memory limit", used / (1 << 30), limit / (1 << 30));
  diagnostics.push_back({config::Diagnostic::Severity::Warning, {"sightline.yaml", 0, 0}, text,
                         "queries and rollups need room too: raise engine.memory_limit (default: 60% of the machine's or container's memory), or "
                         "materialize fewer sources"});
}

Result<int64_t> Engine::read_completely(const std::string& relation) const {
  // Every column of every row goes through hash(): nothing can be skipped as unused, and CSV and
  // JSON readers convert each value to its type on the way.
  std::string sql = "SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM " + quote_identifier(relation);
  auto out = pool_->run<QueryOutput>(std::chrono::hours(1), [&](Connection& c) { return c.query(sql, 1); });
  if (!out) return fail(out.error());
  auto rows = arrow::write_json_rows(out->table);
  if (!rows) return fail(rows.error());
  auto parsed = nlohmann::json::parse(*rows, nullptr, false);
  if (parsed.is_discarded() || parsed["rows"].empty()) return fail(ErrorKind::Internal, "reading '" + relation + "' returned no count");
  const auto& n = parsed["rows"][0][0];
  return n.is_number() ? n.get<int64_t>() : std::stoll(n.get<std::string>());
}

Result<void> allow_source(Sandbox& sandbox, const config::SourceSpec& s, const fs::path& project_dir) {
  // Append sources read their new files after the lock too; sources that receive rows read
  // their own folder in the state directory (Engine::build allows it).
  if ((s.materialize && !s.appends()) || s.format == config::SourceFormat::DuckDB || s.receives_rows()) return {};
  fs::path p = s.files();
  if (p.is_relative()) p = project_dir / p;
  p = p.lexically_normal();
  // The folder before the first component with a wildcard (DuckDB's: * ? [).
  fs::path prefix;
  bool glob = false;
  for (const auto& part : p) {
    if (part.string().find_first_of("*?[") != std::string::npos) {
      glob = true;
      break;
    }
    prefix /= part;
  }
  std::error_code ec;
  if (glob || fs::is_directory(p, ec)) {
    fs::path dir = glob ? prefix : p;
    if (dir.empty() || dir == dir.root_path()) {
      return fail(ErrorKind::InvalidInput, "source '" + s.name + "' would let the engine read the whole filesystem ('" + s.path + "')",
                  "put the files in a folder and name it before the first wildcard, e.g. data/orders/**/*.parquet");
    }
    sandbox.directories.push_back(dir);
  } else {
    sandbox.files.push_back(p);
  }
  return {};
}

namespace {

std::string hex(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

// Bumped whenever a version's meaning changes (what it hashes, how a table is made from it).
constexpr std::string_view kVersionFormat = "relations/2";  // 2: clustered storage (plan_storage)

// What each source's data depends on besides its files: its entry in sightline.yaml and the
// project's time zone (timestamps are read in it); by source, in the project's order.
std::vector<std::string> source_recipes(const config::Project& project) {
  auto j = nlohmann::json::parse(project.engine_fingerprint(), nullptr, false);
  std::vector<std::string> out;
  for (size_t i = 0; i < project.sources.size(); ++i) {
    const bool described = !j.is_discarded() && j.contains("sources") && i < j["sources"].size();
    out.push_back(std::string(kVersionFormat) + "|" + project.timezone + "|" +
                  (described ? j["sources"][i].dump() : project.sources[i].name + "|" + project.sources[i].path));
  }
  return out;
}

fs::path absolute_in(const config::Project& project, const std::string& path) {
  fs::path p = path;
  if (p.is_relative()) p = project.dir / p;
  return p.lexically_normal();
}

config::Diagnostic warning(std::string message, std::string hint = {}) {
  return {Diagnostic::Severity::Warning, {"sightline.yaml", 0, 0}, std::move(message), std::move(hint)};
}

}  // namespace

fs::path temporary_ingest_root() {
  return fs::temp_directory_path() / ("sightline-ingest-" + std::to_string(::getpid()));
}

Engine::~Engine() {
  pool_.reset();
  db_.reset();

  if (!state_file_.empty() && (discard_state_file_ || newer_generation_exists(state_file_))) {
    std::error_code ec;
    fs::remove(state_file_, ec);
    fs::remove(fs::path(state_file_.string() + ".wal"), ec);
  }
}

Result<std::unique_ptr<Database>> Engine::open_database(const EngineOptions& options,
                                                        const DatabaseOptions& db_options, fs::path& state_file,
                                                        std::vector<config::Diagnostic>& diagnostics) {
  if (!options.state_dir.empty()) {
    const std::string fallback = "; the engine runs in memory and loads every source at each start";
    auto chosen = choose_state_file(options.state_dir, options.state_use);
    if (!chosen) {
      diagnostics.push_back(warning("the state directory cannot be used: " + chosen.error().message + fallback, chosen.error().hint));
    } else {
      auto db = Database::open(chosen->path.string(), db_options);
      if (!db && chosen->existed && !held_by_another_process(chosen->path)) {
        // Unreadable (damaged, or written by another DuckDB release): a cache only, so start afresh.
        std::error_code ec;
        fs::remove(chosen->path, ec);
        fs::remove(fs::path(chosen->path.string() + ".wal"), ec);
        diagnostics.push_back(warning("the state file could not be opened and was replaced; every source is loaded anew"));
        db = Database::open(chosen->path.string(), db_options);
      }
      if (db) {
        std::error_code ec;
        fs::permissions(chosen->path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ec);
        // At start, earlier generations are leftovers (a crash during a reload). An engine built
        // beside a serving one leaves that one's file to it: it goes when that engine does.
        if (options.state_use == StateFileUse::Reuse) remove_older_generations(options.state_dir, chosen->path);
        state_file = chosen->path;
        return db;
      }
      const bool locked = db.error().message.find("ock") != std::string::npos;
      diagnostics.push_back(warning(std::string("the state directory cannot be used: ") +
                                        (locked ? "another process is using it" : "its database could not be opened") + fallback,
                                    "serve each project from one process, or give each its own --state-dir"));
    }
  }
  return Database::open(":memory:", db_options);
}

struct Engine::Loaded {
  bool reused = false;
};

// Creates relation `name` from `body`: a view, or (materialized) a table, taken as it is from the
// state file when the ledger holds it at `version`, else made anew (in one transaction with its
// ledger row when there is a state file).
Result<Engine::Loaded> Engine::load_relation(Connection& conn, const std::string& name, const std::string& body,
                                             const std::string& order_by, bool materialize, const std::string& version,
                                             const std::vector<std::string>& filter_columns) {
  if (ledger_ && materialize && ledger_->holds(conn, name, version)) return Loaded{true};
  const bool in_transaction = ledger_.has_value();
  if (in_transaction) {
    if (auto r = conn.execute("BEGIN TRANSACTION"); !r) return fail(r.error());
  }
  auto rollback = [&](const Error& e) -> Result<Loaded> {
    if (in_transaction) (void)conn.execute("ROLLBACK");
    return fail(e);
  };
  if (ledger_) {
    // What the state file held under this name: a table of older data, or a view turned table.
    if (auto r = conn.execute("DROP TABLE IF EXISTS " + quote_identifier(name)); !r) return rollback(r.error());
    if (auto r = drop_enum_types_of(conn, name); !r) return rollback(r.error());
  }
  std::string ddl = "CREATE VIEW " + quote_identifier(name) + " AS " + body;
  StoragePlan storage;
  if (materialize) {
    storage = plan_storage(conn, name, body, filter_columns);
    ddl = "CREATE TABLE " + quote_identifier(name) + " AS " + storage.body;
    std::string order = storage.cluster;
    if (!order_by.empty() && order_by != storage.cluster) order += (order.empty() ? "" : ", ") + order_by;
    if (!order.empty()) ddl += " ORDER BY " + order;
  }
  if (auto r = conn.execute(ddl); !r) return rollback(r.error());
  if (materialize) clustered_by_[name] = storage.cluster;
  if (in_transaction && materialize) {
    auto counted = conn.query("SELECT count(*) FROM " + quote_identifier(name), 1);
    if (!counted) return rollback(counted.error());
    auto rows = rows_of(*counted);
    int64_t n = rows && !rows->empty() ? as_count((*rows)[0][0]).value_or(0) : 0;
    if (auto r = ledger_->record(conn, name, version, n); !r) return rollback(r.error());
  }
  if (in_transaction) {
    if (auto r = conn.execute("COMMIT"); !r) return fail(r.error());
  }
  return Loaded{false};
}

Result<void> Engine::load_appending(Connection& conn, const config::SourceSpec& s, const config::Project& project, const std::string& recipe,
                                    const fs::path& ingest_root, std::vector<config::Diagnostic>& diagnostics) {
  AppendSource source;
  source.target.source = s.name;
  source.target.recipe = recipe;
  source.target.columns = s.columns;
  source.target.keep_ms = s.keep_ms;
  for (const auto& c : s.order_by) source.target.order_by += (source.target.order_by.empty() ? "" : ", ") + quote_identifier(c);
  if (s.receives_rows()) {
    // Batches received are Parquet files with exactly the declared columns (api: ingest;
    // cli/stream_reader.h).
    source.ingest = (ingest_root / s.name).lexically_normal();
    std::error_code ec;
    fs::create_directories(source.ingest, ec);
    if (ec) return fail(ErrorKind::Unavailable, "the folder for rows received cannot be created", "check the state directory's permissions");
    fs::permissions(source.ingest, fs::perms::owner_all, fs::perm_options::replace, ec);
    source.pattern = source.ingest / "*.parquet";
    source.target.read_file = [](const std::string& file) { return "SELECT * FROM read_parquet(" + quote_literal(file) + ")"; };
  } else {
    source.pattern = source_pattern(s, project.dir).lexically_normal();
  }
  const std::vector<FileEntry> files = list_files(source.pattern);
  if (!s.receives_rows()) {
    // One file is read at a time, and DuckDB guesses hive partitions from each path it reads:
    // decide once, for the whole glob, as DuckDB would for it (every file below a key=value
    // folder), so that every file gives the same columns.
    config::SourceSpec reader = s;
    if (!reader.hive_partitioning && !files.empty()) {
      fs::path fixed;  // the folder before the first wildcard
      for (const auto& part : source.pattern) {
        if (part.string().find_first_of("*?[") != std::string::npos) break;
        fixed /= part;
      }
      reader.hive_partitioning = std::all_of(files.begin(), files.end(), [&](const FileEntry& f) {
        for (const auto& part : fs::path(f.path).lexically_relative(fixed).parent_path())
          if (part.string().find('=') != std::string::npos) return true;
        return false;
      });
    }
    source.target.read_file = [reader](const std::string& file) { return select_of(reader, file); };
  }
  auto opened = open_append_table(conn, source.target, files.empty() ? std::nullopt : std::optional<std::string>(source.pattern.string()));
  if (!opened && files.empty() && s.columns.empty())
    return fail_with_detail(ErrorKind::SourceFailed, "no file matches '" + s.path + "'",
                            "an append source learns its columns from its first file: generate or copy the data first",
                            opened.error().for_author());
  if (!opened) return fail(opened.error());
  AppendState state = *opened;
  auto synced = sync_append_table(conn, source.target, files, built_at_ms_);
  if (synced) {
    state = synced->state;
    if (!source.ingest.empty())
      for (const auto& path : synced->expired_files) {
        std::error_code ec;
        fs::remove(path, ec);
      }
  } else if (opened->files == 0 && opened->rows == 0) {
    return fail(synced.error());  // nothing kept to serve
  } else {
    // What changed while the server was down cannot be read now (a corrupt file, one removed
    // while it was listed): the rows kept serve, and the refresher reads the files again (their
    // fingerprint differs from the ledger's), reporting the failure until they can be read.
    diagnostics.push_back(warning("source '" + s.name + "': the files that changed since the last run could not be read (" +
                                      describe_read_error(synced.error().for_author(), project.dir) +
                                      "); it serves the rows kept from before until they can",
                                  "fix or remove the file; the next refresh reads it again"));
  }
  const std::string view = "CREATE OR REPLACE VIEW " + quote_identifier(s.name) + " AS SELECT * EXCLUDE (" +
                           quote_identifier(kBatchColumn) + ") FROM " + quote_identifier(append_table_name(s.name));
  if (auto r = conn.execute(view); !r) return fail(r.error());
  {
    std::lock_guard lock(append_state_mutex_);
    append_states_[s.name] = state;
  }
  append_sources_.emplace(s.name, std::move(source));
  return {};
}

EngineBuild Engine::build(const config::Project& project, bool keep_going) {
  return build(project, EngineOptions{.keep_going = keep_going});
}

EngineBuild Engine::build(const config::Project& project, const EngineOptions& engine_options) {
  EngineBuild out;
  bool keep_going = engine_options.keep_going;
  auto started = std::chrono::steady_clock::now();
  const int64_t built_at_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto diag = [&](const config::Position& pos, std::string message, std::string hint = {}) {
    out.diagnostics.push_back({Diagnostic::Severity::Error, pos, std::move(message), std::move(hint)});
  };
  std::shared_ptr<Engine> engine(new Engine());
  engine->built_at_ms_ = built_at_ms;
  // A new generation built beside a serving engine (a refresh, a reload) that fails must not
  // leave its partial file as the newest state: the next start would take it over the good one.
  engine->discard_state_file_ = engine_options.state_use == StateFileUse::Fresh;
  const auto& spec = project.engine;
  DatabaseOptions options;
  options.threads = spec.threads;
  // Unset: sized from the machine or container (engine/memory_limit.h), not DuckDB's 80 %.
  options.memory_limit = spec.memory_limit.empty() ? default_memory_limit(read_machine_memory()) : spec.memory_limit;
  // The project's files are only ever read. The engine's own database is in memory, or a file in
  // the state directory; spills go to a private temporary folder, never the working directory.
  options.temp_directory = (fs::temp_directory_path() / ("sightline-spill-" + std::to_string(::getpid()))).string();
  options.max_spill = spec.max_spill;
  auto db = open_database(engine_options, options, engine->state_file_, out.diagnostics);
  if (!db) {
    diag({"sightline.yaml", 0, 0}, db.error().for_author(), "check engine: settings");
    return out;
  }
  engine->db_ = std::move(*db);
  auto setup = Connection::open(*engine->db_);
  if (!setup) {
    diag({"sightline.yaml", 0, 0}, setup.error().for_author());
    return out;
  }
  Connection& conn = **setup;
  // Scans run without keeping file order: results are aggregated, and it is faster.
  (void)conn.execute("SET preserve_insertion_order=false");
  // A sorted table page (LIMIT 100, OFFSET up to a deep page's window, query/table_pages.h) is
  // found by sorting only its sort keys with the row ids, then every column of just the page's
  // rows is read, the row ids pushed into the scan as a filter: DuckDB's late materialization.
  // Its defaults (50 rows each) cover neither a 100-row page nor an offset; at 10M rows a
  // filtered page took 150-220 ms without it and 40-60 ms with it. Beyond 12,000 rows (large
  // downloads) the plain plan is faster and stays.
  (void)conn.execute("SET GLOBAL late_materialization_max_rows = 12000");
  (void)conn.execute("SET GLOBAL dynamic_or_filter_threshold = 1024");
  // Exact distinct counts from rollups (see bitmap_functions.h).
  if (auto r = register_bitmap_functions(conn); !r) {
    diag({"sightline.yaml", 0, 0}, r.error().message);
    return out;
  }
  // Days begin in the project's time zone: date filters over TIMESTAMP WITH TIME ZONE columns,
  // date_trunc of time axes and the pre-aggregates' day buckets all follow it (DST included).
  if (auto r = conn.execute("SET GLOBAL TimeZone = " + quote_literal(project.timezone)); !r) {
    diag(project.timezone_pos.file.empty() ? config::Position{"sightline.yaml", 0, 0} : project.timezone_pos,
         "unknown timezone '" + project.timezone + "'", "use an IANA time zone name such as UTC, Europe/Berlin or America/New_York");
    return out;
  }
  // date_trunc over TIMESTAMP WITH TIME ZONE without a time zone computation per value
  // (engine/zone_timeline.h): the zone's offsets are read once, here.
  {
    auto timeline = load_zone_timeline(conn);
    if (!timeline) {
      diag({"sightline.yaml", 0, 0}, "the time zone's offsets cannot be read: " + timeline.error().for_author());
      return out;
    }
    if (auto r = register_local_trunc_functions(conn, *timeline); !r) {
      diag({"sightline.yaml", 0, 0}, r.error().message);
      return out;
    }
    engine->zone_ = std::make_shared<const ZoneTimeline>(std::move(*timeline));
  }
  if (!engine->state_file_.empty()) {
    auto ledger = StateLedger::open(conn);
    if (!ledger) {
      diag({"sightline.yaml", 0, 0}, "the state file cannot be used: " + ledger.error().for_author(),
           "remove the state directory (it is a cache) or start with --no-state");
      return out;
    }
    engine->ledger_ = std::move(*ledger);
  }

  auto describe = [&](const std::string& name, bool is_model, const config::Position& pos) -> bool {
    auto stmt = conn.prepare("SELECT * FROM " + quote_identifier(name));
    if (!stmt) {
      diag(pos, (is_model ? "model '" : "source '") + name + "' cannot be read: " + stmt.error().for_author());
      return false;
    }
    std::vector<ColumnInfo> columns = stmt->columns(/*dictionaries=*/true);
    // Text stored as an ENUM (see encode_repeated_text) is text to everyone above the engine.
    for (auto& c : columns)
      if (c.type == "ENUM") c.type = "VARCHAR";
    auto bins = plan_bins(project, name, columns, conn);
    engine->relations_.push_back({name, is_model, std::move(columns), std::move(bins)});
    return true;
  };

  // Versions: a source's is its recipe and its files as they are now; a model's is its SQL and
  // the versions of every source and model before it (it may read any of them). A materialized
  // relation keeps the version it was made from (the state file reuses it while it holds);
  // everything else has the version of the whole load (`loaded_version`).
  const std::vector<std::string> recipes = source_recipes(project);
  uint64_t loaded_version = hash_combine(0, kVersionFormat);
  auto made = [&](const std::string& name, const Result<Loaded>& loaded, uint64_t version, bool materialize) {
    loaded_version = hash_combine(loaded_version, version);
    if (!materialize) return;
    engine->loaded_versions_[name] = version;
    if (loaded->reused) engine->reused_relations_.push_back(name);
    // When it was made: the ledger knows (a reused table keeps the time of its load); in memory, now.
    std::optional<StateLedger::Made> when = engine->ledger_ ? engine->ledger_->made(conn, name) : std::nullopt;
    if (!when) {
      int64_t n = 0;
      if (auto counted = conn.query("SELECT count(*) FROM " + quote_identifier(name), 1))
        if (auto rows = rows_of(*counted); rows && !rows->empty()) n = as_count((*rows)[0][0]).value_or(0);
      when = StateLedger::Made{engine->built_at_ms_, n};
    }
    engine->made_[name] = *when;
  };
  const fs::path ingest_root = engine_options.state_dir.empty() ? temporary_ingest_root() : engine_options.state_dir / "ingest";
  for (size_t i = 0; i < project.sources.size(); ++i) {
    const auto& s = project.sources[i];
    std::string body;
    uint64_t version = hash_combine(0, recipes[i]);
    if (s.appends()) {
      if (auto r = engine->load_appending(conn, s, project, hex(version), ingest_root, out.diagnostics); !r) {
        const std::string msg = r.error().for_author();
        diag(s.pos, "source '" + s.name + "' cannot be read: " + (r.error().hint.empty() ? describe_read_error(msg, project.dir) : r.error().message),
             r.error().hint.empty() ? read_error_hint(msg) : r.error().hint);
        continue;
      }
      loaded_version = hash_combine(loaded_version, engine->append_state(s.name)->version);
      describe(s.name, false, s.pos);
      continue;
    }
    if (s.format == config::SourceFormat::DuckDB) {
      fs::path p = absolute_in(project, s.files());
      std::error_code ec;
      if (!fs::exists(p, ec)) {
        diag(s.pos, "source '" + s.name + "': no such DuckDB file '" + s.path + "'");
        continue;
      }
      std::string alias = "src_" + s.name;
      if (auto r = conn.execute("ATTACH " + quote_literal(p.string()) + " AS " + quote_identifier(alias) + " (READ_ONLY)"); !r) {
        diag(s.pos, "source '" + s.name + "': cannot open DuckDB file '" + s.path + "': " + r.error().for_author());
        continue;
      }
      body = "SELECT * FROM " + quote_identifier(alias) + "." + quote_identifier(s.table);
      engine->source_stamps_.push_back({s.name, p, version, 0, true});
      version = hash_combine(version, fingerprint_files(p));
    } else {
      body = select_of(s, source_pattern(s, project.dir).string());
      engine->source_stamps_.push_back({s.name, absolute_in(project, s.files()), version, 0, s.materialize});
      version = hash_combine(version, fingerprint_files(absolute_in(project, s.files())));
    }
    engine->source_stamps_.back().version = version;
    std::string order;
    for (const auto& c : s.order_by) order += (order.empty() ? "" : ", ") + quote_identifier(c);
    auto loaded = engine->load_relation(conn, s.name, body, order, s.materialize, hex(version), value_filter_columns(project, s.name));
    if (!loaded) {
      std::string msg = loaded.error().for_author();
      std::string hint = msg.find("No files found") != std::string::npos
                             ? "no file matches '" + s.path + "' (relative to the project folder); generate or copy the data first"
                             : read_error_hint(msg);
      diag(s.pos, "source '" + s.name + "' cannot be read: " + describe_read_error(msg, project.dir), hint);
      continue;
    }
    made(s.name, loaded, version, s.materialize);
    describe(s.name, false, s.pos);
  }
  const bool sources_ok = out.diagnostics.empty() || std::none_of(out.diagnostics.begin(), out.diagnostics.end(), [](const Diagnostic& d) {
                            return d.severity == Diagnostic::Severity::Error;
                          });
  const size_t diagnostics_before_models = out.diagnostics.size();
  for (const auto& m : project.models) {
    // Models over a source that failed would only repeat its error, and with a state file they
    // would store tables made from its last good data under new versions.
    if (!sources_ok && engine->ledger_) break;
    // A materialized model may read any source or earlier model: its version follows all of them.
    const uint64_t version = hash_combine(hash_combine(hash_combine(loaded_version, m.name), m.sql), m.materialize ? "table" : "view");
    auto loaded = engine->load_relation(conn, m.name, m.sql, "", m.materialize, hex(version), value_filter_columns(project, m.name));
    if (!loaded) {
      // Over a broken source, a model only repeats its error (or cannot find it at all).
      if (sources_ok)
        diag(m.pos, "model '" + m.name + "' does not compile: " + describe_read_error(loaded.error().for_author(), project.dir));
      continue;
    }
    made(m.name, loaded, version, m.materialize);
    describe(m.name, true, m.pos);
  }
  if (engine->ledger_ && sources_ok && out.diagnostics.size() == diagnostics_before_models) {
    // Leftovers of earlier runs: removed sources, subsets, replaced pre-aggregates. Only after a
    // build without errors: a source that failed to load keeps its last good table for the next.
    std::set<std::string> keep;
    for (const auto& [name, version] : engine->loaded_versions_) keep.insert(name);
    std::vector<std::string> appending;
    for (const auto& [name, source] : engine->append_sources_) {
      keep.insert(append_table_name(name));
      appending.push_back(name);
    }
    if (auto r = drop_append_tables_except(conn, appending); !r)
      out.diagnostics.push_back(warning("the state file's appended tables could not be tidied: " + r.error().for_author()));
    if (auto r = engine->ledger_->drop_all_but(conn, keep); !r)
      out.diagnostics.push_back(warning("the state file could not be tidied: " + r.error().for_author()));
    (void)conn.execute("CHECKPOINT");
  }
  // Tables in a state file are read block by block and need not fit; in memory they must.
  if (engine->state_file_.empty()) warn_if_memory_is_short(conn, out.diagnostics);
  auto no_errors = [&] {
    return std::none_of(out.diagnostics.begin(), out.diagnostics.end(),
                        [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::Error; });
  };
  if (no_errors() || keep_going) {
    // Everything is created and loaded. Lock the database down before any connection that answers
    // requests exists: afterwards it reads only the files of the sources it still scans (and
    // spills to its temp folder), loads no extension, and refuses every SET, for every
    // connection. Rollups and subsets only create tables from what is here, which still works.
    // Any setting the engine needs must be set above this line. DuckDB alone cannot refuse
    // ATTACH or COPY TO inside the sandbox: the pool's connections are restricted for that
    // (Connection::restrict_statements); see lock_down for what neither layer can stop.
    Sandbox sandbox;
    sandbox.directories.push_back(options.temp_directory);
    for (const auto& s : project.sources) {
      if (auto r = allow_source(sandbox, s, project.dir); !r) diag(s.pos, r.error().for_author(), r.error().hint);
    }
    for (const auto& [name, source] : engine->append_sources_)
      if (!source.ingest.empty()) sandbox.directories.push_back(source.ingest);
    if (no_errors() || keep_going) {
      // Attached before the lock-down, which refuses ATTACH; every connection sees it.
      if (auto r = conn.execute("ATTACH ':memory:' AS " + quote_identifier(kScratchDatabase)); !r) {
        diag({"sightline.yaml", 0, 0}, r.error().for_author());
        keep_going = false;
      }
    }
    if (no_errors() || keep_going) {
      if (auto r = lock_down(conn, sandbox); !r) {
        diag({"sightline.yaml", 0, 0}, r.error().for_author());
        keep_going = false;  // an engine that is not locked down is never handed out
      }
    }
  }
  config::redact_secrets(out.diagnostics, project.secret_values);
  if (!no_errors() && !keep_going) return out;

  int threads = spec.threads > 0 ? spec.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int pool_size = spec.pool_size > 0 ? spec.pool_size : std::max(4, 2 * threads);
  auto pool = ConnectionPool::create(*engine->db_, pool_size, std::chrono::milliseconds(std::max<int64_t>(spec.query_timeout_ms, 1000)));
  if (!pool) {
    diag({"sightline.yaml", 0, 0}, pool.error().for_author());
    return out;
  }
  engine->pool_ = std::move(*pool);
  if (auto stats = Connection::open(*engine->db_)) engine->stats_conn_ = std::move(*stats);
  engine->query_timeout_ = std::chrono::milliseconds(spec.query_timeout_ms);
  engine->max_rows_ = spec.max_rows;
  engine->max_export_rows_ = spec.max_export_rows;
  engine->export_timeout_ = std::chrono::milliseconds(spec.export_timeout_ms);
  engine->load_version_ = loaded_version;
  for (const auto& s : project.sources) {
    if (s.materialize || s.appends() || s.format == config::SourceFormat::DuckDB) continue;
    engine->live_sources_.emplace_back(s.name, absolute_in(project, s.files()));
  }
  for (const auto& m : project.models)
    if (!m.materialize) engine->view_models_.insert(m.name);
  for (const auto& s : project.sources) {
    bool converting = s.format == config::SourceFormat::Csv || s.format == config::SourceFormat::Json || !s.types.empty();
    if (!s.materialize && !s.appends() && s.format != config::SourceFormat::DuckDB && converting && engine->relation(s.name))
      engine->converting_live_sources_.push_back(s.name);
  }
  engine->load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  engine->discard_state_file_ = false;  // handed out: it serves, and its file is the newest state
  out.engine = std::move(engine);
  return out;
}

std::optional<std::string> Engine::stored_rollups() const {
  std::lock_guard lock(state_mutex_);
  if (!ledger_ || !ledger_->rollups()) return std::nullopt;
  return ledger_->rollups()->description;
}

void Engine::drop_tables(const std::vector<std::string>& tables) const {
  if (tables.empty() || !pool_) return;
  (void)pool_->run<int>(std::chrono::minutes(1), [&](Connection& c) -> Result<int> {
    for (const auto& t : tables) (void)c.execute("DROP TABLE IF EXISTS " + quote_identifier(t));
    return 0;
  });
}

Result<void> Engine::store_rollups(const std::string& description, const std::vector<std::string>& tables) const {
  std::vector<std::string> unused;
  {
    std::lock_guard lock(state_mutex_);
    if (!ledger_) return {};
    std::set<std::string> now(tables.begin(), tables.end());
    std::vector<std::string> before = ledger_->rollups() ? ledger_->rollups()->tables : std::vector<std::string>();
    auto stored = pool_->run<int>(std::chrono::minutes(1), [&](Connection& c) -> Result<int> {
      if (auto r = ledger_->store_rollups(c, {"parts", description, tables}); !r) return fail(r.error());
      return 0;
    });
    if (!stored) return fail(stored.error());
    for (const auto& t : before) {
      auto users = table_users_.find(t);
      if (!now.count(t) && (users == table_users_.end() || users->second <= 0)) unused.push_back(t);
    }
  }
  drop_tables(unused);
  return {};
}

void Engine::claim_tables(const std::vector<std::string>& tables) const {
  std::lock_guard lock(state_mutex_);
  for (const auto& t : tables) ++table_users_[t];
}

void Engine::release_tables(const std::vector<std::string>& tables) const {
  std::vector<std::string> unused;
  {
    std::lock_guard lock(state_mutex_);
    std::set<std::string> kept;
    if (ledger_ && ledger_->rollups()) kept.insert(ledger_->rollups()->tables.begin(), ledger_->rollups()->tables.end());
    for (const auto& t : tables) {
      auto users = table_users_.find(t);
      if (users != table_users_.end() && --users->second > 0) continue;
      if (users != table_users_.end()) table_users_.erase(users);
      if (!kept.count(t)) unused.push_back(t);
    }
  }
  drop_tables(unused);
}

Engine::WarmUp Engine::warm_buffers(const std::function<bool()>& before_each) const {
  using nlohmann::json;
  WarmUp out;
  if (state_file_.empty()) {
    out.skipped = "in memory";
    return out;
  }
  // One statement on the pool; nullopt when the pool gave no connection (shutting down).
  auto ask = [&](const std::string& sql, int64_t max_rows) -> std::optional<Result<json>> {
    auto got = pool_->run<json>(query_timeout_, [&](Connection& c) -> Result<json> {
      auto q = c.query(sql, max_rows);
      if (!q) return fail(q.error());
      auto rows = rows_of(*q);
      if (!rows) return fail(rows.error());
      return *rows;
    });
    if (!got && got.error().kind == ErrorKind::Unavailable) return std::nullopt;
    return got;
  };
  auto sized = ask("SELECT CAST(used_blocks * block_size AS BIGINT), memory_limit, (SELECT CAST(sum(memory_usage_bytes) AS BIGINT) "
                   "FROM duckdb_memory() WHERE tag = 'BASE_TABLE') FROM pragma_database_size() WHERE database_name = current_database()",
                   1);
  if (!sized || !*sized || (*sized)->empty() || !(**sized)[0][1].is_string()) {
    out.skipped = "the database's size is unknown";
    return out;
  }
  out.file_bytes = as_count((**sized)[0][0]).value_or(0);
  out.resident_bytes = as_count((**sized)[0][2]).value_or(0);
  if (out.resident_bytes * 10 >= out.file_bytes * 8) {
    out.skipped = "in memory already";
    return out;
  }
  const auto limit = parse_reported_size((**sized)[0][1].get<std::string>());
  if (!limit || static_cast<uint64_t>(out.file_bytes) > *limit / 2) {
    out.skipped = "larger than half the memory limit";
    return out;
  }
  auto tables = ask("SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
                    "JOIN duckdb_tables() USING (database_name, schema_name, table_name) "
                    "WHERE database_name = current_database() AND schema_name = 'main' AND NOT duckdb_tables.temporary "
                    "GROUP BY table_name, estimated_size ORDER BY estimated_size, table_name",
                    100'000);
  if (!tables || !*tables) {
    out.skipped = "the tables could not be listed";
    return out;
  }
  for (const auto& table : **tables) {
    if (!table[0].is_string() || !table[1].is_array()) continue;
    bool whole = true;
    for (const auto& column : table[1]) {
      if (!column.is_string()) continue;
      if (before_each && !before_each()) return out;  // stopping
      auto read = ask("SELECT max(hash(" + quote_identifier(column.get<std::string>()) + ")) FROM " +
                          quote_identifier(table[0].get<std::string>()),
                      1);
      if (!read) return out;  // shutting down
      if (!*read) {
        whole = false;  // dropped meanwhile (a rollup replaced): the next table
        break;
      }
    }
    if (whole) ++out.tables;
  }
  return out;
}

void Engine::sample_memory() const {
  std::lock_guard lock(stats_mutex_);
  if (!stats_conn_) return;
  auto out = stats_conn_->query("SELECT CAST(sum(memory_usage_bytes) AS BIGINT) FROM duckdb_memory()", 1);
  std::optional<int64_t> bytes;
  if (out)
    if (auto rows = rows_of(*out); rows && rows->is_array() && !rows->empty() && (*rows)[0].is_array() && !(*rows)[0].empty())
      bytes = as_count((*rows)[0][0]);
  memory_sample_.store(bytes && *bytes >= 0 ? *bytes : -1);
}

}  // namespace sightline::engine
