// Helpers shared by the rollup build (rollup.cpp) and its extension with appended rows
// (rollup_append.cpp). Not for other callers: statements run on the engine's pool with the
// build's generous timeout.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/engine.h"

namespace sightline::query::detail {

// The rows of `sql` (at most a million) as JSON arrays.
Result<nlohmann::json> query_rows(const engine::Engine& engine, const std::string& sql);
// Runs a statement that returns nothing.
Result<void> exec(const engine::Engine& engine, const std::string& sql);
// A name part unique to one build or extension: names of tables must never be shared between
// builds (an older one's tables are dropped when it is released, possibly after a newer exists).
std::string random_build_id();
// The columns of `rel` among `columns` that hold a different, non-NULL value in every row.
std::set<std::string> find_unique_columns(const engine::Engine& engine, const engine::Relation& rel, const std::vector<std::string>& columns);

}  // namespace sightline::query::detail
