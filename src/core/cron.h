// A cron schedule: when a job such as a source's refresh (`refresh: { cron: "0 6 * * *" }`) is due,
// on the wall clock of the project's time zone.
//
//   auto schedule = CronSchedule::parse("0 6 * * MON-FRI");  // or a precise InvalidInput Error
//   auto next = schedule->next_after(now, offset_at);         // nullopt: never within ~5 years
//
// What it promises:
//   - Syntax: five fields "minute hour day-of-month month day-of-week" (0-59, 0-23, 1-31, 1-12 or
//     JAN-DEC, 0-7 or SUN-SAT with 0 and 7 both Sunday; names in any case), each `*` or a list of
//     `a`, `a-b`, `*/n`, `a-b/n` or `a/n` (a to the field's maximum); or one of the macros @yearly
//     (@annually), @monthly, @weekly, @daily (@midnight), @hourly. At most 200 characters.
//   - Days, as Vixie cron: when both day fields are restricted, a day matches if EITHER does;
//     otherwise both must. As in Vixie cron, a field beginning with `*` (also `*/2`) is unrestricted.
//   - Wall clock: a matching local minute fires at the first instant the zone's wall clock reaches
//     it. So a time that occurs twice (clocks set back) fires once, at its first occurrence, and one
//     that does not occur (clocks set forward) fires at the instant of the change: a daily job is
//     never skipped. Results are strictly after `after` and whole minutes (seconds 0; an offset or
//     change that is not on a whole minute, as in local mean time, rounds the result up).
//   - offset_at may give any offset within ±18 h (beyond is clamped) and change at any second; it is
//     probed hourly over the day and a half around the answer and each change is located to the
//     second, so two changes less than an hour apart may be missed (no real zone has them). A call
//     costs a few dozen probes (about a dozen more per change nearby); the calendar search skips
//     months, days and hours that cannot match, so a rare schedule (29 February) is as quick as a
//     frequent one.
//   - Instants more than 3000 years from 1970 have no answer (nullopt).
//
// Immutable after parse, so thread-safe (next_after calls offset_at from the calling thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace sightline {

// The wall clock's offset from UTC at an instant (seconds east of UTC), e.g. from engine::ZoneTimeline::offset_at.
using UtcOffsetAt = std::function<std::chrono::seconds(std::chrono::sys_seconds instant)>;

class CronSchedule {
 public:
  // Parses a standard five-field expression "minute hour day-of-month month day-of-week" or a macro
  // (@yearly/@annually, @monthly, @weekly, @daily/@midnight, @hourly). Errors: ErrorKind::InvalidInput with a
  // precise message naming the field and the problem, e.g. "cron field 2 (hour): 25 is outside 0-23",
  // "cron expression has 4 fields; expected 5 (minute hour day-of-month month day-of-week)".
  static Result<CronSchedule> parse(std::string_view expression);

  // The first instant strictly after `after` at which the schedule fires, in the zone given by `offset_at`;
  // nullopt when it never fires within the next ~5 years (e.g. "0 0 30 2 *").
  std::optional<std::chrono::sys_seconds> next_after(std::chrono::sys_seconds after, const UtcOffsetAt& offset_at) const;

  // The expression as given to parse.
  const std::string& expression() const { return expression_; }

 private:
  CronSchedule() = default;
  // The first matching local minute (seconds since 1970-01-01 00:00 on the wall clock) in [from, limit].
  std::optional<int64_t> next_local_match(int64_t from, int64_t limit) const;
  std::optional<int64_t> first_time_of_day(int hour, int minute) const;

  std::string expression_;
  // Bit v set: value v matches. Day-of-week folds 7 into 0 (Sunday).
  uint64_t minutes_ = 0, hours_ = 0, days_of_month_ = 0, months_ = 0, days_of_week_ = 0;
  bool day_of_month_star_ = false, day_of_week_star_ = false;  // for Vixie's day rule
};

}  // namespace sightline
