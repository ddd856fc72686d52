#include "query/table_pages.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "arrow/json_writer.h"
#include "config/project.h"
#include "engine/engine.h"
#include "query/planner.h"
#include "query/rollup.h"
#include "statement_runner.h"

namespace sightline::query {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// Deep pages found by pivots equal the plain ORDER BY ... LIMIT ... OFFSET, on data made to be
// awkward for them: every sort column has NULLs, a four-value column is almost all ties, a
// DECIMAL with many ties, a DOUBLE with NaN and infinities, text with unicode and empty strings,
// TIMESTAMPTZ, booleans, column names with spaces and punctuation; under filters and a row
// policy; at offsets across the whole table, inside the NULLs, at its very end.
class TablePages : public ::testing::Test {
 protected:
  static constexpr int64_t kRows = 120'000;

  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("sightline-pages-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ / "dashboards");
    fs::create_directories(*dir_ / "data");
    {
      auto db = engine::Database::open(":memory:", {.threads = 2});
      ASSERT_TRUE(db.has_value());
      auto conn = engine::Connection::open(**db);
      ASSERT_TRUE(conn.has_value());
      auto made = (*conn)->execute(
          "COPY (SELECT range * 7919 % " + std::to_string(kRows) + " AS \"ride id\", "
          "CASE WHEN range % 10 < 3 THEN NULL ELSE ['Mitte', 'Pankow', 'Neukölln', ''][1 + range % 4] END AS zone, "
          "CASE WHEN range % 5 = 0 THEN NULL ELSE CAST((range * 31 % 977) / 10.0 AS DECIMAL(9, 2)) END AS \"fare (€)\", "
          "CASE WHEN range % 1000 = 1 THEN 'nan'::DOUBLE WHEN range % 1000 = 2 THEN 'inf'::DOUBLE WHEN range % 1000 = 3 THEN '-inf'::DOUBLE "
          "     WHEN range % 9 = 0 THEN NULL ELSE ln(1 + range % 5003) * 1.7 END AS \"distance, km\", "
          "CASE WHEN range % 13 = 0 THEN NULL ELSE 'Straße ' || (range * 104729 % 40009) END AS street, "
          "CASE WHEN range % 7 = 0 THEN NULL ELSE TIMESTAMPTZ '2023-03-26 00:00:00+00' + to_seconds(CAST(range * 613 % 31536000 AS BIGINT)) "
          "     END AS \"pickup at\", "
          "CASE WHEN range % 3 = 0 THEN NULL ELSE range % 2 = 0 END AS paid "
          "FROM range(" + std::to_string(kRows) + ")) TO " + engine::quote_literal((*dir_ / "data" / "rides.parquet").string()) +
          " (FORMAT parquet)");
      ASSERT_TRUE(made.has_value()) << made.error().for_author();
    }
    std::ofstream(*dir_ / "sightline.yaml") << "timezone: Europe/Berlin\nsources:\n  rides:\n    path: data/rides.parquet\n"
                                               "    materialize: true\ndashboards: dashboards/*.yaml\n";
    std::ofstream(*dir_ / "dashboards" / "rides.yaml") << R"yaml(id: rides
title: Rides
source: rides
filters:
  - { id: zone, type: select, column: zone }
  - { id: fare, type: range, column: fare (€) }
widgets:
  - id: rides_table
    type: table
    columns: [{ column: "ride id", as: ride }, zone, { column: "fare (€)", as: fare }, { column: "distance, km", as: distance }, street,
              { column: "pickup at", as: pickup }, paid]
    sort: -fare
    limit: 50
)yaml";
    auto loaded = config::load_project(*dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : loaded.diagnostics[0].message);
    project_ = new config::Project(std::move(*loaded.project));
    auto built = engine::Engine::build(*project_);
    ASSERT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : built.diagnostics[0].message);
    engine_ = new std::shared_ptr<const engine::Engine>(built.engine);
    static std::stringstream sink;
    static Logger log(sink);
    log_ = &log;
    rollups_ = new std::shared_ptr<const Rollups>(
        Rollups::build(*project_, *engine_, log, nullptr, {.min_source_rows = 0, .min_reduction = 2, .sample_rows = 10'000}));
  }
  static void TearDownTestSuite() {
    delete rollups_;
    delete engine_;
    delete project_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  static json run(const Statement& st) { return testing::run_statement(**engine_, st); }

  // The OFFSET of a statement's last clause.
  static int64_t offset_of(const std::string& sql) {
    std::smatch m;
    EXPECT_TRUE(std::regex_search(sql, m, std::regex("OFFSET (\\d+)$"))) << sql;
    return m.empty() ? -1 : std::stoll(m[1]);
  }

  // The LIMIT of a tail page's inner statement (the rows read backwards).
  static int64_t limit_of_tail(const std::string& sql) {
    std::smatch m;
    EXPECT_TRUE(std::regex_search(sql, m, std::regex("LIMIT (\\d+)\\) AS tail_"))) << sql;
    return m.empty() ? -1 : std::stoll(m[1]);
  }

  static fs::path* dir_;
  static config::Project* project_;
  static std::shared_ptr<const engine::Engine>* engine_;
  static std::shared_ptr<const Rollups>* rollups_;
  static Logger* log_;
};
fs::path* TablePages::dir_ = nullptr;
config::Project* TablePages::project_ = nullptr;
std::shared_ptr<const engine::Engine>* TablePages::engine_ = nullptr;
std::shared_ptr<const Rollups>* TablePages::rollups_ = nullptr;
Logger* TablePages::log_ = nullptr;

TEST_F(TablePages, DeepPagesFoundByPivotsEqualThePlainPageForEverySortAndState) {
  const auto& d = *project_->find_dashboard("rides");
  const auto& table = *d.find_widget("rides_table");
  ASSERT_NE((*rollups_)->sample_table("rides"), nullptr) << "a sample is made for a relation an ungrouped table reads";
  QueryService service(0, *log_);
  SqlFragment not_pankow{"zone IS DISTINCT FROM ?", {std::string("Pankow")}, {"zone"}};
  const Scope restricted = Scope::restricted({{"rides", not_pankow}}, {"rides/not-pankow"});
  const Scope open = Scope::local_development();
  int compared = 0, narrowed = 0, fell_back = 0;
  for (const Scope* scope : {&open, &restricted}) {
    for (json filters : {json::object(), json{{"zone", "Mitte"}}, json{{"fare", {5, 50}}}}) {
      if (scope == &restricted && !filters.empty()) continue;
      for (const char* column : {"", "ride", "zone", "fare", "distance", "street", "pickup", "paid"}) {
        for (bool desc : {false, true}) {
          if (!*column && desc) continue;  // the declared sort
          json body = {{"filters", filters}, {"limit", 50}};
          if (*column) body["sort"] = {{{"column", column}, {"desc", desc}}};
          auto counted = plan_widget(d, table, **engine_, *parse_query_request(body), *scope, rollups_->get());
          ASSERT_TRUE(counted.has_value()) << counted.error().for_author();
          ASSERT_TRUE(counted->count.has_value());
          const int64_t total = run(*counted->count)["rows"][0][0].get<int64_t>();
          ASSERT_GT(total, 15'000) << body.dump();
          for (int64_t offset : {int64_t{10'001}, total / 2 + 17, total * 9 / 10, total - 10'050, total - 9'999, total - 23, total - 1}) {
            if (offset + 50 <= 10'000) continue;  // shallow: bounded by the sort value at the page's end
            body["offset"] = offset;
            auto req = parse_query_request(body);
            ASSERT_TRUE(req.has_value()) << req.error().message;
            auto with = plan_widget(d, table, **engine_, *req, *scope, rollups_->get());
            auto without = plan_widget(d, table, **engine_, *req, *scope, nullptr);
            ASSERT_TRUE(with.has_value() && without.has_value());
            ASSERT_TRUE(with->pivot_paging.has_value()) << body.dump();
            EXPECT_FALSE(without->pivot_paging.has_value()) << "no sample, no pivots";
            RunContext context{0, {}};
            auto page = page_by_pivots(service, **engine_, *scope, context, *with->pivot_paging, total, "rides/rides_table", 50);
            ASSERT_TRUE(page.has_value()) << page.error().for_author();
            if (!*page) {
              ++fell_back;
              continue;
            }
            json expected = run(without->data);
            ASSERT_EQ(run(**page), expected) << body.dump() << "\n" << (*page)->sql;
            EXPECT_EQ(expected["rows"].size(), static_cast<size_t>(std::min<int64_t>(50, total - offset))) << body.dump();
            ++compared;
            // Narrowed: the page sorts a small window rather than every row up to it; within
            // 10,000 rows of the end, the rows past it read backwards (a small top-N).
            const bool tail = (*page)->sql.find(") AS tail_ ORDER BY") != std::string::npos;
            EXPECT_EQ(tail, total - offset <= 10'000) << body.dump() << "\n" << (*page)->sql;
            if (tail ? limit_of_tail((*page)->sql) == total - offset : offset_of((*page)->sql) <= 12'000)
              ++narrowed;
            else
              ADD_FAILURE() << "not narrowed: " << body.dump() << " total " << total << "\n" << (*page)->sql;
          }
        }
      }
    }
  }
  EXPECT_EQ(fell_back, 0) << "every column type here can be pivoted on";
  EXPECT_GE(compared, 4 * 15 * 6);
  // The heavy ties of `zone` and `paid` and their NULLs are narrowed by the next keys (`ride` is
  // unique), also for a short last page inside one value.
  EXPECT_EQ(narrowed, compared);
}

TEST_F(TablePages, ShallowPagesAndGroupedTablesDoNotUsePivots) {
  const auto& d = *project_->find_dashboard("rides");
  const auto& table = *d.find_widget("rides_table");
  auto shallow = plan_widget(d, table, **engine_, *parse_query_request(json{{"offset", 9'000}, {"limit", 50}}),
                             Scope::local_development(), rollups_->get());
  ASSERT_TRUE(shallow.has_value());
  EXPECT_FALSE(shallow->pivot_paging.has_value());
  EXPECT_TRUE(shallow->prelude.has_value()) << "a shallow page is bounded by the sort value at its end";
  auto deep = plan_widget(d, table, **engine_, *parse_query_request(json{{"offset", 10'000}, {"limit", 50}}), Scope::local_development(),
                          rollups_->get());
  ASSERT_TRUE(deep.has_value());
  EXPECT_TRUE(deep->pivot_paging.has_value());
  // The declared sort (fare) and then `ride id`, which holds a different value in every row: the
  // tie-breakers end there (the other columns repeat values or have NULLs).
  EXPECT_EQ((*rollups_)->unique_columns("rides"), std::set<std::string>{"ride id"});
  ASSERT_EQ(deep->pivot_paging->keys.size(), 2u);
  EXPECT_EQ(deep->pivot_paging->keys[1].sql, "\"ride id\"");
  EXPECT_NE(deep->data.sql.find("ORDER BY \"fare\" DESC NULLS LAST, \"ride\" ASC NULLS LAST LIMIT"), std::string::npos) << deep->data.sql;
  // Without rollups (not built yet, or stale) nothing is known to be unique: every column breaks ties.
  auto plain = plan_widget(d, table, **engine_, *parse_query_request(json{{"offset", 10'000}, {"limit", 50}}), Scope::local_development(),
                           nullptr);
  ASSERT_TRUE(plain.has_value());
  EXPECT_NE(plain->data.sql.find("\"ride\" ASC NULLS LAST, \"zone\" ASC NULLS LAST"), std::string::npos) << plain->data.sql;
}

TEST_F(TablePages, PagesPastTheEndAnswerNothingWithoutPivots) {
  const auto& d = *project_->find_dashboard("rides");
  const auto& table = *d.find_widget("rides_table");
  auto req = parse_query_request(json{{"offset", kRows + 10}, {"limit", 50}});
  auto plan = plan_widget(d, table, **engine_, *req, Scope::local_development(), rollups_->get());
  ASSERT_TRUE(plan.has_value() && plan->pivot_paging);
  QueryService service(0, *log_);
  RunContext context{0, {}};
  auto page = page_by_pivots(service, **engine_, Scope::local_development(), context, *plan->pivot_paging, kRows, "t", 50);
  ASSERT_TRUE(page.has_value());
  EXPECT_FALSE(page->has_value());
  EXPECT_TRUE(run(plan->data)["rows"].empty());
}

}  // namespace
}  // namespace sightline::query
