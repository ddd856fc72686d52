// When a source's refresh policy (config::RefreshSpec) makes it due: pure functions of the
// policy, the time and what the source's files are doing, so they are tested with made-up times.
// The refresher (cli/refresher.h) keeps one RefreshTiming per source and calls refresh_due at
// every look. Thread-compatible: no state of its own.
#pragma once

#include <cstdint>
#include <optional>

#include "config/project.h"
#include "core/cron.h"

namespace sightline::engine {

// When a source was last looked at, and what its files were doing (per source, kept by the
// refresher between ticks).
struct RefreshTiming {
  int64_t last_check_ms = 0;                 // or when the refresher first saw the source
  std::optional<int64_t> next_cron_ms;       // computed after each cron firing
  std::optional<uint64_t> settling_version;  // files changed to this version ...
  int64_t settling_since_ms = 0;             // ... and have stayed so since then
};

enum class RefreshReason { None, Every, Cron, FilesChanged, Retention };
const char* refresh_reason_name(RefreshReason reason);

// Whether `spec` makes a source due at `now_ms` (pure: the unit tests give it made-up times).
// `files_changed_to`: the source's files' version now when it differs from the one being served,
// else nullopt. Updates `timing`'s cron and settling state; the caller sets last_check_ms when it
// checks.
RefreshReason refresh_due(const config::RefreshSpec& spec, const CronSchedule* cron, RefreshTiming& timing, int64_t now_ms,
                          std::optional<uint64_t> files_changed_to, const UtcOffsetAt& offset_at);

// The next time a schedule (every or cron) makes the source due; nullopt when it has none.
std::optional<int64_t> next_scheduled_ms(const config::RefreshSpec& spec, const RefreshTiming& timing);

}  // namespace sightline::engine
