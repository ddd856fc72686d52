#include "core/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace sightline {

std::optional<int64_t> process_resident_bytes() {
  // statm: sizes in pages; the second field is the resident set.
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return std::nullopt;
  long page = sysconf(_SC_PAGESIZE);
  return resident * (page > 0 ? page : 4096);
}

std::optional<int64_t> process_open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return std::nullopt;
  int64_t n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n > 0 ? n - 1 : 0;  // the directory stream's own descriptor
}

std::optional<int64_t> process_max_fds() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<int64_t>(r.rlim_cur);
}

}  // namespace sightline
