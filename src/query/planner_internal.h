// Private to the planner (planner.cpp and plan_*.cpp): what every widget kind's planning shares.
// plan_widget() prepares a WidgetInput (the relation read, the compiled predicates, the rollup
// that fits, FROM and WHERE) and hands it to the function of the widget's kind.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "query/planner.h"

namespace sightline::query::detail {

// "(a) AND (b)", appending the fragments' parameters to `params`; "TRUE" for none.
std::string and_all(const std::vector<SqlFragment>& preds, std::vector<engine::Param>& params);
// The relation as the caller may read it: its name, or a subquery of the rows the scope grants
// (without an alias; its parameters appended to `params`).
std::string scoped_rows(const std::string& relation, const Scope& scope, std::vector<engine::Param>& params);
// The FROM clause for a relation under the caller's scope (its parameters appended to `params`).
std::string scoped_from(const std::string& relation, const Scope& scope, std::vector<engine::Param>& params);
// A dimension's SQL: the column, or its truncation to the dimension's grain.
std::string dimension_sql(const config::DimensionSpec& d, const engine::Relation& rel);
Result<void> check_column(const std::string& column, const engine::Relation& rel, const std::string& what);
// `expr` with each count(DISTINCT x) as sightline_hll_count over hash(x), NULLs left out (see
// engine/bitmap_functions.h); count(DISTINCT a, b) stays exact.
std::string approximate_distinct_counts(const std::string& expr);
// "a" DESC NULLS LAST, ...
std::string order_by(const std::vector<SortKey>& keys);
// The order of order_by(keys) read backwards: the last row first.
std::string reverse_order_by(const std::vector<SortKey>& keys);
// The period just before a closed date range of the same length; nullopt when the value is not
// a closed range (or the period would start before year 1).
std::optional<nlohmann::json> previous_period(const nlohmann::json& value);

// One widget request, prepared for the function of its kind.
struct WidgetInput {
  const config::DashboardSpec& dashboard;
  const config::WidgetSpec& widget;
  const engine::Engine& engine;
  const QueryRequest& request;
  const Scope& scope;
  const Rollups* rollups;                 // null when none may answer (a subset, stale rollups)
  const engine::Relation* rel = nullptr;  // what the widget reads (a subset when given one)
  bool reads_subset = false;
  std::vector<SqlFragment> preds;           // the filters and selections that apply
  // The columns they read, each with the coarsest grain a pre-aggregate may keep it at.
  std::map<std::string, Grain> predicate_needs;
  SqlFragment policy;                       // the caller's row policy on `rel` (empty: all rows)
  int64_t cap = 0;                          // engine.max_rows
  // The widget relation's uniform sample (Rollups::sample_table; null without one or when it is
  // stale), kept when a subset is read: the sample's rows that pass the predicates are a uniform
  // sample of the rows the widget reads either way.
  const std::string* sample = nullptr;
  // Columns of the widget's relation holding a different, non-NULL value in every row
  // (Rollups::unique_columns; null without rollups or when they are stale), kept when a subset
  // is read: a table page's tie-breakers end at one.
  const std::set<std::string>* unique_columns = nullptr;
  bool sample_serves_scatter = false;  // see Rollups::sample_serves_scatter
  std::string sampled_relation;
  SqlFragment sample_policy;  // the caller's row policy on the sampled relation

  // Beyond the widget's own dimensions and measures, what a rollup must hold (a histogram's
  // column by its bins, its count).
  std::map<std::string, Grain> extra_needs;
  std::vector<std::string> extra_measures;

  // Set by prepare_source(): where the rows come from.
  const Rollup* rollup = nullptr;  // the rollup that answers, if any
  std::string from;                // FROM clause (rows, under the scope, or the rollup)
  std::vector<engine::Param> from_params;
  std::string where;  // WHERE clause (the predicates)
  std::vector<engine::Param> where_params;
  // Set when a range of arbitrary days is answered as its whole months from a month-grain rollup
  // plus the days around them from the rows (see split_by_months): what both parts read.
  std::string split_read;

  bool unscoped() const { return policy.empty(); }
  // The dimensions the widget groups by or shows: x, y, color, and a table's columns.
  std::vector<const config::DimensionSpec*> shown_dimensions() const;
  std::vector<engine::Param> base_params() const;  // FROM's then WHERE's
  // "(SELECT * FROM <sample> [WHERE <policy>]) AS <relation>", the policy's parameters appended
  // to `params`; "" without a sample.
  std::string sample_from(std::vector<engine::Param>& params) const;
  // A measure as the source in use computes it (rewritten over the rollup when one answers).
  std::string measure_sql(const config::MeasureSpec& m) const;
  std::string measure_list() const;  // ", <measure> AS "name", ..."
  // The widget's declared sort (aliases x, y, value resolved).
  std::vector<SortKey> declared_sort(const std::string& x_name) const;
  // InvalidInput unless every key names one of `result_columns`.
  Result<void> check_sort(const std::vector<SortKey>& keys, const std::vector<std::string>& result_columns) const;
  // Chooses the rollup for an aggregate over `group_columns` (and the predicates), when one fits,
  // and sets from/where accordingly; without `aggregate`, the rows.
  void prepare_source(bool aggregate);
  // With no rollup holding a day-range predicate's column by the day: when one holds it by the
  // month, FROM becomes the union of that rollup's whole months and the rows of the days around
  // them, in the rollup's columns (so measures are rewritten as over the rollup), and WHERE is
  // TRUE. False (nothing changed) when that does not apply.
  // With `days` (a rollup that answers the range by its days, and stores what the month rollup
  // stores), the days around the months are read from it instead of the rows.
  bool split_by_months(const std::map<std::string, Grain>& needs, const std::vector<std::string>& measures, const Rollup* days = nullptr);
  // The rows as a union of one scan per value of a predicate that keeps a few values of an ENUM
  // column (SqlFragment::equalities), parameters appended to from_params; "" when none does.
  std::string rows_by_equalities();
  // The bins of a numeric range predicate's column when both its ends (those given) are bin
  // edges, so a rollup keeping the column's bin keys answers it exactly; else null.
  const engine::ColumnBins* binned_range(const SqlFragment& p) const;
  // `fragments` as they read over rollup `r`: ranges on columns it keeps by bin, as key ranges.
  std::vector<SqlFragment> over_rollup(const std::vector<SqlFragment>& fragments, const Rollup& r) const;
  // What the data statement reads, for logs: the rollup, the rows, or both.
  std::string read_from() const { return !split_read.empty() ? split_read : rollup ? rollup->table : rel->name; }
};

// The functions of each kind. `plan_compared_kpi` plans a KPI with `compare:`.
Result<WidgetPlan> plan_own_sql(const WidgetInput& in, const std::vector<std::string>* sql_columns);
Result<WidgetPlan> plan_kpi(WidgetInput in);
Result<WidgetPlan> plan_grouped_chart(WidgetInput in);  // bar, line, area, pie, heatmap
// A top-N chart that would read the rows: adds a two-step plan over its column's head
// (query/top_values.h) when one was built; `sort` is the chart's effective sort.
void answer_top_n_from_head(const WidgetInput& in, const std::vector<SortKey>& sort, WidgetPlan& plan);
Result<WidgetPlan> plan_scatter(WidgetInput in);
Result<WidgetPlan> plan_histogram(WidgetInput in);
Result<WidgetPlan> plan_table(WidgetInput in);
Result<WidgetPlan> plan_compared_kpi(const config::DashboardSpec& d, const config::WidgetSpec& w, const engine::Engine& engine,
                                     const QueryRequest& request, const Scope& scope, const Rollups* rollups,
                                     const std::vector<std::string>* sql_columns, const engine::Relation* subset);

}  // namespace sightline::query::detail
