#include "query/top_values.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "arrow/json_writer.h"
#include "engine/result_rows.h"

namespace sightline::query {
using engine::quote_identifier;
using engine::quote_literal;

namespace {

// The head holds at most this share of the relation's rows.
constexpr double kHeadShare = 0.2;
// The N-th value must have at least this many times the rows of the best value left out: else
// filters that keep fewer rows than that ratio could never be proven from the head.
constexpr int64_t kMinMargin = 2;

Result<nlohmann::json> rows_as_json(engine::Connection& c, const std::string& sql) {
  auto out = c.query(sql, 1'000'000);
  if (!out) return fail(out.error());
  auto text = arrow::write_json_rows(out->table);
  if (!text) return fail(text.error());
  return nlohmann::json::parse(*text)["rows"];
}

std::optional<int64_t> as_int(const nlohmann::json& v) {
  return engine::as_count(v);
}

std::optional<double> as_double(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    try {
      return std::stod(v.get<std::string>());
    } catch (...) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

bool shrinks_with_fewer_rows(const AggregateCall& call, const std::string& column_type, std::optional<double> column_min) {
  if (call.function == "count" || call.function == "count_distinct") return true;
  if (call.function != "sum") return false;
  // Floating-point sums depend on the order they add up in: not comparable exactly.
  const engine::ValueKind kind = engine::value_kind(column_type);
  if (kind != engine::ValueKind::Integer && kind != engine::ValueKind::Decimal) return false;
  return column_min && *column_min >= 0;
}

bool is_top_n_chart(const config::WidgetSpec& w) {
  using config::WidgetType;
  if (w.type != WidgetType::Bar && w.type != WidgetType::Pie) return false;
  if (!w.sql.empty() || !w.x || !w.x->grain.empty() || w.color || w.limit <= 0 || w.measures.empty()) return false;
  if (!w.sort) return true;  // a bar or pie chart without a declared sort: its first measure, descending
  const std::string& c = w.sort->column;
  return w.sort->descending && (c == "y" || c == "value" || c == w.measures[0].name);
}

std::vector<TopNColumn> top_n_columns(const config::DashboardSpec& dashboard, const engine::Relation& rel) {
  std::vector<TopNColumn> out;
  for (const auto& page : dashboard.pages)
    for (const auto& w : page.widgets) {
      const std::string& source = w.source.empty() ? dashboard.source : w.source;
      if (source != rel.name || !is_top_n_chart(w) || !rel.column(w.x->column)) continue;
      auto it = std::find_if(out.begin(), out.end(), [&](const TopNColumn& c) { return c.column == w.x->column; });
      if (it == out.end()) it = out.insert(out.end(), TopNColumn{w.x->column, {}, 0});
      if (std::find(it->measures.begin(), it->measures.end(), w.measures[0].expr) == it->measures.end())
        it->measures.push_back(w.measures[0].expr);
      it->largest_limit = std::max(it->largest_limit, w.limit);
    }
  return out;
}

// One connection for the whole build: the per-value statistics are a temporary table.
Result<std::optional<TopValues>> build_top_values(const engine::Engine& engine, const TopValuesRequest& request, std::string& why_not) {
  const engine::Relation& rel = *request.relation;
  const std::string col = quote_identifier(request.column);
  const std::string stats = quote_identifier(request.table_prefix + "_stats");
  TopValues top;
  top.relation = rel.name;
  top.column = request.column;
  top.rows_table = request.table_prefix + "_rows";
  top.codes_table = request.table_prefix + "_codes";

  // The measures whose bound means something, and the columns their sums read.
  std::vector<std::string> measures;
  std::vector<std::string> summed;  // per measure: the summed column ("" when none)
  for (const auto& m : request.measures) {
    auto call = single_aggregate(m);
    if (!call || std::find(measures.begin(), measures.end(), m) != measures.end()) continue;
    const engine::ColumnInfo* info = call->column.empty() ? nullptr : rel.column(call->column);
    if (!call->column.empty() && !info) continue;
    // A sum's column is checked for negative values below; the rest qualify already.
    if (!shrinks_with_fewer_rows(*call, info ? info->type : "", call->function == "sum" ? std::optional<double>(0) : std::nullopt))
      continue;
    measures.push_back(m);
    summed.push_back(call->function == "sum" ? call->column : "");
  }
  if (measures.empty()) {
    why_not = "no measure that only shrinks with fewer rows";
    return std::optional<TopValues>();
  }

  return engine.pool().run<std::optional<TopValues>>(
      std::chrono::minutes(10), [&](engine::Connection& c) -> Result<std::optional<TopValues>> {
        struct DropStats {
          engine::Connection& c;
          std::string table;
          ~DropStats() { (void)c.execute("DROP TABLE IF EXISTS " + table); }
        } drop{c, stats};
        // Each value's rows and measures over all rows, ranked: code 1 has the most rows.
        std::string per_value = "SELECT " + col + " AS v, count(*) AS n";
        for (size_t i = 0; i < measures.size(); ++i) {
          per_value += ", " + measures[i] + " AS m" + std::to_string(i);
          if (!summed[i].empty()) per_value += ", min(" + quote_identifier(summed[i]) + ") AS lo" + std::to_string(i);
        }
        per_value += " FROM " + quote_identifier(rel.name) + " GROUP BY ALL";
        if (auto r = c.execute("CREATE OR REPLACE TEMP TABLE " + stats +
                               " AS SELECT *, row_number() OVER (ORDER BY n DESC, v NULLS FIRST) AS code FROM (" + per_value + ")");
            !r)
          return fail(r.error());
        const int64_t budget = static_cast<int64_t>(kHeadShare * static_cast<double>(request.relation_rows));
        std::string summary = "SELECT (SELECT coalesce(max(code), 0) FROM (SELECT code, sum(n) OVER (ORDER BY code ROWS UNBOUNDED "
                              "PRECEDING) AS cum FROM " +
                              stats + ") WHERE cum <= " + std::to_string(budget) + ") AS head, (SELECT n FROM " + stats +
                              " WHERE code = " + std::to_string(std::max<int64_t>(1, request.largest_limit)) + ") AS nth";
        auto summarized = rows_as_json(c, summary);
        if (!summarized) return fail(summarized.error());
        const int64_t head = as_int((*summarized)[0][0]).value_or(0);
        const int64_t nth = as_int((*summarized)[0][1]).value_or(0);
        if (head < request.largest_limit) {
          why_not = "the most frequent values hold too many rows";
          return std::optional<TopValues>();
        }
        // Over the values left out: the most rows and each measure's largest value; over all
        // rows: the smallest value of each summed column.
        std::string beyond = "SELECT coalesce(max(n) FILTER (WHERE code > " + std::to_string(head) + "), 0)";
        for (size_t i = 0; i < measures.size(); ++i) {
          const std::string m = "m" + std::to_string(i);
          beyond += ", CAST(coalesce(max(" + m + ") FILTER (WHERE code > " + std::to_string(head) + "), 0) AS VARCHAR)";
          beyond += summed[i].empty() ? ", 0" : ", min(lo" + std::to_string(i) + ")";
        }
        auto left_out = rows_as_json(c, beyond + " FROM " + stats);
        if (!left_out) return fail(left_out.error());
        const auto& row = (*left_out)[0];
        const int64_t most_left_out = as_int(row[0]).value_or(0);
        if (nth < kMinMargin * most_left_out) {
          why_not = "the values are too evenly spread";
          return std::optional<TopValues>();
        }
        for (size_t i = 0; i < measures.size(); ++i) {
          const auto& bound = row[1 + 2 * i];
          const auto lowest = as_double(row[2 + 2 * i]);
          if (!bound.is_string()) continue;
          if (!summed[i].empty() && !(lowest && *lowest >= 0)) continue;  // a negative value: sums can grow with fewer rows
          auto type = request.measure_types.find(measures[i]);
          if (type == request.measure_types.end()) continue;
          top.bounds[measures[i]] = "CAST(" + quote_literal(bound.get<std::string>()) + " AS " + type->second + ")";
          top.measure_types[measures[i]] = type->second;
        }
        if (top.bounds.empty()) {
          why_not = "a summed column has negative values";
          return std::optional<TopValues>();
        }
        if (auto r = c.execute("CREATE OR REPLACE TABLE " + quote_identifier(top.codes_table) + " AS SELECT CAST(code AS INTEGER) AS code, v FROM " +
                               stats + " WHERE code <= " + std::to_string(head) + " ORDER BY code");
            !r)
          return fail(r.error());
        std::string rows = "CREATE OR REPLACE TABLE " + quote_identifier(top.rows_table) + " AS SELECT r_.*, c_.code AS " +
                           quote_identifier(kTopCodeColumn) + " FROM " + quote_identifier(rel.name) + " AS r_ JOIN " +
                           quote_identifier(top.codes_table) + " AS c_ ON r_." + col + " IS NOT DISTINCT FROM c_.v";
        if (!request.order_by.empty()) rows += " ORDER BY " + request.order_by;
        if (auto r = c.execute(rows); !r) {
          (void)c.execute("DROP TABLE IF EXISTS " + quote_identifier(top.codes_table));
          return fail(r.error());
        }
        auto counted = rows_as_json(c, "SELECT count(*) FROM " + quote_identifier(top.rows_table));
        top.rows = counted ? as_int((*counted)[0][0]).value_or(0) : 0;
        top.values = head;
        return std::optional<TopValues>(std::move(top));
      });
}

}  // namespace sightline::query
