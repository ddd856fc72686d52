#include "core/cron.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <limits>
#include <span>
#include <vector>

namespace sightline {
namespace {

using std::chrono::sys_days;
using std::chrono::sys_seconds;

constexpr size_t kMaxExpressionChars = 200;
constexpr int64_t kMinute = 60;
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;
constexpr int64_t kMaxOffset = 18 * kHour;
// Offsets are sampled this far apart; a change between two samples is then found by bisection.
constexpr int64_t kProbe = kHour;
// "Never" means nothing within this much wall-clock time (five years, one of them leap, and a day).
constexpr int64_t kHorizon = (5 * 365 + 2) * kDay;
// Keeps the calendar arithmetic (years within ±32767) and the offsets' sums far from overflow.
constexpr int64_t kFarSeconds = int64_t{3000} * 366 * kDay;

constexpr std::array<std::string_view, 12> kMonthNames{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct Field {
  int number;  // 1-based position, for messages
  std::string_view name;
  int min, max;
  std::span<const std::string_view> names;  // empty when the field takes numbers only
  std::string_view name_kind;               // "month", "day"
};

const std::array<Field, 5> kFields{{
    {1, "minute", 0, 59, {}, {}},
    {2, "hour", 0, 23, {}, {}},
    {3, "day-of-month", 1, 31, {}, {}},
    {4, "month", 1, 12, kMonthNames, "month"},
    {5, "day-of-week", 0, 7, kDayNames, "day"},
}};

struct Macro {
  std::string_view name, fields;
};
constexpr std::array<Macro, 7> kMacros{{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string range_text(const Field& field) {
  return std::to_string(field.min) + "-" + std::to_string(field.max);
}

Error invalid(std::string message, std::string hint = {}) {
  return Error{ErrorKind::InvalidInput, std::move(message), std::move(hint)};
}

Error field_error(const Field& field, const std::string& problem) {
  return invalid("cron field " + std::to_string(field.number) + " (" + std::string(field.name) + "): " + problem);
}

bool same_letters(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Digits only (no sign, no spaces); nullopt when the text is anything else. Too large a number is INT_MAX,
// so that the caller reports it as out of range rather than as junk.
std::optional<int> parse_digits(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), is_digit)) return std::nullopt;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return std::numeric_limits<int>::max();
  return value;
}

Result<int> parse_value(const Field& field, std::string_view text) {
  if (auto number = parse_digits(text)) {
    if (*number < field.min || *number > field.max) return fail(field_error(field, std::string(text) + " is outside " + range_text(field)));
    return *number;
  }
  for (size_t i = 0; i < field.names.size(); ++i)
    if (same_letters(text, field.names[i])) return field.min == 0 ? int(i) : int(i) + 1;
  if (!field.names.empty())
    return fail(field_error(field, quoted(text) + " is neither a number nor a " + std::string(field.name_kind) + " name (" +
                                       std::string(field.names.front()) + "-" + std::string(field.names.back()) + ")"));
  return fail(field_error(field, quoted(text) + " is not a number"));
}

Result<int> parse_step(const Field& field, std::string_view text) {
  auto step = parse_digits(text);
  if (!step) return fail(field_error(field, "step " + quoted(text) + " is not a number"));
  if (*step == 0) return fail(field_error(field, "step 0 is not allowed; a step is at least 1"));
  // A larger step could only ever select the range's first value: surely not what was meant.
  if (*step > field.max - field.min + 1)
    return fail(field_error(field, "step " + std::string(text) + " is larger than the field's range " + range_text(field)));
  return *step;
}

// One list item: `*`, `a`, `a-b`, each optionally `/step` (`a/step` runs to the field's maximum).
Result<uint64_t> parse_item(const Field& field, std::string_view item) {
  const size_t slash = item.find('/');
  const std::string_view range = item.substr(0, slash);
  int step = 1;
  if (slash != std::string_view::npos) {
    auto parsed = parse_step(field, item.substr(slash + 1));
    if (!parsed) return fail(parsed.error());
    step = *parsed;
  }
  int low = field.min, high = field.max;
  if (range != "*") {
    const size_t dash = range.find('-');
    const std::string_view low_text = range.substr(0, dash);
    const std::string_view high_text = dash == std::string_view::npos ? std::string_view{} : range.substr(dash + 1);
    if (low_text.empty() || (dash != std::string_view::npos && high_text.empty()) || range.starts_with('*'))
      return fail(field_error(field, quoted(item) + " is not a value, a range or *"));
    auto parsed_low = parse_value(field, low_text);
    if (!parsed_low) return fail(parsed_low.error());
    low = high = *parsed_low;
    if (dash != std::string_view::npos) {
      auto parsed_high = parse_value(field, high_text);
      if (!parsed_high) return fail(parsed_high.error());
      high = *parsed_high;
      if (high < low) return fail(field_error(field, "range " + std::string(range) + " is reversed; write the lower value first"));
    } else if (slash != std::string_view::npos) {
      high = field.max;
    }
  }
  uint64_t bits = 0;
  for (int value = low; value <= high; value += step) bits |= uint64_t{1} << value;
  return bits;
}

Result<uint64_t> parse_field(const Field& field, std::string_view text) {
  uint64_t bits = 0;
  for (size_t start = 0;;) {
    const size_t comma = text.find(',', start);
    const std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) return fail(field_error(field, "empty item in the list " + quoted(text)));
    auto parsed = parse_item(field, item);
    if (!parsed) return fail(parsed.error());
    bits |= *parsed;
    if (comma == std::string_view::npos) return bits;
    start = comma + 1;
  }
}

bool is_blank(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !is_blank(text[i])) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  return fields;
}

Result<std::string_view> expand_macro(std::string_view text) {
  for (const Macro& macro : kMacros)
    if (same_letters(text, macro.name)) return macro.fields;
  return fail(
      invalid("unknown cron macro " + quoted(text) + "; expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"));
}

std::optional<int> next_bit(uint64_t bits, int from) {
  if (from >= 64) return std::nullopt;
  const uint64_t rest = bits & (~uint64_t{0} << from);
  if (rest == 0) return std::nullopt;
  return std::countr_zero(rest);
}

// The zone's wall clock as offset_at shows it, probed (see the header for what probing may miss).
class WallClock {
 public:
  explicit WallClock(const UtcOffsetAt& offset_at) : offset_at_(offset_at) {}

  int64_t offset(int64_t instant) const {
    return std::clamp<int64_t>(offset_at_(sys_seconds{std::chrono::seconds{instant}}).count(), -kMaxOffset, kMaxOffset);
  }

  // The end of the stretch from `from` (< limit) over which the offset stays offset(from): the first
  // instant with another offset, or `limit` when none was seen up to it.
  int64_t stretch_end(int64_t from, int64_t limit) const {
    const int64_t offset_from = offset(from);
    for (int64_t probed = from; probed < limit;) {
      const int64_t next = std::min(probed + kProbe, limit);
      if (offset(next) != offset_from) return first_change(probed, next, offset_from);
      probed = next;
    }
    return limit;
  }

  // The latest wall-clock time shown at any instant up to `after`. Only the last 36 hours can matter:
  // an instant earlier than wall(after) - 18 h shows less than wall(after).
  int64_t high_water(int64_t after) const {
    int64_t high = after + offset(after);
    for (int64_t from = high - kMaxOffset; from <= after;) {
      const int64_t end = stretch_end(from, after + 1);
      high = std::max(high, end - 1 + offset(from));
      from = end;
    }
    return high;
  }

  // The first instant after `after` whose wall clock shows `local` or later (later: the clocks jumped
  // over it). It lies within 18 h of `local`, and none before can show it, since local > high_water(after).
  int64_t first_reaching(int64_t local, int64_t after) const {
    for (int64_t from = std::max(after + 1, local - kMaxOffset);;) {
      const int64_t reached_at = local - offset(from);  // when this stretch's wall clock shows `local`
      if (reached_at <= from) return from;
      const int64_t end = stretch_end(from, reached_at + 1);
      if (end > reached_at) return reached_at;
      from = end;  // the offset changed first: go on in the next stretch
    }
  }

 private:
  // Bisection between `low` (offset `offset_low`) and `high` (another offset) for the first instant of another offset.
  int64_t first_change(int64_t low, int64_t high, int64_t offset_low) const {
    while (high - low > 1) {
      const int64_t middle = low + (high - low) / 2;
      (offset(middle) == offset_low ? low : high) = middle;
    }
    return high;
  }

  const UtcOffsetAt& offset_at_;
};

}  // namespace

Result<CronSchedule> CronSchedule::parse(std::string_view expression) {
  if (expression.size() > kMaxExpressionChars)
    return fail(invalid("cron expression is " + std::to_string(expression.size()) + " characters long; at most " +
                        std::to_string(kMaxExpressionChars) + " are allowed"));
  std::vector<std::string_view> fields = split_fields(expression);
  if (fields.empty()) return fail(invalid("cron expression is empty", "e.g. \"0 6 * * *\" for 06:00 every day"));
  if (fields.front().starts_with('@')) {
    if (fields.size() > 1) return fail(invalid("a cron macro stands alone; " + quoted(expression) + " has more after it"));
    auto expanded = expand_macro(fields.front());
    if (!expanded) return fail(expanded.error());
    fields = split_fields(*expanded);
  }
  if (fields.size() != kFields.size())
    return fail(invalid("cron expression has " + std::to_string(fields.size()) + (fields.size() == 1 ? " field" : " fields") +
                            "; expected 5 (minute hour day-of-month month day-of-week)",
                        "e.g. \"0 6 * * *\" for 06:00 every day"));
  std::array<uint64_t, 5> bits{};
  for (size_t i = 0; i < kFields.size(); ++i) {
    auto parsed = parse_field(kFields[i], fields[i]);
    if (!parsed) return fail(parsed.error());
    bits[i] = *parsed;
  }
  CronSchedule schedule;
  schedule.expression_ = std::string(expression);
  schedule.minutes_ = bits[0];
  schedule.hours_ = bits[1];
  schedule.days_of_month_ = bits[2];
  schedule.months_ = bits[3];
  schedule.days_of_week_ = (bits[4] | (bits[4] >> 7)) & 0x7f;  // 7 is Sunday too
  schedule.day_of_month_star_ = fields[2].starts_with('*');
  schedule.day_of_week_star_ = fields[4].starts_with('*');
  return schedule;
}

std::optional<std::chrono::sys_seconds> CronSchedule::next_after(std::chrono::sys_seconds after, const UtcOffsetAt& offset_at) const {
  const int64_t after_s = after.time_since_epoch().count();
  if (after_s < -kFarSeconds || after_s > kFarSeconds) return std::nullopt;
  const WallClock clock(offset_at);
  const int64_t high = clock.high_water(after_s);
  const int64_t from = (floor_div(high, kMinute) + 1) * kMinute;  // the first whole local minute not yet shown
  const std::optional<int64_t> local = next_local_match(from, from + kHorizon);
  if (!local) return std::nullopt;
  const int64_t instant = clock.first_reaching(*local, after_s);
  return sys_seconds{std::chrono::seconds{floor_div(instant + kMinute - 1, kMinute) * kMinute}};
}

std::optional<int64_t> CronSchedule::next_local_match(int64_t from, int64_t limit) const {
  int64_t day = floor_div(from, kDay);
  int hour = int((from - day * kDay) / kHour);
  int minute = int((from - day * kDay) % kHour / kMinute);
  for (; day * kDay <= limit; ++day, hour = minute = 0) {
    const sys_days date{std::chrono::days{day}};
    const std::chrono::year_month_day ymd{date};
    if (!(months_ >> unsigned(ymd.month()) & 1)) {
      // Skip the rest of the month (the loop's ++day then lands on its first day).
      const std::chrono::year_month next_month = ymd.year() / ymd.month() + std::chrono::months{1};
      day = sys_days{next_month / 1}.time_since_epoch().count() - 1;
      continue;
    }
    const bool day_of_month = days_of_month_ >> unsigned(ymd.day()) & 1;
    const bool day_of_week = days_of_week_ >> std::chrono::weekday{date}.c_encoding() & 1;
    const bool day_matches = day_of_month_star_ || day_of_week_star_ ? day_of_month && day_of_week : day_of_month || day_of_week;
    if (!day_matches) continue;
    if (auto time = first_time_of_day(hour, minute)) {
      const int64_t at = day * kDay + *time;
      if (at > limit) return std::nullopt;
      return at;
    }
  }
  return std::nullopt;
}

// Seconds into the day of the first matching hour:minute at or after hour:minute.
std::optional<int64_t> CronSchedule::first_time_of_day(int hour, int minute) const {
  for (auto h = next_bit(hours_, hour); h; h = next_bit(hours_, *h + 1)) {
    if (auto m = next_bit(minutes_, *h == hour ? minute : 0)) return *h * kHour + *m * kMinute;
  }
  return std::nullopt;
}

}  // namespace sightline
