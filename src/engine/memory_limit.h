// The engine's memory limit when the project sets none, sized from the machine: a share of its
// memory, or of the container's (cgroup) limit when that is smaller. DuckDB's own default (80 %
// of the machine's memory, blind to containers) left too little beside it: the result cache,
// Arrow buffers and the HTTP server live outside DuckDB's limit, and at 100M rows the process
// peaked above 17 GiB on a 24 GiB machine.
//
//   auto limit = default_memory_limit(read_machine_memory());   // e.g. "14463MiB"
//
// Pure functions except read_machine_memory(), which reads the system; all thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace sightline::engine {

struct MachineMemory {
  uint64_t physical_bytes = 0;              // 0: unknown
  std::optional<uint64_t> cgroup_bytes;     // the container's limit, when it has one
};

// What this process may use: physical memory and the cgroup (v2 memory.max, or v1
// memory.limit_in_bytes) limit of the process's cgroup.
MachineMemory read_machine_memory();

// The share of the memory available (the smaller of physical and cgroup) DuckDB gets, in MiB as
// DuckDB reads it ("14463MiB"); empty when nothing is known (DuckDB then uses its own default).
std::string default_memory_limit(const MachineMemory& memory, double share = 0.6);

// The memory this process may use: the smaller of physical memory and the cgroup limit; 0 when
// unknown.
uint64_t usable_memory(const MachineMemory& memory);

// `serve --memory-guard`: "90%" (of `usable_bytes`), a size ("12GiB", "500MB", "1048576B") or
// "off"; the resident size beyond which queries are shed. 0 means off.
Result<uint64_t> parse_memory_guard(const std::string& text, uint64_t usable_bytes);

// A size as DuckDB reports it ("18.8 GiB", "485.3 KiB", "0 bytes", "4.0 GB"), in bytes; nullopt
// for anything else.
std::optional<uint64_t> parse_reported_size(std::string_view text);

}  // namespace sightline::engine
