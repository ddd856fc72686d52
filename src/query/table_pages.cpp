#include "query/table_pages.h"

#include <algorithm>
#include <cmath>

#include "engine/result_rows.h"

namespace sightline::query {
using engine::as_count;
using engine::rows_of;
using nlohmann::json;

namespace {

constexpr int kQuantiles = 1024;  // about this many of the sample's values are read, evenly spaced by rank
constexpr int kPivots = 8;        // values counted against per level (two comparisons each)
// Within a single value of a key, an offset up to this is sorted directly (a small top-N);
// deeper, the next key narrows the value's rows first.
constexpr int64_t kSmallOffset = 10'000;

int64_t count_of(const json& v) { return as_count(v).value_or(0); }

// The rows a level narrows the table to: a conjunction on the earlier keys (a value, or NULL).
struct Level {
  std::string prefix;  // " AND ..." (or "")
  std::vector<engine::Param> prefix_params;
  int64_t rows = 0;    // how many rows pass the prefix
  int64_t offset = 0;  // the page's offset among them
};

std::string cast_param(const PivotPaging::Key& key) { return "CAST(? AS " + key.type + ")"; }

// Comparison operators in sort order: "before" is < for ascending keys, > for descending ones.
const char* before_op(const PivotPaging::Key& k, bool inclusive) {
  if (k.descending) return inclusive ? " >= " : " > ";
  return inclusive ? " <= " : " < ";
}
const char* after_op(const PivotPaging::Key& k, bool inclusive) {
  if (k.descending) return inclusive ? " <= " : " < ";
  return inclusive ? " >= " : " > ";
}

// Up to kPivots distinct values of the key near the page's place, in sort order, read from the
// sample's values. Empty when the sample has no values (then only NULLs are told apart).
Result<std::vector<std::string>> pivots_near(QueryService& service, const engine::Engine& engine, const Scope& scope,
                                             const RunContext& run, const PivotPaging& plan, const PivotPaging::Key& key, const Level& level,
                                             double widen, const std::string& label) {
  // Every step-th value in ascending order (one sort of the sample's matching rows: far cheaper
  // than a thousand quantiles), with the counts of the matching rows and values.
  Statement st;
  const std::string k = key.sql;
  st.sql = "SELECT n, nn, step, CAST(k AS VARCHAR) AS pivot FROM (SELECT k, row_number() OVER (ORDER BY k ASC NULLS LAST) AS r, "
           "count(k) OVER () AS nn, count(*) OVER () AS n, greatest(1, count(k) OVER () // " + std::to_string(kQuantiles) +
           ") AS step FROM (SELECT " + k + " AS k FROM " + plan.sample_from + " WHERE " + plan.where + level.prefix +
           ") AS m) AS ranked WHERE k IS NOT NULL AND (r - 1) % step = 0 ORDER BY r";
  st.params = plan.sample_params;
  st.params.insert(st.params.end(), level.prefix_params.begin(), level.prefix_params.end());
  st.max_rows = 2 * kQuantiles + 2;
  auto found = service.run(engine, st, scope, run, label + "#pivots", "");
  if (!found) return fail(found.error());
  auto rows = rows_of(*found->output);
  if (!rows) return fail(rows.error());
  std::vector<std::string> ascending;  // value i is at rank i * step among the sample's values
  int64_t n = 0, nn = 0, step = 1;
  for (const auto& r : *rows) {
    n = count_of(r[0]);
    nn = count_of(r[1]);
    step = std::max<int64_t>(1, count_of(r[2]));
    if (r[3].is_string()) ascending.push_back(r[3].get<std::string>());
  }
  if (ascending.empty() || nn == 0) return std::vector<std::string>{};
  // Where the page lies among the non-NULL values, as a fraction in ascending order, and how far
  // the sample's estimate may be off (four standard deviations, plus two steps).
  const double values = std::max(1.0, static_cast<double>(level.rows) * static_cast<double>(nn) / static_cast<double>(std::max<int64_t>(n, 1)));
  double lo = std::clamp(static_cast<double>(level.offset) / values, 0.0, 1.0);
  double hi = std::clamp(static_cast<double>(level.offset + plan.page) / values, 0.0, 1.0);
  if (key.descending) std::tie(lo, hi) = std::pair(1.0 - hi, 1.0 - lo);
  const double mid = (lo + hi) / 2;
  const double per_fraction = static_cast<double>(nn) / static_cast<double>(step);  // values read per unit of fraction
  const double margin = widen * 4.0 * std::sqrt(std::max(mid * (1 - mid), 1.0 / static_cast<double>(nn)) / static_cast<double>(nn)) + 2.0 / per_fraction;
  const int last = static_cast<int>(ascending.size()) - 1;
  int from = std::clamp(static_cast<int>(std::floor((lo - margin) * per_fraction)), 0, last);
  int to = std::clamp(static_cast<int>(std::ceil((hi + margin) * per_fraction)), 0, last);
  std::vector<std::string> picked;
  for (int i = 0; i < kPivots; ++i) {
    int at = kPivots == 1 ? from : from + static_cast<int>(std::lround(static_cast<double>(to - from) * i / (kPivots - 1)));
    if (picked.empty() || picked.back() != ascending[at]) picked.push_back(ascending[at]);
  }
  if (key.descending) std::reverse(picked.begin(), picked.end());
  return picked;
}

// Per pivot, the rows strictly before it and those before or at it (in sort order), and the rows
// of the level with and without a NULL key.
struct Counts {
  int64_t rows = 0;
  int64_t values = 0;  // rows whose key is not NULL (NULLs sort last)
  std::vector<int64_t> before, through;
};

Result<Counts> count_around(QueryService& service, const engine::Engine& engine, const Scope& scope, const RunContext& run,
                            const PivotPaging& plan, const PivotPaging::Key& key, const Level& level, const std::vector<std::string>& pivots,
                            const std::string& label) {
  Statement st;
  // Each row's place among the pivots (in sort order), as a bucket: 0 before the first, 2i + 1 at
  // pivot i, 2i + 2 between pivots i and i + 1, 2m past the last; NULL for a NULL key. Most rows
  // lie outside the pivots' window and cost two comparisons; the rows inside it take the chain.
  // (Two sums per pivot compared every row with every pivot: 3x slower over 10M rows.)
  const int64_t m = static_cast<int64_t>(pivots.size());
  const std::string k = key.sql;
  std::string bucket = "CASE WHEN " + k + " IS NULL THEN NULL WHEN " + k + before_op(key, false) + cast_param(key) + " THEN 0 WHEN " + k +
                       after_op(key, false) + cast_param(key) + " THEN " + std::to_string(2 * m);
  st.params.push_back(pivots.front());
  st.params.push_back(pivots.back());
  for (int64_t i = 0; i < m; ++i) {
    bucket += " WHEN " + k + " = " + cast_param(key) + " THEN " + std::to_string(2 * i + 1);
    st.params.push_back(pivots[static_cast<size_t>(i)]);
    if (i + 1 < m) {
      bucket += " WHEN " + k + before_op(key, false) + cast_param(key) + " THEN " + std::to_string(2 * i + 2);
      st.params.push_back(pivots[static_cast<size_t>(i + 1)]);
    }
  }
  bucket += " END";
  st.sql = "SELECT b, count(*) AS n FROM (SELECT " + bucket + " AS b FROM " + plan.rows_from + " WHERE " + plan.where + level.prefix +
           ") AS placed GROUP BY b";
  st.params.insert(st.params.end(), plan.rows_params.begin(), plan.rows_params.end());
  st.params.insert(st.params.end(), level.prefix_params.begin(), level.prefix_params.end());
  st.max_rows = 2 * m + 2;
  auto found = service.run(engine, st, scope, run, label + "#pivot-counts", "");
  if (!found) return fail(found.error());
  auto rows = rows_of(*found->output);
  if (!rows) return fail(rows.error());
  std::vector<int64_t> in_bucket(static_cast<size_t>(2 * m + 1), 0);
  Counts c;
  for (const auto& r : *rows) {
    const int64_t n = count_of(r[1]);
    c.rows += n;
    if (r[0].is_null()) continue;
    const int64_t b = count_of(r[0]);
    if (b < 0 || b > 2 * m) return fail(ErrorKind::Internal, "a pivot bucket out of range");
    in_bucket[static_cast<size_t>(b)] += n;
    c.values += n;
  }
  int64_t before = 0;
  for (int64_t i = 0; i < m; ++i) {
    before += in_bucket[static_cast<size_t>(2 * i)];  // up to, not at, pivot i
    c.before.push_back(before);
    before += in_bucket[static_cast<size_t>(2 * i + 1)];  // and at it
    c.through.push_back(before);
  }
  return c;
}

// The final statement: the level's rows within [start, stop) of the key's order, sorted, at the
// page's offset past `skipped` rows.
Statement page_statement(const PivotPaging& plan, const Level& level, const std::string& window, const std::vector<engine::Param>& window_params,
                         int64_t skipped, int64_t max_rows) {
  Statement st;
  st.sql = plan.select + " FROM " + plan.rows_from + " WHERE " + plan.where + level.prefix + window + " ORDER BY " + plan.order + " LIMIT " +
           std::to_string(plan.page) + " OFFSET " + std::to_string(level.offset - skipped);
  st.params = plan.rows_params;
  st.params.insert(st.params.end(), level.prefix_params.begin(), level.prefix_params.end());
  st.params.insert(st.params.end(), window_params.begin(), window_params.end());
  st.max_rows = max_rows;
  return st;
}

// A page near the end (the last pages, as a table's "last page" asks): the rows from the page on
// are the first `rows - offset` rows of the order read backwards, a small top-N in one pass; the
// page is the first rows of those, in the table's order. The order breaks every tie (by every
// column), so reading it backwards reaches exactly the rows past the offset; `rows` is the exact
// count of the same rows.
Statement tail_statement(const PivotPaging& plan, int64_t rows, int64_t max_rows) {
  Statement st;
  st.sql = "SELECT * FROM (" + plan.select + " FROM " + plan.rows_from + " WHERE " + plan.where + " ORDER BY " + plan.reverse_order +
           " LIMIT " + std::to_string(rows - plan.offset) + ") AS tail_ ORDER BY " + plan.order + " LIMIT " + std::to_string(plan.page);
  st.params = plan.rows_params;
  st.max_rows = max_rows;
  return st;
}

// Whether the counts place a page at `offset` well: inside the NULLs, near the start, or with a
// pivot at most kSmallOffset rows before it.
bool close_enough(const Counts& c, int64_t offset) {
  if (offset >= c.values || offset <= kSmallOffset) return true;
  for (size_t i = 0; i < c.before.size(); ++i)
    for (int64_t at : {c.before[i], c.through[i]})
      if (at <= offset && offset - at <= kSmallOffset) return true;
  // Inside one value (the next key narrows it).
  for (size_t i = 0; i < c.before.size(); ++i)
    if (c.before[i] <= offset && c.through[i] > offset) return true;
  return false;
}

// A query the engine refused for this key's type (not a timeout, not the data): the plain
// statement answers instead.
bool plain_instead(const Error& e) { return e.kind == ErrorKind::Internal || e.kind == ErrorKind::InvalidInput; }

}  // namespace

Result<std::optional<Statement>> page_by_pivots(QueryService& service, const engine::Engine& engine, const Scope& scope,
                                                const RunContext& run, const PivotPaging& plan, int64_t rows, const std::string& label,
                                                int64_t max_rows) {
  Level level{"", {}, rows, plan.offset};
  if (plan.offset >= rows) return std::optional<Statement>{};  // past the end: the plain statement answers nothing quickly
  if (rows - plan.offset <= kSmallOffset && !plan.reverse_order.empty()) return std::optional(tail_statement(plan, rows, max_rows));
  for (size_t k = 0; k < plan.keys.size(); ++k) {
    const PivotPaging::Key& key = plan.keys[k];
    // Near the start of the level's rows: a small top-N over them is cheap.
    if (k > 0 && level.offset + plan.page <= kSmallOffset) return std::optional(page_statement(plan, level, "", {}, 0, max_rows));
    // Pivots near the sample's estimate; when it was off (no pivot within kSmallOffset rows before
    // the page), again with margins four and sixteen times as wide.
    std::vector<std::string> found;
    Counts c;
    for (double widen : {1.0, 4.0, 16.0}) {
      auto pivots = pivots_near(service, engine, scope, run, plan, key, level, widen, label);
      if (!pivots) {
        if (plain_instead(pivots.error())) return std::optional<Statement>{};
        return fail(pivots.error());
      }
      auto counts = count_around(service, engine, scope, run, plan, key, level, *pivots, label);
      if (!counts) {
        if (plain_instead(counts.error())) return std::optional<Statement>{};
        return fail(counts.error());
      }
      found = std::move(*pivots);
      c = std::move(*counts);
      if (close_enough(c, level.offset)) break;
    }
    const std::vector<std::string>* pivots = &found;
    const int64_t off = level.offset;
    const int64_t end = std::min(off + plan.page, c.rows);  // a last page may be short
    if (off >= c.values) {
      // The page lies among the rows whose key is NULL (sorted last): the next key orders them.
      level.prefix += " AND " + key.sql + " IS NULL";
      level.rows = c.rows - c.values;
      level.offset = off - c.values;
      continue;
    }
    // Inside a single value: with a next key and a deep offset, narrow to that value's rows.
    bool narrowed = false;
    for (size_t i = 0; i < pivots->size() && k + 1 < plan.keys.size(); ++i) {
      if (c.before[i] <= off && c.through[i] >= end && off - c.before[i] > kSmallOffset) {
        level.prefix += " AND " + key.sql + " = " + cast_param(key);
        level.prefix_params.push_back((*pivots)[i]);
        level.rows = c.through[i] - c.before[i];
        level.offset = off - c.before[i];
        narrowed = true;
        break;
      }
    }
    if (narrowed) continue;
    // The closest bounds around [off, end): a start at or before off, a stop at or after end.
    int64_t start = 0, stop = c.rows;
    std::string start_sql, stop_sql;
    std::vector<engine::Param> start_params, stop_params;
    if (c.values >= end) {
      stop = c.values;
      stop_sql = " AND " + key.sql + " IS NOT NULL";
    }
    for (size_t i = 0; i < pivots->size(); ++i) {
      const std::string& p = (*pivots)[i];
      for (bool through : {false, true}) {
        int64_t at = through ? c.through[i] : c.before[i];
        if (at <= off && at >= start) {
          start = at;
          start_sql = " AND " + key.sql + after_op(key, !through) + cast_param(key);
          start_params = {p};
        }
        if (at >= end && at < stop) {
          stop = at;
          stop_sql = " AND " + key.sql + before_op(key, through) + cast_param(key);
          stop_params = {p};
        }
      }
    }
    // A page running on into the NULLs (no stop set) keeps them past the start.
    if (stop_sql.empty() && !start_sql.empty()) start_sql = " AND (" + start_sql.substr(5) + " OR " + key.sql + " IS NULL)";
    std::vector<engine::Param> window_params = start_params;
    window_params.insert(window_params.end(), stop_params.begin(), stop_params.end());
    return std::optional(page_statement(plan, level, start_sql + stop_sql, window_params, start, max_rows));
  }
  // Every key was narrowed to one value or to NULLs: sort what is left.
  return std::optional(page_statement(plan, level, "", {}, 0, max_rows));
}

}  // namespace sightline::query
