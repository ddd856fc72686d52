#include "query/planner_internal.h"

namespace sightline::query::detail {
using config::WidgetType;
using engine::quote_identifier;

// A repeatable sample of the filtered points.
Result<WidgetPlan> plan_scatter(WidgetInput in) {
  in.prepare_source(false);
  const config::WidgetSpec& w = in.widget;
  const engine::Relation* rel = in.rel;
  const int64_t cap = in.cap;
  const std::string& from = in.from;
  const std::string& where = in.where;
  auto base_params = [&] { return in.base_params(); };
  WidgetPlan plan;
  Statement& st = plan.data;
  st.max_rows = cap;
  plan.read_from = in.read_from();
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
  // From the relation's sample when enough of its rows pass the filters (checked first, on the
  // sample: a count); else from every row.
  if (in.sample && in.sample_serves_scatter && !in.reads_subset) {
    std::vector<engine::Param> sample_params;
    std::string sample_from = in.sample_from(sample_params);
    sample_params.insert(sample_params.end(), in.where_params.begin(), in.where_params.end());
    const std::string points = " FROM " + sample_from + " WHERE " + where + " AND " + quote_identifier(w.x->column) + " IS NOT NULL AND " +
                               quote_identifier(w.y_dim->column) + " IS NOT NULL";
    Statement enough;
    enough.sql = "SELECT 'sample' AS enough FROM (SELECT count(*) AS n" + points + ") AS counted WHERE n >= " + std::to_string(n);
    enough.params = sample_params;
    enough.max_rows = 1;
    Statement sampled = st;
    sampled.sql = "SELECT * FROM (SELECT " + select + points + " AND CAST(? AS VARCHAR) = 'sample') USING SAMPLE reservoir(" +
                  std::to_string(n) + " ROWS) REPEATABLE (7)";
    sampled.params = sample_params;
    plan.prelude = std::move(enough);
    plan.data_after_prelude = std::move(sampled);
  }
  return plan;
}

// Counts in the column's fixed bins (engine/bins.h): from a rollup that keeps the bins (or the
// values) when one fits, else from the rows.
Result<WidgetPlan> plan_fixed_bins_histogram(WidgetInput in, const engine::ColumnBins& bins) {
  const std::string column = in.widget.x->column;
  in.extra_needs[column] = Grain::Bins;
  in.extra_measures = {"count(*)"};
  in.prepare_source(true);
  const std::string col = quote_identifier(column);
  // The bin index of each row (or group): from a rollup's key, or computed from the value.
  const bool keys = in.rollup && in.rollup->grain_of(column) == Grain::Bins;
  const std::string index = keys ? "(" + col + " // 2)" : bins.index_sql(col);
  const std::string rows = in.rollup ? "CAST(sum(" + Rollup::stored_column({"count", ""}) + ") AS BIGINT)" : "count(*)";
  WidgetPlan plan;
  plan.read_from = in.read_from();
  Statement& st = plan.data;
  st.max_rows = in.cap;
  st.sql = "SELECT " + bins.edge_sql("i") + " AS bin_start, " + bins.edge_sql("i + 1") + " AS bin_end, " + rows + " AS count FROM (SELECT " +
           index + " AS i" + (in.rollup ? ", " + Rollup::stored_column({"count", ""}) : "") + " FROM " + in.from + " WHERE " + in.where +
           ") AS binned WHERE i IS NOT NULL GROUP BY i ORDER BY bin_start";
  st.params = in.base_params();
  return plan;
}

// Counts in equal-width bins: the column's fixed bins when it has them, else bins between the
// filtered minimum and maximum.
Result<WidgetPlan> plan_histogram(WidgetInput in) {
  if (auto r = check_column(in.widget.x->column, *in.rel, "widget '" + in.widget.id + "'"); !r) return fail(r.error());
  if (const engine::ColumnBins* bins = in.rel->bins_of(in.widget.x->column)) return plan_fixed_bins_histogram(std::move(in), *bins);
  in.prepare_source(false);
  const config::WidgetSpec& w = in.widget;
  const engine::Relation* rel = in.rel;
  const int64_t cap = in.cap;
  const std::string& from = in.from;
  const std::string& where = in.where;
  const Rollups* rollups = in.rollups;
  const bool unscoped = in.unscoped();
  const auto& predicate_needs = in.predicate_needs;
  auto base_params = [&] { return in.base_params(); };
  WidgetPlan plan;
  Statement& st = plan.data;
  st.max_rows = cap;
  plan.read_from = in.read_from();
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
  const Rollup* bounds = rollups && unscoped ? rollups->match(rel->name, predicate_needs, extremes) : nullptr;
  if (bounds) {
    std::string lo = Rollup::stored_column({"min", w.x->column}), hi = Rollup::stored_column({"max", w.x->column});
    Statement prelude;
    // The predicates as they read over the rollup (ranges on bin edges as bin keys).
    prelude.sql = "SELECT CAST(CAST(min(" + lo + ") AS DOUBLE) AS VARCHAR) AS lo, CAST(CAST(max(" + hi +
                  ") AS DOUBLE) AS VARCHAR) AS hi FROM " + quote_identifier(bounds->table) + " WHERE " +
                  and_all(in.over_rollup(in.preds, *bounds), prelude.params);
    prelude.max_rows = 1;
    plan.prelude = std::move(prelude);
    Statement after = st;
    after.sql = "SELECT lo + (hi - lo) / " + bins + " * bin AS bin_start, lo + (hi - lo) / " + bins +
                " * (bin + 1) AS bin_end, count FROM (SELECT bin, count(*) AS count, any_value(lo) AS lo, any_value(hi) AS hi FROM "
                "(SELECT least(CAST(floor((v - lo) / greatest((hi - lo) / " +
                bins + ", 1e-12)) AS BIGINT), " + bins + " - 1) AS bin, lo, hi FROM (SELECT CAST(" + col + " AS DOUBLE) AS v FROM " + from +
                " WHERE " + where + " AND " + col +
                " IS NOT NULL) AS filtered, (SELECT CAST(? AS DOUBLE) AS lo, CAST(? AS DOUBLE) AS hi) AS bounds)" +
                " AS binned GROUP BY bin) AS counted ORDER BY bin_start";
    plan.data_after_prelude = std::move(after);
  }
  return plan;
}

}  // namespace sightline::query::detail
