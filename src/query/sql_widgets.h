// Own-SQL widgets that are plain aggregates, written as the declarative widgets they equal, so
// pre-aggregates (rollups, distinct-value bitmaps, month splits) answer them like any other.
//
//   SELECT account_manager, sum(revenue) AS revenue, count(DISTINCT customer) AS customers
//   FROM orders_enriched WHERE {{ filters }} GROUP BY account_manager ORDER BY revenue DESC LIMIT 15
//
// becomes a bar widget over orders_enriched with x account_manager, those two measures, sort
// -revenue and limit 15: the same columns, in the same order, with the same values.
//
// What qualifies (anything else stays own SQL, answered as written):
//   - one SELECT over one source or model by its plain name; no joins, CTEs, subqueries, windows,
//     DISTINCT, HAVING, QUALIFY, SAMPLE or OFFSET; WHERE is exactly {{ filters }};
//   - the select list is the GROUP BY columns (plain columns, optionally renamed; with GROUP BY
//     ALL, the leading plain columns of the select list) followed by
//     measures with an alias that a rollup can answer (sum, count, count(DISTINCT), min, max,
//     avg of plain columns, and arithmetic over them);
//   - per widget kind: a KPI has no GROUP BY and one measure; a bar, line, area or pie chart
//     groups by its x column (and, without LIMIT, its color column); a table has no LIMIT.
//   - GROUP BY names the key columns, their positions in the select list (GROUP BY 1, 2) or their
//     aliases (when no column has that name), as DuckDB binds them;
//   - ORDER BY names one result column or its position (ORDER BY 3 DESC); LIMIT is a number.
// The SQL is parsed by DuckDB (json_serialize_sql), never by pattern matching on the text.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "config/project.h"
#include "engine/engine.h"

namespace sightline::query {

// Declarative equivalents of the project's own-SQL widgets, by "dashboard/widget".
using SqlWidgetEquivalents = std::map<std::string, config::WidgetSpec>;

// The declarative equivalent of `widget` (which has own SQL), or nullopt when it has none.
std::optional<config::WidgetSpec> declarative_equivalent(const config::WidgetSpec& widget, const engine::Engine& engine);

// Every own-SQL widget of the project that has an equivalent.
SqlWidgetEquivalents declarative_equivalents(const config::Project& project, const engine::Engine& engine);

// `project` with the own-SQL widgets that have equivalents replaced by them (for planning which
// rollups to build).
config::Project with_equivalents(config::Project project, const SqlWidgetEquivalents& equivalents);

}  // namespace sightline::query
