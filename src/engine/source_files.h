// Fingerprints of the files a source reads at query time, so an answer computed from the files
// as they were is never served once they change (a new file in a glob, a rewritten CSV).
//
//   auto print = fingerprint_files("/p/data/orders/**/*.parquet");
//   // changes when a matching file appears, disappears, or changes size, mtime, ctime or inode
//
// The files are those DuckDB's glob would read, or a superset: `*`, `?` and `[...]` match within
// one path component and `**` any number of folders, as in DuckDB; a path naming a folder means
// every file below it. Extra files only cost a needless cache miss, never a stale answer.
// Pure functions over the file system; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::engine {

// A 64-bit fingerprint of the files `pattern` (absolute; a file, a folder or a glob) names:
// each one's path, size, modification and change times and inode. Missing files and unreadable
// folders count as absent, so their appearance changes the fingerprint too.
uint64_t fingerprint_files(const std::filesystem::path& pattern);

// The fingerprint, with how many files there are and the newest modification time among them
// (milliseconds since 1970; 0 when there is no file): what "data as of" means for files read at
// query time.
struct FilesSummary {
  uint64_t fingerprint = 0;
  int64_t files = 0;
  int64_t newest_modified_ms = 0;
};
FilesSummary summarize_files(const std::filesystem::path& pattern);

// The regular files `pattern` names, sorted by path, each with its size and modification time
// (nanoseconds since 1970): what append mode (engine/append_store.h) compares with its ledger.
struct FileEntry {
  std::string path;  // absolute
  int64_t size = 0;
  int64_t mtime_ns = 0;
};
std::vector<FileEntry> list_files(const std::filesystem::path& pattern);

// 64-bit FNV-1a, for combining fingerprints: stable within a process and across runs.
uint64_t hash_combine(uint64_t seed, std::string_view bytes);
uint64_t hash_combine(uint64_t seed, uint64_t value);

}  // namespace sightline::engine
