// Calendar truncation of instants in one time zone, without the engine's per-value time zone
// library calls.
//
// DuckDB truncates a TIMESTAMP WITH TIME ZONE (date_trunc('day', t)) through ICU, one calendar
// computation per value: about 2.7 s for 10M values on one core, where grouping by the instant
// itself takes 80 ms. Every time axis, every day or hour bucket of a rollup and every bucketed
// distinct count over such a column paid it. A ZoneTimeline holds the zone's offsets from UTC over
// a span of instants (the offset changes, found once from DuckDB itself), so truncating is integer
// arithmetic plus a binary search, and gives exactly what DuckDB's date_trunc gives:
//
//   - the instant's wall-clock time is truncated to the unit (hour, day, ISO week from Monday,
//     month, quarter, year);
//   - the truncated wall-clock time is turned back into an instant as ICU does: a wall-clock time
//     that occurs twice (clocks set back) is the later instant; one that does not occur (clocks
//     set forward) is read with the offset in force before the change.
//
// Instants outside the span (and wall-clock times too near its ends) have no answer here
// (nullopt); the SQL falls back to date_trunc for them (local_trunc_sql).
//
// Thread-safe after construction (const).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace sightline::engine {

class Connection;

enum class CalendarUnit { Hour, Day, Week, Month, Quarter, Year };

// The unit named as date_trunc names it ("hour", "day", "week", "month", "quarter", "year").
std::optional<CalendarUnit> calendar_unit(std::string_view name);
const char* calendar_unit_name(CalendarUnit unit);

// A wall-clock time (microseconds since 1970-01-01 00:00 on the wall) truncated to the unit.
int64_t truncate_wall_clock(CalendarUnit unit, int64_t wall_us);

// Parts of a date or time that a dimension may show, as DuckDB's hour(), isodow() (Monday 1 to
// Sunday 7) and month() give them. A DimensionSpec names them by grain: hour_of_day,
// day_of_week, month_of_year (only own SQL translated by query/sql_widgets.h uses them).
enum class DatePart { HourOfDay, DayOfWeek, MonthOfYear };
std::optional<DatePart> date_part_of_grain(std::string_view grain);
const char* date_part_grain(DatePart part);
// DuckDB's function for the part: "hour", "isodow", "month".
const char* date_part_function(DatePart part);

class ZoneTimeline {
 public:
  // From `start_us` on, offset_us applies (until the next segment's start); the last one until
  // end_us. Offsets are the zone's wall clock minus UTC.
  struct Segment {
    int64_t start_us;
    int64_t offset_us;
  };
  // segments: non-empty, ascending starts, each below end_us.
  ZoneTimeline(std::vector<Segment> segments, int64_t end_us);

  // A zone with one offset for all time (UTC): the span is every instant.
  static ZoneTimeline fixed(int64_t offset_us);

  // date_trunc(unit, instant) in the zone, in microseconds since the epoch; nullopt when the
  // instant or its truncation is outside the span.
  std::optional<int64_t> truncate(CalendarUnit unit, int64_t instant_us) const;

  // DuckDB's hour(), isodow() or month() of an instant in the zone; nullopt outside the span.
  std::optional<int64_t> part(DatePart part, int64_t instant_us) const;

  // The offset in force at an instant (clamped to the span's ends).
  int64_t offset_at(int64_t instant_us) const;
  // The stretch of time around an instant with one offset: [from_us, to_us); nullopt outside the span.
  struct Stretch {
    int64_t from_us, to_us, offset_us;
  };
  std::optional<Stretch> stretch_at(int64_t instant_us) const;
  // The instant a wall-clock time denotes, by ICU's rule (see above); nullopt near the span's ends.
  std::optional<int64_t> instant_of(int64_t wall_us) const;

  size_t segments() const { return segments_.size(); }

 private:
  size_t segment_index(int64_t instant_us) const;
  std::vector<Segment> segments_;
  int64_t end_us_;
};

// Reads the offsets of the connection's time zone (its TimeZone setting) from DuckDB over
// 1900-2150: sampled daily, each change then located to the second by bisection (zones whose
// clocks change and change back within one day would lose that day's change; tzdata has none).
// About 60 ms; a fixed-offset zone yields one segment.
Result<ZoneTimeline> load_zone_timeline(Connection& conn);

// Registers, for every unit, over one copy of `timeline` that they share:
//   sightline_trunc_<unit>(TIMESTAMP WITH TIME ZONE) -> TIMESTAMP WITH TIME ZONE  (date_trunc)
//   sightline_date_<unit>(TIMESTAMP WITH TIME ZONE) -> DATE       (CAST(date_trunc(...) AS DATE))
//   sightline_part_<hour|isodow|month>(TIMESTAMP WITH TIME ZONE) -> BIGINT  (hour(), ...)
// All give NULL for a NULL value or one outside the span. Call once per database, with the
// timeline of its TimeZone setting.
Result<void> register_local_trunc_functions(Connection& conn, const ZoneTimeline& timeline);

// SQL for date_trunc('<unit>', column) of a TIMESTAMP WITH TIME ZONE column, equal to it and fast:
// coalesce(sightline_trunc_<unit>(column), date_trunc('<unit>', column)) (DuckDB evaluates the
// second only where the first is NULL).
std::string local_trunc_sql(CalendarUnit unit, const std::string& column_sql);
// The same for CAST(date_trunc('<unit>', column) AS DATE), which also computes per value.
std::string local_date_sql(CalendarUnit unit, const std::string& column_sql);
// The same for hour(column), isodow(column) or month(column).
std::string local_part_sql(DatePart part, const std::string& column_sql);

}  // namespace sightline::engine
