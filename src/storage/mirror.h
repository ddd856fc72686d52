// Local copies of the objects a source reads, kept in the state directory so DuckDB reads files
// (docs/freshness.md, "Object storage").
//
//   auto copy = sync_objects(*store, spec, source.object, root);
//   if (copy) source.local_files = copy->local_pattern;   // e.g. <root>/s3-1f2e.../bucket/orders/**/*.parquet
//
// A sync lists the objects the source's key pattern matches and fetches those it has not got (a
// new key, or a new ETag), `parallel` at once, each into a partial file first: a fetch cut short
// resumes where it stopped (a ranged request that must still match the ETag). Only when every
// object has arrived are the new files moved into place, and the copies of objects no longer
// listed removed, so a failed sync leaves the copy as it was, and between syncs the copy is one
// whole listing (a reader during the moves may see both: they are renames, one by one). A
// manifest per bucket remembers each copy's ETag, written after the moves.
//
// Each copy's modification time is the object's Last-Modified time, its nanoseconds taken from
// the ETag: what a source's data version and append mode's ledger compare, so a rewritten object
// (even within the same second) is a changed file, and an unchanged one stays the same file.
//
// Keys the local file system cannot hold as they are ('..' or empty parts, a trailing '/') are
// skipped and counted. The objects of one source over `max_cache_bytes` fail the sync (TooLarge)
// before anything is fetched.
//
// Not thread-safe across calls on one root: one thread syncs at a time (the server's reloader).
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "config/project.h"
#include "core/error.h"
#include "storage/object_store.h"

namespace sightline::storage {

struct MirrorSync {
  std::string local_pattern;  // absolute: the copy's folder and the source's key pattern
  int64_t objects = 0;        // matched and kept
  int64_t fetched = 0;        // fetched by this sync
  int64_t removed = 0;        // copies of objects no longer listed, removed
  int64_t skipped = 0;        // keys that cannot be files
  int64_t bytes = 0;          // of all objects kept
  int64_t bytes_fetched = 0;
};

// Where a source's copy lives (no network): <root>/<store folder>/<container>/<key pattern>.
std::string local_pattern(const std::filesystem::path& root, const config::ObjectStoreSpec& spec, const config::ObjectSource& source);

// Whether `root` holds a copy for the source (a sync finished once).
bool has_copy(const std::filesystem::path& root, const config::ObjectStoreSpec& spec, const config::ObjectSource& source);

Result<MirrorSync> sync_objects(ObjectStore& store, const config::ObjectStoreSpec& spec, const config::ObjectSource& source,
                                const std::filesystem::path& root);

// Removes the copies under `root` of buckets and stores no source reads any more (folders not in
// `in_use`, as local_pattern's first two parts below root: "<store folder>/<container>").
void remove_unused_copies(const std::filesystem::path& root, const std::set<std::string>& in_use);
std::string copy_folder(const config::ObjectStoreSpec& spec, const config::ObjectSource& source);

// Key patterns as the loader takes them: * ? [..] within one part, ** any number of parts.
bool key_matches(std::string_view pattern, std::string_view key);
// The part of a key pattern before its first wildcard: what to list.
std::string listing_prefix(std::string_view pattern);

}  // namespace sightline::storage
