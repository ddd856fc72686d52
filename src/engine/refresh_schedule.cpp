#include "engine/refresh_schedule.h"

#include <algorithm>

namespace sightline::engine {

const char* refresh_reason_name(RefreshReason reason) {
  switch (reason) {
    case RefreshReason::None: return "none";
    case RefreshReason::Every: return "every";
    case RefreshReason::Cron: return "cron";
    case RefreshReason::FilesChanged: return "on_change";
    case RefreshReason::Retention: return "retention";
  }
  return "none";
}

namespace {

std::optional<int64_t> next_cron_after(const CronSchedule& cron, int64_t after_ms, const UtcOffsetAt& offset_at) {
  auto next = cron.next_after(std::chrono::sys_seconds(std::chrono::seconds(after_ms / 1000)), offset_at);
  if (!next) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(next->time_since_epoch()).count();
}

}  // namespace

RefreshReason refresh_due(const config::RefreshSpec& spec, const CronSchedule* cron, RefreshTiming& timing, int64_t now_ms,
                          std::optional<uint64_t> files_changed_to, const UtcOffsetAt& offset_at) {
  RefreshReason reason = RefreshReason::None;
  if (spec.every_ms && now_ms >= timing.last_check_ms + *spec.every_ms) reason = RefreshReason::Every;
  if (cron) {
    if (!timing.next_cron_ms) timing.next_cron_ms = next_cron_after(*cron, timing.last_check_ms, offset_at);
    if (timing.next_cron_ms && now_ms >= *timing.next_cron_ms) {
      if (reason == RefreshReason::None) reason = RefreshReason::Cron;
      timing.next_cron_ms = next_cron_after(*cron, now_ms, offset_at);
    }
  }
  if (!files_changed_to) {
    timing.settling_version.reset();
  } else if (spec.on_change) {
    // A copy in progress changes the files at every look: wait until they stay put.
    if (timing.settling_version != files_changed_to) {
      timing.settling_version = files_changed_to;
      timing.settling_since_ms = now_ms;
    }
    if (reason == RefreshReason::None && now_ms - timing.settling_since_ms >= spec.debounce_ms) reason = RefreshReason::FilesChanged;
  }
  return reason;
}

std::optional<int64_t> next_scheduled_ms(const config::RefreshSpec& spec, const RefreshTiming& timing) {
  std::optional<int64_t> next;
  if (spec.every_ms) next = timing.last_check_ms + *spec.every_ms;
  if (timing.next_cron_ms) next = next ? std::min(*next, *timing.next_cron_ms) : *timing.next_cron_ms;
  return next;
}

}  // namespace sightline::engine
