// The engine's own calendar truncation (engine/zone_timeline.h) against DuckDB's date_trunc, the
// oracle, over zones chosen for their awkward rules: DST at midnight (Sao Paulo until 2019, Beirut),
// half-hour DST (Lord Howe), quarter-hour offsets (Kathmandu, Chatham), negative DST (Dublin),
// a skipped day (Apia, 2011-12-30), several changes a year (Casablanca), seconds in historical
// offsets (Amsterdam before 1937, Kolkata before 1942) and UTC.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "engine/duckdb.h"
#include "engine/result_rows.h"
#include "engine/zone_timeline.h"

namespace sightline::engine {
namespace {

struct ZoneDatabase {
  std::unique_ptr<Database> db;
  std::unique_ptr<Connection> conn;
  size_t segments = 0;
};

ZoneDatabase open_zone(const std::string& zone) {
  ZoneDatabase z;
  auto db = Database::open(":memory:", {.threads = 2});
  EXPECT_TRUE(db.has_value());
  z.db = std::move(*db);
  auto conn = Connection::open(*z.db);
  EXPECT_TRUE(conn.has_value());
  z.conn = std::move(*conn);
  EXPECT_TRUE(z.conn->execute("SET TimeZone = '" + zone + "'").has_value());
  auto timeline = load_zone_timeline(*z.conn);
  EXPECT_TRUE(timeline.has_value()) << (timeline ? "" : timeline.error().message);
  if (!timeline) return z;
  z.segments = timeline->segments();
  auto r = register_local_trunc_functions(*z.conn, *timeline);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return z;
}

int64_t scalar(Connection& conn, const std::string& sql) {
  auto out = conn.query(sql, 10);
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message) << "\n" << sql;
  if (!out) return -1;
  auto rows = rows_of(*out);
  EXPECT_TRUE(rows.has_value() && rows->size() == 1);
  return rows && rows->size() == 1 ? as_count((*rows)[0][0]).value_or(-1) : -1;
}

const char* kUnits[] = {"hour", "day", "week", "month", "quarter", "year"};

// Instants every `step` seconds (plus some microseconds) from `from` to `to`, as TIMESTAMPTZ `t`.
std::string instants(const std::string& from, const std::string& to, int step) {
  return "SELECT to_timestamp(s) + to_microseconds(s % 1000003) AS t FROM range(epoch(TIMESTAMPTZ '" + from + "')::BIGINT, epoch(TIMESTAMPTZ '" +
         to + "')::BIGINT, " + std::to_string(step) + ") AS r(s)";
}

// How many instants the engine's functions answer differently from date_trunc (and hour(),
// isodow(), month()), or not at all.
int64_t mismatches(Connection& conn, const std::string& rows) {
  std::string differ;
  for (const char* u : kUnits) {
    const std::string unit = u;
    differ += std::string(differ.empty() ? "" : " OR ") + "sightline_trunc_" + unit + "(t) IS DISTINCT FROM date_trunc('" + unit +
              "', t) OR sightline_date_" + unit + "(t) IS DISTINCT FROM CAST(date_trunc('" + unit + "', t) AS DATE)";
  }
  for (const char* part : {"hour", "isodow", "month"})
    differ += std::string(" OR sightline_part_") + part + "(t) IS DISTINCT FROM " + part + "(t)";
  int64_t n = scalar(conn, "SELECT count(*) FROM (" + rows + ") WHERE " + differ);
  if (n > 0)
    ADD_FAILURE() << "first instant answered differently (microseconds since the epoch): "
                  << scalar(conn, "SELECT min(epoch_us(t)) FROM (" + rows + ") WHERE " + differ);
  return n;
}

class ZoneTimelineTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ZoneTimelineTest, TruncatesAsDuckDBDoesEveryHourOrSoFor12Years) {
  auto z = open_zone(GetParam());
  ASSERT_TRUE(z.conn);
  const std::string rows = instants("2009-06-01 00:00:00+00", "2021-06-01 00:00:00+00", 3571);
  EXPECT_GT(scalar(*z.conn, "SELECT count(*) FROM (" + rows + ")"), 100'000);
  EXPECT_EQ(mismatches(*z.conn, rows), 0) << GetParam() << " (" << z.segments << " segments)";
}

INSTANTIATE_TEST_SUITE_P(Zones, ZoneTimelineTest,
                         ::testing::Values("UTC", "Europe/Berlin", "America/New_York", "America/Sao_Paulo", "Asia/Beirut",
                                           "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Chatham", "Europe/Dublin", "Pacific/Apia",
                                           "Africa/Casablanca", "America/St_Johns", "America/Santiago"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '/') c = '_';
                           return name;
                         });

TEST(ZoneTimeline, HistoricalOffsetsWithSecondsAndWartimeChanges) {
  for (const char* zone : {"Europe/Amsterdam", "Asia/Kolkata", "Europe/London"}) {
    auto z = open_zone(zone);
    ASSERT_TRUE(z.conn);
    EXPECT_EQ(mismatches(*z.conn, instants("1901-03-01 00:00:00+00", "1950-01-01 00:00:00+00", 12007)), 0) << zone;
  }
}

TEST(ZoneTimeline, OutsideTheSpanAndNullsFallBackToDateTrunc) {
  auto z = open_zone("Europe/Berlin");
  ASSERT_TRUE(z.conn);
  // The functions alone answer NULL there...
  EXPECT_EQ(scalar(*z.conn,
                   "SELECT count(*) FROM (VALUES (TIMESTAMPTZ '1850-07-01 12:00:00+00'), (TIMESTAMPTZ '2300-07-01 12:00:00+00'), "
                   "('infinity'::TIMESTAMPTZ), (NULL)) v(t) WHERE sightline_trunc_day(t) IS NULL AND sightline_date_month(t) IS NULL"),
            4);
  // ... and the SQL the planner writes equals date_trunc everywhere, NULL included.
  const std::string day = local_trunc_sql(CalendarUnit::Day, "t"), month = local_date_sql(CalendarUnit::Month, "t");
  EXPECT_EQ(scalar(*z.conn,
                   "SELECT count(*) FROM (VALUES (TIMESTAMPTZ '1850-07-01 12:00:00+00'), (TIMESTAMPTZ '2300-07-01 12:00:00+00'), "
                   "('infinity'::TIMESTAMPTZ), ('-infinity'::TIMESTAMPTZ), (NULL), (TIMESTAMPTZ '2022-10-30 00:30:00+00')) v(t) "
                   "WHERE " + day + " IS NOT DISTINCT FROM date_trunc('day', t) AND " + month +
                       " IS NOT DISTINCT FROM CAST(date_trunc('month', t) AS DATE)"),
            6);
  // A constant argument (DuckDB may hand the function a constant vector).
  EXPECT_EQ(scalar(*z.conn, "SELECT epoch(sightline_trunc_hour(TIMESTAMPTZ '2022-10-30 00:30:00+00'))::BIGINT"),
            scalar(*z.conn, "SELECT epoch(date_trunc('hour', TIMESTAMPTZ '2022-10-30 00:30:00+00'))::BIGINT"));
}

TEST(ZoneTimeline, ClocksSetBackTruncateToTheLaterInstantAsDuckDBDoes) {
  // Berlin, 2022-10-30: 02:30 summer time (00:30 UTC) is in the hour whose wall clock says 02:00,
  // which DuckDB reads as 02:00 winter time (01:00 UTC), the later of the two.
  std::vector<ZoneTimeline::Segment> segments{{0, 2 * 3'600'000'000LL}, {1'667'091'600'000'000LL, 3'600'000'000LL}};
  ZoneTimeline berlin(segments, 4'000'000'000'000'000LL);
  const int64_t half_past_two_summer = 1'667'089'800'000'000LL;  // 2022-10-30 00:30 UTC
  EXPECT_EQ(berlin.truncate(CalendarUnit::Hour, half_past_two_summer), 1'667'091'600'000'000LL);
  // The day began at midnight summer time: 2022-10-29 22:00 UTC.
  EXPECT_EQ(berlin.truncate(CalendarUnit::Day, half_past_two_summer), 1'667'080'800'000'000LL);
  EXPECT_FALSE(berlin.truncate(CalendarUnit::Day, -1).has_value());
}

TEST(ZoneTimeline, ReadsEveryChangeOfAZone) {
  auto db = Database::open(":memory:", {.threads = 2});
  ASSERT_TRUE(db.has_value());
  auto conn = Connection::open(**db);
  ASSERT_TRUE(conn.has_value());
  ASSERT_TRUE((*conn)->execute("SET TimeZone = 'America/New_York'").has_value());
  auto timeline = load_zone_timeline(**conn);
  ASSERT_TRUE(timeline.has_value());
  // New York has changed its clocks twice a year since 1918 (and the rules run on to 2150).
  EXPECT_GT(timeline->segments(), 400u);
  EXPECT_LT(timeline->segments(), 600u);
}

}  // namespace
}  // namespace sightline::engine
