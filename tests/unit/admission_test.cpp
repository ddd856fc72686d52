// The admission queue (server/admission.h): bounded in length and in time, every accepted request
// either run or shed exactly once. A fake clock drives the deadlines; no sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>

#include "server/admission.h"

namespace sightline::server {
namespace {

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  std::function<std::chrono::steady_clock::time_point()> fn() {
    return [this] { return now; };
  }
};

AdmissionOptions manual(FakeClock& clock, size_t max_queued, std::chrono::milliseconds timeout) {
  return {.workers = 1, .max_queued = max_queued, .timeout = timeout, .clock = clock.fn(), .start_threads = false};
}

TEST(AdmissionQueue, ShedsAtOnceWhenFull) {
  FakeClock clock;
  AdmissionQueue q(manual(clock, 2, std::chrono::seconds(1)));
  int ran = 0;
  EXPECT_TRUE(q.submit([&] { ++ran; }, [](ShedReason) { FAIL() << "not shed"; }));
  EXPECT_TRUE(q.submit([&] { ++ran; }, [](ShedReason) { FAIL() << "not shed"; }));
  EXPECT_FALSE(q.submit([] { FAIL() << "a full queue takes nothing"; }, [](ShedReason) { FAIL() << "the caller sheds"; }));
  EXPECT_EQ(q.queued(), 2u);
  EXPECT_TRUE(q.run_one());
  EXPECT_TRUE(q.submit([&] { ++ran; }, [](ShedReason) {}));  // room again
  while (q.run_one()) {
  }
  EXPECT_EQ(ran, 3);
}

TEST(AdmissionQueue, ShedsWhatWaitedPastTheTimeoutAndRunsTheRestInOrder) {
  FakeClock clock;
  AdmissionQueue q(manual(clock, 10, std::chrono::milliseconds(1000)));
  std::vector<std::string> events;
  auto add = [&](std::string name) {
    q.submit([&events, name] { events.push_back("run " + name); },
             [&events, name](ShedReason why) { events.push_back("shed " + name + " " + shed_reason_name(why)); });
  };
  add("a");
  clock.now += std::chrono::milliseconds(600);
  add("b");
  clock.now += std::chrono::milliseconds(399);
  EXPECT_EQ(q.shed_expired(), 0u) << "a has 1 ms left";
  clock.now += std::chrono::milliseconds(1);
  EXPECT_EQ(q.shed_expired(), 1u);
  while (q.run_one()) {
  }
  EXPECT_EQ(events, (std::vector<std::string>{"shed a queue_timeout", "run b"}));
}

TEST(AdmissionQueue, StopShedsWhatIsQueuedAndRefusesMore) {
  FakeClock clock;
  AdmissionQueue q(manual(clock, 10, std::chrono::seconds(1)));
  std::vector<std::string> sheds;
  for (int i = 0; i < 3; ++i) q.submit([] { FAIL() << "never runs"; }, [&](ShedReason why) { sheds.push_back(shed_reason_name(why)); });
  q.stop();
  EXPECT_EQ(sheds, (std::vector<std::string>(3, "shutting_down")));
  EXPECT_FALSE(q.submit([] {}, [](ShedReason) {}));
}

TEST(AdmissionQueue, WorkerThreadsRunEverySubmissionExactlyOnce) {
  AdmissionQueue q({.workers = 3, .max_queued = 1000, .timeout = std::chrono::minutes(10)});
  std::atomic<int> ran{0}, shed{0};
  std::latch all(500);
  for (int i = 0; i < 500; ++i) {
    bool accepted = q.submit(
        [&] {
          ++ran;
          all.count_down();
        },
        [&](ShedReason) {
          ++shed;
          all.count_down();
        });
    ASSERT_TRUE(accepted);
  }
  all.wait();
  q.stop();
  EXPECT_EQ(ran.load() + shed.load(), 500);
  EXPECT_EQ(shed.load(), 0);
}

}  // namespace
}  // namespace sightline::server
