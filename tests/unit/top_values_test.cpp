// Top-N charts over a column of many values, answered from its head (query/top_values.h): every
// answer equals the plain statement over the rows, for random filter states, under a row policy,
// with NULLs, decimals, negative values and ties; the proof falls back to the rows when the head
// cannot tell, and a head is built only where it can pay.
#include "query/top_values.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <random>
#include <sstream>

#include "config/project.h"
#include "engine/engine.h"
#include "query/planner.h"
#include "query/rollup.h"
#include "statement_runner.h"

namespace sightline::query {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

TEST(TopValuesMeasures, OnlySingleAggregatesThatShrinkWithFewerRowsHaveABound) {
  auto call = [](const char* expr) { return single_aggregate(expr); };
  ASSERT_TRUE(call("count(*)"));
  EXPECT_EQ(call("COUNT( * )")->function, "count");
  EXPECT_EQ(call("sum(\"fare (€)\")")->column, "fare (€)");
  EXPECT_EQ(call("count(DISTINCT \"Fahrer-ID\")")->function, "count_distinct");
  EXPECT_FALSE(call("sum(a) / 2"));
  EXPECT_FALSE(call("-sum(a)"));
  EXPECT_FALSE(call("coalesce(sum(a), 0)"));
  EXPECT_FALSE(call("sum(a) + sum(b)"));
  EXPECT_FALSE(call("median(a)"));

  EXPECT_TRUE(shrinks_with_fewer_rows({"count", ""}, "", std::nullopt));
  EXPECT_TRUE(shrinks_with_fewer_rows({"count_distinct", "x"}, "VARCHAR", std::nullopt));
  EXPECT_TRUE(shrinks_with_fewer_rows({"sum", "x"}, "DECIMAL(10,2)", 0.0));
  EXPECT_TRUE(shrinks_with_fewer_rows({"sum", "x"}, "BIGINT", 3.0));
  EXPECT_FALSE(shrinks_with_fewer_rows({"sum", "x"}, "DECIMAL(10,2)", -0.01));  // a refund: sums grow when it is left out
  EXPECT_FALSE(shrinks_with_fewer_rows({"sum", "x"}, "BIGINT", std::nullopt));
  EXPECT_FALSE(shrinks_with_fewer_rows({"sum", "x"}, "DOUBLE", 0.0));  // float sums depend on their order
  EXPECT_FALSE(shrinks_with_fewer_rows({"max", "x"}, "BIGINT", 0.0));
  EXPECT_FALSE(shrinks_with_fewer_rows({"avg", "x"}, "BIGINT", 0.0));
}

// 240,000 pickups, in Berlin time: 30 % at 2,000 addresses of power-law popularity, the rest spread
// evenly over 40,000 others, a few at no address (NULL).
class TopValuesEquivalence : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("sightline-top-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ / "dashboards");
    fs::create_directories(*dir_ / "data");
    {
      auto db = engine::Database::open(":memory:", {.threads = 2});
      ASSERT_TRUE(db.has_value());
      auto conn = engine::Connection::open(**db);
      ASSERT_TRUE(conn.has_value());
      auto made = (*conn)->execute(
          "COPY (SELECT TIMESTAMPTZ '2023-01-01 00:00:00+00' + to_seconds(CAST(range * 1021 % 63072000 AS BIGINT)) AS \"pickup at\", "
          "CASE WHEN hash(range) % 29 = 0 THEN NULL WHEN hash(range * 19) % 100 < 30 "
          "THEN 'Straße ' || CAST(floor(exp((hash(range * 3) % 100000) / 100000.0 * ln(2000))) AS BIGINT) "
          "ELSE 'Weg ' || CAST(hash(range * 23) % 40000 AS BIGINT) END AS \"Straße\", "
          "['Mitte', 'Kreuzberg', 'Pankow', 'Spandau'][1 + CAST(hash(range * 5) % 4 AS INTEGER)] AS zone, "
          "CAST((hash(range * 7) % 5000) / 100.0 AS DECIMAL(9, 2)) AS \"fare €\", "
          "CAST((hash(range * 11) % 3000) / 100.0 - 2 AS DECIMAL(9, 2)) AS tip, "
          "CASE WHEN range % 13 = 0 THEN NULL ELSE CAST(hash(range * 13) % 100000 AS INTEGER) END AS driver, "
          "CAST(1 + hash(range * 17) % 6 AS INTEGER) AS passengers "
          "FROM range(240000)) TO " +
          engine::quote_literal((*dir_ / "data" / "rides.parquet").string()) + " (FORMAT parquet)");
      ASSERT_TRUE(made.has_value()) << made.error().for_author();
    }
    std::ofstream(*dir_ / "sightline.yaml") << "timezone: Europe/Berlin\nsources:\n  rides:\n    path: data/rides.parquet\n"
                                               "    materialize: true\n    order_by: pickup at\ndashboards: dashboards/*.yaml\n";
    std::ofstream(*dir_ / "dashboards" / "rides.yaml") << R"yaml(title: Rides
source: rides
dimensions: [zone, passengers, "Straße"]
filters:
  - { id: when, type: daterange, column: pickup at }
  - { id: zone, type: multiselect, column: zone }
  - { id: fare, type: range, column: fare € }
  - { id: street, type: text, column: Straße }
widgets:
  - { id: by_rides, type: bar, x: Straße, y: { expr: count(*), as: rides }, sort: -y, limit: 20 }
  - { id: by_fares, type: bar, x: Straße, y: [{ expr: 'sum("fare €")', as: fares }, { expr: avg(tip), as: tip }], limit: 10 }
  - { id: by_drivers, type: pie, x: Straße, y: { expr: count(DISTINCT driver), as: drivers }, limit: 8 }
  - { id: by_driven, type: bar, x: Straße, y: { expr: count(driver), as: driven }, sort: -driven, limit: 15 }
  - { id: by_tips, type: bar, x: Straße, y: { expr: sum(tip), as: tips }, limit: 10 }
  - { id: fewest, type: bar, x: Straße, y: { expr: count(*), as: rides }, sort: y, limit: 10 }
  - { id: recent, type: table, columns: [{ column: pickup at, as: pickup }, Straße, fare €], sort: -fare, limit: 25 }
)yaml";
    auto loaded = config::load_project(*dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : loaded.diagnostics[0].message);
    project_ = new config::Project(std::move(*loaded.project));
    auto built = engine::Engine::build(*project_);
    ASSERT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : built.diagnostics[0].message);
    engine_ = new std::shared_ptr<const engine::Engine>(built.engine);
    static std::stringstream sink;
    static Logger log(sink);
    rollups_ = new std::shared_ptr<const Rollups>(Rollups::build(*project_, *engine_, log, nullptr, {.min_source_rows = 0}));
  }
  static void TearDownTestSuite() {
    delete rollups_;
    delete engine_;
    delete project_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  struct Answer {
    json rows;
    bool from_head = false;
  };
  // The answer as the query layer gives it: the head's statement when its proof holds, else the plain one.
  static Answer answer(const WidgetPlan& plan) {
    if (plan.prelude) {
      EXPECT_EQ(run(*plan.prelude)["rows"].size(), 1u) << "the proof answers one row, NULL when it fails";
    }
    Answer out;
    out.rows = run(testing::data_statement(**engine_, plan, &out.from_head));
    return out;
  }
  static json run(const Statement& st) { return testing::run_statement(**engine_, st); }
  // Rows compared as a set, without the ties at the cut: neither the order of equal values nor
  // which of them a LIMIT keeps is defined, on either side. Fails the test unless `rows` are in
  // the chart's order (measure descending).
  static std::vector<std::string> stable(const json& rows, size_t measure_column, size_t limit) {
    for (size_t i = 1; i < rows.size(); ++i)
      EXPECT_FALSE(rows[i - 1][measure_column] < rows[i][measure_column]) << "not sorted at row " << i << ": " << rows.dump();
    std::vector<std::string> out;
    for (const auto& r : rows)
      if (rows.size() < limit || r[measure_column] != rows.back()[measure_column]) out.push_back(r.dump());
    std::sort(out.begin(), out.end());
    return out;
  }

  static fs::path* dir_;
  static config::Project* project_;
  static std::shared_ptr<const engine::Engine>* engine_;
  static std::shared_ptr<const Rollups>* rollups_;
};
fs::path* TopValuesEquivalence::dir_ = nullptr;
config::Project* TopValuesEquivalence::project_ = nullptr;
std::shared_ptr<const engine::Engine>* TopValuesEquivalence::engine_ = nullptr;
std::shared_ptr<const Rollups>* TopValuesEquivalence::rollups_ = nullptr;

TEST_F(TopValuesEquivalence, AHeadIsBuiltWithBoundsOnlyForMeasuresThatShrink) {
  const TopValues* top = (*rollups_)->top_values("rides", "Straße");
  ASSERT_NE(top, nullptr);
  EXPECT_GT(top->values, 20);
  EXPECT_LE(top->rows, 240000 / 5);
  EXPECT_TRUE(top->bounds.count("count(*)"));
  EXPECT_TRUE(top->bounds.count("sum(\"fare €\")"));
  EXPECT_TRUE(top->bounds.count("count(DISTINCT driver)"));
  EXPECT_TRUE(top->bounds.count("count(driver)"));
  EXPECT_FALSE(top->bounds.count("sum(tip)")) << "tips hold negative values";
  // The head holds every row of its values: its row count per code equals the relation's.
  Statement check;
  check.sql = "SELECT count(*) FROM (SELECT c.code, count(r.\"Straße\") AS n FROM " + engine::quote_identifier(top->codes_table) +
              " c JOIN rides r ON r.\"Straße\" IS NOT DISTINCT FROM c.v GROUP BY 1) a FULL JOIN (SELECT " + kTopCodeColumn +
              " AS code, count(\"Straße\") AS n FROM " + engine::quote_identifier(top->rows_table) +
              " GROUP BY 1) b USING (code) WHERE a.n IS DISTINCT FROM b.n";
  check.max_rows = 1;
  EXPECT_EQ(run(check)["rows"][0][0], 0);
}

TEST_F(TopValuesEquivalence, EveryTopNEqualsThePlainStatementOverTheRows) {
  const auto& d = project_->dashboards.at(0);
  std::mt19937 rng(5);
  auto pick = [&](std::vector<json> options) { return options[rng() % options.size()]; };
  std::map<std::string, int> from_head, from_rows;
  for (int state = 0; state < 60; ++state) {
    json filters = json::object();
    if (rng() % 2)
      filters["when"] = pick({json{{"from", "2023-03-26"}, {"to", "2023-10-29"}}, json{{"from", "2024-01-01"}}, json{{"to", "2023-02-14"}},
                              json{{"from", "2023-06-01"}, {"to", "2023-06-03"}}});
    if (rng() % 2) filters["zone"] = pick({json::array({"Mitte"}), json::array({"Pankow", "Spandau", "Kreuzberg"})});
    if (rng() % 3 == 0) filters["fare"] = pick({json::array({10, 20}), json::array({nullptr, 45})});
    if (rng() % 6 == 0) filters["street"] = pick({"ße 1", "7"});
    json body = {{"filters", filters}};
    if (rng() % 4 == 0) body["selections"] = json::array({{{"column", "passengers"}, {"values", json::array({1, 2})}}});
    auto request = parse_query_request(body);
    ASSERT_TRUE(request.has_value()) << request.error().message;
    for (const auto& w : d.pages.at(0).widgets) {
      if (w.type == config::WidgetType::Table) continue;
      auto with = plan_widget(d, w, **engine_, *request, Scope::local_development(), rollups_->get());
      auto without = plan_widget(d, w, **engine_, *request, Scope::local_development(), nullptr);
      ASSERT_TRUE(with.has_value() && without.has_value()) << w.id;
      if (w.id == "by_tips" || w.id == "fewest") {
        EXPECT_FALSE(with->prelude) << w.id << ": no bound holds for it";
      }
      Answer a = answer(*with);
      json b = run(without->data);
      (a.from_head ? from_head : from_rows)[w.id]++;
      const size_t limit = static_cast<size_t>(w.limit);
      EXPECT_EQ(stable(a.rows["rows"], 1, limit), stable(b["rows"], 1, limit)) << w.id << " " << body.dump();
      EXPECT_EQ(a.rows["columns"], b["columns"]) << w.id;
    }
  }
  for (const char* id : {"by_rides", "by_fares", "by_drivers", "by_driven"}) {
    EXPECT_GE(from_head[id], 15) << id << ": the head answered too rarely to be compared";
    EXPECT_GE(from_rows[id], 3) << id << ": the fallback to the rows was compared too rarely";
  }
}

TEST_F(TopValuesEquivalence, UnderARowPolicyTheHeadAnswersOnlyWithTheGrantedRows) {
  const auto& d = project_->dashboards.at(0);
  SqlFragment only_mitte{.sql = "zone = ?", .params = {std::string("Mitte")}};
  Scope scope = Scope::restricted({{"rides", only_mitte}}, {"rides/mitte"});
  Scope everyone = Scope::local_development();
  auto request = parse_query_request(json::object());
  ASSERT_TRUE(request.has_value());
  const auto& w = *d.find_widget("by_rides");
  auto scoped = plan_widget(d, w, **engine_, *request, scope, rollups_->get());
  ASSERT_TRUE(scoped.has_value());
  ASSERT_TRUE(scoped->prelude);
  Answer a = answer(*scoped);
  // The same question asked plainly, with the policy written as a filter.
  auto filtered = parse_query_request(json{{"filters", {{"zone", json::array({"Mitte"})}}}});
  ASSERT_TRUE(filtered.has_value());
  auto plain = plan_widget(d, w, **engine_, *filtered, everyone, nullptr);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(stable(a.rows["rows"], 1, 20), stable(run(plain->data)["rows"], 1, 20));
  EXPECT_NE(scoped->prelude->sql.find("zone = ?"), std::string::npos) << scoped->prelude->sql;
}

// A table sorted by a column shown under another name (`fare` for "fare €") takes its first
// page's bound from a rollup keeping each group's largest fare, as one sorted by a plain name
// does; nothing else here asks for the fares' extremes.
TEST_F(TopValuesEquivalence, ATableSortedByARenamedColumnTakesItsPageBoundFromARollup) {
  const auto& d = project_->dashboards.at(0);
  const auto& w = *d.find_widget("recent");
  ASSERT_TRUE(w.sort && w.sort->column == "fare");
  for (const char* f : {"max", "min"})
    EXPECT_TRUE(std::any_of((*rollups_)->all().begin(), (*rollups_)->all().end(),
                            [&](const Rollup& r) { return r.aggregates.count({f, "fare €"}) > 0; }))
        << f << ": the rollups keep each group's extremes of the column the table is sorted by";
  for (json filters : {json::object(), json{{"zone", json::array({"Mitte"})}}, json{{"zone", json::array({"Pankow", "Spandau"})}}}) {
    auto request = parse_query_request({{"filters", filters}});
    ASSERT_TRUE(request.has_value());
    auto with = plan_widget(d, w, **engine_, *request, Scope::local_development(), rollups_->get());
    auto without = plan_widget(d, w, **engine_, *request, Scope::local_development(), nullptr);
    ASSERT_TRUE(with.has_value() && without.has_value());
    ASSERT_TRUE(with->prelude);
    EXPECT_NE(with->prelude->sql.find("\"max__fare €\""), std::string::npos) << with->prelude->sql;
    ASSERT_TRUE(with->prelude_fallback) << "the plain top-N stays for when the rollup has too few groups";
    // The page: the second step with the bound found (or the fallback's), equal to the plain page.
    bool two_step = false;
    Statement page = testing::data_statement(**engine_, *with, &two_step);
    ASSERT_TRUE(two_step) << "a bound is found, from the rollup or the fallback";
    EXPECT_EQ(run(page), run(without->data)) << filters.dump();
  }
}

// A restart over the same data adopts the head from the state file: the same tables, the same
// bounds, the same answers.
TEST_F(TopValuesEquivalence, ARestartOverTheSameDataReusesTheHead) {
  const fs::path state = *dir_ / "state";
  std::stringstream sink;
  Logger log(sink);
  TopValues first;
  {
    auto built = engine::Engine::build(*project_, engine::EngineOptions{.state_dir = state});
    ASSERT_TRUE(built.engine);
    auto r = Rollups::build(*project_, built.engine, log, nullptr, {.min_source_rows = 0});
    ASSERT_NE(r->top_values("rides", "Straße"), nullptr);
    first = *r->top_values("rides", "Straße");
  }
  EXPECT_EQ(sink.str().find("rollups_reused"), std::string::npos);
  auto again = engine::Engine::build(*project_, engine::EngineOptions{.state_dir = state});
  ASSERT_TRUE(again.engine);
  auto r = Rollups::build(*project_, again.engine, log, nullptr, {.min_source_rows = 0});
  EXPECT_NE(sink.str().find("rollups_reused"), std::string::npos);
  const TopValues* top = r->top_values("rides", "Straße");
  ASSERT_NE(top, nullptr);
  EXPECT_EQ(top->rows_table, first.rows_table);
  EXPECT_EQ(top->codes_table, first.codes_table);
  EXPECT_EQ(top->bounds, first.bounds);
  EXPECT_EQ(top->values, first.values);
  const auto& d = project_->dashboards.at(0);
  auto request = parse_query_request(json{{"filters", {{"zone", json::array({"Mitte", "Pankow"})}}}});
  ASSERT_TRUE(request.has_value());
  auto with = plan_widget(d, *d.find_widget("by_rides"), *again.engine, *request, Scope::local_development(), r.get());
  auto without = plan_widget(d, *d.find_widget("by_rides"), *again.engine, *request, Scope::local_development(), nullptr);
  ASSERT_TRUE(with.has_value() && without.has_value());
  ASSERT_TRUE(with->prelude);
  bool from_head = false;
  Statement after = testing::data_statement(*again.engine, *with, &from_head);
  ASSERT_TRUE(from_head) << "two zones hold enough rides to prove the top 20 from the head";
  EXPECT_EQ(stable(testing::run_statement(*again.engine, after)["rows"], 1, 20),
            stable(testing::run_statement(*again.engine, without->data)["rows"], 1, 20));
}

}  // namespace
}  // namespace sightline::query
