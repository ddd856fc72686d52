// Top-N charts over a column of many values, answered from its head (query/top_values.h): a
// two-step plan whose first step proves from the head that the head holds the whole top N.
#include "query/planner_internal.h"
#include "query/top_values.h"

namespace sightline::query::detail {
using engine::quote_identifier;

void answer_top_n_from_head(const WidgetInput& in, const std::vector<SortKey>& sort, WidgetPlan& plan) {
  const config::WidgetSpec& w = in.widget;
  // Only where the rows would be read: a rollup, a month split or a subset is cheaper already.
  if (!in.rollups || in.rollup || !in.split_read.empty() || in.reads_subset || !is_top_n_chart(w)) return;
  const config::MeasureSpec& first = w.measures[0];
  // By the first measure, descending; ties by x (see plan_grouped_chart).
  if (first.approx || sort.empty() || sort[0].column != first.name || !sort[0].descending) return;
  if (sort.size() > 2 || (sort.size() == 2 && (sort[1].column != w.x->name || sort[1].descending))) return;
  const TopValues* top = in.rollups->top_values(in.rel->name, w.x->column);
  if (!top) return;
  auto bound = top->bounds.find(first.expr);
  auto type = top->measure_types.find(first.expr);
  if (bound == top->bounds.end() || type == top->measure_types.end()) return;

  const int64_t n = std::min(w.limit, in.cap);
  const std::string code = quote_identifier(kTopCodeColumn);
  // The head's rows under the caller's row policy, named as the relation.
  std::string head = quote_identifier(top->rows_table);
  std::vector<engine::Param> params;
  if (!in.unscoped()) {
    head = "(SELECT * FROM " + head + " WHERE " + in.policy.sql + ")";
    params = in.policy.params;
  }
  head += " AS " + quote_identifier(in.rel->name);
  params.insert(params.end(), in.where_params.begin(), in.where_params.end());

  // Step 1: the N-th largest value in the head, when N values have one and it beats every value
  // left out of the head (else NULL, and the plain statement answers).
  Statement proof;
  proof.sql = "SELECT CASE WHEN count(m_) >= " + std::to_string(n) + " AND min(m_) > " + bound->second +
              " THEN CAST(min(m_) AS VARCHAR) END AS nth FROM (SELECT " + in.measure_sql(first) + " AS m_ FROM " + head + " WHERE " +
              in.where + " GROUP BY " + code + " ORDER BY m_ DESC NULLS LAST LIMIT " + std::to_string(n) + ") AS top_";
  proof.params = params;
  proof.max_rows = 1;

  // Step 2: the groups of the head at or above it, named by their values (`sort` ends with x:
  // ties broken by value, as over the rows).
  Statement answer;
  answer.sql = "SELECT c_.v AS " + quote_identifier(w.x->name) + ", h_.* EXCLUDE (" + code + ") FROM (SELECT " + code +
               in.measure_list() + " FROM " + head + " WHERE " + in.where + " GROUP BY " + code + " HAVING " + in.measure_sql(first) +
               " >= CAST(? AS " + type->second + ")) AS h_ JOIN " + quote_identifier(top->codes_table) + " AS c_ ON c_.code = h_." + code +
               " ORDER BY " + order_by(sort) + " LIMIT " + std::to_string(n);
  answer.params = params;  // the prelude's value is appended
  answer.max_rows = plan.data.max_rows;

  plan.prelude = std::move(proof);
  plan.data_after_prelude = std::move(answer);
  // read_from stays the relation: the plain statement may still answer, and a state's subset
  // (query/subset.h) is chosen by it.
}

}  // namespace sightline::query::detail
