// `sightline check` for the security parts of a project, against the real engine:
//   - every row policy compiles against its relation (with a sample user's values bound);
//   - with auth on, widgets with their own SQL read sources and models only by their plain
//     names (which row policies shadow), never schema-qualified or through file functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/project.h"
#include "engine/engine.h"

namespace sightline::auth {

// `policy_columns`, when given, receives for each policy (in project order) the columns its
// predicate reads, or nullopt when they could not be determined.
std::vector<config::Diagnostic> check_security(const config::Project& project, const engine::Engine& engine,
                                               std::vector<std::optional<std::vector<std::string>>>* policy_columns = nullptr);

}  // namespace sightline::auth
