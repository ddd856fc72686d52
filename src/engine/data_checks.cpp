#include "engine/data_checks.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/result_rows.h"

namespace sightline::engine {
namespace {

using config::CheckKind;
using config::CheckSeverity;
using config::CheckSpec;
using config::Diagnostic;
using nlohmann::json;

constexpr int kSamples = 5;

// SQL with $n parameters and their values (text). A placeholder may appear in the text more than
// once.
struct Statement {
  std::string sql;
  std::vector<Param> params;
  // A placeholder for `v`, typed VARCHAR (else DuckDB would type it by its use and convert the
  // bound text without the session's settings, such as its time zone).
  std::string bind(const std::string& v) {
    params.emplace_back(v);
    return "CAST($" + std::to_string(params.size()) + " AS VARCHAR)";
  }
  // `v` as a value of `type`, converted by SQL.
  std::string value(const std::string& v, const std::string& type) { return "CAST(" + bind(v) + " AS " + type + ")"; }
};

// Runs `s` on a pooled connection (within the engine's export time limit: a check reads every
// row) and returns its first row.
Result<json> first_row(const Engine& engine, const Statement& s) {
  auto out = engine.pool().run<QueryOutput>(engine.export_timeout(), [&](Connection& c) -> Result<QueryOutput> {
    auto prepared = c.prepare(s.sql);
    if (!prepared) return fail(prepared.error());
    return prepared->execute(s.params, 1);
  });
  if (!out) return fail(out.error());
  auto rows = rows_of(*out);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::Internal, "a check's statement returned no row");
  return (*rows)[0];
}

// The type DuckDB's catalog names, when SQL can cast to it by that name; else VARCHAR (nested
// types and other databases' ENUMs are named only by their kind): values are then compared with
// the column's text.
bool castable(const std::string& type) {
  return type != "ENUM" && type != "LIST" && type != "STRUCT" && type != "MAP" && type != "ARRAY" && type != "OTHER" && type != "NULL";
}

// One rule over one relation, as the per-kind functions below see it.
struct Rule {
  const Engine& engine;
  const Relation& relation;
  const CheckSpec& spec;
  const CheckContext& context;

  // Runs `s` on the context's connection (a sync's transaction) or else on a pooled one.
  Result<json> first_row(const Statement& s) const;
  std::string table() const { return quote_identifier(relation.name); }
  std::string column(size_t i = 0) const { return quote_identifier(spec.columns[i]); }
  std::string type(size_t i = 0) const {
    const ColumnInfo* c = relation.column(spec.columns[i]);
    return c && castable(c->type) ? c->type : "VARCHAR";
  }
  // The column as compared with values of type().
  std::string compared(size_t i = 0) const {
    const ColumnInfo* c = relation.column(spec.columns[i]);
    return c && castable(c->type) ? column(i) : "CAST(" + column(i) + " AS VARCHAR)";
  }
};

Result<json> Rule::first_row(const Statement& s) const {
  if (!context.connection) return engine::first_row(engine, s);
  auto prepared = context.connection->prepare(s.sql);
  if (!prepared) return fail(prepared.error());
  auto out = prepared->execute(s.params, 1);
  if (!out) return fail(out.error());
  auto rows = rows_of(*out);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::Internal, "a check's statement returned no row");
  return (*rows)[0];
}

// A statement's [count, [sample, ...]] row into `out`.
Result<void> read_failing(const Rule& rule, const Statement& s, CheckResult& out) {
  auto row = rule.first_row(s);
  if (!row) return fail(row.error());
  auto n = as_count((*row)[0]);
  if (!n) return fail(ErrorKind::Internal, "a check's count could not be read");
  out.failing = *n;
  out.passed = *n == 0;
  if ((*row)[1].is_array())
    for (const auto& v : (*row)[1]) out.samples.push_back(v.is_string() ? v.get<std::string>() : v.is_null() ? "NULL" : v.dump());
  return {};
}

// Rules over rows: the rows where `failing` holds are counted (one scan), and up to five distinct
// values of `shown` among them taken as text ("" for none).
Result<void> count_failing(const Rule& rule, Statement s, const std::string& failing, const std::string& shown, CheckResult& out) {
  const std::string from = " FROM " + rule.table() + " WHERE (" + failing + ")";
  s.sql = "SELECT (SELECT count(*)" + from + "), " +
          (shown.empty() ? std::string("NULL")
                         : "(SELECT list(v ORDER BY v) FROM (SELECT DISTINCT CAST(" + shown + " AS VARCHAR) AS v" + from + " LIMIT " +
                               std::to_string(kSamples) + "))");
  return read_failing(rule, s, out);
}

// NULLs are what fails: no samples (they would all read NULL).
Result<void> check_not_null(const Rule& rule, CheckResult& out) {
  return count_failing(rule, {}, rule.column() + " IS NULL", "", out);
}

// Rows whose key (all columns set) occurs more than once; samples are the repeated keys.
Result<void> check_unique(const Rule& rule, CheckResult& out) {
  std::string keys, set;
  for (size_t i = 0; i < rule.spec.columns.size(); ++i) {
    keys += (i ? ", " : "") + rule.column(i);
    set += (i ? " AND " : "") + rule.column(i) + " IS NOT NULL";
  }
  const std::string shown = rule.spec.columns.size() == 1 ? keys : "row(" + keys + ")";
  Statement s;
  s.sql = "WITH dup AS MATERIALIZED (SELECT " + keys + ", count(*) AS __sightline_rows FROM " + rule.table() + " WHERE " + set +
          " GROUP BY " + keys +
          " HAVING count(*) > 1) SELECT (SELECT CAST(coalesce(sum(__sightline_rows), 0) AS BIGINT) FROM dup), "
          "(SELECT list(v ORDER BY v) FROM (SELECT CAST(" +
          shown + " AS VARCHAR) AS v FROM dup LIMIT " + std::to_string(kSamples) + "))";
  return read_failing(rule, s, out);
}

Result<void> check_accepted_values(const Rule& rule, CheckResult& out) {
  Statement s;
  std::string list;
  for (const auto& v : rule.spec.values) list += (list.empty() ? "" : ", ") + s.value(v, rule.type());
  return count_failing(rule, std::move(s), rule.compared() + " NOT IN (" + list + ")", rule.column(), out);
}

Result<void> check_range(const Rule& rule, CheckResult& out) {
  Statement s;
  std::string failing;
  if (rule.spec.min) failing = rule.compared() + " < " + s.value(*rule.spec.min, rule.type());
  if (rule.spec.max) failing += (failing.empty() ? "" : " OR ") + rule.compared() + " > " + s.value(*rule.spec.max, rule.type());
  return count_failing(rule, std::move(s), failing, rule.column(), out);
}

// The pattern is a literal: DuckDB compiles a constant pattern once, a parameter once per row.
Result<void> check_regex(const Rule& rule, CheckResult& out) {
  return count_failing(rule, {}, "NOT regexp_full_match(CAST(" + rule.column() + " AS VARCHAR), " + quote_literal(rule.spec.pattern) + ")",
                       rule.column(), out);
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

std::string signed_percent(double fraction) {
  const long percent = std::lround(fraction * 100);
  return (percent > 0 ? "+" : "") + std::to_string(percent) + "%";
}

Result<void> check_row_count(const Rule& rule, CheckResult& out) {
  std::optional<int64_t> n;
  if (rule.context.connection) {
    Statement counted;
    counted.sql = "SELECT count(*) FROM " + rule.table();
    if (auto row = rule.first_row(counted)) n = as_count((*row)[0]);
  } else {
    n = count_rows(rule.engine, rule.relation.name);
  }
  if (!n) return fail(ErrorKind::SourceFailed, "the rows could not be counted");
  const CheckSpec& spec = rule.spec;
  std::vector<std::string> found;
  if (spec.min_rows && *n < *spec.min_rows)
    found.push_back(std::to_string(*n) + " rows, at least " + std::to_string(*spec.min_rows) + " expected");
  if (spec.max_rows && *n > *spec.max_rows)
    found.push_back(std::to_string(*n) + " rows, at most " + std::to_string(*spec.max_rows) + " expected");
  std::string note = std::to_string(*n) + " rows";
  // Against an empty previous version no fraction says anything: skipped, as on a first load.
  if (const auto prev = rule.context.previous_rows; spec.max_change && prev && *prev > 0) {
    const double change = static_cast<double>(*n - *prev) / static_cast<double>(*prev);
    const std::string against = std::to_string(*n) + " rows against " + std::to_string(*prev) + " before (" + signed_percent(change) + ")";
    if (std::abs(change) > *spec.max_change + 1e-12)
      found.push_back(against + ", at most " + signed_percent(*spec.max_change).substr(1) + " change allowed");
    else
      note = against;
  } else if (spec.max_change) {
    note += "; no previous version to compare with";
  }
  out.failing = static_cast<int64_t>(found.size());
  out.passed = found.empty();
  out.detail = found.empty() ? note : join(found, "; ");
  return {};
}

// "5d 3h", "3h 20m", "45m", "12s".
std::string human_age(int64_t ms) {
  const int64_t s = ms / 1000, d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
  if (d) return std::to_string(d) + "d" + (h ? " " + std::to_string(h) + "h" : "");
  if (h) return std::to_string(h) + "h" + (m ? " " + std::to_string(m) + "m" : "");
  if (m) return std::to_string(m) + "m";
  return std::to_string(s) + "s";
}

// The newest value as an instant: a naive timestamp (and a date, from its midnight) is read in the
// project's time zone, DuckDB's session zone.
Result<void> check_freshness(const Rule& rule, CheckResult& out) {
  Statement s;
  s.sql =
      "SELECT CAST(max(" + rule.column() + ") AS VARCHAR), epoch_ms(CAST(max(" + rule.column() + ") AS TIMESTAMPTZ)) FROM " + rule.table();
  auto row = rule.first_row(s);
  if (!row) return fail(row.error());
  const auto at = as_count((*row)[1]);
  if (!at) {
    out.passed = false;
    out.failing = 1;
    out.detail = "no values";
    return {};
  }
  const std::string newest = (*row)[0].is_string() ? (*row)[0].get<std::string>() : "";
  const int64_t age = std::max<int64_t>(0, rule.context.now_ms - *at);
  out.passed = age <= rule.spec.max_age_ms;
  out.failing = out.passed ? 0 : 1;
  out.detail = "newest value " + newest + " is " + human_age(age) + " old" +
               (out.passed ? "" : ", at most " + human_age(rule.spec.max_age_ms) + " allowed");
  if (!out.passed) out.samples = {newest};
  return {};
}

// DuckDB's names of the expected types ("INT" is INTEGER), read from a prepared statement.
Result<std::vector<std::string>> canonical_types(const Engine& engine, const std::vector<std::pair<std::string, std::string>>& columns) {
  std::string sql = "SELECT ";
  for (size_t i = 0; i < columns.size(); ++i) sql += (i ? ", " : "") + std::string("CAST(NULL AS ") + columns[i].second + ")";
  return engine.pool().run<std::vector<std::string>>(engine.query_timeout(), [&](Connection& c) -> Result<std::vector<std::string>> {
    auto prepared = c.prepare(sql);
    if (!prepared) return fail(prepared.error());
    std::vector<std::string> out;
    for (const auto& col : prepared->columns()) out.push_back(col.type);
    return out;
  });
}

// Missing columns and other types at the rule's severity; extra columns as `extra` says.
Result<void> check_schema(const Rule& rule, CheckResult& out) {
  auto types = canonical_types(rule.engine, rule.spec.schema);
  if (!types) return fail(types.error());
  std::vector<std::string> drift, extra;
  for (size_t i = 0; i < rule.spec.schema.size(); ++i) {
    const std::string& name = rule.spec.schema[i].first;
    const ColumnInfo* c = rule.relation.column(name);
    if (!c)
      drift.push_back("missing column " + name);
    else if (c->type != (*types)[i])
      drift.push_back(name + " is " + c->type + ", expected " + (*types)[i]);
  }
  if (rule.spec.extra != config::ExtraColumns::Allow)
    for (const auto& c : rule.relation.columns)
      if (std::none_of(rule.spec.schema.begin(), rule.spec.schema.end(), [&](const auto& e) { return e.first == c.name; }))
        extra.push_back("extra column " + c.name);
  if (!extra.empty() && rule.spec.extra == config::ExtraColumns::Error)
    out.severity = CheckSeverity::Error;
  else if (drift.empty() && !extra.empty())
    out.severity = CheckSeverity::Warn;
  drift.insert(drift.end(), extra.begin(), extra.end());
  out.failing = static_cast<int64_t>(drift.size());
  out.passed = drift.empty();
  out.detail = out.passed ? "as expected" : join(drift, "; ");
  for (size_t i = 0; i < drift.size() && i < kSamples; ++i) out.samples.push_back(drift[i]);
  return {};
}

using Runner = Result<void> (*)(const Rule&, CheckResult&);
Runner runner_of(CheckKind kind) {
  static const std::map<CheckKind, Runner> runners = {
      {CheckKind::NotNull, check_not_null},    {CheckKind::Unique, check_unique}, {CheckKind::AcceptedValues, check_accepted_values},
      {CheckKind::Range, check_range},         {CheckKind::Regex, check_regex},   {CheckKind::RowCount, check_row_count},
      {CheckKind::Freshness, check_freshness}, {CheckKind::Schema, check_schema},
  };
  return runners.at(kind);
}

bool over_rows(CheckKind kind) {
  return kind != CheckKind::RowCount && kind != CheckKind::Freshness && kind != CheckKind::Schema;
}

// --- validation -------------------------------------------------------------------------------

class Validator {
 public:
  Validator(const Engine& engine, std::vector<Diagnostic>& out) : engine_(engine), out_(out) {}

  void rule(const Relation& relation, const CheckSpec& spec) {
    bool columns_known = true;
    for (size_t i = 0; i < spec.columns.size(); ++i)
      columns_known = known_column(relation, spec.columns[i], spec.column_pos[i]) && columns_known;
    if (!columns_known) return;
    if (spec.kind == CheckKind::AcceptedValues) values(relation, spec, spec.values, spec.value_pos);
    if (spec.kind == CheckKind::Range) range(relation, spec);
    if (spec.kind == CheckKind::Regex) pattern(spec);
    if (spec.kind == CheckKind::Freshness) time_column(relation, spec);
    if (spec.kind == CheckKind::Schema) types(spec);
  }

 private:
  void error(const config::Position& pos, std::string message, std::string hint = {}) {
    out_.push_back({Diagnostic::Severity::Error, pos, std::move(message), std::move(hint)});
  }

  bool known_column(const Relation& relation, const std::string& name, const config::Position& pos) {
    if (relation.column(name)) return true;
    std::string best;
    size_t best_d = 3;
    for (const auto& c : relation.columns)
      if (size_t d = config::edit_distance(name, c.name); d < best_d) best_d = d, best = c.name;
    error(pos, "source '" + relation.name + "' has no column '" + name + "'",
          best.empty() ? "its columns: " + relation.column_list() : "did you mean '" + best + "'?");
    return false;
  }

  // Each value must convert to the column's type: TRY_CAST answers NULL where it does not.
  bool values(const Relation& relation, const CheckSpec& spec, const std::vector<std::string>& vals,
              const std::vector<config::Position>& pos) {
    const Rule rule{engine_, relation, spec, context_};
    Statement s;
    s.sql = "SELECT [";
    for (size_t i = 0; i < vals.size(); ++i)
      s.sql += (i ? ", " : "") + std::string("TRY_CAST(") + s.bind(vals[i]) + " AS " + rule.type() + ") IS NULL";
    s.sql += "]";
    auto row = first_row(engine_, s);
    if (!row) return error(spec.pos, "the values of '" + spec.text + "' could not be checked: " + row.error().for_author()), false;
    bool ok = true;
    for (size_t i = 0; i < vals.size(); ++i) {
      if ((*row)[0][i] != true) continue;
      error(pos[i], "'" + vals[i].substr(0, 64) + "' is not a value of column '" + spec.columns[0] + "' (" + rule.type() + ")");
      ok = false;
    }
    return ok;
  }
  void range(const Relation& relation, const CheckSpec& spec) {
    std::vector<std::string> vals;
    std::vector<config::Position> pos;
    if (spec.min) vals.push_back(*spec.min), pos.push_back(spec.min_pos);
    if (spec.max) vals.push_back(*spec.max), pos.push_back(spec.max_pos);
    if (!values(relation, spec, vals, pos) || vals.size() < 2) return;
    const Rule rule{engine_, relation, spec, context_};
    Statement s;
    s.sql = "SELECT " + s.value(*spec.min, rule.type()) + " > " + s.value(*spec.max, rule.type());
    if (auto row = first_row(engine_, s); row && (*row)[0] == true)
      error(spec.min_pos, "the range of '" + spec.text + "' has its min above its max");
  }

  void pattern(const CheckSpec& spec) {
    Statement s;
    s.sql = "SELECT regexp_full_match('', " + quote_literal(spec.pattern) + ")";
    if (auto row = first_row(engine_, s); !row) {
      const std::string why = row.error().for_author();
      error(spec.pattern_pos,
            "'" + spec.pattern.substr(0, 64) +
                "' is not a regular expression: " + why.substr(why.find(": ") == std::string::npos ? 0 : why.find(": ") + 2),
            "the syntax is RE2's (DuckDB's regexp_full_match); the pattern must match the whole value");
    }
  }

  void time_column(const Relation& relation, const CheckSpec& spec) {
    const ColumnInfo* c = relation.column(spec.columns[0]);
    const ValueKind kind = value_kind(c->type);
    if (kind != ValueKind::Date && kind != ValueKind::Timestamp)
      error(spec.column_pos[0], "freshness needs a date or timestamp column; '" + c->name + "' is " + c->type,
            "cast it under types: of the source, or name another column");
  }

  void types(const CheckSpec& spec) {
    for (size_t i = 0; i < spec.schema.size(); ++i)
      if (auto known = canonical_types(engine_, {spec.schema[i]}); !known)
        error(spec.schema_pos[i], "'" + spec.schema[i].second + "' is not a type DuckDB knows",
              "e.g. BIGINT, VARCHAR, DATE, DECIMAL(10,2), TIMESTAMPTZ");
  }

  const Engine& engine_;
  std::vector<Diagnostic>& out_;
  CheckContext context_;
};

}  // namespace

const char* check_severity_name(CheckSeverity severity) {
  return severity == CheckSeverity::Error ? "error" : "warn";
}

std::string CheckResult::failure_text(bool with_samples) const {
  if (!ran) return "check '" + rule + "' could not run: " + detail.substr(0, detail.find('\n'));
  if (!over_rows(kind)) return "check '" + rule + "' failed: " + detail;
  std::string text = "check '" + rule + "' failed: " + std::to_string(failing) + (failing == 1 ? " row" : " rows");
  if (!with_samples || samples.empty()) return text;
  std::vector<std::string> quoted;
  for (const auto& s : samples) quoted.push_back("'" + s.substr(0, 80) + "'");
  return text + "; e.g. " + join(quoted, ", ");
}

int SourceChecks::failing(CheckSeverity severity) const {
  return static_cast<int>(
      std::count_if(results.begin(), results.end(), [&](const CheckResult& r) { return !r.passed && r.severity == severity; }));
}

std::vector<Diagnostic> validate_checks(const config::Project& project, const Engine& engine) {
  std::vector<Diagnostic> out;
  Validator validator(engine, out);
  for (const auto& source : project.sources) {
    const Relation* relation = engine.relation(source.name);
    if (!relation) continue;
    for (const auto& spec : source.checks) validator.rule(*relation, spec);
  }
  return out;
}

SourceChecks run_checks(const Engine& engine, const config::SourceSpec& source, const CheckContext& context) {
  SourceChecks out{source.name, checks_recipe(source), {}};
  const Relation* relation = engine.relation(source.name);
  for (const auto& spec : source.checks) {
    CheckResult r{.rule = spec.text, .kind = spec.kind, .severity = spec.severity, .pos = spec.pos, .ran_at_ms = context.now_ms};
    Result<void> ran = relation ? runner_of(spec.kind)(Rule{engine, *relation, spec, context}, r)
                                : fail(ErrorKind::SourceFailed, "source '" + source.name + "' is not loaded");
    if (!ran) {
      r.ran = r.passed = false;
      r.failing = 0;
      r.samples.clear();
      r.detail = ran.error().for_author();
    }
    out.results.push_back(std::move(r));
  }
  return out;
}

std::string checks_recipe(const config::SourceSpec& source) {
  json all = json::array();
  for (const auto& c : source.checks) {
    json values = c.values, schema = json::array();
    for (const auto& [name, type] : c.schema) schema.push_back({name, type});
    all.push_back({c.text, int(c.kind), int(c.severity), c.columns, values, c.min.value_or("\x01"), c.max.value_or("\x01"), c.pattern,
                   c.min_rows.value_or(-1), c.max_rows.value_or(-1), c.max_change.value_or(-1), c.max_age_ms, schema, int(c.extra),
                   c.pos.file, c.pos.line, c.pos.column});
  }
  return all.dump();
}

std::optional<int64_t> count_rows(const Engine& engine, const std::string& relation) {
  if (auto rows = engine.freshness(relation).rows) return rows;
  Statement s;
  s.sql = "SELECT count(*) FROM " + quote_identifier(relation);
  auto row = first_row(engine, s);
  return row ? as_count((*row)[0]) : std::nullopt;
}

}  // namespace sightline::engine
