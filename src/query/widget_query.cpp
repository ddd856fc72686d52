#include "query/widget_query.h"

#include <algorithm>

#include "engine/result_rows.h"
#include "query/table_pages.h"

namespace sightline::query {
using engine::as_count;
using engine::rows_of;
using nlohmann::json;

namespace {

// A source failure's public message names the relation read (a name from the project; never the
// engine's words, which stay in the detail).
Error naming_source(Error e, const std::string& relation) {
  if (e.kind == ErrorKind::SourceFailed && !relation.empty()) e.message = "the data of '" + relation + "' could not be read";
  return e;
}

const json& effective_value(const config::FilterSpec& f, const QueryRequest& request) {
  auto it = request.filters.find(f.id);
  return it != request.filters.end() ? *it : f.default_value;
}

// Looks each active text filter up in its column's distinct values (a few thousand rows, cached)
// so that widget queries select rows with an IN list rather than searching every row.
Result<void> resolve_text_matches(QueryService& service, const DataView& data, const QueryContext& ctx, const config::DashboardSpec& dash,
                                  QueryRequest& request) {
  const engine::Relation* rel = data.engine.relation(dash.source);
  if (!rel || ctx.stale_rollups.count(rel->name)) return {};  // no value table, or one made from older files
  for (const auto& f : dash.filters) {
    if (f.type != config::FilterType::Text) continue;
    const json& value = effective_value(f, request);
    if (!value.is_string()) continue;
    const auto& text = value.get_ref<const std::string&>();
    if (text.empty() || text.size() > kMaxTextBytes || text.find('\0') != std::string::npos) continue;  // validated later
    const engine::ColumnInfo* column = rel->column(f.column);
    if (!column || engine::value_kind(column->type) != engine::ValueKind::Text) continue;
    const std::string* table = data.rollups.value_table(rel->name, f.column);
    if (!table) continue;
    Statement search;
    search.sql = "SELECT v, sum(n) OVER () AS matched_rows FROM " + engine::quote_identifier(*table) +
                 " WHERE contains(lower(CAST(v AS VARCHAR)), lower(?)) ORDER BY v LIMIT " + std::to_string(kMaxTextMatches + 1);
    search.params = {text};
    search.max_rows = static_cast<int64_t>(kMaxTextMatches) + 1;
    auto found = service.run(data.engine, search, ctx.scope, ctx.run, dash.id + "/filter:" + f.id + "#matches", "");
    if (!found) return fail(found.error());
    request.text_matches_relation = rel->name;
    auto rows = rows_of(*found->output);
    if (!rows) return fail(rows.error());
    if (found->output->table.num_rows > static_cast<int64_t>(kMaxTextMatches)) {
      // Too many values for an IN list: the rows are selected by the search over the values. The
      // rows they hold (summed over every match, not only the first ones) still bound the rows
      // the state keeps, so a selective search still gets its subset.
      request.text_match_tables[f.id] = *table;
      if (!rows->empty())
        if (auto matched = as_count((*rows)[0][1])) request.text_match_rows[f.id] = *matched;
      continue;
    }
    std::vector<std::string> matches;
    int64_t matched_rows = 0;
    for (const auto& row : *rows) {
      if (row[0].is_string()) matches.push_back(row[0].get<std::string>());
      matched_rows = as_count(row[1]).value_or(matched_rows);
    }
    request.text_match_rows[f.id] = matched_rows;
    request.text_matches[f.id] = std::move(matches);
  }
  return {};
}

// The values an equality condition on `column` picks for `widget`: a select or multiselect
// filter's value(s) and the selections of other widgets, each its own condition. Conditions that
// pick NULL are left out (the distinct-value tables hold no NULL).
std::vector<std::pair<std::string, std::vector<json>>> picked_values(const config::DashboardSpec& dash, const QueryRequest& request,
                                                                     const std::string& widget_id) {
  std::vector<std::pair<std::string, std::vector<json>>> out;
  auto add = [&](const std::string& column, std::vector<json> values) {
    if (values.empty() || std::any_of(values.begin(), values.end(), [](const json& v) { return v.is_null(); })) return;
    out.emplace_back(column, std::move(values));
  };
  for (const auto& f : dash.filters) {
    const json& value = effective_value(f, request);
    if (f.type == config::FilterType::Select && !value.is_null() && !value.is_structured()) add(f.column, {value});
    if (f.type == config::FilterType::MultiSelect && value.is_array() && !value.empty())
      add(f.column, std::vector<json>(value.begin(), value.end()));
  }
  for (const auto& sel : request.selections)
    if (sel.widget != widget_id && !sel.range) add(sel.column, sel.values);
  return out;
}

// `request` with each numeric range filter's ends moved out to the nearest bin edges of its column
// (engine/bins.h): it keeps at least the rows `request` keeps, and a rollup keeping the column's
// bins counts them. A value typed by hand (fare from 12.34) is not an edge, and no rollup could
// count the rows it keeps; the widened range bounds them.
QueryRequest widened_to_bins(const config::DashboardSpec& dash, const engine::Relation& rel, const QueryRequest& request) {
  QueryRequest widened = request;
  for (const auto& f : dash.filters) {
    if (f.type != config::FilterType::Range) continue;
    const json& value = effective_value(f, request);
    const engine::ColumnBins* bins = rel.bins_of(f.column);
    if (!bins || bins->edges.empty() || !value.is_array() || value.size() != 2) continue;
    const auto& edges = bins->edges;
    json low = value[0], high = value[1];
    if (low.is_number()) {
      auto above = std::upper_bound(edges.begin(), edges.end(), low.get<double>());  // first edge > low
      low = above == edges.begin() ? json() : json(*std::prev(above));
    }
    if (high.is_number()) {
      auto at_or_above = std::lower_bound(edges.begin(), edges.end(), high.get<double>());  // first edge >= high
      high = at_or_above == edges.end() ? json() : json(*at_or_above);
    }
    widened.filters[f.id] = low.is_null() && high.is_null() ? json() : json::array({low, high});
  }
  return widened;
}

// The rows of `rel` holding one of `values` in `column`, counted in the column's distinct-value
// table; nullopt when it has none, or a value is not one of the column's type.
Result<std::optional<int64_t>> picked_rows(QueryService& service, const DataView& data, const QueryContext& ctx,
                                           const config::DashboardSpec& dash, const engine::Relation& rel, const std::string& column,
                                           const std::vector<json>& values) {
  const std::string* table = data.rollups.value_table(rel.name, column);
  const engine::ColumnInfo* info = rel.column(column);
  if (!table || !info || values.empty() || values.size() > kMaxListValues) return std::optional<int64_t>();
  const engine::ValueKind kind = engine::value_kind(info->type);
  Statement held;
  held.sql = "SELECT coalesce(sum(n), 0) FROM " + engine::quote_identifier(*table) + " WHERE v IN (";
  for (size_t i = 0; i < values.size(); ++i) {
    auto param = to_param(values[i], kind, "value");
    if (!param) return std::optional<int64_t>();  // not a value of the column: planning the widget says so
    held.params.push_back(std::move(*param));
    held.sql += (i ? ", " : "") + placeholder_for(kind, info->type);
  }
  held.sql += ")";
  held.max_rows = 1;
  auto counted = service.run(data.engine, held, ctx.scope, ctx.run, dash.id + "/rows#picked", "");
  if (!counted) return fail(counted.error());
  auto rows = rows_of(*counted->output);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::optional<int64_t>();
  return as_count((*rows)[0][0]);
}

// How many rows of `rel` (of `total`) `widget`'s filters and selections keep, from what is cheap
// to ask: the rows a text search's matches hold; the rows the values picked on a column hold (its
// distinct-value table counts them); a rollup that holds every filtered column; else an estimate
// from the conditions one by one. nullopt when only a scan could tell. Stops early once at most
// `enough` rows are known to be kept.
Result<std::optional<int64_t>> selected_rows(QueryService& service, const DataView& data, const QueryContext& ctx,
                                             const config::DashboardSpec& dash, const config::WidgetSpec& widget,
                                             const engine::Relation& rel, const QueryRequest& request, int64_t total, int64_t enough) {
  std::optional<int64_t> selected;
  auto bound = [&](int64_t rows) { selected = std::min(selected.value_or(rows), rows); };
  if (rel.name == request.text_matches_relation)
    for (const auto& [filter, rows] : request.text_match_rows) bound(rows);
  if (selected && *selected <= enough) return selected;
  for (const auto& [column, values] : picked_values(dash, request, widget.id)) {
    auto held = picked_rows(service, data, ctx, dash, rel, column, values);
    if (!held) return fail(held.error());
    if (*held) bound(**held);
    if (selected && *selected <= enough) return selected;
  }
  // A rollup that holds every filtered column counts them (exactly, or a bound when a range was
  // widened to its bins' edges).
  auto rollup_count = [&](const QueryRequest& asked) -> Result<std::optional<int64_t>> {
    config::WidgetSpec counter;
    counter.id = widget.id;  // the selections the widget sees
    counter.type = config::WidgetType::Kpi;
    counter.source = rel.name;
    counter.measures.push_back({.expr = "count(*)", .name = "n"});
    auto count_plan = plan_widget(dash, counter, data.engine, asked, ctx.scope, &data.rollups);
    if (!count_plan) return fail(count_plan.error());
    if (count_plan->read_from == rel.name) return std::optional<int64_t>();  // no rollup to count with: not worth a scan
    auto counted = service.run(data.engine, count_plan->data, ctx.scope, ctx.run, dash.id + "/rows#estimate", count_plan->read_from);
    if (!counted) return fail(counted.error());
    auto rows = rows_of(*counted->output);
    if (!rows) return fail(rows.error());
    if (rows->empty()) return std::optional<int64_t>();
    return as_count((*rows)[0][0]);
  };
  const QueryRequest widened = widened_to_bins(dash, rel, request);
  auto all = rollup_count(widened);
  if (!all) return fail(all.error());
  if (*all) {
    bound(**all);
    return selected;
  }
  // No rollup holds them all (a day range with a zone, say): each condition alone is counted
  // where a rollup can, and the share of rows they keep together is estimated as if they were
  // independent. Not a bound, but only the cost of a subset rides on it, never an answer.
  QueryRequest none = widened;
  for (const auto& f : dash.filters) none.filters[f.id] = nullptr;
  none.selections.clear();
  double share = selected ? static_cast<double>(*selected) / static_cast<double>(total) : 1.0;
  auto counted_alone = [&](const QueryRequest& alone) -> Result<void> {
    auto n = rollup_count(alone);
    if (!n) return fail(n.error());
    if (*n) share *= std::min(1.0, static_cast<double>(**n) / static_cast<double>(total));
    return {};
  };
  for (const auto& f : dash.filters) {
    const json& value = effective_value(f, widened);
    if (value.is_null() || f.type == config::FilterType::Text) continue;  // searches are bounded above
    QueryRequest alone = none;
    alone.filters[f.id] = value;
    if (auto r = counted_alone(alone); !r) return fail(r.error());
  }
  for (const auto& sel : request.selections) {
    if (sel.widget == widget.id) continue;
    QueryRequest alone = none;
    alone.selections = {sel};
    if (auto r = counted_alone(alone); !r) return fail(r.error());
  }
  if (share < 1.0) bound(static_cast<int64_t>(share * static_cast<double>(total)));
  return selected;
}

// Whether a plan's `read_from` (names joined by '+') names `relation`: it reads rows of it.
bool reads_rows_of(std::string_view read_from, std::string_view relation) {
  for (size_t start = 0; start <= read_from.size();) {
    size_t end = std::min(read_from.find('+', start), read_from.size());
    if (read_from.substr(start, end - start) == relation) return true;
    start = end + 1;
  }
  return false;
}

const config::WidgetSpec& planned_widget(const DataView& data, const config::DashboardSpec& dash, const config::WidgetSpec& asked);
const std::vector<std::string>* own_sql_columns(const DataView& data, const config::DashboardSpec& dash, const config::WidgetSpec& widget);

// Which of the request's selections apply to widget `id` (all but those picked on it), as text.
std::string selections_seen(const QueryRequest& request, const std::string& id) {
  std::string seen;
  for (const auto& sel : request.selections) seen += sel.widget == id ? '0' : '1';
  return seen;
}

// How many widgets of the dashboard would read rows of `rel` in the state `request` describes
// and see the same selections as `widget` (so they would share its subset). Planned as they would
// be without a subset; each plan is cheap, and the count is remembered per state and view, so a
// state's widgets plan the dashboard about once.
int row_readers(const DataView& data, const QueryContext& ctx, const config::DashboardSpec& dash, const config::WidgetSpec& widget,
                const engine::Relation& rel, const QueryRequest& request) {
  json selections = json::array();
  for (const auto& sel : request.selections)
    selections.push_back({sel.column, sel.values, sel.range ? json::array({sel.range->first, sel.range->second}) : json(), sel.widget});
  const std::string seen = selections_seen(request, widget.id);
  const std::string key = dash.id + '\x1f' + rel.name + '\x1f' + ctx.scope.key() + '\x1f' + std::to_string(ctx.run.data_version) + '\x1f' +
                          request.filters.dump() + '\x1f' + selections.dump() + '\x1f' + seen;
  return data.subsets->remembered(key, [&] {
    int readers = 0;
    for (const auto& page : dash.pages) {
      for (const auto& asked : page.widgets) {
        if (asked.type == config::WidgetType::Text || selections_seen(request, asked.id) != seen) continue;
        const config::WidgetSpec& w = planned_widget(data, dash, asked);
        if (!w.sql.empty() || widget_relation(dash, w, data.engine) != &rel) continue;  // never reads a subset
        auto plan = plan_widget(dash, w, data.engine, request, ctx.scope, &data.rollups, own_sql_columns(data, dash, w));
        if (plan && reads_rows_of(plan->read_from, rel.name)) ++readers;
      }
    }
    return readers;
  });
}

// A widget that would scan a large relation for the few rows a state's filters and selections
// keep reads a subset instead: those rows, made once and shared by every widget of the state that
// sees the same selections. Null when the plan is cheap as it is. Sets
// `request.subset_widened_filter` when the subset holds a compared KPI's previous period too.
// One condition of `request`'s filters that an index of `rel` answers (Rollups::indexed), when
// it keeps so few rows that DuckDB looks them up in the index (at most max(2048, 0.1 %) of the
// rows: its index_scan_max_count and index_scan_percentage): a text search's matches as a value
// list, or the values a select or multiselect filter picks (counted in the column's
// distinct-value table). Empty when there is none; when several are, the one keeping the fewest
// rows. Beyond that, fetching rows one by one costs more than a scan (at 10M rows, ~25 us a row
// of 17 columns against ~350 ms for a scan).
Result<SqlFragment> index_lookup(QueryService& service, const DataView& data, const QueryContext& ctx, const config::DashboardSpec& dash,
                                 const engine::Relation& rel, const QueryRequest& request, const std::string& widget_id) {
  SqlFragment best;
  int64_t best_rows = std::max<int64_t>(2048, data.rollups.relation_rows(rel.name) / 1000) + 1;
  for (const auto& f : dash.filters) {
    if (!data.rollups.indexed(rel.name, f.column)) continue;
    int64_t rows = 0;
    if (f.type == config::FilterType::Text) {
      auto m = request.text_matches.find(f.id);
      auto n = request.text_match_rows.find(f.id);
      if (m == request.text_matches.end() || n == request.text_match_rows.end() || request.text_matches_relation != rel.name ||
          m->second.empty())
        continue;
      rows = n->second;
    } else if (f.type == config::FilterType::Select || f.type == config::FilterType::MultiSelect) {
      const json& value = effective_value(f, request);
      std::vector<json> values;
      if (f.type == config::FilterType::Select && !value.is_null() && !value.is_structured()) values = {value};
      if (f.type == config::FilterType::MultiSelect && value.is_array()) values.assign(value.begin(), value.end());
      // NULL is no value of an index lookup (IS NULL): such a list stays with the scan.
      if (values.empty() || std::any_of(values.begin(), values.end(), [](const json& v) { return v.is_null(); })) continue;
      auto held = picked_rows(service, data, ctx, dash, rel, f.column, values);
      if (!held) return fail(held.error());
      if (!*held) continue;
      rows = **held;
    } else {
      continue;
    }
    if (rows >= best_rows) continue;
    // This filter alone: every other one set to nothing, and no selections.
    QueryRequest alone = request;
    alone.selections.clear();
    for (const auto& other : dash.filters)
      if (other.id != f.id) alone.filters[other.id] = json();
    auto predicate = filter_predicate(dash, rel, alone, widget_id);
    if (!predicate) return fail(predicate.error());
    best = std::move(*predicate);
    best_rows = rows;
  }
  return best;
}

Result<std::shared_ptr<const Subset>> selective_subset(QueryService& service, const DataView& data, const QueryContext& ctx,
                                                       const config::DashboardSpec& dash, const config::WidgetSpec& widget,
                                                       QueryRequest& request, const WidgetPlan& plan, const std::string& label) {
  if (!data.subsets || !widget.sql.empty()) return nullptr;
  const engine::Relation* rel = widget_relation(dash, widget, data.engine);
  // Custom SQL, or a rollup answers alone. A plan that reads some of the rows (a day range's
  // days around its whole months, one of a compared KPI's periods) reads them all from a subset
  // faster (the previous period of a compared KPI still from the relation).
  if (!rel || !reads_rows_of(plan.read_from, rel->name)) return nullptr;
  const int64_t total = data.rollups.relation_rows(rel->name);
  if (total < 1'000'000) return nullptr;  // small enough to scan (and no rollups to estimate with)
  // A text search makes each widget's plain plan slow (matching strings per row): a subset pays
  // for itself when the state keeps up to an eighth of the rows. Without one, the plain plans scan
  // only the columns they read, while a subset copies every column of the rows kept: worth it for
  // a few rows only (a bar picked in a chart of many values, a rare filter value; at 10M rows a
  // scan per widget cost ~90 ms, the subset ~100 ms once and ~3 ms per widget after).
  const bool searching = std::any_of(dash.filters.begin(), dash.filters.end(), [&](const config::FilterSpec& f) {
    const json& value = effective_value(f, request);
    return f.type == config::FilterType::Text && value.is_string() && !value.get_ref<const std::string&>().empty();
  });
  // Copying a row costs about what reading 500 rows does (rides at 10M rows: 0.7-1.4 us per row of
  // 17 columns kept alone, ~2.5 us beside the state's other queries, most of it reading every
  // column of the rows kept; a widget's filtered scan 30-100 ms, ~4 ns per row of the relation):
  // the subset pays when the rows kept are at most (readers - 1) / 512 of the relation, one
  // reader's scan being the subset's own. At / 256, a state keeping 3 % of the rows (a period,
  // a party size, a fare range) waited 550 ms for its subset and was the slowest of 60; at / 512
  // the 60 states' p95 fell from 485-525 to 347-362 ms (two runs each). With fewer than three
  // readers (a table beside charts that rollups answer), the plain plans are cheaper.
  const int readers = row_readers(data, ctx, dash, widget, *rel, request);
  if (readers < 3) return nullptr;
  const int64_t enough = std::min<int64_t>(searching ? total / 8 : total / 512 * (readers - 1), 4'000'000);
  // Both periods of a compared KPI in one subset when they fit, else the state's rows alone (the
  // previous period then reads the relation).
  const QueryRequest both_periods = subset_request(dash, request, widget.id);
  const QueryRequest* made_from = nullptr;
  for (const QueryRequest* candidate : std::initializer_list<const QueryRequest*>{&both_periods, &request}) {
    if (candidate == &both_periods && both_periods.subset_widened_filter.empty()) continue;
    auto selected = selected_rows(service, data, ctx, dash, widget, *rel, *candidate, total, enough);
    if (!selected) return fail(selected.error());
    if (*selected && **selected <= enough) {
      made_from = candidate;
      break;
    }
  }
  if (!made_from) return nullptr;
  auto where = filter_predicate(dash, *rel, *made_from, widget.id);
  if (!where) return fail(where.error());
  auto lookup = index_lookup(service, data, ctx, dash, *rel, *made_from, widget.id);
  if (!lookup) return fail(lookup.error());
  auto subset = data.subsets->get(*rel, where->sql, where->params, ctx.scope, ctx.run.data_version, label, &ctx.run.log, *lookup);
  if (!subset) {
    if (subset.error().kind == ErrorKind::Timeout || subset.error().kind == ErrorKind::Unavailable) return fail(subset.error());
    return nullptr;  // logged by the cache; the plain plan still answers
  }
  request.subset_widened_filter = made_from->subset_widened_filter;
  return *subset;
}

// Runs a two-step plan's first statement; returns the data statement to run: the cheaper second
// step with the values found, or the plain one.
Result<Statement> after_prelude(QueryService& service, const DataView& data, const QueryContext& ctx, const WidgetPlan& plan,
                                const std::string& label) {
  for (const auto* prelude : {plan.prelude ? &*plan.prelude : nullptr, plan.prelude_fallback ? &*plan.prelude_fallback : nullptr}) {
    if (!prelude) continue;
    auto found = service.run(data.engine, *prelude, ctx.scope, ctx.run, label + "#prelude", "");
    if (!found) return fail(found.error());
    auto rows = rows_of(*found->output);
    if (!rows) return fail(rows.error());
    if (rows->empty()) continue;  // e.g. fewer rows (or rollup groups) than a table page reaches
    const json& values = (*rows)[0];
    // A NULL value (a page reaching NULL sort values, a histogram of no rows): the plain statement.
    if (!std::all_of(values.begin(), values.end(), [](const json& v) { return v.is_string(); })) break;
    Statement next = *plan.data_after_prelude;
    for (const auto& v : values) next.params.push_back(v.get<std::string>());
    return next;
  }
  return plan.data;
}

// An own-SQL widget that is a plain aggregate is planned as the declarative widget it equals.
const config::WidgetSpec& planned_widget(const DataView& data, const config::DashboardSpec& dash, const config::WidgetSpec& asked) {
  if (data.equivalents)
    if (auto it = data.equivalents->find(dash.id + "/" + asked.id); it != data.equivalents->end()) return it->second;
  return asked;
}

const std::vector<std::string>* own_sql_columns(const DataView& data, const config::DashboardSpec& dash, const config::WidgetSpec& widget) {
  if (data.sql_columns)
    if (auto it = data.sql_columns->find(dash.id + "/" + widget.id); it != data.sql_columns->end()) return &it->second;
  return nullptr;
}

// A table's rows in all (its count statement), or nullopt for other widgets.
Result<std::optional<int64_t>> count_rows(QueryService& service, const DataView& data, const QueryContext& ctx, const WidgetPlan& plan,
                                          const std::string& label) {
  if (!plan.count) return std::optional<int64_t>();
  auto count = service.run(data.engine, *plan.count, ctx.scope, ctx.run, label + "#count", "");
  if (!count) return fail(count.error());
  auto rows = rows_of(*count->output);
  if (rows && !rows->empty()) return as_count((*rows)[0][0]);
  return std::optional<int64_t>();
}

Result<WidgetAnswer> answer(QueryService& service, const DataView& data, const QueryContext& ctx, const config::DashboardSpec& dash,
                            const config::WidgetSpec& asked, QueryRequest request) {
  request.stale_rollups = ctx.stale_rollups;
  const config::WidgetSpec& widget = planned_widget(data, dash, asked);
  if (auto r = resolve_text_matches(service, data, ctx, dash, request); !r) return fail(r.error());
  const std::vector<std::string>* sql_columns = own_sql_columns(data, dash, widget);
  auto plan = plan_widget(dash, widget, data.engine, request, ctx.scope, &data.rollups, sql_columns);
  if (!plan) return fail(plan.error());
  const std::string label = dash.id + "/" + widget.id;
  // Held until the answer is read: the subset's table lives as long as someone reads it.
  auto subset = selective_subset(service, data, ctx, dash, widget, request, *plan, label);
  if (!subset) return fail(subset.error());
  if (*subset) {
    plan = plan_widget(dash, widget, data.engine, request, ctx.scope, &data.rollups, sql_columns, &(*subset)->relation());
    if (!plan) return fail(plan.error());
  }
  // Tables count their rows first: a deep page is placed by it.
  auto counted = count_rows(service, data, ctx, *plan, label);
  if (!counted) return fail(counted.error());
  std::optional<int64_t> total = *counted;
  auto statement = after_prelude(service, data, ctx, *plan, label);
  if (!statement) return fail(statement.error());
  if (plan->pivot_paging && total) {
    auto page = page_by_pivots(service, data.engine, ctx.scope, ctx.run, *plan->pivot_paging, *total, label, plan->data.max_rows);
    if (!page) return fail(page.error());
    if (*page) statement = std::move(**page);
  }
  auto result = service.run(data.engine, *statement, ctx.scope, ctx.run, label, plan->read_from);
  if (!result) return fail(result.error());
  return WidgetAnswer{result->output, result->cache_hit, total, plan->read_from};
}

Result<WidgetExport> export_rows(QueryService& service, const DataView& data, const QueryContext& ctx, const config::DashboardSpec& dash,
                                 const config::WidgetSpec& asked, QueryRequest request, const engine::BatchSink& sink) {
  request.stale_rollups = ctx.stale_rollups;
  const int64_t cap = data.engine.max_export_rows();
  request.row_cap = cap;
  const config::WidgetSpec& widget = planned_widget(data, dash, asked);
  if (auto r = resolve_text_matches(service, data, ctx, dash, request); !r) return fail(r.error());
  // No subset: one pass over the rows is what a download costs anyway. The plain data statement
  // (not the two-step or pivot forms, which pay off for one page): the same rows in the same order.
  auto plan = plan_widget(dash, widget, data.engine, request, ctx.scope, &data.rollups, own_sql_columns(data, dash, widget));
  if (!plan) return fail(plan.error());
  const std::string label = dash.id + "/" + widget.id;
  auto total = count_rows(service, data, ctx, *plan, label);
  if (!total) return fail(total.error());
  auto streamed = service.stream(data.engine, plan->data, ctx.run, label + "#export", plan->read_from, sink);
  if (!streamed) return fail(streamed.error());
  WidgetExport out{streamed->rows, streamed->truncated, *total, plan->read_from};
  // A table's page is cut to the cap without the engine seeing more rows: the count tells.
  const bool asked_beyond_cap = request.limit && *request.limit > cap;
  if (asked_beyond_cap && *total && request.offset + out.rows < **total) out.truncated = true;
  return out;
}

}  // namespace

Result<WidgetExport> export_widget(QueryService& service, const DataView& data, const QueryContext& ctx,
                                   const config::DashboardSpec& dashboard, const config::WidgetSpec& widget, QueryRequest request,
                                   const engine::BatchSink& sink) {
  auto out = export_rows(service, data, ctx, dashboard, widget, std::move(request), sink);
  if (!out) {
    const engine::Relation* rel = widget_relation(dashboard, widget, data.engine);
    return fail(naming_source(out.error(), rel ? rel->name : ""));
  }
  return out;
}

QueryContext QueryContext::begin(const DataView& data, const Scope& scope, LogContext log, std::shared_ptr<Cancellation> cancel) {
  // The data's version, taken once before anything is read (see RunContext).
  const engine::DataVersions versions = data.engine.data_versions();
  return QueryContext{scope, RunContext{versions.all, std::move(log), std::move(cancel)}, data.rollups.stale(versions), versions};
}

Result<WidgetAnswer> answer_widget(QueryService& service, const DataView& data, const QueryContext& ctx,
                                   const config::DashboardSpec& dashboard, const config::WidgetSpec& widget, QueryRequest request) {
  auto out = answer(service, data, ctx, dashboard, widget, std::move(request));
  if (!out) {
    const engine::Relation* rel = widget_relation(dashboard, widget, data.engine);
    return fail(naming_source(out.error(), rel ? rel->name : ""));
  }
  return out;
}

Result<FilterOptions> answer_filter_options(QueryService& service, const DataView& data, const QueryContext& ctx,
                                            const config::DashboardSpec& dash, const config::FilterSpec& filter, const std::string& search,
                                            int64_t limit) {
  // Distinct-value tables made from older files than the source holds now are not read.
  const Rollups* rollups = ctx.stale_rollups.count(dash.source) ? nullptr : &data.rollups;
  auto st = plan_filter_options(dash, filter, data.engine, search, limit, ctx.scope, rollups);
  if (!st) return fail(st.error());
  auto result = service.run(data.engine, *st, ctx.scope, ctx.run, dash.id + "/filter:" + filter.id, "");
  if (!result) return fail(naming_source(result.error(), dash.source));
  auto rows = rows_of(*result->output);
  if (!rows) return fail(rows.error());
  FilterOptions out;
  out.rows = result->output->table.num_rows;
  if (filter.type == config::FilterType::Range || filter.type == config::FilterType::DateRange) {
    out.body = {{"min", rows->empty() ? json() : (*rows)[0][0]}, {"max", rows->empty() ? json() : (*rows)[0][1]}};
    return out;
  }
  json values = json::array();
  const int64_t n = st->max_rows - 1;  // one extra row tells "there is more"
  for (const auto& row : *rows) {
    if (static_cast<int64_t>(values.size()) >= n) break;
    values.push_back(row[0]);
  }
  out.body = {{"values", values}, {"truncated", static_cast<int64_t>(rows->size()) > n}};
  return out;
}

}  // namespace sightline::query
