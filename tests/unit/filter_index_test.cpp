// Indexes on the columns of many values that filters pick from (Rollups::indexed), and subsets
// made through them (SubsetCache::get with a lookup): made only where they can pay (a loaded
// table, a column beyond max_cardinality), and a subset found through the index holds exactly
// the rows of one made by a scan.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/project.h"
#include "engine/engine.h"
#include "query/rollup.h"
#include "query/subset.h"
#include "statement_runner.h"

namespace sightline::query {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class FilterIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-filter-index-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "data");
    fs::create_directories(dir_ / "dashboards");
    // 60,000 rows: 15,000 streets (four rows each), three kinds; the street of every 7th row NULL.
    std::ofstream csv(dir_ / "data" / "rides.csv");
    csv << "id,street,kind\n";
    for (int i = 0; i < 60'000; ++i) {
      csv << i << ",";
      if (i % 7 != 0) csv << "Street " << (i % 15'000);
      csv << "," << "abc"[i % 3] << "\n";
    }
    csv.close();
    std::ofstream(dir_ / "sightline.yaml") << "name: idx\n"
                                              "sources:\n"
                                              "  loaded: { path: data/rides.csv, materialize: true }\n"
                                              "  scanned: { path: data/rides.csv }\n"
                                              "dashboards: dashboards/*.yaml\n";
    for (const char* source : {"loaded", "scanned"})
      std::ofstream(dir_ / "dashboards" / (std::string(source) + ".yaml"))
          << "id: " << source << "\ntitle: T\nsource: " << source
          << "\nfilters:\n"
             "  - { id: street, type: text, column: street }\n"
             "  - { id: kind, type: select, column: kind }\n"
             "widgets:\n"
             "  - { id: n, type: kpi, measure: count(*) }\n"
             "  - { id: by_kind, type: bar, x: kind, y: sum(id) }\n";
    auto loaded = config::load_project(dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok());
    project_ = std::move(*loaded.project);
    auto built = engine::Engine::build(project_);
    ASSERT_TRUE(built.engine);
    engine_ = built.engine;
    rollups_ = Rollups::build(project_, engine_, log_, nullptr, {.min_source_rows = 1000, .min_reduction = 2});
  }
  void TearDown() override {
    rollups_.reset();
    engine_.reset();
    fs::remove_all(dir_);
  }
  json rows(const std::string& sql) { return testing::run_statement(*engine_, Statement{sql, {}, 100'000})["rows"]; }

  fs::path dir_;
  config::Project project_;
  std::shared_ptr<const engine::Engine> engine_;
  std::shared_ptr<const Rollups> rollups_;
  std::stringstream sink_;
  Logger log_{sink_};
};

TEST_F(FilterIndex, OnlyLoadedTablesAndColumnsOfManyValuesGetOne) {
  EXPECT_TRUE(rollups_->indexed("loaded", "street")) << sink_.str();
  EXPECT_FALSE(rollups_->indexed("loaded", "kind")) << "three values: rollups hold the column";
  EXPECT_FALSE(rollups_->indexed("scanned", "street")) << "a view over the files has no index";
  EXPECT_EQ(rows("SELECT table_name, expressions FROM duckdb_indexes()"), json::parse(R"([["loaded", "[street]"]])"));
  EXPECT_NE(sink_.str().find("\"event\":\"index_ready\""), std::string::npos);
  // A second build finds it: nothing is made twice.
  auto again = Rollups::build(project_, engine_, log_, nullptr, {.min_source_rows = 1000, .min_reduction = 2});
  EXPECT_TRUE(again->indexed("loaded", "street"));
  EXPECT_EQ(rows("SELECT count(*) FROM duckdb_indexes()")[0][0], 1);
}

TEST_F(FilterIndex, ASubsetFoundThroughTheIndexHoldsTheRowsOfAScan) {
  const engine::Relation* rel = engine_->relation("loaded");
  ASSERT_NE(rel, nullptr);
  SubsetCache subsets(engine_, log_);
  const std::vector<std::pair<std::string, std::vector<engine::Param>>> lookups = {
      {"\"street\" IN (?, ?, ?)", {std::string("Street 17"), std::string("Street 14999"), std::string("Street 7")}},
      {"\"street\" IN (?)", {std::string("no such street")}},
  };
  for (const auto& [lookup_sql, lookup_params] : lookups) {
    for (const std::string rest : {"TRUE", "\"kind\" = ?", "\"kind\" = ? OR \"street\" IS NULL"}) {
      std::string where = "(" + lookup_sql + ") AND (" + rest + ")";
      std::vector<engine::Param> params = lookup_params;
      if (rest.find('?') != std::string::npos) params.push_back(std::string("b"));
      SqlFragment lookup{lookup_sql, lookup_params};
      auto scanned = subsets.get(*rel, where, params, Scope::local_development(), 0, "scan");
      // Another version, so that the cache does not hand back the first subset.
      auto looked_up = subsets.get(*rel, where, params, Scope::local_development(), 1, "lookup", nullptr, lookup);
      ASSERT_TRUE(scanned.has_value() && looked_up.has_value()) << where;
      EXPECT_NE((*scanned)->relation().name, (*looked_up)->relation().name);
      EXPECT_EQ((*scanned)->rows(), (*looked_up)->rows()) << where;
      const std::string digest = "SELECT count(*), sum(id), min(street), max(kind) FROM ";
      EXPECT_EQ(rows(digest + (*scanned)->relation().sql_name()), rows(digest + (*looked_up)->relation().sql_name())) << where;
    }
  }
}

}  // namespace
}  // namespace sightline::query
