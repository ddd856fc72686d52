#include "query/planner_internal.h"

namespace sightline::query::detail {
using config::WidgetType;
using engine::quote_identifier;

namespace {

// Pages that end at most this far in are found by the sort value at their end (a one-column
// top-N); deeper ones by pivots (PivotPaging).
constexpr int64_t kShallowReach = 10'000;

// The type a sort value found by a query is cast back to: the column's own ENUM for text kept as
// one, so the engine compares codes while it scans (query/filters.cpp), else its SQL type.
std::string cast_type(const engine::ColumnInfo& info) { return info.dictionary ? info.enum_type : info.type; }

// Types whose values travel as text and are cast back exactly.
bool castable(const std::string& type) {
  return !type.empty() && type != "OTHER" && type != "LIST" && type != "STRUCT" && type != "MAP" && type != "ENUM" &&
         type.find('[') == std::string::npos;
}

// Deep pages of an ungrouped table, when the relation has a sample to take pivots from and the
// sort begins with plain columns.
std::optional<PivotPaging> pivot_paging(const WidgetInput& in, const std::vector<SortKey>& sort, const std::string& select, int64_t page) {
  if (!in.sample) return std::nullopt;
  PivotPaging p;
  for (const auto& k : sort) {
    const config::DimensionSpec* c = nullptr;
    for (const auto& col : in.widget.columns)
      if (col.name == k.column) c = &col;
    const engine::ColumnInfo* info = c && c->grain.empty() ? in.rel->column(c->column) : nullptr;
    if (!info || !castable(info->type)) break;
    p.keys.push_back({quote_identifier(c->column), cast_type(*info), k.descending});
    if (p.keys.size() == 3) break;  // deeper levels are ever rarer: sorting what is left is cheap
  }
  if (p.keys.empty()) return std::nullopt;
  p.sample_from = in.sample_from(p.sample_params);
  p.sample_params.insert(p.sample_params.end(), in.where_params.begin(), in.where_params.end());
  p.rows_from = in.from;
  p.rows_params = in.base_params();
  p.where = in.where;
  p.select = "SELECT " + select;
  p.order = order_by(sort);
  p.reverse_order = reverse_order_by(sort);
  p.offset = in.request.offset;
  p.page = page;
  return p;
}

}  // namespace

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
  // Ties broken by every column, so pages never overlap or skip rows; up to a column that holds
  // a different value in every row, which breaks every tie. Fewer keys matter: DuckDB reads every
  // key of every row it sorts, and one long text key among them (a customer's name) made a
  // filtered page of 10M rows 3x slower.
  auto unique = [&](const std::string& name) {
    if (grouped || !in.unique_columns) return false;
    for (const auto& c : w.columns)
      if (c.name == name) return c.grain.empty() && in.unique_columns->count(c.column) > 0;
    return false;
  };
  bool total = std::any_of(sort.begin(), sort.end(), [&](const SortKey& k) { return unique(k.column); });
  for (const auto& c : result_columns) {
    if (total) break;
    if (std::any_of(sort.begin(), sort.end(), [&](const SortKey& k) { return k.column == c; })) continue;
    sort.push_back({c, false});
    total = unique(c);
  }
  int64_t page = request.limit.value_or(w.limit > 0 ? w.limit : 100);
  page = std::min(page, cap);
  // Measures alone (own SQL such as SELECT count(*) AS n, sum(x) AS total ...): one group, no key.
  std::string measures = measure_list();
  if (select.empty() && measures.starts_with(", ")) measures.erase(0, 2);
  std::string body = "SELECT " + select + measures + " FROM " + from + " WHERE " + where + (grouped ? " GROUP BY ALL" : "");
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
  if (!grouped && page > 0 && reach > kShallowReach) plan.pivot_paging = pivot_paging(in, sort, select, page);
  if (!grouped && first_key && page > 0 && reach <= kShallowReach) {
    const auto* info = rel->column(first_key->column);
    std::string key_sql = quote_identifier(first_key->column);
    std::string type = info ? cast_type(*info) : "";
    if (info && castable(info->type)) {
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
      const Rollup* bound = rollups && unscoped ? rollups->match_with_groups(rel->name, predicate_needs, {extreme_expr}, 100 * reach) : nullptr;
      std::vector<engine::Param> bound_params;  // the predicates as they read over the rollup (bin keys)
      if (bound) {
        plan.prelude_fallback = threshold;  // when the rollup has fewer groups than the page reaches
        std::string stored = Rollup::stored_column(extreme);
        // The bound is only tight when many groups match: with few, it would let most rows
        // through, so then the statement finds no row and the fallback runs instead.
        threshold.sql = "SELECT CAST(extreme AS VARCHAR) AS threshold FROM (SELECT " + stored +
                        " AS extreme, count(*) OVER () AS groups FROM " + quote_identifier(bound->table) + " WHERE " +
                        and_all(in.over_rollup(in.preds, *bound), bound_params) +
                        ") AS g WHERE groups >= " + std::to_string(10 * reach) + " ORDER BY extreme" + direction +
                        " NULLS LAST LIMIT 1 OFFSET " + std::to_string(reach - 1);
      }
      threshold.params = bound ? bound_params : base_params();
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
  else if (count_rollup)  // the predicates as they read over the rollup (ranges on bin edges as bin keys)
    count.sql = "SELECT " + *count_rollup->rewrite("count(*)") + " AS total FROM " + quote_identifier(count_rollup->table) + " WHERE " +
                and_all(in.over_rollup(in.preds, *count_rollup), count.params);
  else
    count.sql = "SELECT count(*) AS total FROM " + from + " WHERE " + where;
  if (!count_rollup) count.params = base_params();
  count.max_rows = 1;
  plan.count = std::move(count);
  return plan;
}

}  // namespace sightline::query::detail
