#include "engine/bins.h"

#include <cmath>
#include <algorithm>
#include <cstdio>

#include "engine/engine.h"
#include "engine/result_rows.h"

namespace sightline::engine {
using nlohmann::json;

namespace {

constexpr int64_t kRangeFilterBins = 50;
// Whole numbers spanning at most this many values are kept as they are (units per order, party
// sizes): a rollup holds them exactly, and a slider steps through every value.
constexpr double kExactSpan = 200;

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  // A literal DuckDB reads as DOUBLE, not DECIMAL.
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return "CAST(" + s + " AS DOUBLE)";
}

Result<json> rows_of(Connection& conn, const std::string& sql) {
  auto out = conn.query(sql, 10'000);
  if (!out) return fail(out.error());
  auto rows = engine::rows_of(*out);
  if (rows && rows->empty()) return fail(ErrorKind::Internal, "no row");
  return rows;
}

std::optional<double> as_double(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    try {
      return std::stod(v.get<std::string>());
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

}  // namespace

double nice_width(double span, int64_t count, double finest) {
  if (!(span > 0) || count < 1) return std::max(finest, 1.0);
  const double raw = span / static_cast<double>(count);
  if (raw < 1) {
    // Below one: powers of two (0.5, 0.25, ...), which doubles hold exactly, so every edge
    // start + i * width is exact and compares exactly with a DECIMAL's values.
    double w = 1;
    while (w / 2 >= raw && w / 2 >= finest) w /= 2;
    return std::max(w, finest);
  }
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * power >= raw) return m * power;
  return 10 * power;
}

std::string ColumnBins::index_sql(const std::string& value_sql) const {
  const std::string x = "CAST(" + value_sql + " AS DOUBLE)";
  const std::string guess = "CAST(floor((" + x + " - " + number(start) + ") / " + number(width) + ") AS BIGINT)";
  // The division may land one off at an edge: the edges themselves decide. NaN and infinities
  // have no bin (NULL), and are never cast to a whole number.
  return "(CASE WHEN isfinite(" + x + ") THEN " + guess + " - CASE WHEN " + x + " < " + edge_sql(guess) + " THEN 1 WHEN " + x +
         " >= " + edge_sql(guess + " + 1") + " THEN -1 ELSE 0 END END)";
}

std::string ColumnBins::key_sql(const std::string& value_sql) const {
  const std::string index = index_sql(value_sql);
  return "(2 * " + index + " + CASE WHEN CAST(" + value_sql + " AS DOUBLE) = " + edge_sql(index) + " THEN 0 ELSE 1 END)";
}

std::string ColumnBins::edge_sql(const std::string& index) const {
  return "(" + number(start) + " + CAST(" + index + " AS DOUBLE) * " + number(width) + ")";
}

std::optional<int64_t> ColumnBins::edge_index(double value) const {
  for (size_t i = 0; i < edges.size(); ++i)
    if (edges[i] == value) return static_cast<int64_t>(i);
  return std::nullopt;
}

std::map<std::string, ColumnBins> plan_bins(const config::Project& project, const std::string& relation,
                                            const std::vector<ColumnInfo>& columns, Connection& conn) {
  // Which columns, and how many bins each wants (a histogram's own count wins over a filter's).
  std::map<std::string, std::pair<int64_t, bool>> wanted;  // column -> bins, from a histogram
  for (const auto& d : project.dashboards) {
    for (const auto& f : d.filters)
      if (f.type == config::FilterType::Range && d.source == relation) wanted.try_emplace(f.column, kRangeFilterBins, false);
    for (const auto& p : d.pages)
      for (const auto& w : p.widgets) {
        if (w.type != config::WidgetType::Histogram || !w.sql.empty() || !w.x) continue;
        if ((w.source.empty() ? d.source : w.source) == relation) wanted[w.x->column] = {std::max(1, w.bins), true};
      }
  }
  std::map<std::string, ColumnBins> out;
  for (const auto& [column, want] : wanted) {
    auto info = std::find_if(columns.begin(), columns.end(), [&](const ColumnInfo& c) { return c.name == column; });
    if (info == columns.end()) continue;
    const auto kind = value_kind(info->type);
    if (kind != ValueKind::Integer && kind != ValueKind::Float && kind != ValueKind::Decimal) continue;
    const std::string col = quote_identifier(column);
    auto bounds = rows_of(conn, "SELECT CAST(min(" + col + ") AS DOUBLE), CAST(max(" + col + ") AS DOUBLE) FROM " + quote_identifier(relation) +
                                    " WHERE isfinite(CAST(" + col + " AS DOUBLE))");
    if (!bounds) continue;
    auto lo = as_double((*bounds)[0][0]), hi = as_double((*bounds)[0][1]);
    if (!lo || !hi) continue;  // no values
    const bool whole = kind == ValueKind::Integer;
    if (whole && !want.second && *hi - *lo <= kExactSpan) continue;  // kept as they are
    double finest = 1;
    if (!whole) {
      finest = 1.0 / 1024;
      if (kind == ValueKind::Decimal) {
        // 2^-j holds j decimal places: no finer than the column's scale.
        auto comma = info->type.find(',');
        int scale = comma == std::string::npos ? 0 : std::atoi(info->type.c_str() + comma + 1);
        finest = std::pow(2.0, -std::min(scale, 10));
      }
    }
    ColumnBins b;
    b.relation = relation;
    b.column = column;
    b.width = nice_width(*hi - *lo, want.first, finest);
    b.start = std::floor(*lo / b.width) * b.width;
    b.count = static_cast<int64_t>(std::floor((*hi - b.start) / b.width)) + 1;
    if (b.count > 100'000) continue;  // a pathological spread: not worth bins
    auto edges = rows_of(conn, "SELECT " + b.edge_sql("range") + " FROM range(" + std::to_string(b.count + 1) + ")");
    if (!edges) continue;
    for (const auto& row : *edges)
      if (auto e = as_double(row[0])) b.edges.push_back(*e);
    if (static_cast<int64_t>(b.edges.size()) != b.count + 1) continue;
    out[column] = std::move(b);
  }
  return out;
}

}  // namespace sightline::engine
