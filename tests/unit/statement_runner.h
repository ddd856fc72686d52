// Runs a planned statement on an engine's pool, for tests that compare answers: the result as
// JSON ({"columns": [...], "rows": [...]}), or null after failing the test with the engine's
// words and the SQL.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
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

// The data statement the query layer runs for `plan`, as query/widget_query.cpp does: the first
// step of a two-step plan (its fallback when it finds no row), then the second step with the
// values found when they are all text, else the plain statement. `two_step` says which it was.
inline query::Statement data_statement(const engine::Engine& engine, const query::WidgetPlan& plan, bool* two_step = nullptr) {
  if (two_step) *two_step = false;
  for (const auto* prelude : {plan.prelude ? &*plan.prelude : nullptr, plan.prelude_fallback ? &*plan.prelude_fallback : nullptr}) {
    if (!prelude) continue;
    const nlohmann::json found = run_statement(engine, *prelude)["rows"];
    if (found.empty()) continue;
    if (!std::all_of(found[0].begin(), found[0].end(), [](const nlohmann::json& v) { return v.is_string(); })) break;
    query::Statement next = *plan.data_after_prelude;
    for (const auto& v : found[0]) next.params.push_back(v.get<std::string>());
    if (two_step) *two_step = true;
    return next;
  }
  return plan.data;
}

}  // namespace sightline::testing
