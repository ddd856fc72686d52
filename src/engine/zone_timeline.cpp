#include "engine/zone_timeline.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <type_traits>

#include "engine/duckdb.h"
#include "engine/result_rows.h"

namespace sightline::engine {

namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerHour = 3'600 * kMicrosPerSecond;
constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;
// Offsets stay within ±26 hours, so every instant a wall-clock time can denote is this near it.
constexpr int64_t kReach = 30 * kMicrosPerHour;
// The span read from DuckDB: 1900-01-01 to 2150-01-01 (UTC), sampled daily.
constexpr int64_t kSpanFromSeconds = -2'208'988'800;
constexpr int64_t kSpanToSeconds = 5'680'281'600;
constexpr int64_t kSampleSeconds = 86'400;

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

int64_t truncate_wall_clock(CalendarUnit unit, int64_t wall_us) {
  using namespace std::chrono;
  if (unit == CalendarUnit::Hour) return floor_div(wall_us, kMicrosPerHour) * kMicrosPerHour;
  const int64_t day = floor_div(wall_us, kMicrosPerDay);
  if (unit == CalendarUnit::Day) return day * kMicrosPerDay;
  if (unit == CalendarUnit::Week) {
    // 1970-01-01 was a Thursday: three days after a Monday.
    const int64_t from_monday = ((day + 3) % 7 + 7) % 7;
    return (day - from_monday) * kMicrosPerDay;
  }
  const year_month_day date{sys_days{days{day}}};
  unsigned month = static_cast<unsigned>(date.month());
  if (unit == CalendarUnit::Quarter) month = (month - 1) / 3 * 3 + 1;
  if (unit == CalendarUnit::Year) month = 1;
  const sys_days first{date.year() / std::chrono::month{month} / 1};
  return static_cast<int64_t>(first.time_since_epoch().count()) * kMicrosPerDay;
}

std::optional<CalendarUnit> calendar_unit(std::string_view name) {
  if (name == "hour") return CalendarUnit::Hour;
  if (name == "day") return CalendarUnit::Day;
  if (name == "week") return CalendarUnit::Week;
  if (name == "month") return CalendarUnit::Month;
  if (name == "quarter") return CalendarUnit::Quarter;
  if (name == "year") return CalendarUnit::Year;
  return std::nullopt;
}

const char* calendar_unit_name(CalendarUnit unit) {
  switch (unit) {
    case CalendarUnit::Hour: return "hour";
    case CalendarUnit::Day: return "day";
    case CalendarUnit::Week: return "week";
    case CalendarUnit::Month: return "month";
    case CalendarUnit::Quarter: return "quarter";
    case CalendarUnit::Year: return "year";
  }
  return "day";
}

std::optional<DatePart> date_part_of_grain(std::string_view grain) {
  if (grain == "hour_of_day") return DatePart::HourOfDay;
  if (grain == "day_of_week") return DatePart::DayOfWeek;
  if (grain == "month_of_year") return DatePart::MonthOfYear;
  return std::nullopt;
}

const char* date_part_grain(DatePart part) {
  switch (part) {
    case DatePart::HourOfDay: return "hour_of_day";
    case DatePart::DayOfWeek: return "day_of_week";
    case DatePart::MonthOfYear: return "month_of_year";
  }
  return "hour_of_day";
}

const char* date_part_function(DatePart part) {
  switch (part) {
    case DatePart::HourOfDay: return "hour";
    case DatePart::DayOfWeek: return "isodow";
    case DatePart::MonthOfYear: return "month";
  }
  return "hour";
}

namespace {

// The part of a wall-clock time (no zone).
int64_t wall_clock_part(DatePart part, int64_t wall_us) {
  const int64_t day = floor_div(wall_us, kMicrosPerDay);
  switch (part) {
    case DatePart::HourOfDay: return (wall_us - day * kMicrosPerDay) / kMicrosPerHour;
    case DatePart::DayOfWeek: return ((day + 3) % 7 + 7) % 7 + 1;  // 1970-01-01, a Thursday, is 4
    case DatePart::MonthOfYear: {
      const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{day}}};
      return static_cast<unsigned>(date.month());
    }
  }
  return 0;
}

}  // namespace

std::optional<int64_t> ZoneTimeline::part(DatePart part, int64_t instant_us) const {
  auto stretch = stretch_at(instant_us);
  if (!stretch) return std::nullopt;
  return wall_clock_part(part, instant_us + stretch->offset_us);
}

ZoneTimeline::ZoneTimeline(std::vector<Segment> segments, int64_t end_us) : segments_(std::move(segments)), end_us_(end_us) {}

ZoneTimeline ZoneTimeline::fixed(int64_t offset_us) {
  // Far enough from the int64 ends that reach arithmetic cannot overflow.
  constexpr int64_t kFar = std::numeric_limits<int64_t>::max() / 4;
  return ZoneTimeline({{-kFar, offset_us}}, kFar);
}

size_t ZoneTimeline::segment_index(int64_t instant_us) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), instant_us,
                             [](int64_t v, const Segment& s) { return v < s.start_us; });
  return it == segments_.begin() ? 0 : static_cast<size_t>(it - segments_.begin()) - 1;
}

int64_t ZoneTimeline::offset_at(int64_t instant_us) const { return segments_[segment_index(instant_us)].offset_us; }

std::optional<ZoneTimeline::Stretch> ZoneTimeline::stretch_at(int64_t instant_us) const {
  if (instant_us < segments_.front().start_us || instant_us >= end_us_) return std::nullopt;
  const size_t k = segment_index(instant_us);
  return Stretch{segments_[k].start_us, k + 1 < segments_.size() ? segments_[k + 1].start_us : end_us_, segments_[k].offset_us};
}

std::optional<int64_t> ZoneTimeline::instant_of(int64_t wall_us) const {
  if (wall_us - kReach < segments_.front().start_us || wall_us + kReach >= end_us_) return std::nullopt;
  const size_t first = segment_index(wall_us - kReach);
  std::optional<int64_t> latest;
  for (size_t k = first; k < segments_.size() && segments_[k].start_us <= wall_us + kReach; ++k) {
    const int64_t instant = wall_us - segments_[k].offset_us;
    const int64_t end = k + 1 < segments_.size() ? segments_[k + 1].start_us : end_us_;
    if (instant >= segments_[k].start_us && instant < end && (!latest || instant > *latest)) latest = instant;
  }
  if (latest) return latest;
  // Clocks set forward at segment k skip the wall-clock times [start + earlier, start + later):
  // such a time is read with the offset before the change.
  for (size_t k = std::max<size_t>(first, 1); k < segments_.size() && segments_[k].start_us <= wall_us + kReach; ++k) {
    const int64_t before = segments_[k - 1].offset_us;
    if (wall_us >= segments_[k].start_us + before && wall_us < segments_[k].start_us + segments_[k].offset_us)
      return wall_us - before;
  }
  return std::nullopt;
}

std::optional<int64_t> ZoneTimeline::truncate(CalendarUnit unit, int64_t instant_us) const {
  if (instant_us < segments_.front().start_us || instant_us >= end_us_) return std::nullopt;
  if (unit != CalendarUnit::Quarter) return instant_of(truncate_wall_clock(unit, instant_us + offset_at(instant_us)));
  // DuckDB truncates to the quarter in two steps: to the month, which it turns into an instant
  // (a first of the month at midnight that clocks skip becomes the wall-clock time after the
  // change), then it moves that wall-clock time back to the quarter's first month.
  auto month_start = instant_of(truncate_wall_clock(CalendarUnit::Month, instant_us + offset_at(instant_us)));
  if (!month_start) return std::nullopt;
  const int64_t wall = *month_start + offset_at(*month_start);
  const int64_t day = floor_div(wall, kMicrosPerDay);
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{day}}};
  const unsigned quarter_month = (static_cast<unsigned>(date.month()) - 1) / 3 * 3 + 1;
  const std::chrono::sys_days moved{date.year() / std::chrono::month{quarter_month} / date.day()};
  return instant_of(static_cast<int64_t>(moved.time_since_epoch().count()) * kMicrosPerDay + (wall - day * kMicrosPerDay));
}

// --- Reading a zone's offsets from DuckDB -----------------------------------------------------------

namespace {

// Offsets (milliseconds, wall clock minus UTC) at the given seconds since the epoch, from
// DuckDB's own conversion under the connection's TimeZone.
Result<std::map<int64_t, int64_t>> offsets_at(Connection& conn, const std::vector<int64_t>& seconds) {
  std::string list;
  for (int64_t s : seconds) list += (list.empty() ? "" : ", ") + std::to_string(s);
  auto out = conn.query("SELECT x, epoch_ms(to_timestamp(x)::TIMESTAMP) - x * 1000 FROM unnest([" + list + "]::BIGINT[]) AS u(x)",
                        static_cast<int64_t>(seconds.size()) + 1);
  if (!out) return fail(out.error());
  auto rows = rows_of(*out);
  if (!rows) return fail(rows.error());
  std::map<int64_t, int64_t> offsets;
  for (const auto& row : *rows) {
    auto x = as_count(row[0]), off = as_count(row[1]);
    if (!x || !off) return fail(ErrorKind::Internal, "time zone offsets: unexpected value from the engine");
    offsets[*x] = *off;
  }
  return offsets;
}

// A change of offset known to lie in (lo, hi]; narrowed until hi = lo + 1 second.
struct Bracket {
  int64_t lo, lo_offset, hi, hi_offset;
  int64_t sample, sample_offset;  // the daily sample that showed the change
};

}  // namespace

Result<ZoneTimeline> load_zone_timeline(Connection& conn) {
  const std::string samples = "SELECT s, epoch_ms(to_timestamp(s)::TIMESTAMP) - s * 1000 AS off FROM range(" +
                              std::to_string(kSpanFromSeconds) + ", " + std::to_string(kSpanToSeconds) + ", " +
                              std::to_string(kSampleSeconds) + ") AS r(s)";
  auto out = conn.query("SELECT s, off FROM (SELECT s, off, lag(off) OVER (ORDER BY s) AS previous FROM (" + samples +
                            ")) WHERE previous IS NULL OR off <> previous ORDER BY s",
                        1'000'000);
  if (!out) return fail(out.error());
  auto rows = rows_of(*out);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(ErrorKind::Internal, "time zone offsets: no samples");
  std::vector<Bracket> open;
  int64_t first_offset = 0;
  for (size_t i = 0; i < rows->size(); ++i) {
    auto s = as_count((*rows)[i][0]), off = as_count((*rows)[i][1]);
    if (!s || !off) return fail(ErrorKind::Internal, "time zone offsets: unexpected value from the engine");
    if (i == 0) {
      first_offset = *off;
      continue;
    }
    const int64_t before = as_count((*rows)[i - 1][1]).value_or(0);
    open.push_back({*s - kSampleSeconds, before, *s, *off, *s, *off});
  }
  // Bisect every bracket in lockstep: one query per round for all of them.
  std::map<int64_t, int64_t> changes;  // second -> offset (ms) from then on
  while (!open.empty()) {
    std::vector<int64_t> probes;
    for (const auto& b : open) probes.push_back(b.lo + (b.hi - b.lo) / 2);
    auto measured = offsets_at(conn, probes);
    if (!measured) return fail(measured.error());
    std::vector<Bracket> next;
    for (auto b : open) {
      const int64_t mid = b.lo + (b.hi - b.lo) / 2;
      const int64_t off = measured->at(mid);
      if (off == b.lo_offset) {
        b.lo = mid;
      } else {
        b.hi = mid;
        b.hi_offset = off;
      }
      if (b.hi - b.lo > 1) {
        next.push_back(b);
        continue;
      }
      changes[b.hi] = b.hi_offset;
      // Another change between this one and the sample (two within a day).
      if (b.hi_offset != b.sample_offset && b.hi < b.sample)
        next.push_back({b.hi, b.hi_offset, b.sample, b.sample_offset, b.sample, b.sample_offset});
    }
    open = std::move(next);
  }
  std::vector<ZoneTimeline::Segment> segments{{kSpanFromSeconds * kMicrosPerSecond, first_offset * 1000}};
  for (const auto& [second, offset_ms] : changes)
    if (offset_ms * 1000 != segments.back().offset_us) segments.push_back({second * kMicrosPerSecond, offset_ms * 1000});
  return ZoneTimeline(std::move(segments), kSpanToSeconds * kMicrosPerSecond);
}

// --- The engine functions ---------------------------------------------------------------------------

namespace {

// What an engine function computes with: the zone's timeline (shared by all the functions of
// a database) and which unit or part it gives.
struct ZoneFunction {
  std::shared_ptr<const ZoneTimeline> timeline;
  CalendarUnit unit = CalendarUnit::Day;
  DatePart part = DatePart::HourOfDay;
};

// Runs `compute(instant, offset)` over a chunk of TIMESTAMP WITH TIME ZONE values into `output`
// (of type Out): NULL stays NULL, and an instant outside the span or a nullopt result is NULL.
// Neighbouring values mostly share their offset, so the stretch found last is tried first.
template <typename Out, typename Compute>
void map_instants(const ZoneTimeline& timeline, duckdb_data_chunk input, duckdb_vector output, Compute&& compute) {
  const idx_t count = duckdb_data_chunk_get_size(input);
  duckdb_vector values = duckdb_data_chunk_get_vector(input, 0);
  const auto* in = static_cast<const int64_t*>(duckdb_vector_get_data(values));
  uint64_t* in_valid = duckdb_vector_get_validity(values);
  auto* out = static_cast<Out*>(duckdb_vector_get_data(output));
  duckdb_vector_ensure_validity_writable(output);
  uint64_t* out_valid = duckdb_vector_get_validity(output);
  ZoneTimeline::Stretch stretch{1, 0, 0};
  for (idx_t i = 0; i < count; ++i) {
    if (in_valid && !duckdb_validity_row_is_valid(in_valid, i)) {
      duckdb_validity_set_row_invalid(out_valid, i);
      continue;
    }
    const int64_t v = in[i];
    if (v < stretch.from_us || v >= stretch.to_us) {
      auto found = timeline.stretch_at(v);
      if (!found) {
        duckdb_validity_set_row_invalid(out_valid, i);
        continue;
      }
      stretch = *found;
    }
    if (std::optional<int64_t> r = compute(v, stretch.offset_us))
      out[i] = static_cast<Out>(*r);
    else
      duckdb_validity_set_row_invalid(out_valid, i);
  }
}

// kDates: the wall-clock date of the bucket (DATE, days) rather than its first instant.
template <bool kDates>
void trunc_values(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output) {
  const auto& fn = *static_cast<const ZoneFunction*>(duckdb_scalar_function_get_extra_info(info));
  const ZoneTimeline& timeline = *fn.timeline;
  // Neighbouring values mostly share their bucket too: the last one is remembered, so a value
  // costs a division and a search only when the bucket changes. (A quarter depends on the
  // month's first instant: see ZoneTimeline::truncate.)
  const CalendarUnit key_unit = fn.unit == CalendarUnit::Quarter ? CalendarUnit::Month : fn.unit;
  int64_t last_key = 0;
  std::optional<int64_t> last_result;
  bool have_last = false;
  map_instants<std::conditional_t<kDates, int32_t, int64_t>>(timeline, input, output, [&](int64_t v, int64_t offset) {
    const int64_t key = truncate_wall_clock(key_unit, v + offset);
    if (!have_last || key != last_key) {
      last_result = fn.unit == CalendarUnit::Quarter ? timeline.truncate(fn.unit, v) : timeline.instant_of(key);
      // The bucket's date is its first instant's, on the zone's wall clock (as CAST AS DATE).
      if (kDates && last_result) last_result = floor_div(*last_result + timeline.offset_at(*last_result), kMicrosPerDay);
      last_key = key;
      have_last = true;
    }
    return last_result;
  });
}

void part_values(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output) {
  const auto& fn = *static_cast<const ZoneFunction*>(duckdb_scalar_function_get_extra_info(info));
  map_instants<int64_t>(*fn.timeline, input, output,
                        [&](int64_t v, int64_t offset) { return std::optional<int64_t>(wall_clock_part(fn.part, v + offset)); });
}

struct ScalarFunction {
  duckdb_scalar_function f = duckdb_create_scalar_function();
  ~ScalarFunction() { duckdb_destroy_scalar_function(&f); }
};
struct LogicalType {
  duckdb_logical_type t;
  explicit LogicalType(duckdb_type id) : t(duckdb_create_logical_type(id)) {}
  ~LogicalType() { duckdb_destroy_logical_type(&t); }
};

// Registers `name`(TIMESTAMP WITH TIME ZONE) -> `result` computed by `run` over `function`.
Result<void> register_function(Connection& conn, const std::string& name, duckdb_type result, ZoneFunction function,
                               duckdb_scalar_function_t run) {
  ScalarFunction fn;
  LogicalType in(DUCKDB_TYPE_TIMESTAMP_TZ), out(result);
  duckdb_scalar_function_set_name(fn.f, name.c_str());
  duckdb_scalar_function_add_parameter(fn.f, in.t);
  duckdb_scalar_function_set_return_type(fn.f, out.t);
  auto extra = std::make_unique<ZoneFunction>(std::move(function));
  duckdb_scalar_function_set_extra_info(fn.f, extra.release(), [](void* p) { delete static_cast<ZoneFunction*>(p); });
  duckdb_scalar_function_set_function(fn.f, run);
  if (duckdb_register_scalar_function(conn.handle(), fn.f) == DuckDBError)
    return fail(ErrorKind::Internal, "could not register the engine function " + name);
  return {};
}

}  // namespace

Result<void> register_local_trunc_functions(Connection& conn, const ZoneTimeline& timeline) {
  auto shared = std::make_shared<const ZoneTimeline>(timeline);
  for (DatePart part : {DatePart::HourOfDay, DatePart::DayOfWeek, DatePart::MonthOfYear})
    if (auto r = register_function(conn, std::string("sightline_part_") + date_part_function(part), DUCKDB_TYPE_BIGINT,
                                   {shared, CalendarUnit::Day, part}, part_values);
        !r)
      return r;
  for (CalendarUnit unit : {CalendarUnit::Hour, CalendarUnit::Day, CalendarUnit::Week, CalendarUnit::Month, CalendarUnit::Quarter,
                            CalendarUnit::Year}) {
    const std::string unit_name = calendar_unit_name(unit);
    if (auto r = register_function(conn, "sightline_trunc_" + unit_name, DUCKDB_TYPE_TIMESTAMP_TZ, {shared, unit}, trunc_values<false>); !r)
      return r;
    if (auto r = register_function(conn, "sightline_date_" + unit_name, DUCKDB_TYPE_DATE, {shared, unit}, trunc_values<true>); !r)
      return r;
  }
  return {};
}

std::string local_trunc_sql(CalendarUnit unit, const std::string& column_sql) {
  const std::string name = calendar_unit_name(unit);
  return "coalesce(sightline_trunc_" + name + "(" + column_sql + "), date_trunc('" + name + "', " + column_sql + "))";
}

std::string local_part_sql(DatePart part, const std::string& column_sql) {
  const std::string name = date_part_function(part);
  return "coalesce(sightline_part_" + name + "(" + column_sql + "), " + name + "(" + column_sql + "))";
}

std::string local_date_sql(CalendarUnit unit, const std::string& column_sql) {
  const std::string name = calendar_unit_name(unit);
  return "coalesce(sightline_date_" + name + "(" + column_sql + "), CAST(date_trunc('" + name + "', " + column_sql + ") AS DATE))";
}

}  // namespace sightline::engine
