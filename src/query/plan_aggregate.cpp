#include "query/planner_internal.h"

namespace sightline::query::detail {
using config::WidgetType;
using engine::quote_identifier;

// One number: the widget's first measure over the filtered rows (or a rollup).
Result<WidgetPlan> plan_kpi(WidgetInput in) {
  in.prepare_source(true);
  const config::WidgetSpec& w = in.widget;
  const int64_t cap = in.cap;
  const std::string& from = in.from;
  const std::string& where = in.where;
  auto base_params = [&] { return in.base_params(); };
  auto measure_sql = [&](const config::MeasureSpec& m) { return in.measure_sql(m); };
  WidgetPlan plan;
  Statement& st = plan.data;
  st.max_rows = cap;
  plan.read_from = in.read_from();
  st.sql = "SELECT " + measure_sql(w.measures[0]) + " AS " + quote_identifier(w.measures[0].name) + " FROM " + from + " WHERE " + where;
  st.params = base_params();
  st.max_rows = 1;
  return plan;
}

// Bar, line, area, pie and heatmap: measures grouped by x (and color or y), sorted, top-N.
Result<WidgetPlan> plan_grouped_chart(WidgetInput in) {
  in.prepare_source(true);
  const config::WidgetSpec& w = in.widget;
  const engine::Relation* rel = in.rel;
  const QueryRequest& request = in.request;
  const int64_t cap = in.cap;
  const std::string& from = in.from;
  const std::string& where = in.where;
  auto base_params = [&] { return in.base_params(); };
  auto measure_sql = [&](const config::MeasureSpec& m) { return in.measure_sql(m); };
  auto measure_list = [&] { return in.measure_list(); };
  std::vector<std::string> result_columns;
  auto check_sort = [&](const std::vector<SortKey>& keys) { return in.check_sort(keys, result_columns); };
  auto declared_sort = [&](const std::string& x_name) { return in.declared_sort(x_name); };
  WidgetPlan plan;
  Statement& st = plan.data;
  st.max_rows = cap;
  plan.read_from = in.read_from();
  if (auto r = check_column(w.x->column, *rel, "widget '" + w.id + "' x"); !r) return fail(r.error());
  std::string x_sql = dimension_sql(*w.x, *rel);
  std::string select = x_sql + " AS " + quote_identifier(w.x->name);
  result_columns.push_back(w.x->name);
  const config::DimensionSpec* second = w.type == WidgetType::Heatmap ? &*w.y_dim : (w.color ? &*w.color : nullptr);
  if (second) {
    if (auto r = check_column(second->column, *rel, "widget '" + w.id + "'"); !r) return fail(r.error());
    select += ", " + dimension_sql(*second, *rel) + " AS " + quote_identifier(second->name);
    result_columns.push_back(second->name);
  }
  for (const auto& m : w.measures) result_columns.push_back(m.name);
  std::vector<SortKey> sort = request.sort.empty() ? declared_sort(w.x->name) : request.sort;
  if (auto r = check_sort(sort); !r) return fail(r.error());
  bool time_axis = !w.x->grain.empty() || w.type == WidgetType::Line || w.type == WidgetType::Area;
  if (sort.empty()) {
    if (time_axis || w.type == WidgetType::Heatmap)
      sort.push_back({w.x->name, false});
    else
      sort.push_back({w.measures[0].name, true});
  }
  // Ties are broken by the groups' own values, last: every path (the rows, a rollup, a head, a
  // subset) then lists the same groups in the same order, and a top N tied at its last place
  // keeps the same members.
  auto sorted_by = [&](const std::string& column) {
    return std::any_of(sort.begin(), sort.end(), [&](const SortKey& k) { return k.column == column; });
  };
  if (second && !sorted_by(second->name)) sort.push_back({second->name, false});
  if (!sorted_by(w.x->name)) sort.push_back({w.x->name, false});
  st.params = base_params();
  std::string where_clause = where;
  if (second && w.type != WidgetType::Heatmap && w.limit > 0) {
    // Top-N categories by the first measure, with every series of each kept.
    where_clause += " AND " + x_sql + " IN (SELECT " + x_sql + " FROM " + from + " WHERE " + where + " GROUP BY 1 ORDER BY " +
                    measure_sql(w.measures[0]) + " DESC NULLS LAST, 1 ASC NULLS LAST LIMIT " + std::to_string(w.limit) + ")";
    auto again = base_params();
    st.params.insert(st.params.end(), again.begin(), again.end());
  }
  st.sql = "SELECT " + select + measure_list() + " FROM " + from + " WHERE " + where_clause + " GROUP BY ALL ORDER BY " + order_by(sort);
  if (w.limit > 0 && !(second && w.type != WidgetType::Heatmap)) st.sql += " LIMIT " + std::to_string(std::min(w.limit, cap));
  answer_top_n_from_head(in, sort, plan);
  return plan;
}

// A KPI with `compare: previous_period`: the value now and over the period just before, as one
// row of two columns, from one statement so both come from the same snapshot of the data.
Result<WidgetPlan> plan_compared_kpi(const config::DashboardSpec& d, const config::WidgetSpec& w, const engine::Engine& engine,
                                     const QueryRequest& request, const Scope& scope, const Rollups* rollups,
                                     const std::vector<std::string>* sql_columns, const engine::Relation* subset) {
  // The value now and over the previous period, as one row of two columns. The previous
  // period shifts the date range back by its own length; a pick on the date column made in a
  // chart would pin both to the same days, so the comparison leaves it out.
  config::WidgetSpec plain = w;
  plain.compare_filter.clear();
  auto current = plan_widget(d, plain, engine, request, scope, rollups, sql_columns, subset);
  if (!current) return fail(current.error());
  const config::FilterSpec* filter = d.find_filter(w.compare_filter);
  if (!filter) return fail(ErrorKind::Internal, "widget '" + w.id + "' compares over an unknown filter");
  auto given = request.filters.find(filter->id);
  const nlohmann::json& effective = given != request.filters.end() ? *given : filter->default_value;
  const std::string value = quote_identifier(w.measures[0].name);
  const std::string previous_name = quote_identifier(w.measures[0].name + "_previous");
  WidgetPlan plan = std::move(*current);
  Statement& st = plan.data;
  if (auto shifted = previous_period(effective)) {
    QueryRequest earlier = request;
    earlier.filters[filter->id] = *shifted;
    std::erase_if(earlier.selections, [&](const Selection& s) { return s.column == filter->column; });
    // A subset made for both periods (subset_request) holds the previous one's rows too; any
    // other holds other days than these: the relation then.
    const bool subset_holds_both = subset && request.subset_widened_filter == filter->id;
    auto before = plan_widget(d, plain, engine, earlier, scope, rollups, sql_columns, subset_holds_both ? subset : nullptr);
    if (!before) return fail(before.error());
    st.sql = "SELECT now_.*, before_." + value + " AS " + previous_name + " FROM (" + st.sql + ") AS now_ CROSS JOIN (" + before->data.sql +
             ") AS before_";
    st.params.insert(st.params.end(), before->data.params.begin(), before->data.params.end());
    plan.read_from += "+" + before->read_from;
  } else {
    // No closed period to shift: the comparison column is NULL, typed like the value.
    st.sql = "WITH now_ AS (" + st.sql + ") SELECT now_.*, CASE WHEN FALSE THEN now_." + value + " END AS " + previous_name + " FROM now_";
  }
  return plan;
}

}  // namespace sightline::query::detail
