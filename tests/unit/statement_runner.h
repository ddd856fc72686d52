// Runs a planned statement on an engine's pool, for tests that compare answers: the result as
// JSON ({"columns": [...], "rows": [...]}), or null after failing the test with the engine's
// words and the SQL.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "arrow/json_writer.h"
#include "engine/engine.h"
#include "query/planner.h"

namespace sightline::testing {

inline nlohmann::json run_statement(const engine::Engine& engine, const query::Statement& st) {
  auto out = engine.pool().run<engine::QueryOutput>(std::chrono::seconds(60), [&](engine::Connection& c) -> Result<engine::QueryOutput> {
    auto s = c.prepare(st.sql);
    if (!s) return fail(s.error());
    return s->execute(st.params, st.max_rows);
  });
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().for_author()) << "\n" << st.sql;
  return out ? nlohmann::json::parse(*arrow::write_json_rows(out->table)) : nlohmann::json();
}

}  // namespace sightline::testing
