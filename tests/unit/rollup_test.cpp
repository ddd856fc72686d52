#include "query/rollup.h"
#include "query/sql_widgets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "arrow/json_writer.h"
#include "config/project.h"
#include "demo/demo_data.h"
#include "engine/engine.h"
#include "query/planner.h"
#include "query/planner_internal.h"
#include "query/subset.h"
#include "demo_project.h"
#include "statement_runner.h"

namespace sightline::query {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

TEST(RollupMeasures, DecomposesOnlyWhatARollupCanAnswerExactly) {
  auto calls = decompose_measure("sum(revenue) / nullif(count(*), 0)");
  ASSERT_TRUE(calls.has_value());
  EXPECT_EQ(calls->size(), 2u);
  EXPECT_EQ((*calls)[0], (AggregateCall{"sum", "revenue"}));
  EXPECT_EQ((*calls)[1], (AggregateCall{"count", ""}));
  EXPECT_TRUE(decompose_measure("AVG(\"unit price\")").has_value());
  EXPECT_TRUE(decompose_measure("round(max(units) - min(units), 2)").has_value());
  auto distinct = decompose_measure("count(DISTINCT customer) + count(DISTINCT \"Straße\")");
  ASSERT_TRUE(distinct.has_value());
  EXPECT_EQ((*distinct)[0], (AggregateCall{"count_distinct", "customer"}));
  EXPECT_EQ((*distinct)[1], (AggregateCall{"count_distinct", "Straße"}));
  for (const char* no :
       {"count(DISTINCT customer, region)", "count(DISTINCT lower(customer))", "median(revenue)", "sum(revenue * units)", "revenue",
        "sum(revenue) FILTER (WHERE units > 1)", "sum(CASE WHEN x THEN 1 END)", "sum(sum(revenue))", "'a'", "quantile(revenue, 0.5)", ""}) {
    EXPECT_FALSE(decompose_measure(no).has_value()) << no;
  }
}

TEST(RollupMeasures, RewritesOverStoredAggregates) {
  Rollup r;
  r.table = "r";
  r.aggregates = {{"count", ""}, {"sum", "revenue"}, {"count", "revenue"}};
  auto sum = r.rewrite("sum(revenue) / count(*)");
  ASSERT_TRUE(sum.has_value());
  EXPECT_NE(sum->find("sum(\"sum__revenue\")"), std::string::npos) << *sum;
  EXPECT_NE(sum->find("sum(\"count_star\")"), std::string::npos) << *sum;
  EXPECT_TRUE(r.rewrite("avg(revenue)").has_value());
  EXPECT_FALSE(r.rewrite("sum(units)").has_value());  // not stored
  EXPECT_FALSE(r.rewrite("max(revenue)").has_value());
}

// The demo project over 60,000 generated rows, with rollups built as small as they come, so
// that many widget queries take the rollup path; every answer must equal the source's.
class RollupEquivalence : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(testing::copy_demo_project("rollup", 60'000, 7));
    auto loaded = config::load_project(*dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok());
    project_ = new config::Project(std::move(*loaded.project));
    auto built = engine::Engine::build(*project_);
    ASSERT_TRUE(built.engine);
    engine_ = new std::shared_ptr<const engine::Engine>(built.engine);
    static std::stringstream sink;
    static Logger log(sink);
    rollups_ =
        new std::shared_ptr<const Rollups>(Rollups::build(*project_, *engine_, log, nullptr, {.min_source_rows = 0, .min_reduction = 2}));
  }
  static void TearDownTestSuite() {
    delete rollups_;
    delete engine_;
    delete project_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  static json run(const Statement& st) { return testing::run_statement(**engine_, st); }

  static fs::path* dir_;
  static config::Project* project_;
  static std::shared_ptr<const engine::Engine>* engine_;
  static std::shared_ptr<const Rollups>* rollups_;
};
fs::path* RollupEquivalence::dir_ = nullptr;
config::Project* RollupEquivalence::project_ = nullptr;
std::shared_ptr<const engine::Engine>* RollupEquivalence::engine_ = nullptr;
std::shared_ptr<const Rollups>* RollupEquivalence::rollups_ = nullptr;

TEST_F(RollupEquivalence, EveryWidgetAnswersTheSameFromRollupsAndSource) {
  ASSERT_FALSE((*rollups_)->all().empty()) << "the test needs rollups to compare against";
  if (getenv("ROLLUP_DEBUG"))
    for (const auto& r : (*rollups_)->all()) {
      std::cerr << r.relation << " " << r.rows << (r.grains.empty() ? " day" : " month") << ":";
      for (const auto& c : r.columns) std::cerr << " " << c;
      std::cerr << "\n";
    }
  std::mt19937 rng(11);
  auto pick = [&](std::vector<json> options) { return options[rng() % options.size()]; };
  int via_rollup = 0, via_month_rollup = 0, compared = 0, aggregate_queries = 0, two_step = 0, split_by_months = 0, split_by_rollups = 0;
  for (int state = 0; state < 25; ++state) {
    json filters = json::object();
    if (rng() % 2) filters["region"] = pick({"North", "South", "East", "West", "Central"});
    if (rng() % 2)
      filters["channel"] = pick({json::array({"Online"}), json::array({"Retail", "Partner"}), json::array({nullptr, "Direct"})});
    if (rng() % 2) filters["category"] = pick({json::array({"Electronics"}), json::array({"Toys", "Garden", "Books"})});
    if (rng() % 2)
      filters["period"] = pick({json{{"from", "2024-02-10"}, {"to", "2024-09-03"}}, json{{"from", "2025-06-01"}},
                                json{{"to", "2023-03-31"}}, json{{"from", "2024-02-01"}, {"to", "2024-04-30"}}, json{{"from", "2024-03-17"}},
                                json{{"to", "2023-05-09"}}});
    if (rng() % 3 == 0) filters["units"] = pick({json::array({2, 9}), json::array({nullptr, 3}), json::array({10, nullptr})});
    if (rng() % 5 == 0) filters["product"] = pick({"pro", "ULTRA", "a"});
    json body = {{"filters", filters}};
    if (rng() % 3 == 0) body["selections"] = json::array({{{"column", "country"}, {"values", json::array({"Germany", "Japan"})}}});
    if (rng() % 2) {
      body["offset"] = pick({0, 30, 200});
      body["limit"] = pick({10, 50});
      if (rng() % 2) body["sort"] = json::array({{{"column", "revenue"}, {"desc", rng() % 2 == 0}}});
    }
    auto request = parse_query_request(body);
    ASSERT_TRUE(request.has_value()) << request.error().message;
    for (const auto& d : project_->dashboards) {
      for (const auto& p : d.pages) {
        for (const auto& w : p.widgets) {
          if (w.type == config::WidgetType::Text) continue;
          QueryRequest req = *request;
          req.filters = json::object();
          for (auto it = request->filters.begin(); it != request->filters.end(); ++it)
            if (d.find_filter(it.key())) req.filters[it.key()] = it.value();
          std::vector<Selection> sels;
          for (const auto& s : req.selections)
            if (std::find(d.dimensions.begin(), d.dimensions.end(), s.column) != d.dimensions.end()) sels.push_back(s);
          req.selections = sels;
          auto with = plan_widget(d, w, **engine_, req, Scope::local_development(), rollups_->get());
          auto without = plan_widget(d, w, **engine_, req, Scope::local_development(), nullptr);
          ASSERT_TRUE(with.has_value() && without.has_value());
          bool aggregate = w.sql.empty() && w.type != config::WidgetType::Table && w.type != config::WidgetType::Scatter &&
                           w.type != config::WidgetType::Histogram;
          if (aggregate) ++aggregate_queries;
          if (with->read_from != without->read_from) ++via_rollup;
          // Arbitrary days answered as whole months of a rollup plus the rows around them.
          if (with->read_from.find("+" + without->read_from) != std::string::npos && with->read_from.starts_with("__sightline_rollup_"))
            ++split_by_months;
          // ... or the days around them from a finer rollup (two rollups read).
          if (with->read_from.starts_with("__sightline_rollup_") && with->read_from.find("+__sightline_rollup_") != std::string::npos)
            ++split_by_rollups;
          for (const auto& r : (*rollups_)->all())
            if (r.table == with->read_from && !r.grains.empty())
              ++via_month_rollup;
            else if (aggregate && getenv("ROLLUP_DEBUG"))
              std::cerr << d.id << "/" << w.id << " " << body.dump() << "\n";
          json a = run(with->data), b = run(without->data);
          EXPECT_EQ(a, b) << d.id << "/" << w.id << " state " << state << " via " << with->read_from << "\n" << with->data.sql;
          if (with->count) {
            EXPECT_EQ(run(*with->count), run(*without->count)) << w.id;
          }
          if (with->prelude) {
            // Two-step plans give the same answer as one statement. Here these are table pages
            // bounded by their sort value: the demo's histogram counts fixed bins in one statement.
            bool took_two_steps = false;
            Statement past = testing::data_statement(**engine_, *with, &took_two_steps);
            if (took_two_steps) {
              EXPECT_EQ(run(past), b) << w.id << " state " << state << "\n" << with->prelude->sql;
              ++two_step;
            }
          }
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 300);
  // At this size the rollups are narrow (three columns), so only part of the states fit one; the
  // comparison is only meaningful if a good number of answers did come from rollups.
  EXPECT_GE(via_rollup, 60) << "of " << aggregate_queries << " aggregate widget queries";
  EXPECT_GE(via_month_rollup, 10) << "month-grain rollups answered too few queries to be compared";
  // Ten at this seed (fewer than before fixed bins: histograms no longer take two steps).
  EXPECT_GE(two_step, 8) << "two-step plans were compared too rarely";
  EXPECT_GE(split_by_months, 5) << "ranges of arbitrary days split into months and days were compared too rarely";
  EXPECT_GE(split_by_rollups, 5) << "ranges split into months and days of a finer rollup were compared too rarely";
}

TEST_F(RollupEquivalence, TablePagesBoundedByRollupExtremesAreExact) {
  const auto& d = *project_->find_dashboard("sales");
  const auto& table = *d.find_widget("orders_table");
  int from_rollup = 0;
  for (json filters : {json::object(), json{{"region", "North"}}, json{{"period", {{"from", "2024-01-01"}, {"to", "2024-12-31"}}}},
                       json{{"channel", {"Online"}}, {"period", {{"from", "2024-03-05"}, {"to", "2024-03-20"}}}}}) {
    for (bool desc : {true, false}) {
      for (int offset : {0, 7, 120}) {
        json body = {{"filters", filters}, {"sort", {{{"column", "revenue"}, {"desc", desc}}}}, {"offset", offset}, {"limit", 25}};
        auto req = parse_query_request(body);
        auto with = plan_widget(d, table, **engine_, *req, Scope::local_development(), rollups_->get());
        auto without = plan_widget(d, table, **engine_, *req, Scope::local_development(), nullptr);
        ASSERT_TRUE(with->prelude.has_value());
        if (with->prelude->sql.find("__sightline_rollup_") != std::string::npos) ++from_rollup;
        json t = run(*with->prelude);
        if (t["rows"].empty()) {
          // The rollup had fewer groups than the page reaches: the source's threshold follows.
          ASSERT_TRUE(with->prelude_fallback.has_value()) << body.dump();
          t = run(*with->prelude_fallback);
          --from_rollup;
        }
        ASSERT_FALSE(t["rows"].empty()) << body.dump();
        ASSERT_TRUE(t["rows"][0][0].is_string());
        Statement past = *with->data_after_prelude;
        past.params.push_back(t["rows"][0][0].get<std::string>());
        json expected = run(without->data);
        EXPECT_EQ(run(past), expected) << body.dump();
        EXPECT_EQ(expected["rows"].size(), 25u);
      }
    }
  }
  // Only filter states matching at least ten groups per row of reach take the rollup's bound.
  EXPECT_GE(from_rollup, 4) << "the bound should come from a rollup for the broad filter states";
  EXPECT_LT(from_rollup, 24) << "and the fallback to the source should have been exercised too";
}

TEST_F(RollupEquivalence, SubsetsOfFilteredRowsAnswerLikeTheSource) {
  const auto& d = *project_->find_dashboard("sales");
  const engine::Relation& orders = *(*engine_)->relation("orders");
  std::stringstream sink;
  Logger log(sink);
  SubsetCache subsets(*engine_, log, {.max_subsets = 2, .max_rows = 1'000'000});
  auto table_exists = [&](const std::string& name) {
    json r = run(Statement{"SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", {name}, 1});
    return r["rows"][0][0] != 0;
  };
  std::string first_table;
  int compared = 0;
  for (json body : {json{{"filters", {{"product", "pro"}, {"units", {2, 9}}}}},
                    json{{"filters", {{"product", "ULTRA"}, {"period", {{"from", "2024-04-01"}, {"to", "2024-06-30"}}}}},
                         {"selections", {{{"column", "channel"}, {"values", {"Online"}}, {"widget", "by_channel"}}}}},
                    json{{"filters", {{"region", "North"}, {"channel", {"Retail", "Partner"}}, {"units", {nullptr, 20}}}},
                         {"sort", {{{"column", "revenue"}, {"desc", true}}}},
                         {"offset", 5},
                         {"limit", 20}}}) {
    auto req = parse_query_request(body);
    ASSERT_TRUE(req.has_value()) << req.error().message;
    // Each widget's subset holds the rows its filters and the selections of other widgets keep:
    // widgets that see the same selections share one; the widget a pick was made on gets its own.
    std::map<std::string, int64_t> rows_by_table;
    for (const auto& p : d.pages) {
      for (const auto& w : p.widgets) {
        if (w.type == config::WidgetType::Text) continue;
        auto where = filter_predicate(d, orders, *req, w.id);
        ASSERT_TRUE(where.has_value());
        auto subset = subsets.get(orders, where->sql, where->params, Scope::local_development(), 0, "test");
        ASSERT_TRUE(subset.has_value()) << subset.error().message;
        auto again = subsets.get(orders, where->sql, where->params, Scope::local_development(), 0, "test");
        ASSERT_TRUE(again.has_value());
        EXPECT_EQ(subset->get(), again->get()) << "the same conditions share one subset";
        EXPECT_GT((*subset)->rows(), 0);
        EXPECT_LT((*subset)->rows(), 60'000);
        rows_by_table[(*subset)->relation().name] = (*subset)->rows();
        if (first_table.empty()) first_table = (*subset)->relation().name;
        auto from_subset = plan_widget(d, w, **engine_, *req, Scope::local_development(), nullptr, nullptr, &(*subset)->relation());
        auto from_source = plan_widget(d, w, **engine_, *req, Scope::local_development(), nullptr);
        ASSERT_TRUE(from_subset.has_value() && from_source.has_value()) << w.id;
        EXPECT_NE(from_subset->data.sql.find((*subset)->relation().name), std::string::npos) << w.id;
        EXPECT_EQ(from_subset->data.sql.find(" IN ("), std::string::npos) << w.id << ": no condition is left over a subset";
        EXPECT_EQ(run(from_subset->data), run(from_source->data)) << w.id << " " << body.dump();
        if (from_subset->count) {
          EXPECT_EQ(run(*from_subset->count), run(*from_source->count)) << w.id;
        }
        ++compared;
      }
    }
    // A pick on a chart narrows every subset but that chart's own.
    EXPECT_EQ(rows_by_table.size(), req->selections.empty() ? 1u : 2u) << body.dump();
    if (rows_by_table.size() == 2) {
      EXPECT_NE(rows_by_table.begin()->second, std::next(rows_by_table.begin())->second);
    }
  }
  EXPECT_GE(compared, 30);
  // Two subsets at most: the first was evicted, and its table dropped once nobody held it.
  EXPECT_EQ(subsets.size(), 2u);
  EXPECT_FALSE(table_exists(first_table));

  // A search with more matches than an IN list takes selects the rows by searching the distinct
  // values (the server does so past kMaxTextMatches matches): a subset made with that predicate
  // answers like the source too.
  const std::string* values = (*rollups_)->value_table("orders", "product");
  ASSERT_NE(values, nullptr);
  auto req = parse_query_request({{"filters", {{"product", "e"}, {"region", "West"}}}});
  ASSERT_TRUE(req.has_value());
  QueryRequest searched = *req;
  searched.text_match_tables["product"] = *values;
  searched.text_matches_relation = "orders";
  auto where = filter_predicate(d, orders, searched, "orders");
  ASSERT_TRUE(where.has_value());
  ASSERT_NE(where->sql.find(*values), std::string::npos) << "the predicate searches the value table: " << where->sql;
  auto subset = subsets.get(orders, where->sql, where->params, Scope::local_development(), 0, "test");
  ASSERT_TRUE(subset.has_value()) << subset.error().message;
  EXPECT_GT((*subset)->rows(), 0);
  for (const char* id : {"orders", "top_products", "orders_table"}) {
    const auto& w = *d.find_widget(id);
    auto from_subset = plan_widget(d, w, **engine_, searched, Scope::local_development(), nullptr, nullptr, &(*subset)->relation());
    auto from_source = plan_widget(d, w, **engine_, *req, Scope::local_development(), nullptr);
    ASSERT_TRUE(from_subset.has_value() && from_source.has_value()) << id;
    EXPECT_EQ(run(from_subset->data), run(from_source->data)) << id;
  }
}

// A state with a closed period on a dashboard with compared KPIs gets a subset reaching back over
// the previous period: both periods of those KPIs read it, every widget applies the period again,
// and every answer equals the one over the source.
TEST_F(RollupEquivalence, ASubsetWidenedOverThePreviousPeriodAnswersLikeTheSource) {
  const auto& d = *project_->find_dashboard("sales");
  const engine::Relation& orders = *(*engine_)->relation("orders");
  std::stringstream sink;
  Logger log(sink);
  SubsetCache subsets(*engine_, log, {.max_subsets = 8, .max_rows = 1'000'000});
  const json period = {{"from", "2024-02-10"}, {"to", "2024-05-03"}};
  int widened = 0;
  for (json body : {json{{"filters", {{"product", "pro"}, {"period", period}}}},
                    json{{"filters", {{"region", "North"}, {"period", period}}},
                         {"selections", {{{"column", "channel"}, {"values", {"Online"}}, {"widget", "by_channel"}}}}},
                    // A pick on the period's own column: the comparison leaves it out, so the
                    // subset of the widgets that see it cannot hold the previous period.
                    json{{"filters", {{"period", period}}},
                         {"selections", {{{"column", "order_date"}, {"range", {"2024-03-01", "2024-03-31"}}, {"widget", "trend"}}}}},
                    // No closed period: nothing to widen.
                    json{{"filters", {{"period", {{"from", "2024-02-10"}}}, {"channel", {"Online"}}}}}}) {
    auto req = parse_query_request(body);
    ASSERT_TRUE(req.has_value()) << req.error().message;
    for (const auto& p : d.pages) {
      for (const auto& w : p.widgets) {
        if (w.type == config::WidgetType::Text) continue;
        QueryRequest wide = subset_request(d, *req, w.id);
        const bool sees_pick_on_period =
            !req->selections.empty() && req->selections[0].column == "order_date" && req->selections[0].widget != w.id;
        const bool closed = body["filters"]["period"].contains("to");
        EXPECT_EQ(wide.subset_widened_filter, closed && !sees_pick_on_period ? "period" : "") << w.id << " " << body.dump();
        if (!wide.subset_widened_filter.empty()) {
          EXPECT_EQ(wide.filters["period"]["from"], "2023-11-18") << "84 days back (2024 is a leap year): the previous period's first day";
          EXPECT_EQ(wide.filters["period"]["to"], "2024-05-03");
          ++widened;
        }
        auto where = filter_predicate(d, orders, wide, w.id);
        ASSERT_TRUE(where.has_value());
        auto subset = subsets.get(orders, where->sql, where->params, Scope::local_development(), 0, "test");
        ASSERT_TRUE(subset.has_value()) << subset.error().message;
        QueryRequest planned = *req;
        planned.subset_widened_filter = wide.subset_widened_filter;
        auto from_subset = plan_widget(d, w, **engine_, planned, Scope::local_development(), nullptr, nullptr, &(*subset)->relation());
        auto from_source = plan_widget(d, w, **engine_, *req, Scope::local_development(), nullptr);
        ASSERT_TRUE(from_subset.has_value() && from_source.has_value()) << w.id;
        EXPECT_EQ(run(from_subset->data), run(from_source->data)) << w.id << " " << body.dump();
        if (from_subset->count) {
          EXPECT_EQ(run(*from_subset->count), run(*from_source->count)) << w.id;
        }
        if (!w.compare_filter.empty() && closed) {  // an open period is compared with nothing
          const bool reads_source = from_subset->read_from.find("+orders") != std::string::npos;
          EXPECT_EQ(reads_source, wide.subset_widened_filter.empty())
              << w.id << ": the previous period reads the subset when it holds it: " << from_subset->read_from;
        }
      }
    }
  }
  EXPECT_GE(widened, 20);
}

TEST_F(RollupEquivalence, ValueTablesServeTextSearchAndOptions) {
  const auto& d = *project_->find_dashboard("sales");
  const std::string* values = (*rollups_)->value_table("orders", "product");
  ASSERT_NE(values, nullptr);
  for (const char* search : {"ultra", "zzz-no-such-product", "a"}) {
    // What the server does before planning: look the search up among the distinct values.
    json found = run(Statement{
        "SELECT v FROM " + engine::quote_identifier(*values) + " WHERE contains(lower(CAST(v AS VARCHAR)), lower(?)) ORDER BY v LIMIT 1001",
        {std::string(search)},
        1001});
    auto req = parse_query_request({{"filters", {{"product", search}}}});
    QueryRequest resolved = *req;
    bool few = found["rows"].size() <= kMaxTextMatches;  // more: the server searches the rows
    if (few) {
      resolved.text_matches["product"];  // present even when nothing matched
      for (const auto& row : found["rows"]) resolved.text_matches["product"].push_back(row[0].get<std::string>());
      resolved.text_matches_relation = "orders";
    }
    for (const char* widget : {"orders", "top_products", "trend"}) {
      auto with = plan_widget(d, *d.find_widget(widget), **engine_, resolved, Scope::local_development(), rollups_->get());
      auto without = plan_widget(d, *d.find_widget(widget), **engine_, *req, Scope::local_development(), nullptr);
      EXPECT_EQ(with->data.sql.find("contains(") == std::string::npos, few) << with->data.sql;
      EXPECT_EQ(run(with->data), run(without->data)) << search << " " << widget;
    }
  }
  auto opts_with = plan_filter_options(d, *d.find_filter("region"), **engine_, "th", 10, Scope::local_development(), rollups_->get());
  auto opts_without = plan_filter_options(d, *d.find_filter("region"), **engine_, "th", 10, Scope::local_development(), nullptr);
  EXPECT_NE(opts_with->sql.find("__sightline_values_"), std::string::npos);
  EXPECT_EQ(run(*opts_with), run(*opts_without));
}

}  // namespace
}  // namespace sightline::query

namespace sightline::query {
namespace {

// Timestamps with a time zone, in a zone with daylight saving time: rollups keep them by the
// hour and by the day in the project's zone, and every answer equals the one over the rows,
// also on the days the clocks change and for ranges of arbitrary days split around months.
class TimeBucketEquivalence : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-time-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "dashboards");
    fs::create_directories(dir_ / "data");
    {
      auto db = engine::Database::open(":memory:", {.threads = 2});
      ASSERT_TRUE(db.has_value());
      auto conn = engine::Connection::open(**db);
      ASSERT_TRUE(conn.has_value());
      // Two years of trips every ~17 minutes, fares as decimals, some zones and fares NULL.
      auto made = (*conn)->execute(
          "COPY (SELECT TIMESTAMPTZ '2023-01-01 00:00:00+00' + to_seconds(CAST(range * 1021 % 63072000 AS BIGINT)) AS \"pickup at\", "
          "CASE WHEN range % 11 = 0 THEN NULL ELSE ['Mitte', 'Kreuzberg', 'Pankow'][1 + range % 3] END AS zone, "
          "CASE WHEN range % 17 = 0 THEN NULL ELSE CAST((range % 977) / 10.0 AS DECIMAL(9, 2)) END AS \"fare ($)\", "
          "CAST(range * 7 % 90 AS INTEGER) AS minutes, "
          "CASE WHEN range % 23 = 0 THEN NULL ELSE ln(1 + range % 1000) * 3.3 END AS km "
          "FROM range(120000)) TO " +
          engine::quote_literal((dir_ / "data" / "trips.parquet").string()) + " (FORMAT parquet)");
      ASSERT_TRUE(made.has_value()) << made.error().for_author();
    }
    std::ofstream(dir_ / "sightline.yaml") << "timezone: Europe/Berlin\nsources:\n  trips:\n    path: data/trips.parquet\n"
                                              "    materialize: true\ndashboards: dashboards/*.yaml\n";
    std::ofstream(dir_ / "dashboards" / "trips.yaml") << R"yaml(id: trips
title: Trips
source: trips
filters:
  - { id: when, type: daterange, column: pickup at }
  - { id: zone, type: select, column: zone }
  - { id: fare, type: range, column: fare ($) }
  - { id: km, type: range, column: km }
widgets:
  - { id: fares, type: kpi, measure: sum("fare ($)") }
  - { id: trips, type: kpi, measure: count(*), compare: previous_period }
  - { id: by_hour, type: line, x: { column: pickup at, grain: hour }, y: count(*) }
  - { id: by_day, type: line, x: { column: pickup at, grain: day }, y: sum("fare ($)") }
  - { id: by_month, type: bar, x: { column: pickup at, grain: month }, y: max("fare ($)"), color: zone }
  - { id: fares_histogram, type: histogram, column: fare ($), bins: 25 }
  - { id: zones, type: table, columns: [zone, { column: pickup at, grain: month, as: month }], measure: [{ expr: count(*), as: n }, { expr: 'count(DISTINCT "fare ($)")', as: fares }], sort: -n }
  - { id: recent, type: table, columns: [{ column: pickup at, as: pickup }, zone, { column: fare ($), as: fare }, minutes], sort: -fare, limit: 20 }
  - { id: minutes_histogram, type: histogram, column: minutes, bins: 10 }
)yaml";
    std::ofstream(dir_ / "dashboards" / "sql.yaml") << R"yaml(id: trips_sql
title: Trips (own SQL)
source: trips
filters:
  - { id: when, type: daterange, column: pickup at }
  - { id: zone, type: select, column: zone }
widgets:
  - id: hours_sql
    type: bar
    sql: |
      SELECT hour("pickup at") AS "local hour", count(*) AS n, count(DISTINCT "fare ($)") AS fares, sum("fare ($)") AS total
      FROM trips WHERE {{ filters }} GROUP BY 1 ORDER BY 1
  - id: weekdays_sql
    type: table
    sql: |
      SELECT isodow("pickup at") AS weekday, month("pickup at") AS month, count(*) AS n, max(km) AS longest
      FROM trips WHERE {{ filters }} GROUP BY ALL
)yaml";
    std::ofstream(dir_ / "dashboards" / "approx.yaml") << R"yaml(id: trips_approx
title: Trips (approximate)
source: trips
filters:
  - { id: zone, type: select, column: zone }
widgets:
  - { id: fares_seen, type: kpi, measure: { expr: 'count(DISTINCT "fare ($)")', as: fares, approx: true } }
  - { id: fares_by_zone, type: bar, x: zone, y: { expr: 'COUNT( distinct "fare ($)")', as: fares, approx: true } }
)yaml";
    auto loaded = config::load_project(dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : loaded.diagnostics[0].message);
    project_ = std::move(*loaded.project);
    auto built = engine::Engine::build(project_);
    ASSERT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : built.diagnostics[0].message);
    engine_ = built.engine;
    rollups_ = Rollups::build(project_, engine_, log_, nullptr, {.min_source_rows = 0, .min_reduction = 2, .progress = &progress_});
  }
  void TearDown() override {
    rollups_.reset();
    engine_.reset();
    fs::remove_all(dir_);
  }
  // A plan's whole answer as the query layer gives it: a two-step plan's second statement with
  // the first one's values (or the plain one), and the count.
  json answer(const WidgetPlan& plan) {
    return {{"data", run(testing::data_statement(*engine_, plan))}, {"count", plan.count ? run(*plan.count) : json()}};
  }
  json run(const Statement& st) { return testing::run_statement(*engine_, st); }

  fs::path dir_;
  config::Project project_;
  std::shared_ptr<const engine::Engine> engine_;
  std::stringstream sink_;
  Logger log_{sink_};
  std::shared_ptr<const Rollups> rollups_;
  BuildProgress progress_;
};

TEST(ApproximateDistinctCounts, RewritesEachDistinctCountAndNothingElse) {
  EXPECT_EQ(detail::approximate_distinct_counts("count(DISTINCT customer)"),
            "sightline_hll_count(CASE WHEN (customer) IS NULL THEN NULL ELSE hash(customer) END)");
  EXPECT_EQ(detail::approximate_distinct_counts("COUNT( distinct lower(\"a)b\")) / nullif(count(*), 0)"),
            "sightline_hll_count(CASE WHEN (lower(\"a)b\")) IS NULL THEN NULL ELSE hash(lower(\"a)b\")) END) / nullif(count(*), 0)");
  EXPECT_EQ(detail::approximate_distinct_counts("count(DISTINCT a, b) + count(DISTINCT c)"),
            "count(DISTINCT a, b) + sightline_hll_count(CASE WHEN (c) IS NULL THEN NULL ELSE hash(c) END)");
  EXPECT_EQ(detail::approximate_distinct_counts("sum(x)"), "sum(x)");
  EXPECT_EQ(detail::approximate_distinct_counts("count(DISTINCT (x"), "count(DISTINCT (x") << "unbalanced: left for the engine to refuse";
}

// `approx: true`: HyperLogLog where rows are read (a few percent off), exact from rollups.
TEST_F(TimeBucketEquivalence, ApproximateDistinctCountsAreApproximateOnlyWhereRowsAreRead) {
  const auto& d = *project_.find_dashboard("trips_approx");
  for (json filters : {json::object(), json{{"zone", "Pankow"}}}) {
    auto req = parse_query_request({{"filters", filters}});
    ASSERT_TRUE(req.has_value());
    json exact = run(Statement{std::string("SELECT count(DISTINCT \"fare ($)\") FROM trips") + (filters.empty() ? "" : " WHERE zone = 'Pankow'"), {}, 1});
    const double truth = exact["rows"][0][0].get<double>();
    ASSERT_GT(truth, 500);
    for (const char* id : {"fares_seen", "fares_by_zone"}) {
      const auto& w = *d.find_widget(id);
      auto rows = plan_widget(d, w, *engine_, *req, Scope::local_development(), nullptr);
      ASSERT_TRUE(rows.has_value());
      EXPECT_NE(rows->data.sql.find("sightline_hll_count(CASE WHEN (\"fare ($)\") IS NULL THEN NULL ELSE hash(\"fare ($)\") END)"),
                std::string::npos)
          << rows->data.sql;
      auto pre = plan_widget(d, w, *engine_, *req, Scope::local_development(), rollups_.get());
      ASSERT_TRUE(pre.has_value());
      EXPECT_TRUE(pre->read_from.starts_with("__sightline_rollup_")) << id << " " << pre->read_from;
      EXPECT_EQ(pre->data.sql.find("sightline_hll_count"), std::string::npos) << pre->data.sql;
      if (std::string(id) == "fares_seen") {
        const double approx = run(rows->data)["rows"][0][0].get<double>();
        EXPECT_NE(approx, 0);
        EXPECT_NEAR(approx, truth, truth * 0.05) << "HyperLogLog of 4,096 registers: about 1.6 % standard error";
        EXPECT_EQ(run(pre->data)["rows"][0][0].get<double>(), truth) << "rollups stay exact";
      }
    }
  }
}

// Own SQL grouped by hour(), isodow() or month() of a TIMESTAMPTZ is planned as the declarative
// widget it equals (grains hour_of_day, day_of_week, month_of_year), answered from rollups that
// keep the timestamp by the hour or the day, and equal to the SQL as written, DST days included.
TEST_F(TimeBucketEquivalence, OwnSqlByHourOfDayAndWeekdayAnswersLikeTheSqlFromRollups) {
  const auto& d = *project_.find_dashboard("trips_sql");
  SqlWidgetEquivalents equivalents = declarative_equivalents(project_, *engine_);
  ASSERT_TRUE(equivalents.count("trips_sql/hours_sql"));
  ASSERT_TRUE(equivalents.count("trips_sql/weekdays_sql"));
  EXPECT_EQ(equivalents.at("trips_sql/hours_sql").x->grain, "hour_of_day");
  EXPECT_EQ(equivalents.at("trips_sql/weekdays_sql").columns[0].grain, "day_of_week");
  EXPECT_EQ(equivalents.at("trips_sql/weekdays_sql").columns[1].grain, "month_of_year");
  auto rollups = Rollups::build(with_equivalents(project_, equivalents), engine_, log_, nullptr, {.min_source_rows = 0, .min_reduction = 2});
  int from_rollup = 0;
  for (json when : {json::object(), json{{"from", "2023-03-26"}, {"to", "2023-03-26"}}, json{{"from", "2024-10-27"}, {"to", "2024-10-27"}},
                    json{{"from", "2023-10-15"}, {"to", "2024-04-09"}}}) {
    for (json zone : {json(), json("Mitte")}) {
      json filters = json::object();
      if (!when.empty()) filters["when"] = when;
      if (!zone.is_null()) filters["zone"] = zone;
      auto req = parse_query_request({{"filters", filters}});
      ASSERT_TRUE(req.has_value());
      for (const char* id : {"hours_sql", "weekdays_sql"}) {
        const auto& own = *d.find_widget(id);
        const auto& equivalent = equivalents.at(std::string("trips_sql/") + id);
        auto as_written = plan_widget(d, own, *engine_, *req, Scope::local_development(), nullptr);
        auto rows = plan_widget(d, equivalent, *engine_, *req, Scope::local_development(), nullptr);
        auto rolled = plan_widget(d, equivalent, *engine_, *req, Scope::local_development(), rollups.get());
        ASSERT_TRUE(as_written && rows && rolled) << id;
        if (rolled->read_from.starts_with("__sightline_rollup_")) ++from_rollup;
        json expected = run(as_written->data);
        // The table has no ORDER BY: compare its rows as a set.
        auto sorted = [](json answer) {
          std::sort(answer["rows"].begin(), answer["rows"].end(), [](const json& a, const json& b) { return a.dump() < b.dump(); });
          return answer;
        };
        EXPECT_EQ(sorted(run(rows->data)), sorted(expected)) << id << " " << filters.dump() << "\n" << rows->data.sql;
        EXPECT_EQ(sorted(run(rolled->data)), sorted(expected)) << id << " " << filters.dump() << " via " << rolled->read_from << "\n"
                                                               << rolled->data.sql;
        if (std::string(id) == "hours_sql") {
          EXPECT_EQ(run(rolled->data), expected) << "ordered by the hour";
          EXPECT_NE(rows->data.sql.find("sightline_part_hour"), std::string::npos) << rows->data.sql;
        }
      }
    }
  }
  EXPECT_GE(from_rollup, 8) << "most states are answered from rollups";
}

TEST_F(TimeBucketEquivalence, ABuildReportsItsProgressAndAReuseReportsItDone) {
  EXPECT_EQ(progress_.dashboards.load(), 3);
  EXPECT_EQ(progress_.dashboards_done.load(), 3);
  EXPECT_EQ(progress_.built.load(), static_cast<int>(rollups_->all().size()));
  EXPECT_GE(progress_.built.load(), 3);
  BuildProgress again;
  auto reused = Rollups::build(project_, engine_, log_, rollups_, {.min_source_rows = 0, .min_reduction = 2, .progress = &again});
  EXPECT_EQ(reused.get(), rollups_.get()) << "nothing changed: the same rollups";
  EXPECT_EQ(again.dashboards_done.load(), 3);
  EXPECT_EQ(again.built.load(), static_cast<int>(rollups_->all().size()));
}

TEST_F(TimeBucketEquivalence, HourDayAndMonthBucketsAnswerLikeTheRowsAcrossDaylightSavingTime) {
  ASSERT_FALSE(rollups_->all().empty());
  bool by_hour = false;
  for (const auto& r : rollups_->all()) by_hour = by_hour || r.grain_of("pickup at") == Grain::Hour;
  EXPECT_TRUE(by_hour) << "a chart by the hour makes the rollups keep hours";
  const auto& d = *project_.find_dashboard("trips");
  int from_rollup = 0, compared = 0;
  // The spring-forward and fall-back days of 2023 and 2024 in Berlin, arbitrary ranges, whole months.
  for (json when : {json::object(), json{{"from", "2023-03-26"}, {"to", "2023-03-26"}}, json{{"from", "2024-10-27"}, {"to", "2024-10-27"}},
                    json{{"from", "2023-02-11"}, {"to", "2023-06-03"}}, json{{"from", "2024-01-01"}, {"to", "2024-03-31"}},
                    json{{"from", "2023-10-15"}, {"to", "2024-04-09"}}, json{{"from", "2024-12-30"}}}) {
    for (json zone : {json(), json("Mitte")}) {
      json filters = json::object();
      if (!when.empty()) filters["when"] = when;
      if (!zone.is_null()) filters["zone"] = zone;
      auto req = parse_query_request({{"filters", filters}});
      ASSERT_TRUE(req.has_value());
      for (const auto& p : d.pages)
        for (const auto& w : p.widgets) {
          auto with = plan_widget(d, w, *engine_, *req, Scope::local_development(), rollups_.get());
          auto without = plan_widget(d, w, *engine_, *req, Scope::local_development(), nullptr);
          ASSERT_TRUE(with.has_value() && without.has_value()) << w.id;
          if (with->read_from.starts_with("__sightline_rollup_"))
            ++from_rollup;
          else if (getenv("ROLLUP_DEBUG"))
            std::cerr << w.id << " " << filters.dump() << "\n";
          EXPECT_EQ(answer(*with), answer(*without)) << w.id << " " << filters.dump() << " via " << with->read_from << "\n"
                                                     << with->data.sql;
          if (with->count) {
            EXPECT_EQ(run(*with->count), run(*without->count)) << w.id << " " << filters.dump();
          }
          ++compared;
        }
    }
  }
  EXPECT_EQ(compared, 126);
  // All but the hours of one zone (hours x zones are too many groups for rows this few).
  EXPECT_GE(from_rollup, 91) << "hour, day and month buckets answer the rest, grouped tables and histograms included";
}

// A range filter on a continuous column whose ends are bin edges (as the slider picks them) is
// answered from rollups that keep the column's bins; ends typed between edges read the rows;
// every answer equals the rows'.
TEST_F(TimeBucketEquivalence, RangesOnBinEdgesAreAnsweredByBinnedRollups) {
  const engine::ColumnBins* bins = engine_->relation("trips")->bins_of("fare ($)");
  ASSERT_NE(bins, nullptr) << "a range filter and a histogram give the column fixed bins";
  ASSERT_GE(bins->edges.size(), 20u);
  EXPECT_LE(bins->edges.front(), 0.0);
  EXPECT_GT(bins->edges.back(), 97.6) << "the last bin holds the maximum";
  bool binned = false;
  for (const auto& r : rollups_->all()) binned = binned || r.grain_of("fare ($)") == Grain::Bins;
  ASSERT_TRUE(binned);
  const auto& e = bins->edges;
  const auto& d = *project_.find_dashboard("trips");
  int aligned_from_rollup = 0, typed_from_rows = 0;
  for (json fare : {json::array({e[2], e[9]}), json::array({e[0], e[1]}), json::array({nullptr, e[4]}), json::array({e[11], nullptr}),
                    json::array({e[3], e[3]}), json::array({e[2] + 0.01, e[9]}), json::array({e[1], e[5] - 0.5})}) {
    for (json zone : {json(), json("Pankow")}) {
      json filters = {{"fare", fare}};
      if (!zone.is_null()) filters["zone"] = zone;
      auto req = parse_query_request({{"filters", filters}});
      ASSERT_TRUE(req.has_value()) << filters.dump();
      const bool aligned = (fare[0].is_null() || bins->edge_index(fare[0].get<double>())) && (fare[1].is_null() || bins->edge_index(fare[1].get<double>()));
      for (const auto& p : d.pages)
        for (const auto& w : p.widgets) {
          auto with = plan_widget(d, w, *engine_, *req, Scope::local_development(), rollups_.get());
          auto without = plan_widget(d, w, *engine_, *req, Scope::local_development(), nullptr);
          ASSERT_TRUE(with.has_value() && without.has_value()) << w.id;
          const bool from_rollup = with->read_from.starts_with("__sightline_rollup_");
          if (w.id == "fares" || w.id == "fares_histogram" || w.id == "by_month") {
            if (aligned && from_rollup) ++aligned_from_rollup;
            if (!aligned && !from_rollup) ++typed_from_rows;
          }
          EXPECT_EQ(run(with->data), run(without->data)) << w.id << " " << filters.dump() << " via " << with->read_from << "\n"
                                                         << with->data.sql;
        }
    }
  }
  EXPECT_EQ(aligned_from_rollup, 5 * 2 * 3) << "ranges on edges: rollups";
  EXPECT_EQ(typed_from_rows, 2 * 2 * 3) << "ranges between edges: the rows";
}

// A DOUBLE column is kept by rollups only by its bins: the statements a table and a histogram
// run beside their data (row count, bounds of the bins) read the predicates as bin keys too.
TEST_F(TimeBucketEquivalence, CountsAndBoundsFromRollupsReadRangesAsBinKeys) {
  const engine::ColumnBins* bins = engine_->relation("trips")->bins_of("km");
  ASSERT_NE(bins, nullptr);
  const auto& e = bins->edges;
  ASSERT_GE(e.size(), 12u);
  const auto& d = *project_.find_dashboard("trips");
  int binned_counts = 0;
  for (json km : {json::array({e[2], e[9]}), json::array({nullptr, e[4]}), json::array({e[6], nullptr}), json::array({e[1] + 0.3, e[7]})}) {
    for (json zone : {json(), json("Mitte")}) {
      json filters = {{"km", km}};
      if (!zone.is_null()) filters["zone"] = zone;
      auto req = parse_query_request({{"filters", filters}});
      ASSERT_TRUE(req.has_value());
      for (const auto& p : d.pages)
        for (const auto& w : p.widgets) {
          auto with = plan_widget(d, w, *engine_, *req, Scope::local_development(), rollups_.get());
          auto without = plan_widget(d, w, *engine_, *req, Scope::local_development(), nullptr);
          ASSERT_TRUE(with.has_value() && without.has_value()) << w.id;
          if (with->count && with->count->sql.find("__sightline_rollup_") != std::string::npos) ++binned_counts;
          EXPECT_EQ(answer(*with), answer(*without)) << w.id << " " << filters.dump() << "\n" << with->data.sql;
        }
    }
  }
  EXPECT_GE(binned_counts, 6) << "table counts for ranges on edges come from rollups";
}

}  // namespace
}  // namespace sightline::query

namespace sightline::query {
namespace {

// Scatter plots sample the relation's sample when enough of its rows pass the filters: the
// points are real rows that pass them; with too few in the sample, every row is sampled.
TEST_F(RollupEquivalence, ScatterPlotsSampleASampleWhenItHoldsEnoughPoints) {
  std::stringstream sink;
  Logger log(sink);
  auto with_sample = Rollups::build(*project_, *engine_, log, nullptr, {.min_source_rows = 0, .min_reduction = 2, .sample_rows = 20'000});
  ASSERT_NE(with_sample->sample_table("orders_enriched"), nullptr);
  const auto& d = *project_->find_dashboard("customers");
  const auto& scatter = *d.find_widget("units_vs_revenue");
  for (const auto& [filters, from_sample] :
       std::vector<std::pair<json, bool>>{{json::object(), true},
                                          {json{{"region", "North"}}, true},
                                          {json{{"period", {{"from", "2025-03-02"}, {"to", "2025-03-02"}}}}, false}}) {
    auto req = parse_query_request({{"filters", filters}});
    auto plan = plan_widget(d, scatter, **engine_, *req, Scope::local_development(), with_sample.get());
    ASSERT_TRUE(plan.has_value() && plan->prelude.has_value());
    json enough = run(*plan->prelude);
    EXPECT_EQ(!enough["rows"].empty(), from_sample) << filters.dump();
    Statement points = plan->data;
    if (!enough["rows"].empty()) {
      points = *plan->data_after_prelude;
      points.params.push_back(enough["rows"][0][0].get<std::string>());
      EXPECT_NE(points.sql.find(*with_sample->sample_table("orders_enriched")), std::string::npos);
    }
    json got = run(points);
    const size_t expected =
        from_sample
            ? 2000u
            : run(Statement{
                  "SELECT count(*) FROM orders_enriched WHERE order_date = DATE '2025-03-02' AND units IS NOT NULL AND revenue IS NOT NULL",
                  {},
                  1})["rows"][0][0]
                  .get<size_t>();
    EXPECT_EQ(got["rows"].size(), std::min<size_t>(expected, 2000)) << filters.dump();
    // Every point is a row that passes the filters: none is missing from the filtered rows.
    std::string values;
    std::vector<engine::Param> params;
    for (const auto& row : got["rows"]) {
      values += std::string(values.empty() ? "" : ", ") + "(CAST(? AS INTEGER), CAST(? AS DOUBLE), CAST(? AS VARCHAR))";
      params.push_back(row[0].get<int64_t>());
      params.push_back(row[1].get<double>());
      params.push_back(row[2].is_null() ? engine::Param{nullptr} : engine::Param{row[2].get<std::string>()});
    }
    std::string filter = filters.contains("region")   ? " AND o.region = 'North'"
                         : filters.contains("period") ? " AND o.order_date = DATE '2025-03-02'"
                                                      : "";
    json missing = run(Statement{"SELECT count(*) FROM (VALUES " + values +
                                     ") AS p(u, r, s) WHERE NOT EXISTS (SELECT 1 FROM orders_enriched o "
                                     "WHERE o.units = p.u AND CAST(o.revenue AS DOUBLE) = p.r AND o.segment IS NOT DISTINCT FROM p.s" +
                                     filter + ")",
                                 params, 1});
    EXPECT_EQ(missing["rows"][0][0], 0) << filters.dump();
  }
}

}  // namespace
}  // namespace sightline::query
