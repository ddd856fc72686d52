// When refresh policies make a source due (engine/refresh_schedule.h), with made-up times, and
// how the source board numbers data versions and keeps refresh status (api/source_board.h).
#include <gtest/gtest.h>

#include "api/source_board.h"
#include "engine/refresh_schedule.h"

namespace sightline::engine {
namespace {

constexpr int64_t kMinute = 60'000;
// 2026-03-28 00:00:00 UTC, the Saturday before Europe/Berlin moves its clocks forward.
constexpr int64_t kSaturday = 1'774'656'000'000;

// Europe/Berlin in 2026: +1 h, +2 h from 2026-03-29 01:00 UTC.
std::chrono::seconds berlin(std::chrono::sys_seconds t) {
  return std::chrono::seconds(t.time_since_epoch().count() >= 1'774'746'000 ? 7200 : 3600);
}
std::chrono::seconds utc(std::chrono::sys_seconds) {
  return std::chrono::seconds(0);
}

config::RefreshSpec every(int64_t ms) {
  config::RefreshSpec s;
  s.every_ms = ms;
  return s;
}

TEST(RefreshSchedule, EveryPeriodCountsFromTheLastCheck) {
  RefreshTiming t;
  t.last_check_ms = kSaturday;
  auto spec = every(5 * kMinute);
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 5 * kMinute - 1, std::nullopt, utc), RefreshReason::None);
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 5 * kMinute, std::nullopt, utc), RefreshReason::Every);
  EXPECT_EQ(next_scheduled_ms(spec, t), kSaturday + 5 * kMinute);
  t.last_check_ms = kSaturday + 7 * kMinute;  // the caller checked late: the next is 5 min after that
  EXPECT_EQ(next_scheduled_ms(spec, t), kSaturday + 12 * kMinute);
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 11 * kMinute, std::nullopt, utc), RefreshReason::None);
}

TEST(RefreshSchedule, CronFiresOnceAtEachTimeInTheProjectZone) {
  config::RefreshSpec spec;
  spec.cron = "30 2 * * *";  // 02:30 Berlin time: on 2026-03-29 that wall-clock time does not exist
  auto cron = CronSchedule::parse(spec.cron);
  ASSERT_TRUE(cron);
  RefreshTiming t;
  t.last_check_ms = kSaturday;
  // Saturday 02:30 in Berlin is 01:30 UTC.
  EXPECT_EQ(refresh_due(spec, &*cron, t, kSaturday + 90 * kMinute - 1, std::nullopt, berlin), RefreshReason::None);
  EXPECT_EQ(t.next_cron_ms, kSaturday + 90 * kMinute);
  EXPECT_EQ(refresh_due(spec, &*cron, t, kSaturday + 91 * kMinute, std::nullopt, berlin), RefreshReason::Cron);
  // Once only, even when the caller looks again right after.
  EXPECT_EQ(refresh_due(spec, &*cron, t, kSaturday + 92 * kMinute, std::nullopt, berlin), RefreshReason::None);
  // Sunday: clocks jump from 02:00 to 03:00 at 01:00 UTC; the skipped 02:30 fires at the change.
  const int64_t change = 1'774'746'000'000;
  EXPECT_EQ(t.next_cron_ms, change);
  EXPECT_EQ(next_scheduled_ms(spec, t), change);
  EXPECT_EQ(refresh_due(spec, &*cron, t, change, std::nullopt, berlin), RefreshReason::Cron);
  // Monday 02:30 CEST is 00:30 UTC.
  EXPECT_EQ(t.next_cron_ms, change + 23 * 60 * kMinute + 30 * kMinute);
}

TEST(RefreshSchedule, ChangedFilesAreDueOnceTheyStayUnchangedForTheDebounce) {
  config::RefreshSpec spec;
  spec.on_change = true;
  spec.debounce_ms = 2000;
  RefreshTiming t;
  t.last_check_ms = kSaturday;
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 1000, std::nullopt, utc), RefreshReason::None);
  // A copy in progress: the files' version changes at every look.
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 2000, 11u, utc), RefreshReason::None);
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 3500, 12u, utc), RefreshReason::None);
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 5000, 13u, utc), RefreshReason::None);
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 6999, 13u, utc), RefreshReason::None);
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 7000, 13u, utc), RefreshReason::FilesChanged);
  // Changed back to what is served: nothing to do, and the wait starts over next time.
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 8000, std::nullopt, utc), RefreshReason::None);
  EXPECT_FALSE(t.settling_version.has_value());
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 9000, 13u, utc), RefreshReason::None);
}

TEST(RefreshSchedule, ChangedFilesAloneDoNotMakeASourceWithoutOnChangeDue) {
  auto spec = every(60 * kMinute);
  RefreshTiming t;
  t.last_check_ms = kSaturday;
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + kMinute, 5u, utc), RefreshReason::None);
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 30 * kMinute, 5u, utc), RefreshReason::None);
  EXPECT_EQ(refresh_due(spec, nullptr, t, kSaturday + 60 * kMinute, 5u, utc), RefreshReason::Every);
  EXPECT_EQ(next_scheduled_ms(config::RefreshSpec{}, t), std::nullopt);
}

}  // namespace
}  // namespace sightline::engine

namespace sightline::api {
namespace {

TEST(SourceBoard, VersionNumbersGrowWithEachNewHashAndAsOfIsAskedOnlyThen) {
  SourceBoard board;
  int asked = 0;
  auto as_of = [&] { return 1000 + ++asked; };
  EXPECT_EQ(board.version("orders", 0xaa, as_of).number, 1);
  EXPECT_EQ(board.version("orders", 0xaa, as_of).number, 1);
  EXPECT_EQ(asked, 1);
  const auto second = board.version("orders", 0xbb, as_of);
  EXPECT_EQ(second.number, 2);
  EXPECT_EQ(second.as_of_ms, 1002);
  EXPECT_EQ(second.token(), "2-00000000000000bb");
  // Back to older data (a file restored): still a new version, with a larger number.
  EXPECT_EQ(board.version("orders", 0xaa, as_of).number, 3);
  EXPECT_EQ(board.version("customers", 0xaa, as_of).number, 1);
  EXPECT_EQ(board.last_version("orders")->hash, 0xaau);
  EXPECT_FALSE(board.last_version("nothing").has_value());
}

TEST(SourceBoard, RequestsWakeTheRefresherAndAreTakenOnce) {
  SourceBoard board;
  int wakes = 0;
  board.on_request([&] { ++wakes; });
  board.request("orders");
  board.request("orders");
  EXPECT_EQ(wakes, 2);
  EXPECT_TRUE(board.status("orders").requested);
  EXPECT_EQ(board.take_requests(), std::vector<std::string>{"orders"});
  EXPECT_TRUE(board.take_requests().empty());
  EXPECT_FALSE(board.status("orders").requested);
  EXPECT_TRUE(board.status("orders").running);
}

TEST(SourceBoard, FailuresAreReportedUntilACheckSucceeds) {
  SourceBoard board;
  board.finished("orders", RefreshOutcome::Failed, 100, "source 'orders' cannot be read");
  board.finished("orders", RefreshOutcome::Failed, 200, "");
  auto s = board.status("orders");
  EXPECT_EQ(s.failing_since_ms, 100);
  EXPECT_EQ(s.last_error, "the refresh failed");
  EXPECT_EQ(s.failed, 2);
  EXPECT_EQ(board.failing(), std::vector<std::string>{"orders"});
  board.finished("orders", RefreshOutcome::Unchanged, 300);
  s = board.status("orders");
  EXPECT_TRUE(board.failing().empty());
  EXPECT_EQ(s.failing_since_ms, 0);
  EXPECT_EQ(s.last_success_ms, 300);
  EXPECT_TRUE(s.last_error.empty());
  EXPECT_EQ(s.unchanged, 1);
  EXPECT_EQ(utc_time_text(1'774'656'000'123), "2026-03-28T00:00:00.123Z");
}

}  // namespace
}  // namespace sightline::api
