// Reading back the small results that one statement hands to the next (a prelude's values, a
// count, pivots): as JSON rows.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "engine/duckdb.h"

namespace sightline::engine {

// The rows of `out` as a JSON array of arrays (values as the JSON writer renders them).
Result<nlohmann::json> rows_of(const QueryOutput& out);

// A count read back: an integer, or a string of one (64-bit values may come as text); nullopt
// otherwise.
std::optional<int64_t> as_count(const nlohmann::json& v);

}  // namespace sightline::engine
