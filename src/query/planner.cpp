#include "query/planner.h"

#include <chrono>
#include <cstdio>
#include <regex>
#include <set>

#include "engine/zone_timeline.h"
#include "query/planner_internal.h"

#include <regex>

namespace sightline::query {
using config::WidgetType;
using engine::quote_identifier;

namespace detail {

std::string and_all(const std::vector<SqlFragment>& preds, std::vector<engine::Param>& params) {
  std::string sql;
  for (const auto& p : preds) {
    sql += (sql.empty() ? "" : " AND ") + std::string("(") + p.sql + ")";
    params.insert(params.end(), p.params.begin(), p.params.end());
  }
  return sql.empty() ? "TRUE" : sql;
}

// The FROM clause for a relation under the caller's scope.
std::string scoped_rows(const std::string& relation, const Scope& scope, std::vector<engine::Param>& params) {
  SqlFragment rp = scope.predicate_for(relation);
  if (rp.empty()) return quote_identifier(relation);
  params.insert(params.end(), rp.params.begin(), rp.params.end());
  return "(SELECT * FROM " + quote_identifier(relation) + " WHERE " + rp.sql + ")";
}

std::string scoped_from(const std::string& relation, const Scope& scope, std::vector<engine::Param>& params) {
  std::string rows = scoped_rows(relation, scope, params);
  return rows.front() == '(' ? rows + " AS " + quote_identifier(relation) : rows;
}

std::string dimension_sql(const config::DimensionSpec& d, const engine::Relation& rel) {
  std::string col = quote_identifier(d.column);
  if (d.grain.empty()) return col;
  const auto* info = rel.column(d.column);
  bool is_date = info && engine::value_kind(info->type) == engine::ValueKind::Date;
  // A part of the date or time (own SQL's hour(ts), isodow(ts), month(ts); see sql_widgets.h).
  if (auto part = engine::date_part_of_grain(d.grain)) {
    if (info && info->type == "TIMESTAMP WITH TIME ZONE") return engine::local_part_sql(*part, col);
    return std::string(engine::date_part_function(*part)) + "(" + col + ")";
  }
  // With a time zone, DuckDB truncates value by value through its time zone library; the
  // engine's own functions give the same buckets as arithmetic (engine/zone_timeline.h).
  const auto unit = engine::calendar_unit(d.grain);
  if (unit && info && info->type == "TIMESTAMP WITH TIME ZONE")
    return d.grain == "hour" ? engine::local_trunc_sql(*unit, col) : engine::local_date_sql(*unit, col);
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

std::string reverse_order_by(const std::vector<SortKey>& keys) {
  std::string out;
  for (const auto& k : keys)
    out += (out.empty() ? "" : ", ") + quote_identifier(k.column) + (k.descending ? " ASC" : " DESC") + " NULLS FIRST";
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

std::vector<const config::DimensionSpec*> WidgetInput::shown_dimensions() const {
  std::vector<const config::DimensionSpec*> out;
  for (const auto* dim : {&widget.x, &widget.y_dim, &widget.color})
    if (*dim) out.push_back(&**dim);
  if (widget.type == WidgetType::Table)
    for (const auto& c : widget.columns) out.push_back(&c);
  if (widget.type == WidgetType::Histogram) out.clear();  // its x is counted by bins, not grouped by (see extra_needs)
  return out;
}

std::vector<engine::Param> WidgetInput::base_params() const {
  std::vector<engine::Param> p = from_params;
  p.insert(p.end(), where_params.begin(), where_params.end());
  return p;
}

std::string WidgetInput::sample_from(std::vector<engine::Param>& params) const {
  if (!sample) return "";
  if (sample_policy.empty()) return "(SELECT * FROM " + quote_identifier(*sample) + ") AS " + quote_identifier(sampled_relation);
  params.insert(params.end(), sample_policy.params.begin(), sample_policy.params.end());
  return "(SELECT * FROM " + quote_identifier(*sample) + " WHERE " + sample_policy.sql + ") AS " + quote_identifier(sampled_relation);
}

std::string approximate_distinct_counts(const std::string& expr) {
  static const std::regex opening(R"(count\s*\(\s*distinct\s+)", std::regex::icase);
  std::string out;
  std::smatch m;
  std::string rest = expr;
  while (std::regex_search(rest, m, opening)) {
    const size_t begin = static_cast<size_t>(m.position(0)), arg = begin + static_cast<size_t>(m.length(0));
    // The argument runs to the parenthesis closing count( at depth 0, outside quotes.
    size_t i = arg;
    int depth = 0;
    bool top_level_comma = false;
    char quote = 0;
    for (; i < rest.size(); ++i) {
      const char c = rest[i];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (depth == 0) break;
        --depth;
      } else if (c == ',' && depth == 0) {
        top_level_comma = true;
      }
    }
    if (i >= rest.size()) break;  // unbalanced: left as written (the engine will say so)
    const std::string argument = rest.substr(arg, i - arg);
    out += rest.substr(0, begin);
    if (top_level_comma)  // count(DISTINCT a, b): kept exact
      out += rest.substr(begin, i + 1 - begin);
    else
      out += "sightline_hll_count(CASE WHEN (" + argument + ") IS NULL THEN NULL ELSE hash(" + argument + ") END)";
    rest = rest.substr(i + 1);
  }
  return out + rest;
}

std::string WidgetInput::measure_sql(const config::MeasureSpec& m) const {
  if (rollup) return *rollup->rewrite(m.expr);  // exact, from bitmaps, even when approx is allowed
  if (m.approx) return approximate_distinct_counts(m.expr);  // a HyperLogLog over the rows
  return m.expr;
}

std::string WidgetInput::measure_list() const {
  std::string m;
  for (const auto& ms : widget.measures) m += ", " + measure_sql(ms) + " AS " + quote_identifier(ms.name);
  return m;
}

std::vector<SortKey> WidgetInput::declared_sort(const std::string& x_name) const {
  if (!widget.sort) return {};
  std::string col = widget.sort->column;
  if (col == "x" && !x_name.empty()) col = x_name;
  if ((col == "y" || col == "value") && !widget.measures.empty()) col = widget.measures[0].name;
  return {{col, widget.sort->descending}};
}

Result<void> WidgetInput::check_sort(const std::vector<SortKey>& keys, const std::vector<std::string>& result_columns) const {
  for (const auto& k : keys) {
    if (std::find(result_columns.begin(), result_columns.end(), k.column) != result_columns.end()) continue;
    std::string cols;
    for (const auto& c : result_columns) cols += (cols.empty() ? "" : ", ") + c;
    return fail(ErrorKind::InvalidInput, "cannot sort by '" + k.column.substr(0, 64) + "': not a column of widget '" + widget.id + "'",
                "sortable columns: " + cols);
  }
  return {};
}

namespace {

// A range of whole days split around the whole months inside it: [first, months_begin) are the
// days before, [months_begin, months_end) the whole months, [months_end, after_last) the days
// after. An open end (empty) stays open: the months run from or to it, with no days on that
// side. nullopt when no whole month lies inside a closed range, or both ends are open.
struct MonthSplit {
  std::string first, months_begin, months_end, after_last;
};

std::optional<MonthSplit> split_months(const std::string& first, const std::string& last) {
  using namespace std::chrono;
  if (first.empty() && last.empty()) return std::nullopt;
  std::optional<sys_days> a, b;
  if (!first.empty() && !(a = parse_day(nlohmann::json(first)))) return std::nullopt;
  if (!last.empty() && !(b = parse_day(nlohmann::json(last)))) return std::nullopt;
  MonthSplit out{first, "", "", ""};
  sys_days begin{}, end{};
  if (a) {
    year_month_day fa(*a);
    begin = fa.day() == day(1) ? *a : sys_days(year_month_day(fa.year(), fa.month(), day(1)) + months(1));
    out.months_begin = format_day(begin);
  }
  if (b) {
    year_month_day lb(*b + days(1));
    end = sys_days(year_month_day(lb.year(), lb.month(), day(1)));  // first day of the month holding last + 1
    out.months_end = format_day(end);
    out.after_last = format_day(*b + days(1));
  }
  if (a && b && begin >= end) return std::nullopt;
  return out;
}

}  // namespace

bool WidgetInput::split_by_months(const std::map<std::string, Grain>& needs, const std::vector<std::string>& measures, const Rollup* days) {
  // The first range of arbitrary days (one end may be open); with it at month grain, is there a rollup?
  const SqlFragment* range = nullptr;
  for (const auto& p : preds)
    if (!range && p.coarsest_grain == Grain::Day && p.columns.size() == 1 && (!p.first_day.empty() || !p.last_day.empty())) range = &p;
  if (!range) return false;
  const std::string& column = range->columns[0];
  if (needs.at(column) != Grain::Day) return false;  // also compared exactly
  for (const config::DimensionSpec* dim : shown_dimensions()) {
    if (dim->column != column) continue;
    const std::string& g = dim->grain;
    if (g != "month" && g != "quarter" && g != "year") return false;  // shown by the day or finer: months would merge days
  }
  auto split = split_months(range->first_day, range->last_day);
  if (!split) return false;
  std::map<std::string, Grain> monthly = needs;
  monthly[column] = Grain::Month;
  const Rollup* months = rollups->match(rel->name, monthly, measures);
  if (!months) return false;
  // The days' rollup must store every aggregate the months' one does, with the same value codes.
  if (days && (days->code_tables != months->code_tables ||
               !std::includes(days->aggregates.begin(), days->aggregates.end(), months->aggregates.begin(), months->aggregates.end())))
    return false;

  const auto* info = rel->column(column);
  const std::string type = engine::value_kind(info->type) == engine::ValueKind::Date ? "DATE" : "TIMESTAMP";
  const std::string col = quote_identifier(column);
  // [lo, hi); an empty end is open.
  auto between = [&](const std::string& lo, const std::string& hi, std::vector<engine::Param>& params) {
    std::string sql;
    if (!lo.empty()) {
      sql = col + " >= CAST(? AS " + type + ")";
      params.push_back(lo);
    }
    if (!hi.empty()) {
      sql += (sql.empty() ? "" : " AND ") + col + " < CAST(? AS " + type + ")";
      params.push_back(hi);
    }
    return "(" + sql + ")";
  };
  // Both parts group by the columns the widget shows and keep the rollup's stored aggregates,
  // so the outer query reads them as it would read the rollup.
  std::set<std::string> shown;
  for (const config::DimensionSpec* dim : shown_dimensions()) shown.insert(dim->column);
  for (const auto& [c, g] : extra_needs) shown.insert(c);
  // A column the rollup keeps by bin key: the rows give their keys too, so both parts agree.
  // The days' rollup gives its keys as they are where it keeps the same bins, else as the rows do.
  // The range's column, shown only by the month or coarser (checked above): the days' part gives
  // it by the month too, as the month rollup keeps it, so it adds up a group per month rather than
  // one per hour or row (which the outer query would only merge again: each a bitmap union for a
  // distinct count).
  const bool days_by_month = !extra_needs.count(column);
  std::string keys, row_keys, stored_of_rows, stored_names;
  for (const auto& c : shown) {
    keys += quote_identifier(c) + ", ";
    if (c == column && days_by_month) {
      row_keys += Rollup::key_sql(*rel, c, Grain::Month) + " AS " + quote_identifier(c) + ", ";
      continue;
    }
    const bool binned = months->grain_of(c) == Grain::Bins;
    if (days && !binned && days->grain_of(c) == Grain::Bins) return false;  // bin keys beside values
    const engine::ColumnBins* bins = binned && !(days && days->grain_of(c) == Grain::Bins) ? rel->bins_of(c) : nullptr;
    row_keys += (bins ? bins->key_sql(quote_identifier(c)) + " AS " + quote_identifier(c) : quote_identifier(c)) + ", ";
  }
  for (const auto& a : months->aggregates) {
    const std::string stored = days ? Rollup::reaggregate_sql(a) : Rollup::aggregate_sql(a);
    stored_of_rows += std::string(stored_of_rows.empty() ? "" : ", ") + stored + " AS " + Rollup::stored_column(a);
    stored_names += std::string(stored_names.empty() ? "" : ", ") + Rollup::stored_column(a);
  }
  std::vector<engine::Param> params;
  // The other predicates apply to both parts.
  std::vector<SqlFragment> others;
  for (const auto& p : preds)
    if (&p != range) others.push_back(p);
  std::vector<engine::Param> other_params, month_params;
  const std::string other_where = and_all(days ? over_rollup(others, *days) : others, other_params);
  const std::string month_where = and_all(over_rollup(others, *months), month_params);

  std::string month_from = quote_identifier(months->table);
  if (!unscoped()) {
    month_from = "(SELECT * FROM " + month_from + " WHERE " + policy.sql + ") AS " + month_from;
    params.insert(params.end(), policy.params.begin(), policy.params.end());
  }
  std::string sql = "SELECT " + keys + stored_names + " FROM " + month_from + " WHERE " + month_where;
  params.insert(params.end(), month_params.begin(), month_params.end());
  sql += " AND " + between(split->months_begin, split->months_end, params);
  // The days before and after the whole months, from the rows: each part one plain range, so
  // the scan skips the row groups outside it (DuckDB does not skip by an OR of two ranges).
  auto rows_part = [&](const std::string& lo, const std::string& hi) {
    std::string rows_from;
    if (days) {
      rows_from = quote_identifier(days->table);
      if (!unscoped()) {
        rows_from = "(SELECT * FROM " + rows_from + " WHERE " + policy.sql + ") AS " + rows_from;
        params.insert(params.end(), policy.params.begin(), policy.params.end());
      }
    } else if (months->code_tables.empty()) {
      rows_from = scoped_from(rel->name, scope, params);
    } else {
      // The rows with the codes of the values counted distinct, as the rollup was made.
      std::string joins, codes;
      int n = 0;
      for (const auto& [column, table] : months->code_tables) {
        std::string alias = "c" + std::to_string(n++) + "_";
        codes += ", " + alias + ".code AS " + quote_identifier("__code__" + column);
        joins += " LEFT JOIN " + quote_identifier(table) + " AS " + alias + " ON r_." + quote_identifier(column) + " = " + alias + ".v";
      }
      rows_from = "(SELECT r_.*" + codes + " FROM " + scoped_rows(rel->name, scope, params) + " AS r_" + joins + ") AS " +
                  quote_identifier(rel->name);
    }
    std::string part = " UNION ALL SELECT " + row_keys + stored_of_rows + " FROM " + rows_from + " WHERE " + other_where;
    params.insert(params.end(), other_params.begin(), other_params.end());
    // The order of the parameters is the order of the text.
    part += " AND " + between(lo, hi, params) + " GROUP BY ALL";
    return part;
  };
  if (split->first != split->months_begin) sql += rows_part(split->first, split->months_begin);
  if (split->months_end != split->after_last) sql += rows_part(split->months_end, split->after_last);
  rollup = months;
  from = "(" + sql + ") AS parts";
  from_params = std::move(params);
  where = "TRUE";
  where_params.clear();
  split_read = months->table + "+" + (days ? days->table : rel->name);
  return true;
}

void WidgetInput::prepare_source(bool aggregate) {
  // A rollup answers aggregate widgets whose every column is in it; under a row policy only when
  // the policy reads nothing but columns the rollup groups by (at day grain): it then selects
  // exactly the groups whose rows it grants.
  bool policy_fits_rollups = !unscoped() && policy.columns_known;
  if (rollups && (unscoped() || policy_fits_rollups) && aggregate) {
    std::map<std::string, Grain> needs = predicate_needs;
    for (const auto& c : policy.columns) needs[c] = Grain::Exact;
    for (const config::DimensionSpec* dim : shown_dimensions()) {
      Grain coarsest = need_of_dimension(dim->grain);
      auto [it, fresh] = needs.emplace(dim->column, coarsest);
      if (!fresh) it->second = std::min(it->second, coarsest);
    }
    std::vector<std::string> exprs = extra_measures;
    for (const auto& m : widget.measures) exprs.push_back(m.expr);
    for (const auto& [c, g] : extra_needs) {
      auto [it, fresh] = needs.emplace(c, g);
      if (!fresh) it->second = std::min(it->second, g);
    }
    rollup = rollups->match(rel->name, needs, exprs);
    // A rollup fine enough for a range of arbitrary days that holds more than a tenth of the rows
    // (hours by district, say) costs more than the range's whole months from a month rollup and
    // its few days around them from that fine rollup: distinct counts merge a bitmap per rollup
    // row read (rides at 10M rows: 220-290 ms for two years by the hour, where months and the
    // edge days read a few percent of those rows).
    if (rollup && rollup->rows * 10 > rollup->source_rows) {
      const Rollup* fine = rollup;
      if (split_by_months(needs, exprs, fine)) return;
      rollup = fine;
    }
    if (!rollup && split_by_months(needs, exprs)) return;
  }
  from_params.clear();
  split_read.clear();
  if (rollup && unscoped()) {
    from = quote_identifier(rollup->table);
  } else if (rollup) {
    from = "(SELECT * FROM " + quote_identifier(rollup->table) + " WHERE " + policy.sql + ") AS " + quote_identifier(rollup->table);
    from_params = policy.params;
  } else if (reads_subset) {
    from = rel->sql_name();  // made under the caller's scope already
  } else {
    from = rows_by_equalities();
    if (from.empty()) from = scoped_from(rel->name, scope, from_params);
  }
  where_params.clear();
  where = rollup ? and_all(over_rollup(preds, *rollup), where_params) : and_all(preds, where_params);
}

// A few values of an ENUM column far apart in its order (SqlFragment::equalities) are read as a
// union of one scan per value: each scan skips the row groups that cannot hold its value (the
// values' codes in one list skip only those outside the lowest and the highest), and a scan of
// one-byte codes is cheap. Rides at 10M rows clustered by district, two zones of different
// districts: the widgets that read the rows took 101, 77 and 136 ms (days, hours, hour of day)
// as a union, 221, 190 and 231 ms with the list of codes. The WHERE clause keeps the list
// (statements over the sample read it); on the rows left it costs nothing.
std::string WidgetInput::rows_by_equalities() {
  constexpr size_t kMaxBranches = 4;
  const SqlFragment* split = nullptr;
  for (const auto& p : preds)
    if (p.equalities.size() >= 2 && p.equalities.size() <= kMaxBranches && (!split || p.equalities.size() < split->equalities.size()))
      split = &p;
  if (!split) return "";
  std::string branches;
  for (const auto& [sql, value] : split->equalities) {
    branches += (branches.empty() ? "SELECT * FROM " : " UNION ALL SELECT * FROM ") + scoped_rows(rel->name, scope, from_params) +
                " WHERE " + sql;
    from_params.push_back(value);
  }
  return "(" + branches + ") AS " + quote_identifier(rel->name);
}

const engine::ColumnBins* WidgetInput::binned_range(const SqlFragment& p) const {
  if (!p.numeric_range || p.columns.size() != 1 || !rel) return nullptr;
  const engine::ColumnBins* bins = rel->bins_of(p.columns[0]);
  if (!bins) return nullptr;
  if (p.range_low && !bins->edge_index(*p.range_low)) return nullptr;
  if (p.range_high && !bins->edge_index(*p.range_high)) return nullptr;
  return bins;
}

std::vector<SqlFragment> WidgetInput::over_rollup(const std::vector<SqlFragment>& fragments, const Rollup& r) const {
  std::vector<SqlFragment> out;
  for (const auto& p : fragments) {
    const engine::ColumnBins* bins = binned_range(p);
    if (!bins || r.grain_of(p.columns[0]) != Grain::Bins) {
      out.push_back(p);
      continue;
    }
    // The rollup keeps the column's bin keys: [edge k, edge m] is keys 2k .. 2m (bins.h).
    SqlFragment keys = p;
    keys.params.clear();
    const std::string col = quote_identifier(p.columns[0]);
    std::string sql;
    if (p.range_low) {
      sql = col + " >= ?";
      keys.params.push_back(int64_t{2 * *bins->edge_index(*p.range_low)});
    }
    if (p.range_high) {
      sql += (sql.empty() ? "" : " AND ") + col + " <= ?";
      keys.params.push_back(int64_t{2 * *bins->edge_index(*p.range_high)});
    }
    keys.sql = sql.empty() ? "TRUE" : sql;
    out.push_back(std::move(keys));
  }
  return out;
}

}  // namespace detail

using namespace detail;

std::string Statement::cache_key(const Scope& scope, uint64_t data_version) const {
  return scope.key() + '\x1f' + std::to_string(data_version) + '\x1f' + std::to_string(max_rows) + '\x1f' + sql + '\x1f' +
         params_key(params);
}

Result<SqlFragment> filter_predicate(const config::DashboardSpec& d, const engine::Relation& relation, const QueryRequest& request,
                                     std::string_view widget_id) {
  auto preds = compile_predicates(d, relation, request, widget_id);
  if (!preds) return fail(preds.error());
  SqlFragment out;
  out.sql = and_all(*preds, out.params);
  for (const auto& p : *preds) out.columns.insert(out.columns.end(), p.columns.begin(), p.columns.end());
  return out;
}

QueryRequest subset_request(const config::DashboardSpec& d, const QueryRequest& request, std::string_view widget_id) {
  QueryRequest out = request;
  out.subset_widened_filter.clear();
  for (const auto& page : d.pages) {
    for (const auto& w : page.widgets) {
      if (w.type != WidgetType::Kpi || w.compare_filter.empty()) continue;
      const config::FilterSpec* filter = d.find_filter(w.compare_filter);
      if (!filter) continue;
      const bool picked_on_column = std::any_of(request.selections.begin(), request.selections.end(), [&](const Selection& s) {
        return s.column == filter->column && s.widget != widget_id;
      });
      if (picked_on_column) continue;
      auto given = request.filters.find(filter->id);
      const nlohmann::json& effective = given != request.filters.end() ? *given : filter->default_value;
      auto shifted = previous_period(effective);
      if (!shifted) continue;
      nlohmann::json widened = effective;
      widened["from"] = (*shifted)["from"];
      out.filters[filter->id] = std::move(widened);
      out.subset_widened_filter = filter->id;
      return out;  // one period widened: the first compared KPI's (dashboards compare over one)
    }
  }
  return out;
}

const engine::Relation* widget_relation(const config::DashboardSpec& d, const config::WidgetSpec& w, const engine::Engine& e) {
  return e.relation(w.source.empty() ? d.source : w.source);
}

Result<WidgetPlan> plan_widget(const config::DashboardSpec& d, const config::WidgetSpec& w, const engine::Engine& engine,
                               const QueryRequest& request, const Scope& scope, const Rollups* rollups,
                               const std::vector<std::string>* sql_columns, const engine::Relation* subset) {
  if (w.type == WidgetType::Text) return fail(ErrorKind::InvalidInput, "widget '" + w.id + "' is a text widget and has no data");
  if (w.type == WidgetType::Kpi && !w.compare_filter.empty())
    return plan_compared_kpi(d, w, engine, request, scope, rollups, sql_columns, subset);
  WidgetInput in{d, w, engine, request, scope, rollups};
  in.rel = widget_relation(d, w, engine);
  if (in.rel && rollups && !request.stale_rollups.count(in.rel->name)) {
    in.sample = rollups->sample_table(in.rel->name);
    in.sample_serves_scatter = rollups->sample_serves_scatter(in.rel->name);
    in.sampled_relation = in.rel->name;
    in.sample_policy = scope.predicate_for(in.rel->name);
    in.unique_columns = &rollups->unique_columns(in.rel->name);
  }
  if (subset && in.rel && w.sql.empty()) {
    in.rel = subset;
    in.reads_subset = true;
    in.rollups = nullptr;
  }
  // Rollups made from older data than the relation now holds (its files changed) answer nothing.
  if (in.rel && in.rollups && request.stale_rollups.count(in.rel->name)) in.rollups = nullptr;
  if (!in.rel && w.sql.empty()) return fail(ErrorKind::Internal, "widget '" + w.id + "' reads an unknown source");
  // Custom SQL places the predicate over the dashboard's source columns.
  const engine::Relation* pred_rel = in.rel ? in.rel : engine.relation(d.source);
  engine::Relation empty;  // no relation to check against: still validate the filters named
  // Own SQL may give a filtered column another meaning (an expression, another table's column of
  // the same name), so its predicate compares text as text, not as values of the relation's ENUM.
  engine::Relation as_text;
  if (!w.sql.empty() && pred_rel) {
    as_text.name = pred_rel->name;
    as_text.columns = pred_rel->columns;
    for (auto& c : as_text.columns) {
      c.dictionary.reset();
      c.enum_type.clear();
    }
    pred_rel = &as_text;
  }
  // A subset holds exactly the rows this widget's filters and selections keep (under the scope;
  // see selective_subset): nothing is left to select, and searching its few rows again per widget
  // (a text search's semi-join over millions of values) would cost what the subset saved.
  QueryRequest nothing_to_select;
  if (in.reads_subset) {
    nothing_to_select = request;
    for (const auto& f : d.filters)
      if (f.id != request.subset_widened_filter) nothing_to_select.filters[f.id] = nullptr;
    nothing_to_select.selections.clear();
  }
  auto preds = compile_predicates(d, pred_rel ? *pred_rel : empty, in.reads_subset ? nothing_to_select : request, w.id);
  if (!preds) return fail(preds.error());
  if (pred_rel) in.preds = std::move(*preds);
  in.cap = request.row_cap.value_or(engine.max_rows());
  if (!w.sql.empty()) return plan_own_sql(in, sql_columns);

  for (const auto& p : in.preds) {
    Grain coarsest = in.binned_range(p) ? Grain::Bins : p.coarsest_grain;
    for (const auto& c : p.columns) {
      auto [it, fresh] = in.predicate_needs.emplace(c, coarsest);
      if (!fresh) it->second = std::min(it->second, coarsest);
    }
  }
  in.policy = scope.predicate_for(in.rel->name);
  switch (w.type) {
    case WidgetType::Kpi:
      return plan_kpi(in);
    case WidgetType::Bar:
    case WidgetType::Line:
    case WidgetType::Area:
    case WidgetType::Pie:
    case WidgetType::Heatmap:
      return plan_grouped_chart(in);
    case WidgetType::Scatter:
      return plan_scatter(in);
    case WidgetType::Histogram:
      return plan_histogram(in);
    case WidgetType::Table:
      return plan_table(in);
    case WidgetType::Text:
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
