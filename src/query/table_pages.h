// Deep pages of big tables (see PivotPaging in planner.h): the page at offset 5,000,000 of a
// 10M-row table sorted by any plain column, without sorting 5,000,000 rows with all their
// columns.
//
//   auto page = page_by_pivots(service, engine, scope, run, *plan.pivot_paging, total, label);
//   // *page: "SELECT ... WHERE <filters> AND "fare" >= ? AND "fare" < ? ORDER BY ... LIMIT 100 OFFSET 1234"
//
// Per level (a sort key): a few pivot values near the page's estimated place are read from the
// sample (one small query), the rows before each pivot are counted (one pass over the rows with
// a few comparisons), and the page is the rows between the two pivots that enclose it. When the
// page lies inside one value of the key (ties) or inside its NULLs (sorted last), the next sort
// key narrows the rows of that value.
//
// The answer equals the plain statement's (ORDER BY every column, LIMIT, OFFSET) for any data:
// the sample only decides where to look, exact counts decide the offset. Statements run through
// the service (cached, under the request's deadline). Thread-safe: no state of its own.
#pragma once

#include <optional>
#include <string>

#include "query/planner.h"
#include "query/service.h"

namespace sightline::query {

// The page statement to run instead of the plan's data statement; nullopt when pivots do not
// apply (the plain statement answers then). `rows` is the table's total row count (its count
// statement). Timeouts and engine failures are errors; a pivot query the engine cannot run for
// a column type (an error of the query, not the data) gives nullopt.
Result<std::optional<Statement>> page_by_pivots(QueryService& service, const engine::Engine& engine, const Scope& scope,
                                                const RunContext& run, const PivotPaging& plan, int64_t rows, const std::string& label,
                                                int64_t max_rows);

}  // namespace sightline::query
