// PeriodicTask (core/periodic.h): runs at once and again, and stops without waiting out its period.
#include "core/periodic.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace sightline {
namespace {

TEST(PeriodicTask, RunsAtOnceAndThenEveryPeriod) {
  std::atomic<int> runs{0};
  std::promise<void> second;
  {
    PeriodicTask task(std::chrono::milliseconds(1), [&] {
      if (++runs == 2) second.set_value();
    });
    ASSERT_EQ(second.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  }
  EXPECT_GE(runs.load(), 2);
}

TEST(PeriodicTask, StoppingDoesNotWaitOutThePeriod) {
  std::promise<void> first;
  const auto started = std::chrono::steady_clock::now();
  {
    PeriodicTask task(std::chrono::hours(1), [&] { first.set_value(); });
    ASSERT_EQ(first.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::minutes(1)) << "the destructor waited for the hour";
}

}  // namespace
}  // namespace sightline
