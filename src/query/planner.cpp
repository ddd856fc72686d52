#include "query/planner.h"

#include <chrono>
#include <cstdio>
#include <regex>
#include <set>

namespace sightline::query {
using config::WidgetType;
using engine::quote_identifier;

namespace {

std::string and_all(const std::vector<SqlFragment>& preds, std::vector<engine::Param>& params) {
  std::string sql;
  for (const auto& p : preds) {
    sql += (sql.empty() ? "" : " AND ") + std::string("(") + p.sql + ")";
    params.insert(params.end(), p.params.begin(), p.params.end());
  }
  return sql.empty() ? "TRUE" : sql;
}

// The FROM clause for a relation under the caller's scope.
std::string scoped_from(const std::string& relation, const Scope& scope, std::vector<engine::Param>& params) {
  SqlFragment rp = scope.predicate_for(relation);
  if (rp.empty()) return quote_identifier(relation);
  params.insert(params.end(), rp.params.begin(), rp.params.end());
  return "(SELECT * FROM " + quote_identifier(relation) + " WHERE " + rp.sql + ") AS " + quote_identifier(relation);
}

std::string dimension_sql(const config::DimensionSpec& d, const engine::Relation& rel) {
  std::string col = quote_identifier(d.column);
  if (d.grain.empty()) return col;
  const auto* info = rel.column(d.column);
  bool is_date = info && engine::value_kind(info->type) == engine::ValueKind::Date;
  std::string trunc = "date_trunc('" + d.grain + "', " + col + ")";
  // Truncating a DATE yields a TIMESTAMP in DuckDB; keep calendar grains as DATE.
  if (d.grain != "hour" && (is_date || d.grain != "hour")) return "CAST(" + trunc + " AS DATE)";
  return trunc;
}

Result<void> check_column(const std::string& column, const engine::Relation& rel, const std::string& what) {
  if (rel.column(column)) return {};
  return fail(ErrorKind::Internal, what + ": '" + rel.name + "' has no column '" + column + "'", "columns: " + rel.column_list());
}

std::string order_by(const std::vector<SortKey>& keys) {
  std::string out;
  for (const auto& k : keys)
    out += (out.empty() ? "" : ", ") + quote_identifier(k.column) + (k.descending ? " DESC" : " ASC") + " NULLS LAST";
  return out;
}

std::optional<std::chrono::sys_days> parse_day(const nlohmann::json& v) {
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  int y = 0;
  unsigned m = 0, d = 0;
  char tail = 0;
  if (s.size() != 10 || std::sscanf(s.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) != 3) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(m), std::chrono::day(d)};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd);
}

std::string format_day(std::chrono::sys_days day) {
  std::chrono::year_month_day ymd(day);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

// The period just before a closed date range of the same length, e.g. 2024-04-01..2024-06-30
// (91 days) -> 2023-12-31..2024-03-31. nullopt when the effective value is not a closed range.
std::optional<nlohmann::json> previous_period(const nlohmann::json& value) {
  if (!value.is_object() || !value.contains("from") || !value.contains("to")) return std::nullopt;
  auto from = parse_day(value["from"]);
  auto to = parse_day(value["to"]);
  if (!from || !to || *to < *from) return std::nullopt;
  auto days = *to - *from + std::chrono::days(1);
  std::chrono::year_month_day start(*from - days);
  // A period reaching before year 1 has no previous period a date can name: no comparison.
  if (static_cast<int>(start.year()) < 1) return std::nullopt;
  return nlohmann::json{{"from", format_day(*from - days)}, {"to", format_day(*from - std::chrono::days(1))}};
}

}  // namespace

std::string Statement::cache_key(const Scope& scope, uint64_t data_version) const {
  return scope.key() + '\x1f' + std::to_string(data_version) + '\x1f' + std::to_string(max_rows) + '\x1f' + sql + '\x1f' +
         params_key(params);
}

Result<SqlFragment> filter_predicate(const config::DashboardSpec& d, const engine::Relation& relation, const QueryRequest& request) {
  QueryRequest filters_only = request;
  filters_only.selections.clear();
  auto preds = compile_predicates(d, relation, filters_only, "");
  if (!preds) return fail(preds.error());
  SqlFragment out;
  out.sql = and_all(*preds, out.params);
  for (const auto& p : *preds) out.columns.insert(out.columns.end(), p.columns.begin(), p.columns.end());
  return out;
}

const engine::Relation* widget_relation(const config::DashboardSpec& d, const config::WidgetSpec& w, const engine::Engine& e) {
  return e.relation(w.source.empty() ? d.source : w.source);
}

Result<WidgetPlan> plan_widget(const config::DashboardSpec& d, const config::WidgetSpec& w, const engine::Engine& engine,
                               const QueryRequest& request, const Scope& scope, const Rollups* rollups,
                               const std::vector<std::string>* sql_columns, const engine::Relation* subset) {
  if (w.type == WidgetType::Text) return fail(ErrorKind::InvalidInput, "widget '" + w.id + "' is a text widget and has no data");
  if (w.type == WidgetType::Kpi && !w.compare_filter.empty()) {
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
      // Other days than the subset holds: the relation itself.
      auto before = plan_widget(d, plain, engine, earlier, scope, rollups, sql_columns);
      if (!before) return fail(before.error());
      st.sql = "SELECT now_.*, before_." + value + " AS " + previous_name + " FROM (" + st.sql + ") AS now_ CROSS JOIN (" +
               before->data.sql + ") AS before_";
      st.params.insert(st.params.end(), before->data.params.begin(), before->data.params.end());
      plan.read_from += "+" + before->read_from;
    } else {
      // No closed period to shift: the comparison column is NULL, typed like the value.
      st.sql =
          "WITH now_ AS (" + st.sql + ") SELECT now_.*, CASE WHEN FALSE THEN now_." + value + " END AS " + previous_name + " FROM now_";
    }
    return plan;
  }
  const engine::Relation* rel = widget_relation(d, w, engine);
  if (subset && rel && w.sql.empty()) {
    rel = subset;
    rollups = nullptr;
  }
  // Rollups made from older data than the relation now holds (its files changed) answer nothing.
  if (rel && rollups && request.stale_rollups.count(rel->name)) rollups = nullptr;
  if (!rel && w.sql.empty()) return fail(ErrorKind::Internal, "widget '" + w.id + "' reads an unknown source");
  // Custom SQL places the predicate over the dashboard's source columns.
  const engine::Relation* pred_rel = rel ? rel : engine.relation(d.source);
  std::vector<SqlFragment> preds;
  if (pred_rel) {
    auto p = compile_predicates(d, *pred_rel, request, w.id);
    if (!p) return fail(p.error());
    preds = std::move(*p);
  } else {
    // No relation to check against: still validate that the request names no unknown filter.
    engine::Relation empty;
    auto p = compile_predicates(d, empty, request, w.id);
    if (!p) return fail(p.error());
  }

  const int64_t cap = engine.max_rows();
  WidgetPlan plan;
  Statement& st = plan.data;
  st.max_rows = cap;

  if (!w.sql.empty()) {
    // Own SQL: every {{ filters }} becomes the predicate, with its parameters repeated in order.
    std::vector<engine::Param> pred_params;
    std::string pred = and_all(preds, pred_params);
    std::string sql = w.sql;
    std::string out;
    size_t pos = 0;
    static const std::regex placeholder(R"(\{\{\s*filters\s*\}\})");
    for (auto it = std::sregex_iterator(sql.begin(), sql.end(), placeholder); it != std::sregex_iterator(); ++it) {
      out += sql.substr(pos, it->position() - pos) + "(" + pred + ")";
      pos = it->position() + it->length();
      st.params.insert(st.params.end(), pred_params.begin(), pred_params.end());
    }
    out += sql.substr(pos);
    while (!out.empty() && (out.back() == ';' || std::isspace(static_cast<unsigned char>(out.back())))) out.pop_back();
    if (!scope.unrestricted()) {
      // Row policies reach into the widget's own SQL by shadowing: a CTE named like each source
      // and model reads the caller's rows of it, and an unqualified name in the SQL binds to the
      // CTE before the view. (`sightline check` refuses own SQL that names a relation with a
      // schema or reads files, which would get around this.) The CTEs come first in the text,
      // so their parameters come first too.
      std::string ctes;
      std::vector<engine::Param> cte_params;
      for (const auto& r : engine.relations()) {
        SqlFragment rp = scope.predicate_for(r.name);
        ctes += (ctes.empty() ? "WITH " : ", ") + quote_identifier(r.name) + " AS (SELECT * FROM main." + quote_identifier(r.name) +
                (rp.empty() ? "" : " WHERE " + rp.sql) + ")";
        cte_params.insert(cte_params.end(), rp.params.begin(), rp.params.end());
      }
      if (!ctes.empty()) {
        out = ctes + " SELECT * FROM (" + out + ") AS widget_sql";
        st.params.insert(st.params.begin(), cte_params.begin(), cte_params.end());
      }
    }
    if (sql_columns) {
      for (const auto& k : request.sort) {
        if (std::find(sql_columns->begin(), sql_columns->end(), k.column) != sql_columns->end()) continue;
        std::string cols;
        for (const auto& c : *sql_columns) cols += (cols.empty() ? "" : ", ") + c;
        return fail(ErrorKind::InvalidInput, "cannot sort by '" + k.column.substr(0, 64) + "': not a column of widget '" + w.id + "'",
                    "sortable columns: " + cols);
      }
    }
    std::string order = order_by(request.sort);
    int64_t own_limit = w.limit > 0 ? w.limit : 100;
    if (w.type == WidgetType::Table) {
      int64_t limit = std::min<int64_t>(request.limit.value_or(own_limit), cap);
      st.sql = "SELECT * FROM (" + out + ") AS widget_sql" + (order.empty() ? "" : " ORDER BY " + order) + " LIMIT " +
               std::to_string(limit) + " OFFSET " + std::to_string(request.offset);
      Statement count;
      count.sql = "SELECT count(*) AS total FROM (" + out + ") AS widget_sql";
      count.params = st.params;
      count.max_rows = 1;
      plan.count = std::move(count);
    } else {
      st.sql = "SELECT * FROM (" + out + ") AS widget_sql" + (order.empty() ? "" : " ORDER BY " + order);
    }
    return plan;
  }

  // A rollup answers aggregate widgets whose every column is in it; under a row policy only when
  // the policy reads nothing but columns the rollup groups by (see policy_fits_rollups).
  std::set<std::string> predicate_columns, day_columns;
  for (const auto& p : preds) {
    predicate_columns.insert(p.columns.begin(), p.columns.end());
    if (!p.month_aligned) day_columns.insert(p.columns.begin(), p.columns.end());
  }
  const Rollup* rollup = nullptr;
  bool aggregate_widget = w.type == WidgetType::Kpi || w.type == WidgetType::Bar || w.type == WidgetType::Line ||
                          w.type == WidgetType::Area || w.type == WidgetType::Pie || w.type == WidgetType::Heatmap;
  const SqlFragment policy = scope.predicate_for(rel->name);
  bool unscoped = policy.empty();
  // A row policy that reads only columns a rollup groups by (at day grain) selects exactly the
  // groups whose rows it grants, so the rollup can answer under it.
  bool policy_fits_rollups = !unscoped && policy.columns_known;
  if (rollups && (unscoped || policy_fits_rollups) && aggregate_widget) {
    std::set<std::string> needed = predicate_columns;
    std::set<std::string> day_needed = day_columns;
    needed.insert(policy.columns.begin(), policy.columns.end());
    day_needed.insert(policy.columns.begin(), policy.columns.end());
    for (const auto* dim : {&w.x, &w.y_dim, &w.color}) {
      if (!*dim) continue;
      needed.insert((*dim)->column);
      const std::string& g = (*dim)->grain;
      if (g != "month" && g != "quarter" && g != "year") day_needed.insert((*dim)->column);
    }
    std::vector<std::string> exprs;
    for (const auto& m : w.measures) exprs.push_back(m.expr);
    rollup = rollups->match(rel->name, needed, exprs, day_needed);
  }
  auto measure_sql = [&](const config::MeasureSpec& m) { return rollup ? *rollup->rewrite(m.expr) : m.expr; };
  std::vector<engine::Param> from_params;
  // A subset was made under the caller's scope already.
  std::string from;
  if (rollup && unscoped) {
    from = quote_identifier(rollup->table);
  } else if (rollup) {
    from = "(SELECT * FROM " + quote_identifier(rollup->table) + " WHERE " + policy.sql + ") AS " + quote_identifier(rollup->table);
    from_params = policy.params;
  } else {
    from = rel == subset ? quote_identifier(rel->name) : scoped_from(rel->name, scope, from_params);
  }
  plan.read_from = rollup ? rollup->table : rel->name;
  std::vector<engine::Param> where_params;
  std::string where = and_all(preds, where_params);
  auto base_params = [&] {
    std::vector<engine::Param> p = from_params;
    p.insert(p.end(), where_params.begin(), where_params.end());
    return p;
  };
  auto measure_list = [&] {
    std::string m;
    for (const auto& ms : w.measures) m += ", " + measure_sql(ms) + " AS " + quote_identifier(ms.name);
    return m;
  };
  // Result columns, so a client sort can only name what the widget returns.
  std::vector<std::string> result_columns;
  auto check_sort = [&](const std::vector<SortKey>& keys) -> Result<void> {
    for (const auto& k : keys) {
      if (std::find(result_columns.begin(), result_columns.end(), k.column) == result_columns.end()) {
        std::string cols;
        for (const auto& c : result_columns) cols += (cols.empty() ? "" : ", ") + c;
        return fail(ErrorKind::InvalidInput, "cannot sort by '" + k.column.substr(0, 64) + "': not a column of widget '" + w.id + "'",
                    "sortable columns: " + cols);
      }
    }
    return {};
  };
  // A widget's declared sort: `-y`/`y`/`x` aliases or a result column.
  auto declared_sort = [&](const std::string& x_name) -> std::vector<SortKey> {
    if (!w.sort) return {};
    std::string col = w.sort->column;
    if (col == "x" && !x_name.empty()) col = x_name;
    if ((col == "y" || col == "value") && !w.measures.empty()) col = w.measures[0].name;
    return {{col, w.sort->descending}};
  };

  switch (w.type) {
    case WidgetType::Kpi: {
      st.sql = "SELECT " + measure_sql(w.measures[0]) + " AS " + quote_identifier(w.measures[0].name) + " FROM " + from + " WHERE " + where;
      st.params = base_params();
      st.max_rows = 1;
      return plan;
    }
    case WidgetType::Bar:
    case WidgetType::Line:
    case WidgetType::Area:
    case WidgetType::Pie:
    case WidgetType::Heatmap: {
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
      if (second) sort.push_back({second->name, false});
      st.params = base_params();
      std::string where_clause = where;
      if (second && w.type != WidgetType::Heatmap && w.limit > 0) {
        // Top-N categories by the first measure, with every series of each kept.
        where_clause += " AND " + x_sql + " IN (SELECT " + x_sql + " FROM " + from + " WHERE " + where + " GROUP BY 1 ORDER BY " +
                        measure_sql(w.measures[0]) + " DESC NULLS LAST LIMIT " + std::to_string(w.limit) + ")";
        auto again = base_params();
        st.params.insert(st.params.end(), again.begin(), again.end());
      }
      st.sql =
          "SELECT " + select + measure_list() + " FROM " + from + " WHERE " + where_clause + " GROUP BY ALL ORDER BY " + order_by(sort);
      if (w.limit > 0 && !(second && w.type != WidgetType::Heatmap)) st.sql += " LIMIT " + std::to_string(std::min(w.limit, cap));
      return plan;
    }
    case WidgetType::Scatter: {
      for (const auto* dim : {&*w.x, &*w.y_dim})
        if (auto r = check_column(dim->column, *rel, "widget '" + w.id + "'"); !r) return fail(r.error());
      std::string select = quote_identifier(w.x->column) + " AS " + quote_identifier(w.x->name) + ", " + quote_identifier(w.y_dim->column) +
                           " AS " + quote_identifier(w.y_dim->name);
      if (w.color) select += ", " + quote_identifier(w.color->column) + " AS " + quote_identifier(w.color->name);
      int64_t n = std::min(w.limit > 0 ? w.limit : 5000, cap);
      // A fixed-seed reservoir sample: a faithful picture of millions of points in a few thousand.
      st.sql = "SELECT * FROM (SELECT " + select + " FROM " + from + " WHERE " + where + " AND " + quote_identifier(w.x->column) +
               " IS NOT NULL AND " + quote_identifier(w.y_dim->column) + " IS NOT NULL) USING SAMPLE reservoir(" + std::to_string(n) +
               " ROWS) REPEATABLE (7)";
      st.params = base_params();
      return plan;
    }
    case WidgetType::Histogram: {
      if (auto r = check_column(w.x->column, *rel, "widget '" + w.id + "'"); !r) return fail(r.error());
      std::string col = quote_identifier(w.x->column);
      std::string bins = std::to_string(w.bins);
      st.sql = "WITH filtered AS (SELECT CAST(" + col + " AS DOUBLE) AS v FROM " + from + " WHERE " + where + " AND " + col +
               " IS NOT NULL), bounds AS (SELECT min(v) AS lo, max(v) AS hi FROM filtered), "
               "binned AS (SELECT least(CAST(floor((v - lo) / greatest((hi - lo) / " +
               bins + ", 1e-12)) AS BIGINT), " + bins +
               " - 1) AS bin FROM filtered, bounds), "
               // Grouped by the bin number alone; the bounds are computed per bin, not per row.
               "counted AS (SELECT bin, count(*) AS count FROM binned GROUP BY bin) "
               "SELECT lo + (hi - lo) / " +
               bins + " * bin AS bin_start, lo + (hi - lo) / " + bins +
               " * (bin + 1) AS bin_end, count FROM counted, bounds ORDER BY bin_start";
      st.params = base_params();
      // With a rollup that keeps the column's per-group minimum and maximum, the bounds cost
      // next to nothing and the bins take a single pass over the rows.
      std::vector<std::string> extremes = {"min(" + col + ")", "max(" + col + ")"};
      const Rollup* bounds = rollups && unscoped ? rollups->match(rel->name, predicate_columns, extremes, day_columns) : nullptr;
      if (bounds) {
        std::string lo = Rollup::stored_column({"min", w.x->column}), hi = Rollup::stored_column({"max", w.x->column});
        Statement prelude;
        prelude.sql = "SELECT CAST(CAST(min(" + lo + ") AS DOUBLE) AS VARCHAR) AS lo, CAST(CAST(max(" + hi +
                      ") AS DOUBLE) AS VARCHAR) AS hi FROM " + quote_identifier(bounds->table) + " WHERE " + where;
        prelude.params = base_params();
        prelude.max_rows = 1;
        plan.prelude = std::move(prelude);
        Statement after = st;
        after.sql = "SELECT lo + (hi - lo) / " + bins + " * bin AS bin_start, lo + (hi - lo) / " + bins +
                    " * (bin + 1) AS bin_end, count FROM (SELECT bin, count(*) AS count, any_value(lo) AS lo, any_value(hi) AS hi FROM "
                    "(SELECT least(CAST(floor((v - lo) / greatest((hi - lo) / " +
                    bins + ", 1e-12)) AS BIGINT), " + bins + " - 1) AS bin, lo, hi FROM (SELECT CAST(" + col + " AS DOUBLE) AS v FROM " +
                    from + " WHERE " + where + " AND " + col +
                    " IS NOT NULL) AS filtered, (SELECT CAST(? AS DOUBLE) AS lo, CAST(? AS DOUBLE) AS hi) AS bounds)" +
                    " AS binned GROUP BY bin) AS counted ORDER BY bin_start";
        plan.data_after_prelude = std::move(after);
      }
      return plan;
    }
    case WidgetType::Table: {
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
          const Rollup* bound = rollups && unscoped ? rollups->match(rel->name, predicate_columns, {extreme_expr}, day_columns) : nullptr;
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
          rollups && unscoped && !grouped ? rollups->match(rel->name, predicate_columns, {"count(*)"}, day_columns) : nullptr;
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
    default:
      break;
  }
  return fail(ErrorKind::Internal, "widget type not handled");
}

Result<Statement> plan_filter_options(const config::DashboardSpec& d, const config::FilterSpec& f, const engine::Engine& engine,
                                      const std::string& search, int64_t limit, const Scope& scope, const Rollups* rollups) {
  const engine::Relation* rel = engine.relation(d.source);
  if (!rel || !rel->column(f.column)) {
    // Dashboards without a source, or a filter column only some widgets have: look for a source that has it.
    rel = nullptr;
    for (const auto& p : d.pages)
      for (const auto& w : p.widgets)
        if (const auto* r = widget_relation(d, w, engine); !rel && r && r->column(f.column)) rel = r;
  }
  if (!rel) return fail(ErrorKind::NotFound, "no source of this dashboard has the column of filter '" + f.id + "'");
  if (search.size() > kMaxTextBytes) return fail(ErrorKind::InvalidInput, "'q' is longer than " + std::to_string(kMaxTextBytes) + " bytes");
  if (search.find('\0') != std::string::npos) return fail(ErrorKind::InvalidInput, "'q' contains a NUL character");
  Statement st;
  std::string col = quote_identifier(f.column);
  std::string from = scoped_from(rel->name, scope, st.params);
  switch (f.type) {
    case config::FilterType::Range:
    case config::FilterType::DateRange:
      st.sql = "SELECT min(" + col + ") AS min, max(" + col + ") AS max FROM " + from;
      st.max_rows = 1;
      return st;
    default: {
      // Unscoped callers may read the distinct-value table; a row policy needs the real rows.
      const std::string* values = rollups && scope.predicate_for(rel->name).empty() ? rollups->value_table(rel->name, f.column) : nullptr;
      if (values) {
        col = "v";
        st.sql = "SELECT v AS value FROM " + quote_identifier(*values) + " WHERE TRUE";
      } else {
        st.sql = "SELECT DISTINCT " + col + " AS value FROM " + from + " WHERE " + col + " IS NOT NULL";
      }
      if (!search.empty()) {
        st.sql += " AND contains(lower(CAST(" + col + " AS VARCHAR)), lower(?))";
        st.params.push_back(search);
      }
      int64_t n = std::clamp<int64_t>(limit > 0 ? limit : f.options_limit, 1, 10'000);
      st.sql += " ORDER BY value LIMIT " + std::to_string(n + 1);  // one extra row tells "there is more"
      st.max_rows = n + 1;
      return st;
    }
  }
}

}  // namespace sightline::query
