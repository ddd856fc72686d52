// Widget planning: a widget's declaration + a client's request + the caller's row scope ->
// one parameterized SQL statement (and, for tables, a count statement).
//
//   auto plan = plan_widget(dashboard, widget, engine, request, scope);
//   // plan->sql: SELECT "region", sum(revenue) AS "revenue" FROM "orders" WHERE "channel" IN (?) ...
//
// Identifiers come only from the project; client values only ever become parameters.
// Pure functions: no I/O, safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/project.h"
#include "engine/engine.h"
#include "query/request.h"
#include "query/rollup.h"
#include "query/scope.h"

namespace sightline::query {

struct Statement {
  std::string sql;
  std::vector<engine::Param> params;
  int64_t max_rows = 0;
  // Identifies the answer: SQL, parameters, scope and data version.
  std::string cache_key(const Scope& scope, uint64_t data_version) const;
};

// A page deep into an ungrouped table sorted by plain columns, found without sorting every row
// up to it (query/table_pages.h runs it). The rows of a level (those `where` keeps, narrowed by
// the levels before) are counted before a few pivots of the first sort key, taken from the
// relation's uniform sample; the page is then the rows between two pivots, sorted, at a small
// offset. A page inside one sort value (ties) or inside the NULLs goes down a level to the next
// key. Exact for any data: pivots only bound where to look, counts place the page.
struct PivotPaging {
  struct Key {
    std::string sql;   // the column, quoted
    std::string type;  // its SQL type (pivots travel as text and are cast back)
    bool descending = false;
  };
  std::vector<Key> keys;  // the leading sort keys that can be pivoted on (at least one)
  std::string sample_from;  // FROM over the sample, under the caller's row policy
  std::vector<engine::Param> sample_params;  // sample_from's then where's
  std::string rows_from;  // FROM over the rows the widget reads
  std::vector<engine::Param> rows_params;  // rows_from's then where's
  std::string where;
  std::string select;  // "SELECT <columns>"
  std::string order;   // the full ORDER BY list (ties broken by every column)
  std::string reverse_order;  // `order` read backwards (each key's direction and NULLs' place flipped)
  int64_t offset = 0;
  int64_t page = 0;
};

struct WidgetPlan {
  Statement data;
  std::string read_from;  // the relation or rollup table the data statement reads (for logs)
  std::optional<Statement> count;  // tables: the total row count of the unpaged result
  // Two-step plans. `prelude` returns one row of text values; appended as parameters to
  // `data_after_prelude`, they give the same answer as `data` far cheaper. When the prelude
  // finds no row, `prelude_fallback` is tried; when a value is NULL, `data` is used.
  //  - tables sorted by a column: the sort value at the page's end (or a bound of it from a
  //    rollup), so the page sorts only the rows at or past it;
  //  - histograms: the filtered minimum and maximum from a rollup, so the bins take one pass.
  std::optional<Statement> prelude;
  std::optional<Statement> prelude_fallback;
  std::optional<Statement> data_after_prelude;
  // Tables: a page too deep for `prelude` (set with `count`, which it needs first).
  std::optional<PivotPaging> pivot_paging;
};

// `sql_columns`: for a widget with its own SQL, the columns it returns (from check_dashboards);
// a client sort must name one of them.
// With `rollups`, an aggregate widget whose columns, predicates and measures fit a rollup reads
// the rollup instead of the source (same answer, far fewer rows).
// With `subset` (a table holding exactly the rows of the widget's relation that the request's
// filters and selections select for this widget under `scope`: made with filter_predicate(...,
// widget.id), see SubsetCache), the widget reads it instead of the relation and no rollup, with
// no predicate left to apply but the period of `request.subset_widened_filter` (see
// subset_request): the answer is the same.
Result<WidgetPlan> plan_widget(const config::DashboardSpec& dashboard, const config::WidgetSpec& widget,
                               const engine::Engine& engine, const QueryRequest& request, const Scope& scope,
                               const Rollups* rollups = nullptr, const std::vector<std::string>* sql_columns = nullptr,
                               const engine::Relation* subset = nullptr);

// The request a subset for widget `widget_id` is made from. A KPI compared with the previous
// period reads the period just before the state's too; when the dashboard has one and its
// daterange filter holds a closed period (and no selection `widget_id` sees is on that filter's
// column, which the comparison leaves out), the filter's period is widened back over the previous
// one, so both periods read the same subset. Sets `subset_widened_filter` then; otherwise returns
// `request` as it is. Deterministic: every widget of a state gets the same subset for the same
// selections seen.
QueryRequest subset_request(const config::DashboardSpec& dashboard, const QueryRequest& request, std::string_view widget_id);

// The AND of every condition that selects the rows of `relation` widget `widget_id` reads: the
// dashboard's filters (values or defaults) and the selections not picked on that widget itself.
// What a subset for that widget holds (see plan_widget's `subset`); widgets that see the same
// selections get the same SQL and parameters, so they share one.
Result<SqlFragment> filter_predicate(const config::DashboardSpec& dashboard, const engine::Relation& relation,
                                     const QueryRequest& request, std::string_view widget_id);

// Filter options: distinct values (select/multiselect/text; `search` narrows them by a
// case-insensitive contains, at most `limit`) or bounds (range/daterange: one row min, max).
Result<Statement> plan_filter_options(const config::DashboardSpec& dashboard, const config::FilterSpec& filter,
                                      const engine::Engine& engine, const std::string& search, int64_t limit,
                                      const Scope& scope, const Rollups* rollups = nullptr);

// The relation a widget reads (its own source or the dashboard's).
const engine::Relation* widget_relation(const config::DashboardSpec& d, const config::WidgetSpec& w, const engine::Engine& e);

// The placeholder a sql: widget uses for the filter predicate.
inline constexpr std::string_view kFiltersPlaceholder = "{{ filters }}";

}  // namespace sightline::query
