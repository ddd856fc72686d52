// SourceBoard subscriptions (api/source_board.h): who hears of new data versions (the live
// updates of open dashboards). A listener hears of every new number after a relation's first,
// outside the board's lock (so it may call the board), and never after its handle is gone, even
// when the handle goes while a notification runs on another thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "api/source_board.h"

namespace sightline::api {
namespace {

using namespace std::chrono_literals;

struct Heard {
  std::mutex mutex;
  std::vector<std::pair<std::string, DataVersion>> calls;
  SourceBoard::Listener listener() {
    return [this](const std::string& relation, const DataVersion& v) {
      std::lock_guard lock(mutex);
      calls.emplace_back(relation, v);
    };
  }
  size_t size() {
    std::lock_guard lock(mutex);
    return calls.size();
  }
};

const auto kAsOf = [] { return int64_t{1'700'000'000'000}; };

TEST(SourceEvents, NewNumbersAreToldNotFirstVersionsNorRepeats) {
  SourceBoard board;
  Heard heard;
  auto sub = board.subscribe(heard.listener());
  EXPECT_EQ(board.subscribers(), 1u);

  EXPECT_EQ(board.version("orders", 0xa, kAsOf).number, 1);
  EXPECT_EQ(board.version("orders", 0xa, kAsOf).number, 1);
  EXPECT_EQ(heard.size(), 0u) << "a relation's first version is no news";

  EXPECT_EQ(board.version("orders", 0xb, kAsOf).number, 2);
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard.calls[0].first, "orders");
  EXPECT_EQ(heard.calls[0].second.number, 2);
  EXPECT_EQ(heard.calls[0].second.hash, 0xbu);
  EXPECT_EQ(heard.calls[0].second.as_of_ms, kAsOf());

  board.version("orders", 0xb, kAsOf);
  EXPECT_EQ(heard.size(), 1u) << "the same data again is no news";
  board.version("customers", 0x1, kAsOf);
  board.version("customers", 0x2, kAsOf);
  board.version("orders", 0xa, kAsOf);  // back to older data: still a new number
  ASSERT_EQ(heard.size(), 3u);
  EXPECT_EQ(heard.calls[1].first, "customers");
  EXPECT_EQ(heard.calls[1].second.number, 2);
  EXPECT_EQ(heard.calls[2].first, "orders");
  EXPECT_EQ(heard.calls[2].second.number, 3);
}

TEST(SourceEvents, EverySubscriberHearsUntilItsHandleGoes) {
  SourceBoard board;
  Heard a, b;
  auto sa = board.subscribe(a.listener());
  {
    auto sb = board.subscribe(b.listener());
    EXPECT_EQ(board.subscribers(), 2u);
    board.version("t", 1, kAsOf);
    board.version("t", 2, kAsOf);
    EXPECT_EQ(a.size(), 1u);
    EXPECT_EQ(b.size(), 1u);
  }
  EXPECT_EQ(board.subscribers(), 1u);
  board.version("t", 3, kAsOf);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(b.size(), 1u) << "a destroyed handle hears nothing more";
  sa.reset();
  EXPECT_FALSE(sa);
  sa.reset();  // twice is fine
  board.version("t", 4, kAsOf);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(board.subscribers(), 0u);
}

TEST(SourceEvents, HandlesMoveAndMayOutliveTheBoard) {
  Heard heard;
  SourceBoard::Subscription kept;
  {
    SourceBoard board;
    auto sub = board.subscribe(heard.listener());
    kept = std::move(sub);
    EXPECT_FALSE(sub);
    EXPECT_TRUE(kept);
    board.version("t", 1, kAsOf);
    board.version("t", 2, kAsOf);
    EXPECT_EQ(heard.size(), 1u);
    // Moving another handle over a live one ends the live one.
    SourceBoard::Subscription other = board.subscribe(heard.listener());
    other = board.subscribe(heard.listener());
    EXPECT_EQ(board.subscribers(), 2u);
  }
  kept.reset();  // the board is gone: nothing to wait for, nothing breaks
}

TEST(SourceEvents, ListenersRunOutsideTheLockAndMayCallTheBoard) {
  SourceBoard board;
  board.version("orders", 1, kAsOf);
  board.version("model", 10, kAsOf);
  std::vector<std::pair<std::string, int64_t>> heard;
  // As a dashboard over a model does: a source's news makes it look at the model's version,
  // which is news of its own, told (on this thread) before the outer call returns.
  auto sub = board.subscribe([&](const std::string& relation, const DataVersion& v) {
    heard.emplace_back(relation, v.number);
    if (relation == "orders") {
      EXPECT_EQ(board.last_version("orders")->number, v.number);
      board.version("model", 10 + static_cast<uint64_t>(v.number), kAsOf);
      EXPECT_FALSE(board.failing().size());
    }
  });
  board.version("orders", 2, kAsOf);
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[0], (std::pair<std::string, int64_t>{"orders", 2}));
  EXPECT_EQ(heard[1], (std::pair<std::string, int64_t>{"model", 2}));
}

TEST(SourceEvents, AFailingListenerDoesNotSilenceTheOthers) {
  SourceBoard board;
  Heard heard;
  auto bad = board.subscribe([](const std::string&, const DataVersion&) { throw std::runtime_error("listener failed"); });
  auto good = board.subscribe(heard.listener());
  board.version("t", 1, kAsOf);
  EXPECT_EQ(board.version("t", 2, kAsOf).number, 2);
  EXPECT_EQ(heard.size(), 1u);
}

TEST(SourceEvents, ResetWaitsForACallUnderWayOnAnotherThreadAndNoCallFollows) {
  SourceBoard board;
  board.version("t", 1, kAsOf);
  std::mutex m;
  std::condition_variable cv;
  bool inside = false, release = false;
  std::atomic<bool> returned{false};  // the listener's call has returned
  std::atomic<int> calls{0};
  auto sub = board.subscribe([&](const std::string&, const DataVersion&) {
    calls.fetch_add(1);
    std::unique_lock lock(m);
    inside = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    returned = true;
  });
  std::thread notifier([&] { board.version("t", 2, kAsOf); });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return inside; });
  }
  // The listener runs on `notifier`: reset() must not return before it does.
  auto resetting = std::async(std::launch::async, [&] {
    sub.reset();
    return returned.load();
  });
  EXPECT_EQ(resetting.wait_for(200ms), std::future_status::timeout) << "reset() returned while the listener ran";
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(resetting.get()) << "reset() returned only after the call did";
  notifier.join();
  board.version("t", 3, kAsOf);
  EXPECT_EQ(calls.load(), 1);
}

TEST(SourceEvents, AListenerMayEndItsOwnSubscription) {
  SourceBoard board;
  board.version("t", 1, kAsOf);
  int calls = 0;
  SourceBoard::Subscription sub;
  sub = board.subscribe([&](const std::string&, const DataVersion&) {
    ++calls;
    sub.reset();  // does not wait for itself
  });
  board.version("t", 2, kAsOf);
  board.version("t", 3, kAsOf);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(board.subscribers(), 0u);
}

// Many threads make new versions while subscriptions come and go: a listener is never called
// after its handle's reset() returned (the state it uses is marked dead right after).
TEST(SourceEvents, NoCallAfterResetUnderConcurrency) {
  SourceBoard board;
  for (int r = 0; r < 4; ++r) board.version("r" + std::to_string(r), 0, kAsOf);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> next_hash{1};
  std::vector<std::thread> makers;
  for (int t = 0; t < 4; ++t)
    makers.emplace_back([&, t] {
      while (!stop.load()) board.version("r" + std::to_string(t), next_hash.fetch_add(1), kAsOf);
    });
  std::atomic<int> late_calls{0};
  std::atomic<int64_t> total_calls{0};
  for (int round = 0; round < 300; ++round) {
    struct State {
      std::atomic<bool> dead{false};
    };
    auto state = std::make_shared<State>();
    auto sub = board.subscribe([state, &late_calls, &total_calls](const std::string&, const DataVersion&) {
      if (state->dead.load()) late_calls.fetch_add(1);
      total_calls.fetch_add(1);
      std::this_thread::yield();
      if (state->dead.load()) late_calls.fetch_add(1);
    });
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    sub.reset();
    state->dead = true;
  }
  stop = true;
  for (auto& t : makers) t.join();
  EXPECT_EQ(late_calls.load(), 0);
  EXPECT_GT(total_calls.load(), 0);
  EXPECT_EQ(board.subscribers(), 0u);
}

}  // namespace
}  // namespace sightline::api
