#include "query/planner_internal.h"

namespace sightline::query::detail {
using config::WidgetType;
using engine::quote_identifier;

// A page of rows (or of groups, with measures), sorted with every column as a tie-breaker, and the
// total count; two-step paging where a sort value bound makes the page cheap.
Result<WidgetPlan> plan_table(WidgetInput in) {
  // A table with measures groups by its columns: a rollup may answer it like a chart.
  in.prepare_source(!in.widget.measures.empty());
  const config::WidgetSpec& w = in.widget;
  const engine::Relation* rel = in.rel;
  const QueryRequest& request = in.request;
  const int64_t cap = in.cap;
  const std::string& from = in.from;
  const std::string& where = in.where;
  const Rollups* rollups = in.rollups;
  const bool unscoped = in.unscoped();
  const auto& predicate_needs = in.predicate_needs;
  auto base_params = [&] { return in.base_params(); };
  auto measure_list = [&] { return in.measure_list(); };
  std::vector<std::string> result_columns;
  auto check_sort = [&](const std::vector<SortKey>& keys) { return in.check_sort(keys, result_columns); };
  auto declared_sort = [&](const std::string& x_name) { return in.declared_sort(x_name); };
  WidgetPlan plan;
  Statement& st = plan.data;
  st.max_rows = cap;
  plan.read_from = in.read_from();
  std::string select;
  for (const auto& c : w.columns) {
    if (auto r = check_column(c.column, *rel, "widget '" + w.id + "' columns"); !r) return fail(r.error());
    select += (select.empty() ? "" : ", ") + dimension_sql(c, *rel) + " AS " + quote_identifier(c.name);
    result_columns.push_back(c.name);
  }
  for (const auto& m : w.measures) result_columns.push_back(m.name);
  bool grouped = !w.measures.empty();
  std::vector<SortKey> sort = request.sort.empty() ? declared_sort("") : request.sort;
  if (auto r = check_sort(sort); !r) return fail(r.error());
  // Ties broken by every column, so pages never overlap or skip rows.
  for (const auto& c : result_columns)
    if (std::none_of(sort.begin(), sort.end(), [&](const SortKey& k) { return k.column == c; })) sort.push_back({c, false});
  int64_t page = request.limit.value_or(w.limit > 0 ? w.limit : 100);
  page = std::min(page, cap);
  std::string body = "SELECT " + select + measure_list() + " FROM " + from + " WHERE " + where + (grouped ? " GROUP BY ALL" : "");
  st.sql = body + " ORDER BY " + order_by(sort) + " LIMIT " + std::to_string(page) + " OFFSET " + std::to_string(request.offset);
  st.params = base_params();
  st.max_rows = page;
  // Two-step paging for an ungrouped table sorted by a plain column: first the sort value of
  // the page's last row (a one-column top-N, cheap), then the page among the rows at or past
  // it (few rows to sort with all their columns). Same rows, same order, a fraction of the work.
  const config::DimensionSpec* first_key = nullptr;
  for (const auto& c : w.columns)
    if (c.name == sort[0].column && c.grain.empty()) first_key = &c;
  int64_t reach = request.offset + page;
  if (!grouped && first_key && page > 0 && reach <= 10'000) {
    const auto* info = rel->column(first_key->column);
    std::string key_sql = quote_identifier(first_key->column);
    std::string type = info ? info->type : "";
    bool castable = !type.empty() && type != "OTHER" && type != "LIST" && type != "STRUCT" && type != "MAP" && type != "ENUM";
    if (castable) {
      Statement threshold;
      std::string direction = sort[0].descending ? " DESC" : " ASC";
      // As text: it comes back exactly as the engine sees it, and is cast back exactly.
      threshold.sql = "SELECT CAST(" + key_sql + " AS VARCHAR) AS threshold FROM " + from + " WHERE " + where + " ORDER BY " + key_sql +
                      direction + " NULLS LAST LIMIT 1 OFFSET " + std::to_string(reach - 1);
      // Cheaper still from a rollup that keeps each group's extreme of the key: the reach-th
      // largest group maximum is reached by `reach` distinct matching rows, so the reach-th
      // largest row is at or past it (mirrored for ascending order). A safe bound, not the
      // exact threshold: the page query sorts the few extra rows away.
      AggregateCall extreme{sort[0].descending ? "max" : "min", first_key->column};
      std::string extreme_expr = extreme.function + "(" + quote_identifier(first_key->column) + ")";
      const Rollup* bound = rollups && unscoped ? rollups->match(rel->name, predicate_needs, {extreme_expr}) : nullptr;
      if (bound) {
        plan.prelude_fallback = threshold;  // when the rollup has fewer groups than the page reaches
        std::string stored = Rollup::stored_column(extreme);
        // The bound is only tight when many groups match: with few, it would let most rows
        // through, so then the statement finds no row and the fallback runs instead.
        threshold.sql = "SELECT CAST(extreme AS VARCHAR) AS threshold FROM (SELECT " + stored +
                        " AS extreme, count(*) OVER () AS groups FROM " + quote_identifier(bound->table) + " WHERE " + where +
                        ") AS g WHERE groups >= " + std::to_string(10 * reach) + " ORDER BY extreme" + direction +
                        " NULLS LAST LIMIT 1 OFFSET " + std::to_string(reach - 1);
      }
      threshold.params = base_params();
      threshold.max_rows = 1;
      if (plan.prelude_fallback) {
        plan.prelude_fallback->params = base_params();
        plan.prelude_fallback->max_rows = 1;
      }
      plan.prelude = std::move(threshold);
      plan.data_after_prelude = st;
      plan.data_after_prelude->sql = body + " AND " + key_sql + (sort[0].descending ? " >= " : " <= ") + "CAST(? AS " + type + ")" +
                                     " ORDER BY " + order_by(sort) + " LIMIT " + std::to_string(page) + " OFFSET " +
                                     std::to_string(request.offset);
    }
  }
  Statement count;
  const Rollup* count_rollup =
      rollups && unscoped && !grouped ? rollups->match(rel->name, predicate_needs, {"count(*)"}) : nullptr;
  if (grouped)
    count.sql = "SELECT count(*) AS total FROM (" + body + ")";
  else if (count_rollup)
    count.sql =
        "SELECT " + *count_rollup->rewrite("count(*)") + " AS total FROM " + quote_identifier(count_rollup->table) + " WHERE " + where;
  else
    count.sql = "SELECT count(*) AS total FROM " + from + " WHERE " + where;
  count.params = base_params();
  count.max_rows = 1;
  plan.count = std::move(count);
  return plan;
}

}  // namespace sightline::query::detail
