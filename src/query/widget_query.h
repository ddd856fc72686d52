// The one entry point that answers a widget or a filter's options: a parsed request, the
// caller's scope and one version of the data in; an Arrow result out. Everything between (text
// searches resolved to values, pre-aggregates chosen, subsets shared by a state's widgets,
// two-step plans, table counts, the result cache) happens here, so the HTTP API, exports,
// reports and live updates all get the same answers the same way.
//
//   query::DataView data{*snap.engine, *snap.rollups, snap.subsets.get(), snap.sql_widget_columns};
//   query::QueryContext ctx = query::QueryContext::begin(data, scope, {{"request_id", id}});
//   auto answer = query::answer_widget(service, data, ctx, dashboard, widget, std::move(request));
//
// Thread-safe: the functions keep no state; QueryService and SubsetCache are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "query/check.h"
#include "query/planner.h"
#include "query/service.h"
#include "query/sql_widgets.h"
#include "query/subset.h"

namespace sightline::query {

// One version of the project's data and what was made from it.
struct DataView {
  const engine::Engine& engine;
  const Rollups& rollups;
  SubsetCache* subsets = nullptr;                 // null: no subsets
  const SqlWidgetColumns* sql_columns = nullptr;  // result columns of own-SQL widgets, by "dashboard/widget"
  const SqlWidgetEquivalents* equivalents = nullptr;  // own-SQL widgets answered as declarative ones
};

// One caller's questions against one version of the data: whose rows, which data version, which
// pre-aggregates are stale, and the fields of its log lines. Taken once per request, before
// anything is read (see engine::Engine::data_versions).
struct QueryContext {
  const Scope& scope;
  RunContext run;
  std::set<std::string> stale_rollups;
  engine::DataVersions versions;  // taken once, before anything is read

  // `cancel`: the request's (its statements stop when its client goes away), or null.
  static QueryContext begin(const DataView& data, const Scope& scope, LogContext log, std::shared_ptr<Cancellation> cancel = nullptr);
};

struct WidgetAnswer {
  std::shared_ptr<const engine::QueryOutput> output;
  bool cache_hit = false;
  std::optional<int64_t> total;  // tables: rows of the whole result, for paging
  std::string read_from;         // the relation, rollup or subset the data statement read
};

// Answers `widget` of `dashboard` for `request`. Errors: InvalidInput for what the request got
// wrong; SourceFailed, Timeout, Unavailable and Internal from the engine, whose public message
// names the relation the widget reads; Cancelled when the client went away.
Result<WidgetAnswer> answer_widget(QueryService& service, const DataView& data, const QueryContext& ctx,
                                   const config::DashboardSpec& dashboard, const config::WidgetSpec& widget, QueryRequest request);

struct WidgetExport {
  int64_t rows = 0;              // rows handed to the sink
  bool truncated = false;        // the answer had more rows than a download may hold
  std::optional<int64_t> total;  // tables: rows of the whole result
  std::string read_from;
};

// A download: the rows answer_widget would give for `request` (tables: from its offset, up to
// its limit; other widgets: the whole answer), at most engine.max_export_rows of them, handed
// batch by batch to `sink` as the engine produces them, past the result cache. The rows and
// their order are answer_widget's. Errors as answer_widget's; an error after the first batch
// means the batches handed over are not the whole answer.
Result<WidgetExport> export_widget(QueryService& service, const DataView& data, const QueryContext& ctx,
                                   const config::DashboardSpec& dashboard, const config::WidgetSpec& widget, QueryRequest request,
                                   const engine::BatchSink& sink);

struct FilterOptions {
  nlohmann::json body;  // {"values": [...], "truncated": bool} or {"min": v, "max": v}
  int64_t rows = 0;     // rows the statement returned
};

// The options of `filter`: distinct values matching `search` (at most `limit`, 0: the filter's
// own limit), or the bounds of a range or date range.
Result<FilterOptions> answer_filter_options(QueryService& service, const DataView& data, const QueryContext& ctx,
                                            const config::DashboardSpec& dashboard, const config::FilterSpec& filter,
                                            const std::string& search, int64_t limit);

}  // namespace sightline::query
