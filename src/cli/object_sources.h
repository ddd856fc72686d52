// Sources whose path is an s3:// or az:// URL (docs/freshness.md, "Object storage"): their
// objects are fetched into local copies in the state directory (storage/mirror.h) before the
// engine reads them, at every load and whenever a refresh of theirs is due.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "config/project.h"
#include "core/error.h"
#include "core/log.h"
#include "storage/mirror.h"

namespace sightline::cli {

// Where the copies live: <state dir>/objects (the project's .sightline/state/objects without one).
std::filesystem::path objects_root(const std::string& project_dir, const std::filesystem::path& state_dir);

// Fetches what changed in the objects of `source` (an object source of `project`) and logs it
// (objects_fetched, or objects_fetch_failed with the reason).
Result<storage::MirrorSync> fetch_object_source(const config::Project& project, const config::SourceSpec& source,
                                                const std::filesystem::path& root, Logger& log);

// Fetches every object source of `project` and points it at its copy (SourceSpec::local_files);
// removes copies no source reads any more. A source whose fetch fails reads the copy the last
// good fetch left (a warning says why), or, with none, is an error.
// `remove_unused`: false when `project` holds only some of the project's sources. `fetch`: false
// only points the sources at their copies, as they are.
std::vector<config::Diagnostic> fetch_object_sources(config::Project& project, const std::filesystem::path& root, Logger& log,
                                                     bool remove_unused = true, bool fetch = true);

// Messages name object sources' files by their URLs (s3://bucket/key), not by their copies.
void name_copies_by_url(std::vector<config::Diagnostic>& diagnostics, const config::Project& project);

}  // namespace sightline::cli
