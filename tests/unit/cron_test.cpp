// CronSchedule (core/cron.h): parsing and its messages, field syntax, Vixie's day rule, calendars,
// and firing on the wall clock of fixed and changing time zones (DST, a skipped day, odd seconds).
#include "core/cron.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/zone_timeline.h"

namespace sightline {
namespace {

using namespace std::chrono;

// "2026-03-29T01:00Z" (or with seconds, "…T01:00:30Z") as an instant.
sys_seconds instant(const char* text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  const int read = std::sscanf(text, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s);
  EXPECT_GE(read, 5) << text;
  return sys_days{year{y} / mo / d} + hours{h} + minutes{mi} + seconds{s};
}

// The inverse, showing seconds only when they are not 0 (so a stray second shows in a failure).
std::string text(sys_seconds t) {
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> time{t - day};
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d", int(ymd.year()), unsigned(ymd.month()), unsigned(ymd.day()),
                int(time.hours().count()), int(time.minutes().count()));
  std::string result = buffer;
  if (time.seconds().count() != 0) result += ":" + std::to_string(time.seconds().count());
  return result + "Z";
}

UtcOffsetAt fixed(seconds offset) {
  return [offset](sys_seconds) { return offset; };
}
const UtcOffsetAt kUtc = fixed(seconds{0});

// Offsets that change at the given instants: {{change, offset from then on}, ...} after `initial`.
UtcOffsetAt changing(seconds initial, std::vector<std::pair<sys_seconds, seconds>> changes) {
  return [initial, changes](sys_seconds t) {
    seconds offset = initial;
    for (const auto& [at, after] : changes)
      if (t >= at) offset = after;
    return offset;
  };
}

// Europe/Berlin in 2026: CET (+1), CEST (+2) from 29 March 01:00 UTC, CET again from 25 October 01:00 UTC.
const UtcOffsetAt kBerlin = changing(hours{1}, {{instant("2026-03-29T01:00Z"), hours{2}}, {instant("2026-10-25T01:00Z"), hours{1}}});
// America/Sao_Paulo in 2018/19, whose clocks changed at local midnight: -3, then -2 from 4 November
// (00:00 → 01:00), then -3 from 17 February (00:00 → 23:00 the day before).
const UtcOffsetAt kSaoPaulo = changing(hours{-3}, {{instant("2018-11-04T03:00Z"), hours{-2}}, {instant("2019-02-17T02:00Z"), hours{-3}}});
// Pacific/Apia crossing the date line in 2011: from -10 to +14 at 30 December 10:00 UTC, so the
// local Friday 30 December never happened.
const UtcOffsetAt kApia = changing(hours{-10}, {{instant("2011-12-30T10:00Z"), hours{14}}});

CronSchedule parsed(std::string_view expression) {
  auto schedule = CronSchedule::parse(expression);
  EXPECT_TRUE(schedule) << expression << ": " << schedule.error().message;
  return schedule ? *schedule : *CronSchedule::parse("* * * * *");
}

// The first `count` firings after `from`, each found from the one before.
std::vector<std::string> firings(std::string_view expression, const char* from, int count, const UtcOffsetAt& zone = kUtc) {
  const CronSchedule schedule = parsed(expression);
  std::vector<std::string> result;
  sys_seconds after = instant(from);
  for (int i = 0; i < count; ++i) {
    auto next = schedule.next_after(after, zone);
    if (!next) {
      result.push_back("never");
      break;
    }
    result.push_back(text(*next));
    after = *next;
  }
  return result;
}

using Strings = std::vector<std::string>;

TEST(CronParse, RejectsWithPreciseMessages) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "cron expression is empty"},
      {" \t ", "cron expression is empty"},
      {"0 6 * *", "cron expression has 4 fields; expected 5 (minute hour day-of-month month day-of-week)"},
      {"0", "cron expression has 1 field; expected 5 (minute hour day-of-month month day-of-week)"},
      {"0 6 * * * 2026", "cron expression has 6 fields; expected 5 (minute hour day-of-month month day-of-week)"},
      {"60 * * * *", "cron field 1 (minute): 60 is outside 0-59"},
      {"0 25 * * *", "cron field 2 (hour): 25 is outside 0-23"},
      {"0 0 0 * *", "cron field 3 (day-of-month): 0 is outside 1-31"},
      {"0 0 32 * *", "cron field 3 (day-of-month): 32 is outside 1-31"},
      {"0 0 * 13 *", "cron field 4 (month): 13 is outside 1-12"},
      {"0 0 * * 8", "cron field 5 (day-of-week): 8 is outside 0-7"},
      {"0 0-99999999999 * * *", "cron field 2 (hour): 99999999999 is outside 0-23"},
      {"*/0 * * * *", "cron field 1 (minute): step 0 is not allowed; a step is at least 1"},
      {"*/61 * * * *", "cron field 1 (minute): step 61 is larger than the field's range 0-59"},
      {"*/x * * * *", "cron field 1 (minute): step \"x\" is not a number"},
      {"0 */ * * *", "cron field 2 (hour): step \"\" is not a number"},
      {"0 1-5/2/2 * * *", "cron field 2 (hour): step \"2/2\" is not a number"},
      {"0 5-3 * * *", "cron field 2 (hour): range 5-3 is reversed; write the lower value first"},
      {"0 0 * * FRI-MON", "cron field 5 (day-of-week): range FRI-MON is reversed; write the lower value first"},
      {"1,,2 * * * *", "cron field 1 (minute): empty item in the list \"1,,2\""},
      {"0 1, * * *", "cron field 2 (hour): empty item in the list \"1,\""},
      {", * * * *", "cron field 1 (minute): empty item in the list \",\""},
      {"abc * * * *", "cron field 1 (minute): \"abc\" is not a number"},
      {"5x * * * *", "cron field 1 (minute): \"5x\" is not a number"},
      {"+5 * * * *", "cron field 1 (minute): \"+5\" is not a number"},
      {"-5 * * * *", "cron field 1 (minute): \"-5\" is not a value, a range or *"},
      {"0 1- * * *", "cron field 2 (hour): \"1-\" is not a value, a range or *"},
      {"*-5 * * * *", "cron field 1 (minute): \"*-5\" is not a value, a range or *"},
      {"0 0 1-2-3 * *", "cron field 3 (day-of-month): \"2-3\" is not a number"},
      {"0 0 MON * *", "cron field 3 (day-of-month): \"MON\" is not a number"},
      {"0 0 * FOO *", "cron field 4 (month): \"FOO\" is neither a number nor a month name (JAN-DEC)"},
      {"0 0 * * MONDAY", "cron field 5 (day-of-week): \"MONDAY\" is neither a number nor a day name (SUN-SAT)"},
      {"0 0 * * */MON", "cron field 5 (day-of-week): step \"MON\" is not a number"},
      {"@reboot", "unknown cron macro \"@reboot\"; expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"},
      {"@", "unknown cron macro \"@\"; expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"},
      {"@daily 5", "a cron macro stands alone; \"@daily 5\" has more after it"},
      {std::string(201, '*'), "cron expression is 201 characters long; at most 200 are allowed"},
      {"0 0 * * *" + std::string(192, ' '), "cron expression is 201 characters long; at most 200 are allowed"},
  };
  for (const auto& [expression, message] : cases) {
    auto schedule = CronSchedule::parse(expression);
    ASSERT_FALSE(schedule) << expression;
    EXPECT_EQ(schedule.error().kind, ErrorKind::InvalidInput) << expression;
    EXPECT_EQ(schedule.error().message, message) << expression;
  }
}

TEST(CronParse, AcceptsWhitespaceAndKeepsTheExpression) {
  const std::string expression = "  0\t6 *  * *  ";
  auto schedule = CronSchedule::parse(expression);
  ASSERT_TRUE(schedule) << schedule.error().message;
  EXPECT_EQ(schedule->expression(), expression);
  EXPECT_TRUE(CronSchedule::parse("0 0 * * *" + std::string(191, ' '))) << "200 characters are allowed";
}

TEST(CronParse, MacrosAreTheirFiveFields) {
  const std::vector<std::pair<std::string, std::string>> macros = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"},  {" @Daily ", "0 0 * * *"},
  };
  for (const auto& [macro, fields] : macros)
    EXPECT_EQ(firings(macro, "2026-05-17T10:20Z", 3), firings(fields, "2026-05-17T10:20Z", 3)) << macro;
  EXPECT_EQ(firings("@weekly", "2026-05-17T10:20Z", 2), (Strings{"2026-05-24T00:00Z", "2026-05-31T00:00Z"}));
  EXPECT_EQ(firings("@yearly", "2026-05-17T10:20Z", 2), (Strings{"2027-01-01T00:00Z", "2028-01-01T00:00Z"}));
}

TEST(CronFields, ListsRangesAndSteps) {
  EXPECT_EQ(firings("*/15 * * * *", "2026-01-01T00:00Z", 4),
            (Strings{"2026-01-01T00:15Z", "2026-01-01T00:30Z", "2026-01-01T00:45Z", "2026-01-01T01:00Z"}));
  EXPECT_EQ(firings("10-30/10 9 * * *", "2026-01-01T00:00Z", 4),
            (Strings{"2026-01-01T09:10Z", "2026-01-01T09:20Z", "2026-01-01T09:30Z", "2026-01-02T09:10Z"}));
  EXPECT_EQ(firings("50/5 * * * *", "2026-01-01T00:00Z", 3), (Strings{"2026-01-01T00:50Z", "2026-01-01T00:55Z", "2026-01-01T01:50Z"}));
  EXPECT_EQ(firings("5,0,30-31 22 * * *", "2026-01-01T00:00Z", 5),
            (Strings{"2026-01-01T22:00Z", "2026-01-01T22:05Z", "2026-01-01T22:30Z", "2026-01-01T22:31Z", "2026-01-02T22:00Z"}));
  EXPECT_EQ(firings("0 */8 * * *", "2026-01-01T00:00Z", 3), (Strings{"2026-01-01T08:00Z", "2026-01-01T16:00Z", "2026-01-02T00:00Z"}));
  EXPECT_EQ(firings("59 23 * * *", "2026-01-01T23:59Z", 1), (Strings{"2026-01-02T23:59Z"})) << "strictly after";
}

TEST(CronFields, StartsAtTheNextWholeMinute) {
  const CronSchedule every_minute = parsed("* * * * *");
  EXPECT_EQ(text(*every_minute.next_after(instant("2026-01-01T12:00:30Z"), kUtc)), "2026-01-01T12:01Z");
  EXPECT_EQ(text(*every_minute.next_after(instant("2026-01-01T12:00:00Z"), kUtc)), "2026-01-01T12:01Z");
  EXPECT_EQ(text(*every_minute.next_after(instant("2026-01-01T12:00:59Z"), kUtc)), "2026-01-01T12:01Z");
}

TEST(CronFields, MonthAndDayNamesInAnyCase) {
  // 1 January 2026 is a Thursday.
  EXPECT_EQ(firings("0 0 * * MON-fri", "2026-01-01T00:00Z", 3), (Strings{"2026-01-02T00:00Z", "2026-01-05T00:00Z", "2026-01-06T00:00Z"}));
  EXPECT_EQ(firings("0 0 1 jan,Jul *", "2026-01-01T00:00Z", 2), (Strings{"2026-07-01T00:00Z", "2027-01-01T00:00Z"}));
  EXPECT_EQ(firings("0 0 1 Nov-DEC *", "2026-01-01T00:00Z", 3), (Strings{"2026-11-01T00:00Z", "2026-12-01T00:00Z", "2027-11-01T00:00Z"}));
  EXPECT_EQ(firings("0 0 1 */5 *", "2026-01-01T00:00Z", 3), (Strings{"2026-06-01T00:00Z", "2026-11-01T00:00Z", "2027-01-01T00:00Z"}));
}

TEST(CronFields, SundayIsZeroAndSeven) {
  const Strings sundays{"2026-01-04T00:00Z", "2026-01-11T00:00Z"};
  EXPECT_EQ(firings("0 0 * * 0", "2026-01-01T00:00Z", 2), sundays);
  EXPECT_EQ(firings("0 0 * * 7", "2026-01-01T00:00Z", 2), sundays);
  EXPECT_EQ(firings("0 0 * * sun", "2026-01-01T00:00Z", 2), sundays);
  EXPECT_EQ(firings("0 0 * * 5-7", "2026-01-01T00:00Z", 4),
            (Strings{"2026-01-02T00:00Z", "2026-01-03T00:00Z", "2026-01-04T00:00Z", "2026-01-09T00:00Z"}));
  // a/n runs to the field's maximum, 7: Monday, Wednesday, Friday and Sunday.
  EXPECT_EQ(firings("0 0 * * 1/2", "2026-01-01T00:00Z", 4),
            (Strings{"2026-01-02T00:00Z", "2026-01-04T00:00Z", "2026-01-05T00:00Z", "2026-01-07T00:00Z"}));
}

TEST(CronDays, EitherDayFieldWhenBothAreRestricted) {
  // March 2026: the 1st is a Sunday, the 10th a Tuesday.
  EXPECT_EQ(firings("0 0 10 * 1", "2026-03-01T00:00Z", 4),
            (Strings{"2026-03-02T00:00Z", "2026-03-09T00:00Z", "2026-03-10T00:00Z", "2026-03-16T00:00Z"}));
  EXPECT_EQ(firings("0 0 1-31/2 * MON", "2026-03-01T00:00Z", 4),
            (Strings{"2026-03-02T00:00Z", "2026-03-03T00:00Z", "2026-03-05T00:00Z", "2026-03-07T00:00Z"}));
}

TEST(CronDays, BothDayFieldsWhenOneIsUnrestricted) {
  EXPECT_EQ(firings("0 0 10 * *", "2026-03-01T00:00Z", 2), (Strings{"2026-03-10T00:00Z", "2026-04-10T00:00Z"}));
  EXPECT_EQ(firings("0 0 * * 1", "2026-03-01T00:00Z", 2), (Strings{"2026-03-02T00:00Z", "2026-03-09T00:00Z"}));
  // As in Vixie cron, a field that begins with * is unrestricted even with a step: odd days that are Mondays.
  EXPECT_EQ(firings("0 0 */2 * 1", "2026-03-01T00:00Z", 2), (Strings{"2026-03-09T00:00Z", "2026-03-23T00:00Z"}));
}

TEST(CronCalendar, LeapDays) {
  EXPECT_EQ(firings("0 0 29 2 *", "2024-03-01T00:00Z", 2), (Strings{"2028-02-29T00:00Z", "2032-02-29T00:00Z"}));
  // 2100 is not a leap year: the next 29 February after 2096 is in 2104, beyond the five years searched.
  EXPECT_EQ(firings("0 0 29 2 *", "2096-03-01T00:00Z", 1), (Strings{"never"}));
}

TEST(CronCalendar, LongSearchIsQuick) {
  // Skipping months and days that cannot match keeps this a few hundred steps, not a year of minutes.
  EXPECT_EQ(firings("0 0 29 2 *", "2027-01-01T00:00Z", 1), (Strings{"2028-02-29T00:00Z"}));
  EXPECT_EQ(firings("0 0 29 2 *", "2027-01-01T00:00Z", 1, kBerlin), (Strings{"2028-02-28T23:00Z"}));
}

TEST(CronCalendar, MonthEnds) {
  EXPECT_EQ(firings("0 0 31 * *", "2026-01-31T00:00Z", 4),
            (Strings{"2026-03-31T00:00Z", "2026-05-31T00:00Z", "2026-07-31T00:00Z", "2026-08-31T00:00Z"}));
  EXPECT_EQ(firings("0 12 30 * *", "2026-01-30T12:00Z", 2), (Strings{"2026-03-30T12:00Z", "2026-04-30T12:00Z"}));
  EXPECT_EQ(firings("59 23 31 12 *", "2026-06-01T00:00Z", 2), (Strings{"2026-12-31T23:59Z", "2027-12-31T23:59Z"}));
}

TEST(CronCalendar, NeverIsNullopt) {
  EXPECT_EQ(firings("0 0 30 2 *", "2026-01-01T00:00Z", 1), (Strings{"never"}));
  EXPECT_EQ(firings("0 0 31 4,6,9,11 *", "2026-01-01T00:00Z", 1), (Strings{"never"}));
  EXPECT_EQ(firings("0 0 31 2 *", "2026-01-01T00:00Z", 1, kBerlin), (Strings{"never"}));
}

TEST(CronZones, FixedOffsets) {
  const UtcOffsetAt india = fixed(hours{5} + minutes{30});
  EXPECT_EQ(firings("0 6 * * *", "2026-01-01T00:00Z", 2, india), (Strings{"2026-01-01T00:30Z", "2026-01-02T00:30Z"}));
  EXPECT_EQ(firings("@yearly", "2026-06-01T00:00Z", 1, india), (Strings{"2026-12-31T18:30Z"}));
  // 22:00 on a Sunday at -03:00 is Monday 01:00 UTC.
  EXPECT_EQ(firings("0 22 * * SUN", "2026-01-01T00:00Z", 1, fixed(hours{-3})), (Strings{"2026-01-05T01:00Z"}));
  // The extremes: 00:00 on 2 January at +18 and -18 hours.
  EXPECT_EQ(firings("0 0 2 1 *", "2025-12-01T00:00Z", 1, fixed(hours{18})), (Strings{"2026-01-01T06:00Z"}));
  EXPECT_EQ(firings("0 0 2 1 *", "2025-12-01T00:00Z", 1, fixed(hours{-18})), (Strings{"2026-01-02T18:00Z"}));
}

TEST(CronZones, SpringForwardFiresAtTheChange) {
  // 02:30 does not exist in Berlin on 29 March 2026 (02:00 CET became 03:00 CEST at 01:00 UTC).
  EXPECT_EQ(firings("30 2 * * *", "2026-03-28T00:00Z", 3, kBerlin),
            (Strings{"2026-03-28T01:30Z", "2026-03-29T01:00Z", "2026-03-30T00:30Z"}));
  // Several missing times fire once, together, at the change.
  EXPECT_EQ(firings("*/20 2 * * *", "2026-03-28T23:00Z", 2, kBerlin), (Strings{"2026-03-29T01:00Z", "2026-03-30T00:00Z"}));
  EXPECT_EQ(firings("0 * * * *", "2026-03-28T23:30Z", 4, kBerlin),
            (Strings{"2026-03-29T00:00Z", "2026-03-29T01:00Z", "2026-03-29T02:00Z", "2026-03-29T03:00Z"}));
}

TEST(CronZones, FallBackFiresAtTheFirstOccurrence) {
  // 02:00-02:59 happen twice in Berlin on 25 October 2026: at 00:xx UTC (CEST), then at 01:xx UTC (CET).
  EXPECT_EQ(firings("30 2 * * *", "2026-10-24T00:00Z", 3, kBerlin),
            (Strings{"2026-10-24T00:30Z", "2026-10-25T00:30Z", "2026-10-26T01:30Z"}));
  const CronSchedule daily = parsed("30 2 * * *");
  for (const char* after : {"2026-10-25T00:45Z", "2026-10-25T01:00Z", "2026-10-25T01:15Z", "2026-10-25T01:45Z"})
    EXPECT_EQ(text(*daily.next_after(instant(after), kBerlin)), "2026-10-26T01:30Z") << "not again after " << after;
  // Hourly: the repeated 02:00 fires once; 03:00 CET comes two hours after 02:00 CEST.
  EXPECT_EQ(firings("0 * * * *", "2026-10-24T23:30Z", 3, kBerlin),
            (Strings{"2026-10-25T00:00Z", "2026-10-25T02:00Z", "2026-10-25T03:00Z"}));
  EXPECT_EQ(firings("0 * * * *", "2026-10-25T01:00Z", 1, kBerlin), (Strings{"2026-10-25T02:00Z"}));
}

TEST(CronZones, ChangesAtLocalMidnight) {
  // São Paulo, 4 November 2018: midnight did not happen (00:00 -03 became 01:00 -02 at 03:00 UTC).
  EXPECT_EQ(firings("0 0 * * *", "2018-11-03T00:00Z", 3, kSaoPaulo),
            (Strings{"2018-11-03T03:00Z", "2018-11-04T03:00Z", "2018-11-05T02:00Z"}));
  EXPECT_EQ(firings("0 0 * * SUN", "2018-11-01T00:00Z", 1, kSaoPaulo), (Strings{"2018-11-04T03:00Z"}));
  // 17 February 2019: at 00:00 -02 the clocks went back to 23:00 -03, so 23:30 on the 16th happened
  // twice (first at 01:30 UTC) and midnight once, at 03:00 UTC.
  EXPECT_EQ(firings("30 23 * * *", "2019-02-15T12:00Z", 3, kSaoPaulo),
            (Strings{"2019-02-16T01:30Z", "2019-02-17T01:30Z", "2019-02-18T02:30Z"}));
  EXPECT_EQ(firings("0 0 * * *", "2019-02-15T12:00Z", 3, kSaoPaulo),
            (Strings{"2019-02-16T02:00Z", "2019-02-17T03:00Z", "2019-02-18T03:00Z"}));
}

TEST(CronZones, ASkippedDayStillFires) {
  // Apia went from -10 to +14 at the end of 29 December 2011: Friday the 30th's jobs ran at the change.
  EXPECT_EQ(firings("0 12 * * *", "2011-12-29T00:00Z", 3, kApia), (Strings{"2011-12-29T22:00Z", "2011-12-30T10:00Z", "2011-12-30T22:00Z"}));
  EXPECT_EQ(firings("0 12 * * FRI", "2011-12-25T00:00Z", 2, kApia), (Strings{"2011-12-30T10:00Z", "2012-01-05T22:00Z"}));
}

TEST(CronZones, ResultsAreWholeMinutesEvenWhenChangesAreNot) {
  // A change at 00:00:30 UTC from +0 to +1 h skips local 00:00:30-01:00:29; 00:30 fires at the change,
  // rounded up to the minute.
  const UtcOffsetAt odd = changing(seconds{0}, {{instant("2026-06-01T00:00:30Z"), hours{1}}});
  EXPECT_EQ(firings("30 0 * * *", "2026-05-31T12:00Z", 2, odd), (Strings{"2026-06-01T00:01Z", "2026-06-01T23:30Z"}));
  // Local mean time of +00:53:28: 12:00 on the wall is 11:06:32 UTC, rounded up.
  EXPECT_EQ(firings("0 12 * * *", "1900-01-01T00:00Z", 1, fixed(minutes{53} + seconds{28})), (Strings{"1900-01-01T11:07Z"}));
}

TEST(CronZones, WorksWithAZoneTimeline) {
  constexpr int64_t kUs = 1'000'000;
  const auto us = [](const char* at) { return int64_t{instant(at).time_since_epoch().count()} * kUs; };
  const engine::ZoneTimeline berlin(
      {{us("2025-01-01T00:00Z"), 3600 * kUs}, {us("2026-03-29T01:00Z"), 7200 * kUs}, {us("2026-10-25T01:00Z"), 3600 * kUs}},
      us("2030-01-01T00:00Z"));
  const UtcOffsetAt offset_at = [&](sys_seconds t) { return seconds{berlin.offset_at(t.time_since_epoch().count() * kUs) / kUs}; };
  EXPECT_EQ(firings("30 2 * * *", "2026-03-28T00:00Z", 3, offset_at), firings("30 2 * * *", "2026-03-28T00:00Z", 3, kBerlin));
}

// A zone whose offset jumps every one to four days, at any minute, to anything within ±18 h, and the
// firings found by brute force: minute by minute, a UTC minute fires when the wall clock newly
// reaches (or jumps past) a matching local minute.
struct JumpyZone {
  std::vector<std::pair<int64_t, int64_t>> changes;  // from this instant on, this offset

  explicit JumpyZone(int64_t from, int64_t to, unsigned seed) {
    std::mt19937 random(seed);
    for (int64_t t = from; t < to; t += 60 * std::uniform_int_distribution<int64_t>(24 * 60, 4 * 24 * 60)(random))
      changes.emplace_back(t, 900 * std::uniform_int_distribution<int64_t>(-72, 72)(random));
  }
  int64_t offset(int64_t t) const {
    auto it = std::upper_bound(changes.begin(), changes.end(), std::pair{t, INT64_MAX});
    return it == changes.begin() ? changes.front().second : std::prev(it)->second;
  }
};

std::vector<int64_t> brute_force(const JumpyZone& zone, int64_t from, int64_t to, const std::function<bool(sys_seconds local)>& matches) {
  std::vector<int64_t> fired;
  int64_t high = INT64_MIN;  // the latest wall-clock second shown so far
  for (int64_t t = from - 40 * 3600; t <= to; t += 60) {
    const int64_t wall = t + zone.offset(t);
    bool any = false;
    if (high != INT64_MIN)
      for (int64_t local = wall; local > high && !any; local -= 60) any = matches(sys_seconds{seconds{local}});
    if (any && t > from) fired.push_back(t);
    high = std::max(high, wall + 59);
  }
  return fired;
}

TEST(CronZones, AgreesWithBruteForceUnderLargeJumpingOffsets) {
  const int64_t from = instant("2026-01-01T00:00Z").time_since_epoch().count();
  const int64_t to = from + 40 * 86400;
  const JumpyZone zone(from - 5 * 86400, to + 5 * 86400, 20260101);
  const UtcOffsetAt offset_at = [&](sys_seconds t) { return seconds{zone.offset(t.time_since_epoch().count())}; };
  const auto parts = [](sys_seconds local) {
    const auto day = floor<days>(local);
    return std::pair{weekday{day}, hh_mm_ss<seconds>{local - day}};
  };
  const std::vector<std::pair<std::string, std::function<bool(sys_seconds)>>> schedules = {
      {"17 */5 * * *",
       [&](sys_seconds l) {
         auto [dow, time] = parts(l);
         return time.minutes().count() == 17 && time.hours().count() % 5 == 0;
       }},
      {"45 23 * * 1,3,5",
       [&](sys_seconds l) {
         auto [dow, time] = parts(l);
         return time.minutes().count() == 45 && time.hours().count() == 23 && dow.c_encoding() % 2 == 1 && dow.c_encoding() < 6;
       }},
  };
  std::mt19937 random(7);
  for (const auto& [expression, matches] : schedules) {
    const CronSchedule schedule = parsed(expression);
    const std::vector<int64_t> expected = brute_force(zone, from, to, matches);
    ASSERT_GT(expected.size(), 10u) << expression;
    std::vector<int64_t> actual;
    for (auto next = schedule.next_after(sys_seconds{seconds{from}}, offset_at); next && next->time_since_epoch().count() <= to;
         next = schedule.next_after(*next, offset_at))
      actual.push_back(next->time_since_epoch().count());
    EXPECT_EQ(actual, expected) << expression;
    // From any instant, not just from a firing.
    for (int i = 0; i < 300; ++i) {
      const int64_t after = std::uniform_int_distribution<int64_t>(from, expected.back() - 1)(random);
      const int64_t want = *std::upper_bound(expected.begin(), expected.end(), after);
      auto next = schedule.next_after(sys_seconds{seconds{after}}, offset_at);
      ASSERT_TRUE(next) << expression << " after " << text(sys_seconds{seconds{after}});
      EXPECT_EQ(text(*next), text(sys_seconds{seconds{want}})) << expression << " after " << text(sys_seconds{seconds{after}});
    }
  }
}

}  // namespace
}  // namespace sightline
