#include "cli/object_sources.h"

#include <chrono>
#include <set>

#include "storage/http_transport.h"

namespace sightline::cli {

namespace fs = std::filesystem;

fs::path objects_root(const std::string& project_dir, const fs::path& state_dir) {
  return (state_dir.empty() ? fs::absolute(project_dir) / ".sightline" / "state" : state_dir) / "objects";
}

Result<storage::MirrorSync> fetch_object_source(const config::Project& project, const config::SourceSpec& source, const fs::path& root,
                                                Logger& log) {
  const config::ObjectStoreSpec* spec = project.find_object_store(source.object->store);
  if (!spec) return fail(ErrorKind::Internal, "source '" + source.name + "' names an object store the project lacks");
  const auto started = std::chrono::steady_clock::now();
  auto store = storage::make_object_store(*spec, storage::make_curl_transport(std::chrono::seconds(10), std::chrono::seconds(60), spec->ca_file));
  auto synced = storage::sync_objects(*store, *spec, *source.object, root);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!synced) {
    log.warn("objects_fetch_failed", {{"source", source.name}, {"store", spec->name}, {"error", synced.error().message}, {"seconds", seconds}});
    return synced;
  }
  log.info("objects_fetched", {{"source", source.name},
                               {"store", spec->name},
                               {"objects", synced->objects},
                               {"fetched", synced->fetched},
                               {"removed", synced->removed},
                               {"skipped", synced->skipped},
                               {"bytes", synced->bytes},
                               {"bytes_fetched", synced->bytes_fetched},
                               {"seconds", seconds}});
  return synced;
}

std::vector<config::Diagnostic> fetch_object_sources(config::Project& project, const fs::path& root, Logger& log, bool remove_unused,
                                                     bool fetch) {
  std::vector<config::Diagnostic> out;
  std::set<std::string> in_use;
  for (auto& source : project.sources) {
    if (!source.object) continue;
    const config::ObjectStoreSpec* spec = project.find_object_store(source.object->store);
    if (!spec) continue;
    in_use.insert(storage::copy_folder(*spec, *source.object));
    source.local_files = storage::local_pattern(root, *spec, *source.object);
    if (!fetch) continue;
    auto synced = fetch_object_source(project, source, root, log);
    if (synced) continue;
    const bool copy = storage::has_copy(root, *spec, *source.object);
    out.push_back({copy ? config::Diagnostic::Severity::Warning : config::Diagnostic::Severity::Error, source.pos,
                   "source '" + source.name + "': its objects could not be fetched: " + synced.error().message +
                       (copy ? "; serving the copy of the last good fetch" : ""),
                   synced.error().hint});
  }
  std::error_code ec;
  if (remove_unused && fs::exists(root, ec)) storage::remove_unused_copies(root, in_use);
  return out;
}

void name_copies_by_url(std::vector<config::Diagnostic>& diagnostics, const config::Project& project) {
  for (const auto& source : project.sources) {
    if (!source.object || source.local_files.size() < source.object->pattern.size()) continue;
    const std::string copy = source.local_files.substr(0, source.local_files.size() - source.object->pattern.size());
    const std::string url = source.path.substr(0, source.path.find("://") + 3) + source.object->container + "/";
    const std::string relative = fs::path(copy).parent_path().lexically_relative(project.dir).string() + "/";
    for (auto& d : diagnostics)
      for (const std::string* from : {&copy, &relative})
        for (size_t at = d.message.find(*from); from->size() > 1 && at != std::string::npos; at = d.message.find(*from, at + url.size()))
          d.message.replace(at, from->size(), url);
  }
}

}  // namespace sightline::cli
