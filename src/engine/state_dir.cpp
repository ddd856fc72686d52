#include "engine/state_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace sightline::engine {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "state-", kSuffix = ".duckdb";

// The generation a file name stands for ("state-12.duckdb": 12), or nullopt for any other name.
std::optional<uint64_t> generation_of(const fs::path& file) {
  const std::string name = file.filename().string();
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return std::nullopt;
  const std::string digits = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoull(digits);
}

std::vector<std::pair<uint64_t, fs::path>> generations(const fs::path& dir) {
  std::vector<std::pair<uint64_t, fs::path>> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (auto g = generation_of(it->path())) out.emplace_back(*g, it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

fs::path file_of(const fs::path& dir, uint64_t generation) {
  return dir / (std::string(kPrefix) + std::to_string(generation) + std::string(kSuffix));
}

}  // namespace

bool held_by_another_process(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock probe {};
  probe.l_type = F_WRLCK;  // would a write lock conflict with anyone's lock? (this process's never do)
  probe.l_whence = SEEK_SET;
  bool held = ::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

Result<StateFile> choose_state_file(const fs::path& dir, StateFileUse use) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return fail(ErrorKind::Unavailable, "cannot create the state directory: " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return fail(ErrorKind::Unavailable, "the state directory is not writable", "give the server's user write access, or use --state-dir");
  auto present = generations(dir);
  if (use == StateFileUse::Fresh || present.empty()) {
    const uint64_t next = present.empty() ? 1 : present.back().first + 1;
    return StateFile{file_of(dir, next), false};
  }
  const fs::path newest = present.back().second;
  if (held_by_another_process(newest))
    return fail(ErrorKind::Unavailable, "another process is using it",
                "serve each project from one process, or give each its own --state-dir");
  return StateFile{newest, true};
}

void remove_older_generations(const fs::path& dir, const fs::path& current) {
  auto keep = generation_of(current);
  if (!keep) return;
  for (const auto& [generation, file] : generations(dir)) {
    if (generation >= *keep || held_by_another_process(file)) continue;
    std::error_code ec;
    fs::remove(file, ec);
    fs::remove(fs::path(file.string() + ".wal"), ec);
  }
}

bool newer_generation_exists(const fs::path& file) {
  auto mine = generation_of(file);
  if (!mine) return false;
  auto present = generations(file.parent_path());
  return !present.empty() && present.back().first > *mine;
}

}  // namespace sightline::engine
