// Validates dashboards against the real engine: every filter, dimension and widget column
// exists, and every widget's SQL prepares (DuckDB binds it against the real sources), with
// and without every filter active. Problems are diagnostics at the YAML position that caused them.
#pragma once

#include <vector>

#include "config/project.h"
#include "engine/engine.h"

namespace sightline::query {

std::vector<config::Diagnostic> check_dashboards(const config::Project& project, const engine::Engine& engine);

}  // namespace sightline::query
