// Pre-aggregates that take in appended rows (query::Rollups::extend): after files are appended to
// a `mode: append` source, the rollups, codes of distinct counts, value tables, heads of top-N
// columns, the sample and unique columns are extended from the new rows alone, and every widget
// answers as it does over the rows. Anything but an append (a file replaced) builds again.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "config/project.h"
#include "engine/engine.h"
#include "engine/result_rows.h"
#include "query/planner.h"
#include "query/request.h"
#include "query/rollup.h"
#include "query/scope.h"
#include "query/top_values.h"
#include "statement_runner.h"

namespace sightline::query {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class RollupAppend : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-rollup-append-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data" / "rides");
    fs::create_directories(dir_ / "dashboards");
    write("sightline.yaml", R"yaml(timezone: Europe/Berlin
sources:
  rides: { path: data/rides/*.parquet, mode: append }
dashboards: dashboards/*.yaml
)yaml");
    write("dashboards/rides.yaml", R"yaml(id: rides
title: Rides
source: rides
dimensions: [zone, street]
filters:
  - { id: period, type: daterange, column: at }
  - { id: zone, type: select, column: zone }
  - { id: street, type: text, column: street }
  - { id: fare, type: range, column: fare }
widgets:
  - { id: rides, type: kpi, measure: count(*), compare: previous_period }
  - { id: drivers, type: kpi, measure: count(DISTINCT driver) }
  - { id: hourly, type: line, x: { column: at, grain: hour }, y: count(*) }
  - { id: daily, type: line, x: { column: at, grain: day }, y: sum(fare) }
  - { id: top_streets, type: bar, x: street, y: count(*), limit: 5 }
  - { id: by_zone, type: bar, x: zone, y: [avg(fare), 'count(DISTINCT driver)'] }
  - { id: fares, type: histogram, x: fare }
  - { id: trips, type: table, columns: [id, at, zone, fare], sort: -fare }
)yaml");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  // `rows` rides from id `first` on, in `year`: 30 zones, a few hundred streets (a head's worth
  // of frequent ones, more with every file), NULLs, one negative fare per file.
  void write_rides(const std::string& file, int64_t first, int64_t rows, int year) {
    auto db = engine::Database::open(":memory:", {.threads = 2});
    ASSERT_TRUE(db.has_value());
    auto conn = engine::Connection::open(**db);
    ASSERT_TRUE(conn.has_value());
    const std::string f = std::to_string(first);
    auto made = (*conn)->execute(
        "COPY (SELECT " + f + " + range AS id, "
        "TIMESTAMPTZ '" + std::to_string(year) + "-03-20 00:00:00+00' + to_minutes(CAST((range * 37) % (60 * 24 * 30) AS BIGINT)) AS at, "
        "CASE WHEN range % 41 = 0 THEN NULL ELSE 'zone ' || ((range * 7) % 30) END AS zone, "
        "'street ' || CASE WHEN range % 100 < 6 THEN 0 WHEN range % 100 < 11 THEN 1 WHEN range % 100 < 15 THEN 2 "
        "WHEN range % 100 < 18 THEN 3 WHEN range % 100 < 20 THEN 4 WHEN range % 100 < 21 THEN 5 "
        "ELSE 6 + (range * 7919) % (2000 + " + std::to_string(first / 10) + ") END AS street, "
        "CASE WHEN range % 53 = 0 THEN NULL ELSE CAST((range * 13) % (200 + " + std::to_string(first / 1000) + ") AS INTEGER) END AS driver, "
        "CAST(CASE WHEN range = 3 THEN -4.5 ELSE ((range * 31) % 9000) / 100.0 END AS DECIMAL(9, 2)) AS fare "
        "FROM range(" + std::to_string(rows) + ")) TO " + engine::quote_literal((dir_ / "data" / "rides" / file).string()) +
        " (FORMAT parquet)");
    ASSERT_TRUE(made.has_value()) << made.error().for_author();
  }

  std::shared_ptr<const engine::Engine> build_engine() {
    auto loaded = config::load_project(dir_, config::system_environment());
    EXPECT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : config::format_diagnostic(loaded.diagnostics[0]));
    if (!loaded.ok()) return nullptr;
    project_ = std::move(*loaded.project);
    auto built = engine::Engine::build(project_, engine::EngineOptions{.state_dir = dir_ / ".sightline" / "state"});
    EXPECT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : config::format_diagnostic(built.diagnostics[0]));
    return built.engine;
  }
  static RollupOptions options() { return {.min_source_rows = 0, .min_reduction = 2, .max_cardinality = 60, .sample_rows = 5'000}; }

  std::vector<json> events(const std::string& name) {
    std::vector<json> out;
    std::istringstream lines(sink_.str());
    for (std::string line; std::getline(lines, line);) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("event", "") == name) out.push_back(j);
    }
    return out;
  }

  // Equal answers: floating-point numbers to 1e-9 relative (sums of the same values in another
  // order), everything else exactly (groups tied on their measures are ordered by their values).
  static bool same_value(const json& a, const json& b) {
    if (a.is_number_float() || b.is_number_float()) {
      if (!a.is_number() || !b.is_number()) return false;
      const double x = a.get<double>(), y = b.get<double>();
      return std::abs(x - y) <= 1e-9 * std::max(std::abs(x), std::abs(y));
    }
    return a == b;
  }
  static bool same_answer(const json& a, const json& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].size() != b[i].size()) return false;
      for (size_t j = 0; j < a[i].size(); ++j)
        if (!same_value(a[i][j], b[i][j])) return false;
    }
    return true;
  }

  // Random states; every widget's answer from `rollups` equals its answer from the rows. Returns
  // how many answers a rollup or a head gave.
  int compare_with_rows(const engine::Engine& engine, const Rollups& rollups, unsigned seed) {
    const auto& d = *project_.find_dashboard("rides");
    std::mt19937 rng(seed);
    auto pick = [&](std::vector<json> options) { return options[rng() % options.size()]; };
    int from_rollups = 0;
    for (int state = 0; state < 30; ++state) {
      json filters = json::object();
      if (rng() % 2)
        filters["period"] = pick({json{{"from", "2024-03-22"}, {"to", "2024-04-03"}}, json{{"from", "2025-03-25"}},
                                  json{{"from", "2024-03-31"}, {"to", "2025-03-30"}}, json{{"to", "2024-04-01"}}});
      if (rng() % 2) filters["zone"] = pick({"zone 3", "zone 17", "zone 29"});
      if (rng() % 4 == 0) filters["street"] = pick({"street 1", "et 2"});
      if (rng() % 3 == 0) filters["fare"] = pick({json::array({0, 40}), json::array({nullptr, 10}), json::array({-10, nullptr})});
      json body = {{"filters", filters}};
      if (rng() % 3 == 0) body["selections"] = json::array({{{"column", "zone"}, {"values", json::array({"zone 5", "zone 6"})}}});
      if (rng() % 2) body["offset"] = pick({0, 40, 2'000});
      auto request = parse_query_request(body);
      EXPECT_TRUE(request.has_value()) << request.error().message;
      if (!request) return from_rollups;
      for (const auto& p : d.pages) {
        for (const auto& w : p.widgets) {
          auto with = plan_widget(d, w, engine, *request, Scope::local_development(), &rollups);
          auto without = plan_widget(d, w, engine, *request, Scope::local_development(), nullptr);
          EXPECT_TRUE(with.has_value() && without.has_value()) << w.id;
          if (!with || !without) continue;
          bool two_step = false;
          json a = testing::run_statement(engine, testing::data_statement(engine, *with, &two_step));
          json b = testing::run_statement(engine, without->data);
          EXPECT_TRUE(same_answer(a["rows"], b["rows"])) << w.id << " " << body.dump() << "\n"
                                                             << a["rows"].dump() << "\n" << b["rows"].dump() << "\n" << with->data.sql;
          if (with->read_from.find("__sightline_") != std::string::npos || two_step) ++from_rollups;
          if (two_step && w.id == "top_streets") ++from_head_;
        }
      }
    }
    return from_rollups;
  }

  int from_head_ = 0;  // top-N answers the head of streets gave
  fs::path dir_;
  config::Project project_;
  std::stringstream sink_;
  Logger log_{sink_};
};

TEST_F(RollupAppend, AppendedRowsExtendEveryPreAggregateAndAnswersStayEqualToTheRows) {
  write_rides("a.parquet", 0, 40'000, 2024);
  auto engine = build_engine();
  ASSERT_TRUE(engine);
  auto before = Rollups::build(project_, engine, log_, nullptr, options());
  ASSERT_FALSE(before->all().empty());
  ASSERT_NE(before->top_values("rides", "street"), nullptr) << "the test needs a head to extend";
  ASSERT_NE(before->sample_table("rides"), nullptr);
  ASSERT_NE(before->value_table("rides", "zone"), nullptr);
  EXPECT_EQ(Rollups::extend(before, engine, log_, options()), before) << "nothing appended: the same rollups";

  // A file of the next year, with new streets, drivers and zones' values, and a negative fare.
  write_rides("b.parquet", 40'000, 25'000, 2025);
  auto synced = engine->sync_appends("rides", 1'000);
  ASSERT_TRUE(synced.has_value()) << synced.error().for_author();
  ASSERT_EQ(synced->change.rows_added, 25'000);
  ASSERT_FALSE(before->stale(engine->data_versions()).empty());

  auto extended = Rollups::extend(before, engine, log_, options());
  ASSERT_TRUE(extended) << sink_.str();
  ASSERT_NE(extended, before);
  EXPECT_TRUE(extended->stale(engine->data_versions()).empty());
  ASSERT_EQ(events("rollups_extended").size(), 1u);
  EXPECT_EQ(events("rollups_extended")[0]["rows"], 65'000);
  EXPECT_EQ(extended->relation_rows("rides"), 65'000);

  // Each group once, as a build makes them.
  for (const auto& r : extended->all()) {
    std::string keys;
    for (const auto& c : r.columns) keys += (keys.empty() ? "" : ", ") + engine::quote_identifier(c);
    if (keys.empty()) continue;
    json distinct = testing::run_statement(
        *engine, Statement{"SELECT count(*) FROM (SELECT DISTINCT " + keys + " FROM " + engine::quote_identifier(r.table) + ")", {}, 1});
    EXPECT_EQ(distinct["rows"][0][0], r.rows) << r.table;
    EXPECT_EQ(r.source_rows, 65'000);
  }
  json counted = testing::run_statement(
      *engine, Statement{"SELECT sum(n) FROM " + engine::quote_identifier(*extended->value_table("rides", "zone")), {}, 1});
  json zones = testing::run_statement(*engine, Statement{"SELECT count(zone) FROM rides", {}, 1});
  EXPECT_EQ(counted["rows"][0][0].dump(), zones["rows"][0][0].dump()) << "each zone's rows, old and new";
  // The sample keeps its size and takes new rows in proportion (25,000 of 65,000: ~1,923 of 5,000).
  json sampled = testing::run_statement(*engine, Statement{"SELECT count(*), count(*) FILTER (WHERE id >= 40000) FROM " +
                                                               engine::quote_identifier(*extended->sample_table("rides")),
                                                           {}, 1});
  EXPECT_EQ(sampled["rows"][0][0], 5'000);
  EXPECT_EQ(sampled["rows"][0][1], 1'923);
  const TopValues* head = extended->top_values("rides", "street");
  ASSERT_NE(head, nullptr);
  EXPECT_GT(head->rows, before->top_values("rides", "street")->rows) << "the head took the new rows of its values";
  EXPECT_EQ(head->bounds.count("sum(fare)"), 0u) << "a negative fare: sums may grow with fewer rows";

  const int answered = compare_with_rows(*engine, *extended, 3);
  EXPECT_GT(answered, 60) << "the extended rollups answer many widgets";
  EXPECT_GE(from_head_, 2) << "the extended head answers top streets";

  // A second append extends the extension.
  write_rides("c.parquet", 65'000, 5'000, 2025);
  ASSERT_TRUE(engine->sync_appends("rides", 2'000).has_value());
  auto again = Rollups::extend(extended, engine, log_, options());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->relation_rows("rides"), 70'000);
  compare_with_rows(*engine, *again, 4);

  // A file replaced takes rows away: the rollups cannot be extended, a build follows.
  write_rides("a.parquet", 0, 30'000, 2024);
  ASSERT_TRUE(engine->sync_appends("rides", 3'000).has_value());
  EXPECT_EQ(Rollups::extend(again, engine, log_, options()), nullptr);
}

TEST_F(RollupAppend, ExtendedRollupsAreKeptInTheStateFileForTheNextStart) {
  write_rides("a.parquet", 0, 30'000, 2024);
  json answers;
  {
    auto engine = build_engine();
    ASSERT_TRUE(engine);
    auto before = Rollups::build(project_, engine, log_, nullptr, options());
    write_rides("b.parquet", 30'000, 10'000, 2025);
    ASSERT_TRUE(engine->sync_appends("rides", 1'000).has_value());
    auto extended = Rollups::extend(before, engine, log_, options());
    ASSERT_TRUE(extended);
    before.reset();
    answers = testing::run_statement(*engine, Statement{"SELECT count(*), sum(fare) FROM rides", {}, 1});
  }
  sink_.str("");
  auto engine = build_engine();
  ASSERT_TRUE(engine);
  auto reused = Rollups::build(project_, engine, log_, nullptr, options());
  ASSERT_EQ(events("rollups_reused").size(), 1u) << "the extended tables are the ones kept: " << sink_.str();
  EXPECT_TRUE(events("rollup_built").empty());
  EXPECT_EQ(reused->relation_rows("rides"), 40'000);
  EXPECT_EQ(testing::run_statement(*engine, Statement{"SELECT count(*), sum(fare) FROM rides", {}, 1}), answers);
  compare_with_rows(*engine, *reused, 5);
}

}  // namespace
}  // namespace sightline::query
