// Top-N charts over columns of many values (street names, customer ids, URLs): "the 20 streets
// with the most rides" under any filters, without grouping millions of rows by text.
//
// At build time, the values of such a column are ranked by their rows, and the rows holding the
// most frequent values (the head: at most a fifth of the relation's rows) are copied, with each
// value's rank as an integer code, into a table of their own. For each measure a top-N sorts by
// that can only shrink when rows are left out (count(*), count(x), count(DISTINCT x), sum(x) of a
// column with no negative value), the build keeps a bound: the largest value the measure takes
// for any value outside the head, over all rows. Under any filters, a value outside the head
// then has at most that bound, so when the N-th best value found in the head beats it, the head
// holds the whole top N: exact for any data, and the planner falls back to the rows otherwise.
//
//   const TopValues* top = rollups.top_values("rides", "street");
//   // top->bounds["count(*)"] == "437": no street outside the head has more than 437 rides
//
// Plain data, immutable once built; thread-safe to read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/project.h"
#include "core/error.h"
#include "engine/engine.h"
#include "query/rollup.h"

namespace sightline::query {

// The column of a head table holding each row's value code (1: the value with the most rows).
inline constexpr const char* kTopCodeColumn = "__top_code__";

struct TopValues {
  std::string relation, column;
  std::string rows_table;   // every column of the head's rows, plus kTopCodeColumn
  std::string codes_table;  // code (INTEGER), v (the value, NULL included as a value)
  int64_t values = 0;       // how many values the head holds
  int64_t rows = 0;         // rows in rows_table
  // Measure expression -> the largest value it takes over all rows of any value outside the
  // head, as a SQL literal of `measure_types[expr]`.
  std::map<std::string, std::string> bounds;
  std::map<std::string, std::string> measure_types;
};

// Whether a measure can only shrink when rows are left out, given the smallest value of the
// column it sums (nullopt: unknown): count(*), count(x), count(DISTINCT x), and sum(x) of whole
// numbers or decimals that are never negative. `call` is single_aggregate()'s answer.
bool shrinks_with_fewer_rows(const AggregateCall& call, const std::string& column_type, std::optional<double> column_min);

// A chart that shows the N groups of x with the largest first measure (a bar or pie chart with
// `limit:`, sorted by its measure, descending, by declaration or by default) and nothing else
// grouped beside x: what a head can answer.
bool is_top_n_chart(const config::WidgetSpec& w);

// The columns of `rel` that top-N charts of `dashboard` group by, each with the measures they
// sort by and the largest N.
struct TopNColumn {
  std::string column;
  std::vector<std::string> measures;
  int64_t largest_limit = 0;
};
std::vector<TopNColumn> top_n_columns(const config::DashboardSpec& dashboard, const engine::Relation& rel);

struct TopValuesRequest {
  const engine::Relation* relation = nullptr;
  std::string column;
  std::vector<std::string> measures;  // the expressions top-N charts over the column sort by
  std::map<std::string, std::string> measure_types;
  int64_t relation_rows = 0;
  int64_t largest_limit = 0;  // the largest N asked of the column
  std::string order_by;       // how the head's rows are ordered (date filters skip row groups), or ""
  std::string table_prefix;   // unique to the build, e.g. "__sightline_top_<build>_1"
};

// Builds the head of `request.column`. nullopt (with `why_not` set) when it would not pay: too
// few values, or the N-th value's rows not clearly above what is left out. Errors are the engine's.
Result<std::optional<TopValues>> build_top_values(const engine::Engine& engine, const TopValuesRequest& request, std::string& why_not);

}  // namespace sightline::query
