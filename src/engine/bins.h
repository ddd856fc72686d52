// Fixed bins of continuous numeric columns (prices, fares, durations): histograms count rows
// per bin, range sliders snap to the bins' edges, and rollups keep the bins, so a range filter
// whose ends are edges and every histogram are answered exactly from pre-aggregates.
//
//   const ColumnBins* fares = engine.relation("rides")->bins_of("fare (€)");   // planned at load
//   fares->edges;   // 0, 2.5, 5, ... (nice numbers; the bins are [e_i, e_i+1))
//
// Edges are start + i * width, computed by DuckDB in DOUBLE, so the values the dashboard
// announces and the values SQL compares with are the same numbers. A value's bin index is
// floor((x - start) / width) corrected so that edge(i) <= x < edge(i + 1) holds exactly; a
// rollup keeps the finer key 2i + (x == edge(i) ? 0 : 1), so that [edge(k), edge(m)] (inclusive, as
// range filters are) is exactly the keys 2k .. 2m. Values beyond the planned range (newer data)
// still get an index and a key; non-finite values (NaN, infinities) get NULL. Plain data.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/project.h"
#include "engine/duckdb.h"

namespace sightline::engine {

struct ColumnBins {
  std::string relation;
  std::string column;
  double start = 0;
  double width = 1;
  int64_t count = 0;           // bins between the column's minimum and maximum at planning
  std::vector<double> edges;   // count + 1 edges, as DuckDB computes them

  // SQL of the bin index of `value_sql` (a BIGINT; NULL for NULL).
  std::string index_sql(const std::string& value_sql) const;
  // SQL of the key 2i + (value is exactly edge i ? 0 : 1) (a BIGINT; NULL for NULL).
  std::string key_sql(const std::string& value_sql) const;
  // SQL of edge `index_sql` (a DOUBLE), computed as the edges are.
  std::string edge_sql(const std::string& index_sql) const;
  // The index of `value` among the edges, when it is one.
  std::optional<int64_t> edge_index(double value) const;
};

// Bins for each numeric column of `relation` that a dashboard of `project` shows as a histogram
// (that widget's `bins`) or filters with a range (about 50 bins), unless it holds whole numbers
// over a span small enough to keep as they are; by column. Columns whose bounds cannot be read
// get no bins. Reads each such column once (its minimum and maximum) on `conn`.
std::map<std::string, ColumnBins> plan_bins(const config::Project& project, const std::string& relation,
                                            const std::vector<ColumnInfo>& columns, Connection& conn);

// A "nice" bin width (1, 2, 2.5 or 5 times a power of ten) at least `span / count`, no finer than
// `finest` (10^-scale of a DECIMAL, 1 for whole numbers).
double nice_width(double span, int64_t count, double finest);

}  // namespace sightline::engine
