#include "engine/source_files.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

namespace sightline::engine {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxDepth = 64;  // symbolic links may make a folder its own descendant

bool has_wildcard(std::string_view component) {
  return component.find_first_of("*?[") != std::string_view::npos;
}

struct FileStamp {
  std::string path;
  struct stat st {};
};

// Appends `path` when it is a regular file (following links).
void add_file(const fs::path& path, std::vector<FileStamp>& out) {
  FileStamp f;
  f.path = path.string();
  if (::stat(f.path.c_str(), &f.st) == 0 && S_ISREG(f.st.st_mode)) out.push_back(std::move(f));
}

void add_tree(const fs::path& dir, std::vector<FileStamp>& out, int depth) {
  if (depth > kMaxDepth) return;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec))
      add_tree(it->path(), out, depth + 1);
    else
      add_file(it->path(), out);
  }
}

// The files below `dir` that match components[i..] of a glob.
void match(const fs::path& dir, const std::vector<std::string>& components, size_t i, std::vector<FileStamp>& out, int depth) {
  if (depth > kMaxDepth || i >= components.size()) return;
  const std::string& component = components[i];
  const bool last = i + 1 == components.size();
  std::error_code ec;
  if (component == "**") {
    if (last) return add_tree(dir, out, depth);
    match(dir, components, i + 1, out, depth);  // ** as no folder at all
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec)) match(it->path(), components, i, out, depth + 1);
    return;
  }
  if (!has_wildcard(component)) {
    fs::path next = dir / component;
    if (!last)
      match(next, components, i + 1, out, depth + 1);
    else if (fs::is_directory(next, ec))
      add_tree(next, out, depth + 1);
    else
      add_file(next, out);
    return;
  }
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (::fnmatch(component.c_str(), name.c_str(), 0) != 0) continue;
    if (!last) {
      if (it->is_directory(ec)) match(it->path(), components, i + 1, out, depth + 1);
    } else if (it->is_directory(ec)) {
      add_tree(it->path(), out, depth + 1);
    } else {
      add_file(it->path(), out);
    }
  }
}

}  // namespace

uint64_t hash_combine(uint64_t seed, std::string_view bytes) {
  uint64_t h = seed ^ 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t hash_combine(uint64_t seed, uint64_t value) {
  return hash_combine(seed, std::string_view(reinterpret_cast<const char*>(&value), sizeof value));
}

uint64_t fingerprint_files(const fs::path& pattern) {
  return summarize_files(pattern).fingerprint;
}

namespace {

// Every regular file `pattern` names, sorted by path.
std::vector<FileStamp> matching_files(const fs::path& pattern) {
  std::vector<FileStamp> files;
  fs::path prefix;
  std::vector<std::string> rest;
  for (const auto& part : pattern) {
    if (rest.empty() && !has_wildcard(part.string()))
      prefix /= part;
    else
      rest.push_back(part.string());
  }
  std::error_code ec;
  if (!rest.empty())
    match(prefix, rest, 0, files, 0);
  else if (fs::is_directory(prefix, ec))
    add_tree(prefix, files, 0);
  else
    add_file(prefix, files);
  std::sort(files.begin(), files.end(), [](const FileStamp& a, const FileStamp& b) { return a.path < b.path; });
  return files;
}

}  // namespace

std::vector<FileEntry> list_files(const fs::path& pattern) {
  std::vector<FileEntry> out;
  for (const auto& f : matching_files(pattern))
    out.push_back({f.path, static_cast<int64_t>(f.st.st_size),
                   static_cast<int64_t>(f.st.st_mtim.tv_sec) * 1'000'000'000 + static_cast<int64_t>(f.st.st_mtim.tv_nsec)});
  return out;
}

FilesSummary summarize_files(const fs::path& pattern) {
  const std::vector<FileStamp> files = matching_files(pattern);
  uint64_t h = hash_combine(0, pattern.string());
  h = hash_combine(h, static_cast<uint64_t>(files.size()));
  for (const auto& f : files) {
    h = hash_combine(h, f.path);
    for (uint64_t v : {static_cast<uint64_t>(f.st.st_size), static_cast<uint64_t>(f.st.st_ino), static_cast<uint64_t>(f.st.st_mtim.tv_sec),
                       static_cast<uint64_t>(f.st.st_mtim.tv_nsec), static_cast<uint64_t>(f.st.st_ctim.tv_sec),
                       static_cast<uint64_t>(f.st.st_ctim.tv_nsec)})
      h = hash_combine(h, v);
  }
  FilesSummary summary{h, static_cast<int64_t>(files.size()), 0};
  for (const auto& f : files)
    summary.newest_modified_ms =
        std::max<int64_t>(summary.newest_modified_ms, static_cast<int64_t>(f.st.st_mtim.tv_sec) * 1000 + f.st.st_mtim.tv_nsec / 1'000'000);
  return summary;
}

}  // namespace sightline::engine
