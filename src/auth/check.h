// `sightline check` for the security parts of a project, against the real engine:
//   - every row policy compiles against its relation (with a sample user's values bound);
//   - with auth on, widgets with their own SQL read sources and models only by their plain
//     names (which row policies shadow), never schema-qualified or through file functions.
#pragma once

#include <vector>

#include "config/project.h"
#include "engine/engine.h"

namespace sightline::auth {

std::vector<config::Diagnostic> check_security(const config::Project& project, const engine::Engine& engine);

}  // namespace sightline::auth
