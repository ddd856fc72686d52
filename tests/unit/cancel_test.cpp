#include "core/cancel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "config/project.h"
#include "engine/engine.h"
#include "query/service.h"

namespace sightline {
namespace {
namespace fs = std::filesystem;

TEST(Cancellation, InterruptsRunningWorkOnceAndRefusesLaterWork) {
  Cancellation c;
  int first = 0, second = 0;
  auto a = c.enter([&] { ++first; });
  auto b = c.enter([&] { ++second; });
  ASSERT_TRUE(a && b);
  c.leave(*b);  // finished before the cancel: never interrupted
  EXPECT_FALSE(c.cancelled());
  c.cancel();
  c.cancel();
  EXPECT_TRUE(c.cancelled());
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
  EXPECT_FALSE(c.enter([] {}).has_value()) << "work after the cancel does not start";
  c.leave(*a);  // leaving after the cancel is harmless
}

// A query far slower than the test waits (hundreds of millions of pairs), over a real DuckDB.
constexpr const char* kSlowSql =
    "SELECT count(*) AS n FROM range(60000) a, range(60000) b WHERE (a.range * 7 + b.range) % 1000003 = 5";

class CancelQueries : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-cancel-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    std::ofstream(dir_ / "data" / "t.csv") << "x\n1\n2\n";
    std::ofstream(dir_ / "sightline.yaml") << "sources:\n  t:\n    path: data/t.csv\nengine:\n  query_timeout: 60s\n";
    auto loaded = config::load_project(dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok());
    project_ = std::move(*loaded.project);
    auto built = engine::Engine::build(project_);
    ASSERT_TRUE(built.engine);
    engine_ = built.engine;
  }
  void TearDown() override {
    engine_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  config::Project project_;
  std::shared_ptr<const engine::Engine> engine_;
  std::stringstream sink_;
  Logger log_{sink_};
};

TEST_F(CancelQueries, ACancelledRequestsQueryStopsAtOnceAndLaterOnesDoNotStart) {
  auto cancel = std::make_shared<Cancellation>();
  auto started = std::chrono::steady_clock::now();
  auto running = std::async(std::launch::async, [&] {
    return engine_->pool().run<engine::QueryOutput>(
        std::chrono::seconds(60), [&](engine::Connection& c) { return c.query(kSlowSql, 10); }, cancel.get());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it start: the race is the point, not the clock
  cancel->cancel();
  auto out = running.get();
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().kind, ErrorKind::Cancelled) << out.error().for_author();
  EXPECT_LT(took, std::chrono::seconds(10)) << "stopped, not run to the end";
  auto later = engine_->pool().run<engine::QueryOutput>(
      std::chrono::seconds(5), [&](engine::Connection& c) { return c.query("SELECT 1", 1); }, cancel.get());
  ASSERT_FALSE(later.has_value());
  EXPECT_EQ(later.error().kind, ErrorKind::Cancelled);
  // The connection went back to the pool in working order.
  auto fine = engine_->pool().run<engine::QueryOutput>(std::chrono::seconds(5), [&](engine::Connection& c) { return c.query("SELECT 42", 1); });
  ASSERT_TRUE(fine.has_value()) << fine.error().for_author();
  EXPECT_EQ(engine_->pool().in_use(), 0);
}

// Two requests share one statement (single flight). The first one's client goes away: the
// second, still waiting, gets the answer all the same (it runs the statement itself).
TEST_F(CancelQueries, AWaitingRequestIsNotCancelledWithTheOneWhoseQueryItShared) {
  query::QueryService service(1 << 20, log_);
  const query::Scope scope = query::Scope::local_development();
  // Slow enough to be joined and cancelled, quick enough to run to the end for the second caller.
  query::Statement st{"SELECT count(*) AS n FROM range(12000) a, range(12000) b WHERE (a.range * 7 + b.range) % 1003 = 5", {}, 1};
  auto gone = std::make_shared<Cancellation>();
  auto first = std::async(std::launch::async, [&] {
    return service.run(*engine_, st, scope, query::RunContext{1, {}, gone}, "first", "");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto second = std::async(std::launch::async, [&] {
    return service.run(*engine_, st, scope, query::RunContext{1, {}, std::make_shared<Cancellation>()}, "second", "");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  gone->cancel();
  auto a = first.get();
  auto b = second.get();
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().kind, ErrorKind::Cancelled);
  ASSERT_TRUE(b.has_value()) << b.error().for_author();
  EXPECT_EQ((*b).output->table.num_rows, 1);
  EXPECT_EQ(service.cached_entries(), 1u) << "the second caller's answer is cached; the cancelled one left nothing";
}

}  // namespace
}  // namespace sightline
