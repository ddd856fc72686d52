#include <regex>

#include "query/planner_internal.h"

namespace sightline::query::detail {
using config::WidgetType;
using engine::quote_identifier;

// A widget with its own SQL: every {{ filters }} becomes the predicate (its parameters repeated
// in order), the caller's row scope shadows each relation's name, and sorts and pages wrap it.
Result<WidgetPlan> plan_own_sql(const WidgetInput& in, const std::vector<std::string>* sql_columns) {
  const config::WidgetSpec& w = in.widget;
  const engine::Engine& engine = in.engine;
  const Scope& scope = in.scope;
  const QueryRequest& request = in.request;
  const int64_t cap = in.cap;
  const auto& preds = in.preds;
  WidgetPlan plan;
  Statement& st = plan.data;
  st.max_rows = cap;
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
    st.sql = "SELECT * FROM (" + out + ") AS widget_sql" + (order.empty() ? "" : " ORDER BY " + order) + " LIMIT " + std::to_string(limit) +
             " OFFSET " + std::to_string(request.offset);
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

}  // namespace sightline::query::detail
