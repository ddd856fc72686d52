// What the kernel says about this process, for metrics: resident memory and open descriptors.
// Reads /proc/self; each function returns nullopt where /proc is not available.
#pragma once

#include <cstdint>
#include <optional>

namespace sightline {

// Resident set size in bytes (VmRSS).
std::optional<int64_t> process_resident_bytes();
// Open file descriptors (entries of /proc/self/fd, less the one reading it).
std::optional<int64_t> process_open_fds();
// The descriptor limit (RLIMIT_NOFILE, soft).
std::optional<int64_t> process_max_fds();

}  // namespace sightline
