// Validates dashboards against the real engine: every filter, dimension and widget column
// exists, and every widget's SQL prepares (DuckDB binds it against the real sources), with
// and without every filter active. Problems are diagnostics at the YAML position that caused them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/project.h"
#include "engine/engine.h"

namespace sightline::query {

// Result columns of widgets with their own SQL, by "dashboard/widget" (what a client may sort by).
using SqlWidgetColumns = std::map<std::string, std::vector<std::string>>;

// `sql_columns`, when given, receives the result columns of every widget with its own SQL.
std::vector<config::Diagnostic> check_dashboards(const config::Project& project, const engine::Engine& engine,
                                                 SqlWidgetColumns* sql_columns = nullptr);

}  // namespace sightline::query
