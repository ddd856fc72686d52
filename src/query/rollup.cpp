#include "query/rollup.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <cmath>

#include "arrow/json_writer.h"
#include "engine/result_rows.h"
#include "engine/source_files.h"
#include "engine/zone_timeline.h"
#include "query/rollup_internal.h"
#include "query/rollup_lattice.h"
#include "query/top_values.h"

namespace sightline::query {
using engine::quote_identifier;

namespace {

struct Token {
  enum Kind { Ident, QuotedIdent, Number, Op, LParen, RParen, Comma, Star, End, Bad } kind;
  std::string text;
};

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      std::string word(s.substr(i, j - i));
      std::transform(word.begin(), word.end(), word.begin(), ::tolower);
      out.push_back({Token::Ident, word});
      i = j;
    } else if (c == '"') {
      size_t j = i + 1;
      std::string name;
      while (j < s.size()) {
        if (s[j] == '"' && j + 1 < s.size() && s[j + 1] == '"')
          name += '"', j += 2;
        else if (s[j] == '"')
          break;
        else
          name += s[j++];
      }
      if (j >= s.size()) return {{Token::Bad, ""}};
      out.push_back({Token::QuotedIdent, name});
      i = j + 1;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
      out.push_back({Token::Number, std::string(s.substr(i, j - i))});
      i = j;
    } else if (c == '(')
      out.push_back({Token::LParen, "("}), ++i;
    else if (c == ')')
      out.push_back({Token::RParen, ")"}), ++i;
    else if (c == ',')
      out.push_back({Token::Comma, ","}), ++i;
    else if (c == '*')
      out.push_back({Token::Star, "*"}), ++i;
    else if (c == '+' || c == '-' || c == '/' || c == '%')
      out.push_back({Token::Op, std::string(1, c)}), ++i;
    else
      return {{Token::Bad, std::string(1, c)}};
  }
  out.push_back({Token::End, ""});
  return out;
}

bool is_aggregate(const std::string& f) {
  return f == "sum" || f == "count" || f == "min" || f == "max" || f == "avg";
}
// Scalar functions that may wrap aggregate results and keep the measure decomposable.
bool is_scalar_wrapper(const std::string& f) {
  return f == "coalesce" || f == "nullif" || f == "round" || f == "abs" || f == "greatest" || f == "least";
}

// Walks the tokens; for each aggregate call, `on_call(index of function token, call)` decides
// what to emit. Returns false when the expression is not decomposable.
template <class OnCall, class OnToken>
bool walk(const std::vector<Token>& t, OnCall on_call, OnToken on_token) {
  int depth_in_aggregate = 0;
  for (size_t i = 0; i < t.size() && t[i].kind != Token::End; ++i) {
    const Token& tok = t[i];
    if (tok.kind == Token::Bad || tok.kind == Token::QuotedIdent) return false;  // a bare column outside an aggregate
    if (tok.kind == Token::Ident) {
      bool call = t[i + 1].kind == Token::LParen;
      if (!call) return false;  // bare column, keyword (DISTINCT, FILTER, CASE ...), or cast syntax
      if (is_aggregate(tok.text)) {
        if (depth_in_aggregate) return false;
        const Token& arg = t[i + 2];
        // count(DISTINCT column): exact from per-group bitmaps of the column's value codes.
        if (tok.text == "count" && arg.kind == Token::Ident && arg.text == "distinct" &&
            (t[i + 3].kind == Token::Ident || t[i + 3].kind == Token::QuotedIdent) && t[i + 4].kind == Token::RParen) {
          on_call(AggregateCall{"count_distinct", t[i + 3].text});
          i += 4;
          continue;
        }
        // Otherwise exactly one of: f(*) for count, f(column), f("column").
        if (t[i + 3].kind != Token::RParen) return false;
        AggregateCall c{tok.text, ""};
        if (arg.kind == Token::Star) {
          if (tok.text != "count") return false;
        } else if (arg.kind == Token::Ident || arg.kind == Token::QuotedIdent) {
          if (arg.kind == Token::Ident && (arg.text == "distinct" || arg.text == "all")) return false;
          c.column = arg.text;
        } else {
          return false;
        }
        on_call(c);
        i += 3;
        continue;
      }
      if (!is_scalar_wrapper(tok.text)) return false;
      on_token(tok);
      continue;
    }
    on_token(tok);
  }
  return true;
}

std::string stored_name(const AggregateCall& c) {
  if (c.function == "count" && c.column.empty()) return "count_star";
  if (c.function == "count_distinct") return "distinct__" + c.column;
  return c.function + "__" + c.column;
}


std::vector<AggregateCall> stored_for(const AggregateCall& c) {
  if (c.function == "avg") return {{"sum", c.column}, {"count", c.column}};
  return {c};
}

}  // namespace

std::optional<std::vector<AggregateCall>> decompose_measure(std::string_view expr) {
  auto tokens = tokenize(expr);
  std::vector<AggregateCall> calls;
  bool ok = walk(
      tokens, [&](const AggregateCall& c) { calls.push_back(c); }, [](const Token&) {});
  if (!ok || calls.empty()) return std::nullopt;
  return calls;
}

std::optional<AggregateCall> single_aggregate(std::string_view expr) {
  std::vector<AggregateCall> calls;
  bool other = false;
  bool ok = walk(
      tokenize(expr), [&](const AggregateCall& c) { calls.push_back(c); }, [&](const Token&) { other = true; });
  if (!ok || other || calls.size() != 1) return std::nullopt;
  return calls[0];
}

std::optional<std::string> Rollup::rewrite(std::string_view expr) const {
  auto tokens = tokenize(expr);
  std::string out;
  bool missing = false;
  auto has = [&](const AggregateCall& c) { return aggregates.count(c) > 0; };
  bool ok = walk(
      tokens,
      [&](const AggregateCall& c) {
        for (const auto& need : stored_for(c))
          if (!has(need)) missing = true;
        if (missing) return;
        std::string piece;
        if (c.function == "sum")
          piece = "sum(" + quote_identifier(stored_name(c)) + ")";
        else if (c.function == "count")
          piece = "coalesce(CAST(sum(" + quote_identifier(stored_name(c)) + ") AS BIGINT), 0)";
        else if (c.function == "min" || c.function == "max")
          piece = c.function + "(" + quote_identifier(stored_name(c)) + ")";
        else if (c.function == "count_distinct")
          piece = "sightline_bitmap_count(" + quote_identifier(stored_name(c)) + ")";
        else if (c.function == "avg")
          piece = "(CAST(sum(" + quote_identifier(stored_name({"sum", c.column})) + ") AS DOUBLE) / nullif(sum(" +
                  quote_identifier(stored_name({"count", c.column})) + "), 0))";
        out += " " + piece;
      },
      [&](const Token& t) { out += " " + t.text; });
  if (!ok || missing) return std::nullopt;
  auto type = measure_types.find(std::string(expr));
  if (type != measure_types.end() && type->second != "LIST" && type->second != "STRUCT" && type->second != "MAP")
    return "CAST((" + out + ") AS " + type->second + ")";
  return out;
}

std::string Rollup::key_sql(const engine::Relation& rel, const std::string& c, Grain g) {
  const std::string col = quote_identifier(c);
  if (g == Grain::Exact) return col;
  if (g == Grain::Bins) return rel.bins_of(c)->key_sql(col);
  const std::string& type = rel.column(c)->type;
  if (type == "TIMESTAMP WITH TIME ZONE") return engine::local_trunc_sql(*engine::calendar_unit(grain_name(g)), col);
  return "CAST(date_trunc('" + std::string(grain_name(g)) + "', " + col + ") AS " + type + ")";
}

std::string Rollup::rows_with_codes_sql(const std::string& rows, const std::string& alias, const std::map<std::string, std::string>& code_tables) {
  if (code_tables.empty()) return rows + " AS " + quote_identifier(alias);
  std::string joins, codes;
  int n = 0;
  for (const auto& [column, table] : code_tables) {
    std::string c = "c" + std::to_string(n++) + "_";
    codes += ", " + c + ".code AS " + quote_identifier("__code__" + column);
    joins += " LEFT JOIN " + quote_identifier(table) + " AS " + c + " ON r_." + quote_identifier(column) + " = " + c + ".v";
  }
  return "(SELECT r_.*" + codes + " FROM " + rows + " AS r_" + joins + ") AS " + quote_identifier(alias);
}

std::string Rollup::stored_column(const AggregateCall& call) {
  return quote_identifier(stored_name(call));
}

std::string Rollup::reaggregate_sql(const AggregateCall& c) {
  const std::string stored = quote_identifier(stored_name(c));
  if (c.function == "count_distinct") return "sightline_bitmap_union(" + stored + ")";
  if (c.function == "min" || c.function == "max") return c.function + "(" + stored + ")";
  return "sum(" + stored + ")";  // sum, count(*), count(x)
}

std::string Rollup::aggregate_sql(const AggregateCall& a) {
  if (a.column.empty()) return "count(*)";
  if (a.function == "count_distinct") return "sightline_bitmap(" + quote_identifier("__code__" + a.column) + ")";
  return a.function + "(" + quote_identifier(a.column) + ")";
}

const Rollup* Rollups::match(const std::string& relation, const std::map<std::string, Grain>& needs,
                             const std::vector<std::string>& measures) const {
  const Rollup* best = nullptr;
  for (const auto& r : rollups_) {
    if (r.relation != relation) continue;
    bool holds = std::all_of(needs.begin(), needs.end(),
                             [&](const auto& need) { return r.columns.count(need.first) > 0 && r.grain_of(need.first) <= need.second; });
    if (!holds) continue;
    bool all = std::all_of(measures.begin(), measures.end(), [&](const std::string& m) { return r.rewrite(m).has_value(); });
    if (all && (!best || r.rows < best->rows)) best = &r;
  }
  return best;
}

const Rollup* Rollups::match_with_groups(const std::string& relation, const std::map<std::string, Grain>& needs,
                                         const std::vector<std::string>& measures, int64_t min_rows) const {
  const Rollup* best = nullptr;
  for (const auto& r : rollups_) {
    if (r.relation != relation) continue;
    if (!std::all_of(needs.begin(), needs.end(),
                     [&](const auto& need) { return r.columns.count(need.first) > 0 && r.grain_of(need.first) <= need.second; }))
      continue;
    if (!std::all_of(measures.begin(), measures.end(), [&](const std::string& m) { return r.rewrite(m).has_value(); })) continue;
    const bool enough = r.rows >= min_rows, best_enough = best && best->rows >= min_rows;
    if (!best || (enough && (!best_enough || r.rows < best->rows)) || (!enough && !best_enough && r.rows > best->rows)) best = &r;
  }
  return best;
}

namespace detail {

Result<nlohmann::json> query_rows(const engine::Engine& engine, const std::string& sql) {
  auto out =
      engine.pool().run<engine::QueryOutput>(std::chrono::minutes(10), [&](engine::Connection& c) { return c.query(sql, 1'000'000); });
  if (!out) return fail(out.error());
  auto text = arrow::write_json_rows(out->table);
  if (!text) return fail(text.error());
  return nlohmann::json::parse(*text)["rows"];
}

Result<void> exec(const engine::Engine& engine, const std::string& sql) {
  auto r = engine.pool().run<int>(std::chrono::minutes(10), [&](engine::Connection& c) -> Result<int> {
    auto done = c.execute(sql);
    if (!done) return fail(done.error());
    return 0;
  });
  if (!r) return fail(r.error());
  return {};
}

// The columns of `rel` among `columns` that hold a different, non-NULL value in every row: a
// table page's tie-breakers stop at the first of them (query/plan_table.cpp). Whole numbers,
// dates, timestamps and text whose estimated distinct count is at least half the row count are
// counted exactly, at most two of them (the estimate rules out the rest in one pass).
std::set<std::string> find_unique_columns(const engine::Engine& engine, const engine::Relation& rel, const std::vector<std::string>& columns) {
  std::vector<std::string> candidates;
  for (const auto& c : columns) {
    const engine::ColumnInfo* info = rel.column(c);
    if (!info || info->dictionary) continue;  // an ENUM repeats its values
    const engine::ValueKind kind = engine::value_kind(info->type);
    if (kind == engine::ValueKind::Integer || kind == engine::ValueKind::Date || kind == engine::ValueKind::Timestamp ||
        (kind == engine::ValueKind::Text && info->type == "VARCHAR"))
      if (std::find(candidates.begin(), candidates.end(), c) == candidates.end()) candidates.push_back(c);
  }
  std::set<std::string> unique;
  if (candidates.empty()) return unique;
  std::string estimate = "SELECT count(*)";
  for (const auto& c : candidates) estimate += ", approx_count_distinct(" + quote_identifier(c) + ")";
  auto estimated = query_rows(engine, estimate + " FROM " + quote_identifier(rel.name));
  if (!estimated || estimated->empty()) return unique;
  const auto& row = (*estimated)[0];
  const double rows = static_cast<double>(engine::as_count(row[0]).value_or(0));
  int checked = 0;
  for (size_t i = 0; i < candidates.size() && checked < 2; ++i) {
    // DuckDB's estimate is low by 10% for 10M distinct values: a wide margin.
    if (static_cast<double>(engine::as_count(row[i + 1]).value_or(0)) < 0.5 * rows) continue;
    ++checked;
    const std::string col = quote_identifier(candidates[i]);
    auto exact = query_rows(engine, "SELECT count(DISTINCT " + col + ") = count(*) FROM " + quote_identifier(rel.name));
    if (exact && !exact->empty() && (*exact)[0][0] == true) unique.insert(candidates[i]);
  }
  return unique;
}

std::string random_build_id() {
  std::random_device entropy;
  char id[17];
  std::snprintf(id, sizeof id, "%08x%08x", entropy(), entropy());
  return id;
}

}  // namespace detail

namespace {

using detail::exec;
using detail::find_unique_columns;
using detail::query_rows;

// The 64-bit type each sum of `aggregates` can be kept in exactly, by column: BIGINT for whole
// numbers, DECIMAL(18, s) for decimals, when the sum of the column's absolute values fits (so
// every group's sum does). DuckDB sums them as 128-bit numbers, which its storage compresses
// poorly: scanning a rollup kept in a state file was ~20x slower with them. Queries sum the
// stored sums again, and the rewritten measure is cast to the type the rows would give, so
// answers are the same. Columns whose bound cannot be read are left as they are.
std::map<std::string, std::string> narrow_sum_types(const engine::Engine& engine, const engine::Relation& rel,
                                                    const std::set<AggregateCall>& aggregates) {
  std::vector<std::pair<std::string, int>> columns;  // column, decimal scale (0: whole numbers)
  std::string sql;
  static const std::regex decimal(R"(DECIMAL\((\d+),\s*(\d+)\))");
  for (const auto& a : aggregates) {
    if (a.function != "sum" && a.function != "avg") continue;
    const engine::ColumnInfo* c = rel.column(a.column);
    if (!c || std::any_of(columns.begin(), columns.end(), [&](const auto& x) { return x.first == a.column; })) continue;
    std::smatch m;
    int scale = -1;
    if (engine::value_kind(c->type) == engine::ValueKind::Integer && c->type != "HUGEINT" && c->type != "UHUGEINT")
      scale = 0;
    else if (std::regex_match(c->type, m, decimal) && std::stoi(m[1]) <= 18)
      scale = std::stoi(m[2]);
    if (scale < 0) continue;
    columns.emplace_back(a.column, scale);
    sql += (sql.empty() ? "SELECT " : ", ") + std::string("sum(abs(CAST(") + quote_identifier(a.column) + " AS DOUBLE)))";
  }
  std::map<std::string, std::string> out;
  if (columns.empty()) return out;
  auto bounds = query_rows(engine, sql + " FROM " + quote_identifier(rel.name));
  if (!bounds || bounds->empty()) return out;
  for (size_t i = 0; i < columns.size(); ++i) {
    const auto& v = (*bounds)[0][i];
    const double bound = v.is_number() ? v.get<double>() : v.is_null() ? 0.0 : -1.0;
    const auto& [column, scale] = columns[i];
    // Below 2^63 and 10^18 with a margin far beyond the rounding of a double sum.
    if (bound < 0 || bound * std::pow(10.0, scale) >= 9.0e17) continue;
    out[column] = scale == 0 ? "BIGINT" : "DECIMAL(18, " + std::to_string(scale) + ")";
  }
  return out;
}

// The grains a rollup may keep each column at, by column (only the columns a rollup can hold).
using AdmissibleGrains = std::map<std::string, std::vector<Grain>>;

// The grain a rollup keeps `column` at to answer a need of grain `need`: the coarsest admissible
// one at `need` or finer; nullopt when none is.
std::optional<Grain> kept_grain_for(const AdmissibleGrains& admissible, const std::string& column, Grain need) {
  auto it = admissible.find(column);
  if (it == admissible.end()) return std::nullopt;
  std::optional<Grain> best;
  for (Grain g : it->second)
    if (g <= need && (!best || g > *best)) best = g;
  return best;
}


// What the widgets of dashboard `d` ask of `rel`, as lattice queries: per widget that a rollup
// can answer, its own columns plus every subset of the optional filters (the dashboard's filters,
// each active with some probability, and cross-filter selections on its dimensions, less often),
// weighted by that subset's probability. Filters on columns no rollup can hold (a text search on
// addresses, a range on an unbinned float) are left out: whichever rollups are built, a state
// with them reads the rows, so they do not change the choice.
std::vector<LatticeQuery> dashboard_workload(const config::DashboardSpec& d, const engine::Relation& rel,
                                             const AdmissibleGrains& admissible) {
  // How often each kind of filter is set (a prior: date ranges most, then choices, ranges and
  // searches; a filter with a default mostly keeps it), and each cross-filter selection.
  auto active = [](const config::FilterSpec& f) {
    if (!f.default_value.is_null()) return 0.7;
    switch (f.type) {
      case config::FilterType::DateRange: return 0.6;
      case config::FilterType::Range: return 0.2;
      case config::FilterType::Text: return 0.15;
      default: return 0.3;
    }
  };
  constexpr double kSelectionActive = 0.1;
  constexpr size_t kMaxOptional = 10;
  struct Optional {
    std::string column;
    Grain grain;
    double p;
    bool date_range = false;
  };
  std::vector<Optional> optional;
  auto add_optional = [&](const std::string& column, Grain need, double p, bool date_range = false) {
    auto kept = kept_grain_for(admissible, column, need);
    if (!kept) return;
    for (auto& o : optional)
      if (o.column == column) {  // a filter and a selection on one column: either makes it needed
        o.grain = std::min(o.grain, *kept);
        o.p = 1 - (1 - o.p) * (1 - p);
        o.date_range = o.date_range || date_range;
        return;
      }
    optional.push_back({column, *kept, p, date_range});
  };
  auto is_time = [&](const std::string& column) {
    const auto* c = rel.column(column);
    if (!c) return false;
    auto kind = engine::value_kind(c->type);
    return kind == engine::ValueKind::Date || kind == engine::ValueKind::Timestamp;
  };
  for (const auto& f : d.filters) {
    const double p = active(f);
    if (f.type == config::FilterType::DateRange)
      add_optional(f.column, Grain::Day, p, true);
    else if (f.type == config::FilterType::Range)
      add_optional(f.column, rel.bins_of(f.column) ? Grain::Bins : Grain::Exact, p);
    else
      add_optional(f.column, Grain::Exact, p);
  }
  for (const auto& dim : d.dimensions)  // a brushed time axis selects days, a brushed histogram bins
    add_optional(dim, is_time(dim) ? Grain::Day : rel.bins_of(dim) ? Grain::Bins : Grain::Exact, kSelectionActive);
  std::sort(optional.begin(), optional.end(), [](const Optional& a, const Optional& b) { return a.p > b.p; });
  if (optional.size() > kMaxOptional) optional.resize(kMaxOptional);

  std::vector<LatticeQuery> out;
  for (const auto& page : d.pages)
    for (const auto& w : page.widgets) {
      if (!w.sql.empty() || (!w.source.empty() && w.source != d.source)) continue;
      double weight = 1;
      ColumnGrains base;
      bool answerable = true;
      auto need = [&](const std::string& column, Grain g) {
        auto kept = kept_grain_for(admissible, column, g);
        if (!kept) {
          answerable = false;
          return;
        }
        auto [it, fresh] = base.emplace(column, *kept);
        if (!fresh) it->second = std::min(it->second, *kept);
      };
      switch (w.type) {
        case config::WidgetType::Kpi:
          break;
        case config::WidgetType::Histogram:
          if (!w.x || !rel.bins_of(w.x->column)) answerable = false;
          else need(w.x->column, Grain::Bins);
          break;
        case config::WidgetType::Table:
          if (w.measures.empty()) {
            weight = 0.5;  // only the bound of its first page reads a rollup (its per-group extremes)
          } else {
            for (const auto& c : w.columns) need(c.column, need_of_dimension(c.grain));
          }
          break;
        case config::WidgetType::Scatter:
        case config::WidgetType::Text:
          answerable = false;
          break;
        default:
          for (const auto* dim : {&w.x, &w.y_dim, &w.color})
            if (*dim) need((*dim)->column, need_of_dimension((*dim)->grain));
      }
      bool distinct = false;
      for (const auto& m : w.measures) {
        auto calls = decompose_measure(m.expr);
        answerable = answerable && calls.has_value();
        if (calls)
          for (const auto& c : *calls) {
            answerable = answerable && (c.column.empty() || rel.column(c.column));
            distinct = distinct || c.function == "count_distinct";
          }
      }
      if (!answerable) continue;
      // A distinct count merges a bitmap per rollup row read, where other measures add numbers:
      // rides at 10M rows, 42,000 rows of a day rollup took 44-71 ms for a distinct count and ~3 ms
      // for a count. The lattice weighs rows read, so such a widget's questions weigh as many
      // times more, and small rollups for them pay off.
      constexpr double kDistinctRowCost = 16;
      if (distinct) weight *= kDistinctRowCost;
      for (size_t mask = 0; mask < (size_t{1} << optional.size()); ++mask) {
        ColumnGrains needs = base;
        double p = weight;
        std::string split_column;
        for (size_t i = 0; i < optional.size(); ++i) {
          if (!(mask & (size_t{1} << i))) {
            p *= 1 - optional[i].p;
            continue;
          }
          p *= optional[i].p;
          auto shown = base.find(optional[i].column);
          // A date range over a column the widget does not show by the day can be split into months and days.
          if (optional[i].date_range && (shown == base.end() || shown->second >= Grain::Month)) split_column = optional[i].column;
          auto [it, fresh] = needs.emplace(optional[i].column, optional[i].grain);
          if (!fresh) it->second = std::min(it->second, optional[i].grain);
        }
        out.push_back({std::move(needs), p, std::move(split_column)});
      }
    }
  return out;
}

}  // namespace

Rollups::~Rollups() {
  if (!engine_) return;
  if (claimed_) {
    engine_->release_tables(tables());
    return;
  }
  for (const auto& r : rollups_) (void)exec(*engine_, "DROP TABLE IF EXISTS " + quote_identifier(r.table));
  for (const auto& [key, table] : value_tables_) (void)exec(*engine_, "DROP TABLE IF EXISTS " + quote_identifier(table));
  for (const auto& table : code_tables_) (void)exec(*engine_, "DROP TABLE IF EXISTS " + quote_identifier(table));
  for (const auto& [relation, table] : sample_tables_) (void)exec(*engine_, "DROP TABLE IF EXISTS " + quote_identifier(table));
  for (const auto& [key, top] : top_values_)
    for (const auto* table : {&top->rows_table, &top->codes_table}) (void)exec(*engine_, "DROP TABLE IF EXISTS " + quote_identifier(*table));
}

const TopValues* Rollups::top_values(const std::string& relation, const std::string& column) const {
  auto it = top_values_.find({relation, column});
  return it == top_values_.end() ? nullptr : it->second.get();
}

int64_t Rollups::relation_rows(const std::string& relation) const {
  int64_t rows = 0;
  for (const auto& r : rollups_)
    if (r.relation == relation) rows = std::max(rows, r.source_rows);
  return rows;
}

const std::string* Rollups::value_table(const std::string& relation, const std::string& column) const {
  auto it = value_tables_.find({relation, column});
  return it == value_tables_.end() ? nullptr : &it->second;
}

const std::set<std::string>& Rollups::unique_columns(const std::string& relation) const {
  static const std::set<std::string> none;
  auto it = unique_columns_.find(relation);
  return it == unique_columns_.end() ? none : it->second;
}

const std::string* Rollups::sample_table(const std::string& relation) const {
  auto it = sample_tables_.find(relation);
  return it == sample_tables_.end() ? nullptr : &it->second;
}

std::set<std::string> Rollups::stale(const engine::DataVersions& now) const {
  std::set<std::string> out;
  auto check = [&](const std::string& relation) {
    if (built_on_.of(relation) != now.of(relation)) out.insert(relation);
  };
  for (const auto& r : rollups_) check(r.relation);
  for (const auto& [key, table] : value_tables_) check(key.first);
  for (const auto& [relation, table] : sample_tables_) check(relation);
  for (const auto& [key, top] : top_values_) check(key.first);
  return out;
}

std::string Rollups::part_key(const std::string& relation, uint64_t version) const {
  auto texts = part_key_texts_.find(relation);
  if (texts == part_key_texts_.end()) return "";
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(engine::hash_combine(0, texts->second.first + std::to_string(version) + texts->second.second)));
  return hex;
}

std::shared_ptr<const Rollups> Rollups::build(const config::Project& project, std::shared_ptr<const engine::Engine> engine_ptr, Logger& log,
                                              std::shared_ptr<const Rollups> previous, const RollupOptions& options) {
  const engine::Engine& engine = *engine_ptr;
  auto result = std::make_shared<Rollups>();
  result->engine_ = engine_ptr;
  result->built_on_ = engine.data_versions();
  // Table names unique to this build: an older build's tables are dropped when it is released,
  // possibly after this one exists, so names must never be shared between builds.
  result->build_id_ = detail::random_build_id();
  const int64_t kMaxCardinality = options.max_cardinality;
  const int64_t kMinReduction = options.min_reduction;
  const int64_t kMinSourceRows = options.min_source_rows;

  struct Plan {
    const config::DashboardSpec* dashboard;
    const engine::Relation* rel;
    std::set<std::string> candidates;
    std::set<AggregateCall> aggregates;
    std::map<std::string, Grain> time_grains;  // timestamp columns: kept by the day
    std::set<std::string> hourly;              // timestamp columns a chart shows by the hour
  };
  std::vector<Plan> plans;
  for (const auto& d : project.dashboards) {
    const engine::Relation* rel = engine.relation(d.source);
    if (!rel) continue;
    std::set<std::string> candidates;
    std::set<AggregateCall> aggregates = {{"count", ""}};
    auto add_column = [&](const std::string& c) {
      if (rel->column(c)) candidates.insert(c);
    };
    for (const auto& dim : d.dimensions) add_column(dim);
    for (const auto& f : d.filters) add_column(f.column);
    std::map<std::string, Grain> time_grains;
    std::set<std::string> hourly;
    for (const auto& p : d.pages) {
      for (const auto& w : p.widgets) {
        if (!w.sql.empty() || (!w.source.empty() && w.source != d.source)) continue;
        std::vector<const config::DimensionSpec*> shown;
        for (const auto* dim : {&w.x, &w.y_dim, &w.color})
          if (*dim) shown.push_back(&**dim);
        if (w.type == config::WidgetType::Table && !w.measures.empty())  // grouped tables group by their columns
          for (const auto& c : w.columns) shown.push_back(&c);
        for (const auto* dim : shown) {
          add_column(dim->column);
          if (need_of_dimension(dim->grain) == Grain::Hour) hourly.insert(dim->column);
        }
        // Histograms: by the column's fixed bins when it has them (engine/bins.h), else per-group
        // extremes give the bounds of the bins (see planner).
        if (w.type == config::WidgetType::Histogram && w.x && rel->column(w.x->column)) {
          if (rel->bins_of(w.x->column)) {
            add_column(w.x->column);
          } else {
            aggregates.insert({"min", w.x->column});
            aggregates.insert({"max", w.x->column});
          }
        }
        // Tables sorted by a column: per-group extremes bound their first page (see planner).
        // The sort names a result column: `fare` for the column "fare (€)" (config's derived names).
        if (w.type == config::WidgetType::Table && w.measures.empty() && w.sort)
          for (const auto& c : w.columns)
            if (c.name == w.sort->column && c.grain.empty() && rel->column(c.column)) {
              aggregates.insert({"max", c.column});
              aggregates.insert({"min", c.column});
            }
        for (const auto& m : w.measures) {
          auto calls = decompose_measure(m.expr);
          if (!calls) continue;
          for (const auto& c : *calls) {
            if (!c.column.empty() && !rel->column(c.column)) continue;
            for (const auto& s : stored_for(c)) aggregates.insert(s);
          }
        }
      }
    }
    if (candidates.empty()) continue;
    // Timestamps are kept by the day (date filters select whole days, charts truncate to coarser
    // grains), and in rollups of their own by the hour when a chart shows them by the hour.
    for (const auto& c : candidates)
      if (engine::value_kind(rel->column(c)->type) == engine::ValueKind::Timestamp) time_grains[c] = Grain::Day;
    std::erase_if(hourly, [&](const std::string& c) { return !time_grains.count(c); });
    plans.push_back({&d, rel, candidates, aggregates, time_grains, hourly});
  }
  std::string signature;
  std::vector<std::string> plan_signatures;
  for (const auto& p : plans) {
    std::string s = p.rel->name + ":";
    for (const auto& c : p.candidates) s += c + ",";
    for (const auto& [c, g] : p.time_grains) s += c + ":" + grain_name(g) + (p.hourly.count(c) ? "+hour" : "") + ",";
    for (const auto& a : p.aggregates) s += a.function + "(" + a.column + "),";
    for (const auto& f : p.dashboard->filters) s += std::string(config::filter_type_name(f.type)) + ":" + f.column + ",";
    for (const auto& pg : p.dashboard->pages)
      for (const auto& w : pg.widgets)
        for (const auto& m : w.measures) s += m.expr + ";";
    signature += s + "|";
    plan_signatures.push_back(std::move(s));
  }
  if (previous && previous->engine_ == engine_ptr && previous->signature_ == signature && previous->stale(result->built_on_).empty()) {
    if (options.progress) {
      options.progress->dashboards = static_cast<int>(plans.size());
      options.progress->dashboards_done = static_cast<int>(plans.size());
      options.progress->built = static_cast<int>(previous->all().size());
    }
    return previous;
  }
  if (options.progress) options.progress->dashboards = static_cast<int>(plans.size());
  result->signature_ = signature;
  // What a restart must find unchanged to reuse a relation's rollups from the state file: the
  // plans of its dashboards, the settings, its data's version and its bins.
  std::map<std::string, std::string> relation_keys;
  {
    // The version says how rollups are chosen (7: distinct counts weigh more), so a new choice
    // is built rather than an older one adopted.
    const std::string settings = "rollups/7|" + std::to_string(options.min_source_rows) + "," + std::to_string(options.min_reduction) +
                                 "," + std::to_string(options.max_cardinality) + "," + std::to_string(options.sample_rows) + "," +
                                 std::to_string(options.max_rollups) + "," + std::to_string(options.space_budget) + "|" +
                                 project.timezone;
    for (size_t i = 0; i < plans.size(); ++i) {
      const engine::Relation* rel = plans[i].rel;
      auto& [prefix, suffix] = result->part_key_texts_[rel->name];
      if (prefix.empty()) {
        prefix = settings + "|" + rel->name + "@";
        for (const auto& [column, bins] : rel->bins) suffix += ";" + column + ":" + bins.key_sql("x");
      }
      suffix += "|" + plan_signatures[i];
    }
    for (const auto& [relation, text] : result->part_key_texts_) relation_keys[relation] = result->part_key(relation, result->built_on_.of(relation));
  }
  const auto stored = engine.state_file().empty() ? std::map<std::string, std::pair<std::string, std::string>>()
                                                  : stored_parts(engine.stored_rollups().value_or(""));
  std::set<std::string> adopted, building;

  // The plain columns of every dashboard's ungrouped tables, by relation: checked for uniqueness
  // once per relation, whichever dashboard shows them.
  std::map<std::string, std::vector<std::string>> table_columns;
  for (const auto& dash : project.dashboards)
    for (const auto& p : dash.pages)
      for (const auto& w : p.widgets)
        if (w.sql.empty() && (w.source.empty() || w.source == dash.source) && w.type == config::WidgetType::Table && w.measures.empty())
          for (const auto& c : w.columns)
            if (c.grain.empty()) table_columns[dash.source].push_back(c.column);

  for (const auto& plan : plans) {
    // Counted when this dashboard's iteration ends, whichever way it does.
    struct CountDone {
      BuildProgress* progress;
      ~CountDone() {
        if (progress) ++progress->dashboards_done;
      }
    } count_done{options.progress};
    const config::DashboardSpec& d = *plan.dashboard;
    const engine::Relation* rel = plan.rel;
    // A relation's rollups are taken from the state file whole, or all built here.
    if (adopted.count(rel->name)) continue;
    if (!building.count(rel->name)) {
      const std::string& key = relation_keys[rel->name];
      auto part = stored.find(rel->name);
      const size_t before = result->rollups_.size();
      if (part != stored.end() && part->second.first == key && result->adopt(part->second.second, engine)) {
        adopted.insert(rel->name);
        result->part_keys_[rel->name] = key;
        const size_t reused = result->rollups_.size() - before;
        if (options.progress) options.progress->built += static_cast<int>(reused);
        log.info("rollups_reused", {{"source", rel->name}, {"rollups", reused}});
        continue;
      }
      building.insert(rel->name);
      result->part_keys_[rel->name] = key;
    }
    const std::set<std::string>& candidates = plan.candidates;
    const std::set<AggregateCall>& aggregates = plan.aggregates;
    auto key_sql = [&](const std::string& c, Grain g) { return Rollup::key_sql(*rel, c, g); };
    auto base_grain = [&](const std::string& c) {
      if (rel->bins_of(c)) return Grain::Bins;
      auto it = plan.time_grains.find(c);
      return it == plan.time_grains.end() ? Grain::Exact : it->second;
    };
    auto started = std::chrono::steady_clock::now();
    // Cardinalities in one pass (approximate is enough to choose).
    std::string sql = "SELECT count(*)";
    std::vector<std::string> cols(candidates.begin(), candidates.end());
    for (const auto& c : cols) sql += ", approx_count_distinct(" + key_sql(c, base_grain(c)) + ")";
    sql += " FROM " + quote_identifier(rel->name);
    auto stats = query_rows(engine, sql);
    if (!stats) {
      log.warn("rollup_skipped", {{"dashboard", d.id}, {"reason", stats.error().for_author()}});
      continue;
    }
    int64_t source_rows = (*stats)[0][0].get<int64_t>();
    if (source_rows < kMinSourceRows) continue;
    std::vector<std::pair<int64_t, std::string>> by_card;
    for (size_t i = 0; i < cols.size(); ++i) {
      int64_t card = (*stats)[0][i + 1].get<int64_t>();
      auto kind = engine::value_kind(rel->column(cols[i])->type);
      bool time = kind == engine::ValueKind::Date || kind == engine::ValueKind::Timestamp;
      bool groupable = kind != engine::ValueKind::Other && (kind != engine::ValueKind::Float || rel->bins_of(cols[i]));
      if (groupable && (card <= kMaxCardinality || time)) by_card.emplace_back(card, cols[i]);
    }
    std::sort(by_card.begin(), by_card.end());

    // Distinct-value tables for text and select filters: a text search scans thousands of
    // values instead of millions of rows, and option lists come from them.
    constexpr int64_t kMaxValueTableRows = 2'000'000;
    for (const auto& f : d.filters) {
      if (f.type != config::FilterType::Text && f.type != config::FilterType::Select && f.type != config::FilterType::MultiSelect) continue;
      auto at = std::find(cols.begin(), cols.end(), f.column);
      if (at == cols.end() || result->value_table(rel->name, f.column)) continue;
      if ((*stats)[0][1 + (at - cols.begin())].get<int64_t>() > kMaxValueTableRows) continue;
      std::string table = "__sightline_values_" + result->build_id_ + "_" + std::to_string(result->value_tables_.size() + 1);
      // v: each value; n: its rows (so a search knows how many rows its matches select).
      auto made = exec(engine, "CREATE OR REPLACE TABLE " + quote_identifier(table) + " AS SELECT " + quote_identifier(f.column) +
                                   " AS v, count(*) AS n FROM " + quote_identifier(rel->name) + " WHERE " + quote_identifier(f.column) +
                                   " IS NOT NULL GROUP BY ALL ORDER BY v");
      if (made)
        result->value_tables_[{rel->name, f.column}] = table;
      else
        log.warn("value_table_skipped", {{"dashboard", d.id}, {"column", f.column}, {"reason", made.error().for_author()}});
    }

    // The lattice: each column a rollup may hold, at the grains it may keep it (timestamps by the
    // day or month, and by the hour when a chart shows them so; dates as they are or by the month;
    // numbers with fixed bins by their bin; the rest as they are). At most 12 columns besides
    // the dates, the fewest values first.
    AdmissibleGrains admissible;
    std::vector<std::string> dates;  // rollups are ordered by these, so date filters skip row groups
    size_t non_time = 0;
    for (const auto& [card, c] : by_card) {
      auto kind = engine::value_kind(rel->column(c)->type);
      if (kind == engine::ValueKind::Timestamp) {
        dates.push_back(c);
        admissible[c] = plan.hourly.count(c) ? std::vector<Grain>{Grain::Hour, Grain::Day, Grain::Month}
                                             : std::vector<Grain>{Grain::Day, Grain::Month};
      } else if (kind == engine::ValueKind::Date) {
        dates.push_back(c);
        admissible[c] = {Grain::Exact, Grain::Month};
      } else if (non_time++ < 12) {
        admissible[c] = {base_grain(c)};
      }
    }
    const std::vector<LatticeQuery> workload = dashboard_workload(d, *rel, admissible);
    // Group counts: every column at each grain and every pair of columns, in one scan.
    GroupCounts counts(source_rows);
    {
      std::vector<std::pair<std::string, Grain>> levels;
      for (const auto& [c, grains] : admissible)
        for (Grain g : grains) levels.emplace_back(c, g);
      std::string sql = "SELECT count(*)";
      for (const auto& [c, g] : levels) sql += ", approx_count_distinct(" + key_sql(c, g) + ")";
      for (size_t i = 0; i < levels.size(); ++i)
        for (size_t j = i + 1; j < levels.size(); ++j)
          if (levels[i].first != levels[j].first)
            sql += ", approx_count_distinct(hash(" + key_sql(levels[i].first, levels[i].second) + ", " +
                   key_sql(levels[j].first, levels[j].second) + "))";
      auto measured = query_rows(engine, sql + " FROM " + quote_identifier(rel->name));
      if (!measured) {
        log.warn("rollup_skipped", {{"dashboard", d.id}, {"reason", measured.error().for_author()}});
        continue;
      }
      const auto& row = (*measured)[0];
      size_t at = 1;
      for (const auto& [c, g] : levels) counts.set_column(c, g, row[at++].get<int64_t>());
      for (size_t i = 0; i < levels.size(); ++i)
        for (size_t j = i + 1; j < levels.size(); ++j)
          if (levels[i].first != levels[j].first)
            counts.set_pair(levels[i].first, levels[i].second, levels[j].first, levels[j].second, row[at++].get<int64_t>());
    }
    // Choose; then measure the chosen sets whose size matters and choose again with the
    // measurements, until the choice rests on measured sizes (at most three rounds).
    LatticeOptions lattice_options;
    lattice_options.min_reduction = kMinReduction;
    lattice_options.max_rollups = options.max_rollups;
    lattice_options.space_budget = options.space_budget;
    // A month split reads the days around the whole months from the rows (which are ordered by
    // time, so only those days' row groups): about a month's rows in all, on average.
    if (!dates.empty()) {
      const std::string& first = dates.front();
      const int64_t days = counts.estimate({{first, admissible[first].front() == Grain::Hour ? Grain::Day : admissible[first].front()}});
      lattice_options.split_rows = static_cast<double>(source_rows) * std::min(1.0, 30.0 / static_cast<double>(std::max<int64_t>(1, days)));
    }
    std::vector<ChosenRollup> chosen;
    for (int round = 0; round < 3; ++round) {
      chosen = choose_rollups(workload, counts, lattice_options);
      std::vector<ColumnGrains> unmeasured;
      for (const auto& c : chosen)
        if (c.columns.size() > 1 && !counts.measured(c.columns) && c.estimated_rows * kMinReduction * 20 > source_rows)
          unmeasured.push_back(c.columns);
      if (unmeasured.empty()) break;
      std::string sql = "SELECT 0";
      for (const auto& set : unmeasured) {
        std::string tuple;
        for (const auto& [c, g] : set) tuple += (tuple.empty() ? "" : ", ") + key_sql(c, g);
        sql += ", approx_count_distinct(hash(" + tuple + "))";
      }
      auto measured = query_rows(engine, sql + " FROM " + quote_identifier(rel->name));
      if (!measured) break;
      for (size_t i = 0; i < unmeasured.size(); ++i) counts.set_measured(unmeasured[i], (*measured)[0][i + 1].get<int64_t>());
    }
    {
      const LatticeCoverage coverage = lattice_coverage(workload, chosen, source_rows, lattice_options.split_rows);
      log.info("rollups_planned", {{"dashboard", d.id},
                                   {"source", rel->name},
                                   {"columns", admissible.size()},
                                   {"questions", workload.size()},
                                   {"rollups", chosen.size()},
                                   {"answered_share", std::round(coverage.answered * 1000) / 1000},
                                   {"rows_per_question", std::llround(coverage.rows_per_query)}});
    }

    // A uniform sample, made once: scatter plots sample it (far fewer rows to filter per state),
    // deep table pages take their pivots from it (query/table_pages.h). A quarter of a source
    // less than twice the sample's size (scatter plots then sample the rows themselves).
    bool sampled = false;
    for (const auto& p : d.pages)
      for (const auto& w : p.widgets)
        sampled = sampled || (w.sql.empty() && (w.source.empty() || w.source == d.source) &&
                              (w.type == config::WidgetType::Scatter || (w.type == config::WidgetType::Table && w.measures.empty())));
    const int64_t sample_rows = source_rows > 2 * options.sample_rows ? options.sample_rows : source_rows / 4;
    if (sampled && !result->sample_tables_.count(rel->name) && sample_rows > 0) {
      std::string table = "__sightline_sample_" + result->build_id_ + "_" + std::to_string(result->sample_tables_.size() + 1);
      auto made = exec(engine, "CREATE OR REPLACE TABLE " + quote_identifier(table) + " AS SELECT * FROM " + quote_identifier(rel->name) +
                                   " USING SAMPLE reservoir(" + std::to_string(sample_rows) + " ROWS) REPEATABLE (7)");
      if (made) {
        result->sample_tables_[rel->name] = table;
        if (source_rows > 2 * options.sample_rows) result->scatter_samples_.insert(rel->name);
      } else {
        log.warn("sample_skipped", {{"dashboard", d.id}, {"reason", made.error().for_author()}});
      }
    }

    // Unique columns of the relation's ungrouped tables (their pages' tie-breakers stop at one).
    if (auto t = table_columns.find(rel->name); t != table_columns.end() && !result->unique_columns_.count(rel->name))
      result->unique_columns_[rel->name] = find_unique_columns(engine, *rel, t->second);

    std::map<std::string, std::string> measure_types;
    for (const auto& p : d.pages)
      for (const auto& w : p.widgets)
        for (const auto& m : w.measures) {
          auto typed = engine.pool().run<std::vector<engine::ColumnInfo>>(
              std::chrono::seconds(30), [&](engine::Connection& c) -> Result<std::vector<engine::ColumnInfo>> {
                auto st = c.prepare("SELECT " + m.expr + " FROM " + quote_identifier(rel->name));
                if (!st) return fail(st.error());
                return st->columns();
              });
          if (typed && typed->size() == 1 && (*typed)[0].type != "OTHER")
            measure_types[m.expr] = (*typed)[0].type == "ENUM" ? "VARCHAR" : (*typed)[0].type;
        }

    // Heads of the columns with too many values for a rollup that top-N charts group by.
    for (const auto& wanted : top_n_columns(d, *rel)) {
      auto at = std::find(cols.begin(), cols.end(), wanted.column);
      if (at == cols.end() || result->top_values(rel->name, wanted.column)) continue;
      if (engine::as_count((*stats)[0][1 + (at - cols.begin())]).value_or(0) <= kMaxCardinality) continue;  // rollups hold it
      const engine::ValueKind kind = engine::value_kind(rel->column(wanted.column)->type);
      if (kind != engine::ValueKind::Text && kind != engine::ValueKind::Integer) continue;
      TopValuesRequest request{.relation = rel,
                               .column = wanted.column,
                               .measures = wanted.measures,
                               .measure_types = measure_types,
                               .relation_rows = source_rows,
                               .largest_limit = wanted.largest_limit,
                               .order_by = dates.empty() ? "" : quote_identifier(dates.front()),
                               .table_prefix = "__sightline_top_" + result->build_id_ + "_" + std::to_string(result->top_values_.size() + 1)};
      std::string why_not;
      auto built = build_top_values(engine, request, why_not);
      if (!built) {
        log.warn("top_values_skipped", {{"dashboard", d.id}, {"column", wanted.column}, {"reason", built.error().for_author()}});
      } else if (!*built) {
        log.info("top_values_skipped", {{"dashboard", d.id}, {"column", wanted.column}, {"reason", why_not}});
      } else {
        log.info("top_values_built", {{"dashboard", d.id},
                                      {"source", rel->name},
                                      {"column", wanted.column},
                                      {"values", (*built)->values},
                                      {"rows", (*built)->rows},
                                      {"source_rows", source_rows}});
        result->top_values_[{rel->name, wanted.column}] = std::make_shared<const TopValues>(std::move(**built));
      }
    }

    // Codes for the values of each column counted distinct: the rollups keep, per group, the
    // bitmap of the codes of the values its rows hold (engine/bitmap_functions.h).
    std::set<AggregateCall> kept = aggregates;
    const std::map<std::string, std::string> sum_types = narrow_sum_types(engine, *rel, aggregates);
    std::map<std::string, std::string> code_tables;
    for (const auto& a : aggregates) {
      if (a.function != "count_distinct") continue;
      std::string table = "__sightline_codes_" + result->build_id_ + "_" + std::to_string(result->code_tables_.size() + 1);
      const std::string col = quote_identifier(a.column);
      auto made = exec(engine, "CREATE OR REPLACE TABLE " + quote_identifier(table) +
                                   " AS SELECT v, CAST(row_number() OVER (ORDER BY v) - 1 AS UINTEGER) AS code FROM (SELECT DISTINCT " +
                                   col + " AS v FROM " + quote_identifier(rel->name) + " WHERE " + col + " IS NOT NULL)");
      if (!made) {
        log.warn("rollup_skipped", {{"dashboard", d.id}, {"column", a.column}, {"reason", made.error().for_author()}});
        kept.erase(a);
        continue;
      }
      result->code_tables_.push_back(table);
      code_tables[a.column] = table;
    }
    // The rows with their codes: the relation, joined to each code table.
    const std::string rows_with_codes = Rollup::rows_with_codes_sql(quote_identifier(rel->name), rel->name, code_tables);

    // Largest first: each rollup is made from the smallest one already made that holds it (far
    // fewer rows than the relation), or from the rows.
    std::stable_sort(chosen.begin(), chosen.end(),
                     [](const ChosenRollup& a, const ChosenRollup& b) { return a.estimated_rows > b.estimated_rows; });
    auto kept_grains = [](const Rollup& r) {
      ColumnGrains out;
      for (const auto& c : r.columns) out[c] = r.grain_of(c);
      return out;
    };
    for (const auto& node : chosen) {
      Rollup r;
      r.relation = rel->name;
      r.source_rows = source_rows;
      for (const auto& [c, g] : node.columns) {
        r.columns.insert(c);
        if (g != Grain::Exact) r.grains[c] = g;
      }
      r.aggregates = kept;
      r.measure_types = measure_types;
      r.code_tables = code_tables;
      bool duplicate = std::any_of(result->rollups_.begin(), result->rollups_.end(), [&](const Rollup& o) {
        return o.relation == r.relation && o.columns == r.columns && o.aggregates == r.aggregates && o.grains == r.grains;
      });
      if (duplicate) continue;
      std::optional<size_t> parent;
      for (size_t i = 0; i < result->rollups_.size(); ++i) {
        const Rollup& o = result->rollups_[i];
        if (o.relation == r.relation && o.aggregates == r.aggregates && rollup_covers(kept_grains(o), node.columns) &&
            (!parent || o.rows < result->rollups_[*parent].rows))
          parent = i;
      }
      r.table = "__sightline_rollup_" + result->build_id_ + "_" + std::to_string(result->rollups_.size() + 1);
      std::string select;
      for (const auto& [c, g] : node.columns) {
        // From a parent: its column as it is at the same grain, else truncated further.
        const bool same = parent && result->rollups_[*parent].grain_of(c) == g;
        select += (select.empty() ? "" : ", ") + (same ? quote_identifier(c) : key_sql(c, g)) + " AS " + quote_identifier(c);
      }
      for (const auto& a : kept) {
        auto narrow = a.function == "sum" ? sum_types.find(a.column) : sum_types.end();
        const std::string sql = parent ? Rollup::reaggregate_sql(a) : Rollup::aggregate_sql(a);
        std::string typed = narrow != sum_types.end() ? "CAST(" + sql + " AS " + narrow->second + ")"
                            : parent && a.function == "count" ? "CAST(" + sql + " AS BIGINT)"
                                                              : sql;
        select += (select.empty() ? "" : ", ") + typed + " AS " + quote_identifier(stored_name(a));
      }
      std::string order;
      for (const auto& c : dates)
        if (node.columns.count(c)) order += (order.empty() ? "" : ", ") + quote_identifier(c);
      const std::string from = parent ? quote_identifier(result->rollups_[*parent].table) : rows_with_codes;
      std::string ddl = "CREATE OR REPLACE TABLE " + quote_identifier(r.table) + " AS SELECT " + select + " FROM " + from +
                        (node.columns.empty() ? "" : " GROUP BY ALL") + (order.empty() ? "" : " ORDER BY " + order);
      if (auto made = exec(engine, ddl); !made) {
        log.warn("rollup_skipped", {{"dashboard", d.id}, {"reason", made.error().for_author()}});
        continue;
      }
      auto counted = query_rows(engine, "SELECT count(*) FROM " + quote_identifier(r.table));
      r.rows = counted ? (*counted)[0][0].get<int64_t>() : 0;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      nlohmann::json column_list = nlohmann::json::array();
      for (const auto& [c, g] : node.columns) column_list.push_back(g == Grain::Exact ? c : c + " (" + grain_name(g) + ")");
      log.info("rollup_built", {{"dashboard", d.id},
                                {"source", rel->name},
                                {"table", r.table},
                                {"rows", r.rows},
                                {"estimated_rows", node.estimated_rows},
                                {"source_rows", source_rows},
                                {"columns", column_list},
                                {"from", parent ? result->rollups_[*parent].table : rel->name},
                                {"aggregates", kept.size()},
                                {"seconds", secs}});
      result->rollups_.push_back(std::move(r));
      if (options.progress) ++options.progress->built;
    }
  }
  result->index_filter_columns(project, engine, log, options);
  result->claim_and_keep(log);
  return result;
}

bool Rollups::indexed(const std::string& relation, const std::string& column) const {
  auto it = indexed_.find(relation);
  return it != indexed_.end() && it->second.count(column) > 0;
}

// An ART index finds the rows of a few text values without comparing every row's: at 10M rows, the rows
// of 455 street names (5,667 rows) in 60 ms instead of 320 ms, of one name in 4 ms instead of
// 170 ms. DuckDB uses it when the filter on the column is the scan's only one and keeps at most
// max(2048, 0.1 %) of the rows; subsets (query/subset.h) are made that way. It costs a build
// (13 s at 10M rows of 540k street names, on the background build) and about 20 bytes a row in
// the state file. Only loaded tables that are not appended to (inserts would pay for it) get one.
void Rollups::index_filter_columns(const config::Project& project, const engine::Engine& engine, Logger& log, const RollupOptions& options) {
  std::set<std::pair<std::string, std::string>> wanted;
  for (const auto& d : project.dashboards)
    for (const auto& f : d.filters)
      if (f.type == config::FilterType::Text || f.type == config::FilterType::Select || f.type == config::FilterType::MultiSelect)
        wanted.emplace(d.source, f.column);
  std::map<std::string, bool> is_table;
  for (const auto& [relation, column] : wanted) {
    const engine::Relation* rel = engine.relation(relation);
    if (!rel || rel->is_model || !rel->database.empty() || relation_rows(relation) < options.min_source_rows) continue;
    const engine::ColumnInfo* info = rel->column(column);
    if (!info) continue;
    // Text only: a scan compares integers at a few ns a row (one driver id of 25k among 10M
    // rows: a subset in 30-85 ms either way), while comparing strings is what costs.
    if (engine::value_kind(info->type) != engine::ValueKind::Text) continue;
    auto source = std::find_if(project.sources.begin(), project.sources.end(), [&](const config::SourceSpec& s) { return s.name == relation; });
    if (source == project.sources.end() || source->appends()) continue;
    if (!is_table.count(relation)) {
      auto found = query_rows(engine, "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' "
                                      "AND table_name = " + engine::quote_literal(relation));
      is_table[relation] = found && (*found)[0][0].get<int64_t>() == 1;
    }
    if (!is_table[relation]) continue;
    // Few values: rollups hold the column, and each value has many rows.
    const std::string* values = value_table(relation, column);
    auto counted = query_rows(engine, values ? "SELECT count(*) FROM " + quote_identifier(*values)
                                             : "SELECT approx_count_distinct(" + quote_identifier(column) + ") FROM " + quote_identifier(relation));
    if (!counted || (*counted)[0][0].get<int64_t>() <= options.max_cardinality) continue;
    char name[64];
    std::snprintf(name, sizeof name, "__sightline_index_%016llx",
                  static_cast<unsigned long long>(engine::hash_combine(engine::hash_combine(0, relation), column)));
    const auto started = std::chrono::steady_clock::now();
    auto made = exec(engine, "CREATE INDEX IF NOT EXISTS " + quote_identifier(name) + " ON " + quote_identifier(relation) + " (" +
                                 quote_identifier(column) + ")");
    if (!made) {
      log.warn("index_skipped", {{"source", relation}, {"column", column}, {"reason", made.error().for_author()}});
      continue;
    }
    indexed_[relation].insert(column);
    log.info("index_ready", {{"source", relation},
                             {"column", column},
                             {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}});
  }
}

void Rollups::claim_and_keep(Logger& log) {
  engine_->claim_tables(tables());
  claimed_ = true;
  if (!engine_->state_file().empty()) {
    if (auto kept = engine_->store_rollups(describe(), tables()); !kept) log.warn("rollups_not_kept", {{"reason", kept.error().for_author()}});
  }
}

}  // namespace sightline::query
