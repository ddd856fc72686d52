// What a client may ask of a widget: filter values, cross-filter selections, sort and paging.
// Parsing checks shape only; values are checked against the dashboard in compile_predicates().
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/project.h"
#include "core/error.h"
#include "engine/engine.h"
#include "query/scope.h"

namespace sightline::query {

struct Selection {
  std::string column;
  std::vector<nlohmann::json> values;                              // a set of picked values, or
  std::optional<std::pair<nlohmann::json, nlohmann::json>> range;  // an inclusive range
  std::string widget;                                              // the widget the pick was made on: it is not filtered by its own pick
};

struct SortKey {
  std::string column;
  bool descending = false;
};

struct QueryRequest {
  nlohmann::json filters = nlohmann::json::object();  // filter id -> value; absent: the default
  std::vector<Selection> selections;
  std::vector<SortKey> sort;
  int64_t offset = 0;
  std::optional<int64_t> limit;
  // Filled by the server, never by clients: for a text filter, the distinct column values its
  // search matches (looked up in the distinct-value table), so the rows are selected with an
  // IN list instead of a string search per row. Absent: search every row.
  std::map<std::string, std::vector<std::string>> text_matches;
  std::string text_matches_relation;  // the relation whose distinct values were searched
  // For a text filter with more matches than an IN list takes: the distinct-value table (one
  // column `v`) to select the matches from in a subquery, a hash semi-join instead of a string
  // search per row.
  std::map<std::string, std::string> text_match_tables;
  // For a text filter looked up in the distinct values: how many rows its matches hold.
  std::map<std::string, int64_t> text_match_rows;
  // Relations whose rollups and distinct-value tables were made from older data than they hold
  // now (the files of a source read at query time changed): the rows answer instead.
  std::set<std::string> stale_rollups;
  // Filled by the server for a download (see export_widget): the most rows the answer may hold,
  // above engine.max_rows. Absent: engine.max_rows.
  std::optional<int64_t> row_cap;
  // Filled by the server when the subset a widget reads was made for a wider period than the
  // state's (see subset_request): the id of that daterange filter, which the widget applies again
  // to the subset's rows. Empty: a subset holds exactly the state's rows.
  std::string subset_widened_filter;
};

// At most this many matches are turned into an IN list; more, and rows are searched directly.
inline constexpr size_t kMaxTextMatches = 1000;

// Limits on what one request may carry.
inline constexpr size_t kMaxListValues = 1000;
inline constexpr size_t kMaxTextBytes = 1024;
inline constexpr size_t kMaxSelections = 32;
inline constexpr int64_t kMaxOffset = 100'000'000;
inline constexpr int64_t kMaxLimit = 100'000'000;

// Parses a query body ({"filters":{}, "selections":[], "sort":[], "offset":0, "limit":100}).
// Unknown top-level keys are errors, so a misspelt key is not silently ignored.
Result<QueryRequest> parse_query_request(const nlohmann::json& body);

// The WHERE conditions for a widget over `relation`: the dashboard's filters (request values or
// defaults) and the selections, except those picked on `widget_id` itself. Values are validated
// against the filter type and the column type, and bound as parameters. Filters/selections on
// columns `relation` lacks are skipped (a dashboard may mix sources).
Result<std::vector<SqlFragment>> compile_predicates(const config::DashboardSpec& dashboard, const engine::Relation& relation,
                                                    const QueryRequest& request, std::string_view widget_id);

// Converts one JSON value to a parameter for a column of `kind`, with a message naming `what`
// when it does not fit (e.g. "filter 'region': expected text, got a number").
Result<engine::Param> to_param(const nlohmann::json& value, engine::ValueKind kind, const std::string& what);

// The SQL that casts a parameter placeholder for a column of `kind` (e.g. CAST(? AS DATE)).
std::string placeholder_for(engine::ValueKind kind);
// The same for a column of type `column_type` (TIMESTAMP_NS keeps nanoseconds).
std::string placeholder_for(engine::ValueKind kind, std::string_view column_type);

}  // namespace sightline::query
