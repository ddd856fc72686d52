#include "engine/memory_limit.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include <unistd.h>

#include <fstream>
#include <string>

namespace sightline::engine {

namespace {

// A cgroup limit file's number; nullopt for "max", a missing file or text.
std::optional<uint64_t> limit_in(const std::string& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  try {
    return std::stoull(text);
  } catch (...) {
    return std::nullopt;
  }
}

// The process's cgroup v2 path ("0::/system.slice/x.service" -> "/system.slice/x.service").
std::string cgroup_v2_path() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("0::")) return line.substr(3);
  return "";
}

}  // namespace

MachineMemory read_machine_memory() {
  MachineMemory m;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) m.physical_bytes = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  const std::string own = cgroup_v2_path();
  for (const std::string& file : {"/sys/fs/cgroup" + own + "/memory.max", std::string("/sys/fs/cgroup/memory.max"),
                                  std::string("/sys/fs/cgroup/memory/memory.limit_in_bytes")}) {
    if (auto limit = limit_in(file)) {
      m.cgroup_bytes = limit;
      break;
    }
  }
  return m;
}

uint64_t usable_memory(const MachineMemory& memory) {
  uint64_t available = memory.physical_bytes;
  // cgroup v1 reports "no limit" as a huge number; any limit above physical memory is none.
  if (memory.cgroup_bytes && *memory.cgroup_bytes > 0 && (available == 0 || *memory.cgroup_bytes < available))
    available = *memory.cgroup_bytes;
  return available;
}

Result<uint64_t> parse_memory_guard(const std::string& text, uint64_t usable_bytes) {
  if (text == "off") return uint64_t{0};
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  if (digits == 0 || digits > 12)
    return fail(ErrorKind::InvalidInput, "the memory guard must be a share such as 90%, a size such as 12GiB, or off");
  const uint64_t n = std::stoull(text.substr(0, digits));
  if (unit == "%") {
    if (n < 1 || n > 100) return fail(ErrorKind::InvalidInput, "the memory guard's share must be from 1% to 100%");
    return usable_bytes * n / 100;  // 0 (off) when the machine's memory is unknown
  }
  static const std::pair<const char*, uint64_t> units[] = {{"B", 1},          {"KiB", 1ull << 10}, {"MiB", 1ull << 20},
                                                           {"GiB", 1ull << 30}, {"KB", 1000},       {"MB", 1000'000},
                                                           {"GB", 1000'000'000}};
  for (const auto& [name, factor] : units) {
    if (unit != name) continue;
    if (n > std::numeric_limits<uint64_t>::max() / factor) return fail(ErrorKind::InvalidInput, "the memory guard is too large");
    return n * factor;
  }
  return fail(ErrorKind::InvalidInput, "unknown unit '" + unit.substr(0, 8) + "' in the memory guard", "use %, B, KiB, MiB, GiB, KB, MB or GB");
}

std::string default_memory_limit(const MachineMemory& memory, double share) {
  const uint64_t available = usable_memory(memory);
  if (available == 0) return "";
  const uint64_t mib = std::max<uint64_t>(256, static_cast<uint64_t>(static_cast<double>(available) * share) >> 20);
  return std::to_string(mib) + "MiB";
}

std::optional<uint64_t> parse_reported_size(std::string_view text) {
  size_t end = 0;
  while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.')) ++end;
  if (end == 0 || end > 24 || end + 1 >= text.size() || text[end] != ' ') return std::nullopt;
  const std::string number(text.substr(0, end));
  if (std::count(number.begin(), number.end(), '.') > 1 || number.front() == '.' || number.back() == '.') return std::nullopt;
  const std::string_view unit = text.substr(end + 1);
  static const std::pair<std::string_view, double> units[] = {
      {"bytes", 1},    {"byte", 1},    {"KiB", 0x1p10}, {"MiB", 0x1p20}, {"GiB", 0x1p30}, {"TiB", 0x1p40}, {"PiB", 0x1p50},
      {"KB", 1e3},     {"MB", 1e6},    {"GB", 1e9},     {"TB", 1e12},    {"PB", 1e15}};
  for (const auto& [name, factor] : units)
    if (unit == name) return static_cast<uint64_t>(std::stod(number) * factor);
  return std::nullopt;
}

}  // namespace sightline::engine
