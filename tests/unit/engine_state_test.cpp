// The persistent state directory (engine/state_dir.h, engine/state_ledger.h): a restart with
// unchanged sources reuses the loaded tables and the rollups; a changed file reloads exactly what
// depends on it; leftovers go; a damaged or busy state file never stops the server.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/project.h"
#include "engine/engine.h"
#include "engine/result_rows.h"
#include "query/planner.h"
#include "query/request.h"
#include "query/rollup.h"
#include "query/scope.h"
#include "query/subset.h"
#include "statement_runner.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class EngineState : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-state-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    fs::create_directories(dir_ / "dashboards");
    write_orders(0);
    write("data/regions.csv", "region,manager\nNorth,Ann\nSouth,Bo\n");
    write("data/live.csv", "k,v\na,1\nb,2\n");
    write("sightline.yaml", R"yaml(sources:
  orders: { path: data/orders.parquet, materialize: true, order_by: day }
  regions: { path: data/regions.csv, materialize: true }
  live: data/live.csv
models:
  big_orders:
    sql: SELECT o.*, r.manager FROM orders o JOIN regions r USING (region) WHERE amount > 50
    materialize: true
  small_orders: SELECT * FROM orders WHERE amount <= 50
dashboards: dashboards/*.yaml
)yaml");
    write("dashboards/orders.yaml", R"yaml(id: orders
title: Orders
source: orders
filters:
  - { id: when, type: daterange, column: day }
  - { id: region, type: select, column: region }
widgets:
  - { id: revenue, type: kpi, measure: sum(amount) }
  - { id: by_region, type: bar, x: region, y: 'count(DISTINCT customer)' }
  - { id: by_day, type: line, x: day, y: sum(amount) }
)yaml");
    write("dashboards/big.yaml", R"yaml(id: big
title: Big orders
source: big_orders
filters:
  - { id: region, type: select, column: region }
widgets:
  - { id: revenue, type: kpi, measure: sum(amount) }
  - { id: by_manager, type: bar, x: manager, y: count(*) }
)yaml");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  // 60,000 orders (enough for the region to be stored as an ENUM); `shift` changes the amounts.
  void write_orders(int shift) {
    auto db = Database::open(":memory:", {.threads = 2});
    ASSERT_TRUE(db.has_value());
    auto conn = Connection::open(**db);
    ASSERT_TRUE(conn.has_value());
    auto made = (*conn)->execute(
        "COPY (SELECT DATE '2024-01-01' + CAST(range % 366 AS INTEGER) AS day, ['North', 'South'][1 + range % 2] AS region, "
        "CAST(range % 997 AS INTEGER) AS customer, CAST((range * 7 + " +
        std::to_string(shift) + ") % 100 AS DECIMAL(9, 2)) AS amount FROM range(60000)) TO " +
        quote_literal((dir_ / "data" / "orders.parquet").string()) + " (FORMAT parquet)");
    ASSERT_TRUE(made.has_value()) << made.error().for_author();
  }

  fs::path state_dir() const { return dir_ / ".sightline" / "state"; }
  EngineBuild build(StateFileUse use = StateFileUse::Reuse) {
    auto loaded = config::load_project(dir_, config::system_environment());
    EXPECT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : config::format_diagnostic(loaded.diagnostics[0]));
    if (!loaded.ok()) return {};
    project_ = std::move(*loaded.project);
    auto built = Engine::build(project_, EngineOptions{.state_dir = state_dir(), .state_use = use});
    EXPECT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : config::format_diagnostic(built.diagnostics[0]));
    return built;
  }
  json rows(const Engine& e, const std::string& sql) { return testing::run_statement(e, query::Statement{sql, {}, 1000})["rows"]; }
  // Every answer this test compares across restarts.
  json answers(const Engine& e) {
    return {rows(e, "SELECT region, sum(amount), count(*) FROM orders GROUP BY ALL ORDER BY 1"),
            rows(e, "SELECT manager, sum(amount), count(*) FROM big_orders GROUP BY ALL ORDER BY 1"),
            rows(e, "SELECT count(*), sum(amount) FROM small_orders"), rows(e, "SELECT * FROM live ORDER BY k"),
            rows(e, "SELECT * FROM regions ORDER BY region")};
  }
  std::vector<std::string> tables(const Engine& e) {
    std::vector<std::string> out;
    for (const auto& r : rows(e, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = "
                                 "current_database() ORDER BY 1"))
      out.push_back(r[0].get<std::string>());
    return out;
  }
  // The log lines of one event since the sink was last cleared.
  std::vector<json> events(const std::string& name) {
    std::vector<json> out;
    std::istringstream lines(sink_.str());
    for (std::string line; std::getline(lines, line);) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("event", "") == name) out.push_back(j);
    }
    return out;
  }
  std::shared_ptr<const query::Rollups> rollups(std::shared_ptr<const Engine> e) {
    return query::Rollups::build(project_, std::move(e), log_, nullptr, {.min_source_rows = 0, .min_reduction = 2});
  }

  fs::path dir_;
  config::Project project_;
  std::stringstream sink_;
  Logger log_{sink_};
};

TEST_F(EngineState, ARestartWithUnchangedSourcesReusesEveryLoadedTable) {
  json first;
  uint64_t version = 0;
  {
    auto built = build();
    ASSERT_TRUE(built.engine);
    EXPECT_FALSE(built.engine->state_file().empty());
    EXPECT_TRUE(built.engine->reused_relations().empty()) << "an empty state directory: everything is read";
    for (const auto& d : built.diagnostics) ADD_FAILURE() << "a first build over good sources says nothing: " << d.message;
    first = answers(*built.engine);
    version = built.engine->data_versions().all;
    EXPECT_EQ(rows(*built.engine, "SELECT data_type FROM information_schema.columns WHERE table_name = 'orders' AND column_name = "
                                  "'region'")[0][0],
              "ENUM('North', 'South')")
        << "the repeated text is stored as an ENUM, which the state keeps too";
  }
  auto again = build();
  ASSERT_TRUE(again.engine);
  for (const auto& d : again.diagnostics) ADD_FAILURE() << "a restart over unchanged sources says nothing: " << d.message;
  std::vector<std::string> reused = again.engine->reused_relations();
  std::sort(reused.begin(), reused.end());
  EXPECT_EQ(reused, (std::vector<std::string>{"big_orders", "orders", "regions"}));
  EXPECT_EQ(answers(*again.engine), first);
  EXPECT_EQ(again.engine->data_versions().all, version) << "the same data has the same version after a restart";
  EXPECT_EQ(again.engine->relation("orders")->column("region")->type, "VARCHAR");
}

TEST_F(EngineState, AChangedFileReloadsWhatDependsOnIt) {
  json first;
  { first = answers(*build().engine); }
  write("data/regions.csv", "region,manager\nNorth,Cy\nSouth,Bo\n");
  auto again = build();
  ASSERT_TRUE(again.engine);
  EXPECT_EQ(again.engine->reused_relations(), std::vector<std::string>{"orders"}) << "regions changed, and the model reading it";
  json now = answers(*again.engine);
  EXPECT_EQ(now[1][1][0], "Cy");
  EXPECT_EQ(now[0], first[0]);

  again = {};
  write_orders(3);
  auto third = build();
  ASSERT_TRUE(third.engine);
  std::vector<std::string> reused = third.engine->reused_relations();
  EXPECT_EQ(reused, std::vector<std::string>{"regions"});
  EXPECT_NE(answers(*third.engine)[0], first[0]) << "the new amounts are read";
}

TEST_F(EngineState, LeftoversOfEarlierRunsAreDropped) {
  {
    auto built = build();
    ASSERT_TRUE(built.engine);
    ASSERT_TRUE(testing::run_statement(*built.engine, query::Statement{"CREATE TABLE __sightline_subset_x_1 AS SELECT 1 AS a", {}, 1})
                    .is_object());
  }
  fs::remove(dir_ / "dashboards" / "big.yaml");
  write("sightline.yaml", R"yaml(sources:
  orders: { path: data/orders.parquet, materialize: true, order_by: day }
  regions: data/regions.csv
dashboards: dashboards/*.yaml
)yaml");
  auto again = build();
  ASSERT_TRUE(again.engine);
  EXPECT_EQ(again.engine->reused_relations(), std::vector<std::string>{"orders"}) << "edits of other entries do not reload it";
  EXPECT_EQ(tables(*again.engine), std::vector<std::string>{"orders"}) << "a subset, a removed model, a source now read live: gone";
  EXPECT_EQ(rows(*again.engine, "SELECT count(*) FROM regions")[0][0], 2) << "the view that replaced the table reads the file";
  EXPECT_EQ(rows(*again.engine, "SELECT count(*) FROM sightline_state.relations")[0][0], 1);
}

TEST_F(EngineState, RollupsAreReusedAfterARestartAndAnswerTheSame) {
  std::vector<std::string> first_tables;
  {
    auto built = build();
    ASSERT_TRUE(built.engine);
    auto r = rollups(built.engine);
    ASSERT_FALSE(r->all().empty());
    for (const auto& x : r->all()) first_tables.push_back(x.table);
  }
  EXPECT_EQ(sink_.str().find("rollups_reused"), std::string::npos);
  auto again = build();
  ASSERT_TRUE(again.engine);
  auto r = rollups(again.engine);
  EXPECT_NE(sink_.str().find("rollups_reused"), std::string::npos) << sink_.str();
  std::vector<std::string> now;
  for (const auto& x : r->all()) now.push_back(x.table);
  EXPECT_EQ(now, first_tables);
  const auto& d = *project_.find_dashboard("orders");
  for (const char* id : {"revenue", "by_region", "by_day"}) {
    auto req = query::parse_query_request({{"filters", {{"region", "North"}, {"when", {{"from", "2024-02-03"}, {"to", "2024-07-19"}}}}}});
    ASSERT_TRUE(req.has_value());
    auto from_rollup = query::plan_widget(d, *d.find_widget(id), *again.engine, *req, query::Scope::local_development(), r.get());
    auto from_rows = query::plan_widget(d, *d.find_widget(id), *again.engine, *req, query::Scope::local_development(), nullptr);
    ASSERT_TRUE(from_rollup.has_value() && from_rows.has_value());
    EXPECT_TRUE(from_rollup->read_from.starts_with("__sightline_rollup_")) << id;
    EXPECT_EQ(testing::run_statement(*again.engine, from_rollup->data), testing::run_statement(*again.engine, from_rows->data)) << id;
  }
  // Changed data: the stored rollups no longer describe it; new ones replace them.
  r.reset();
  again = {};
  write_orders(5);
  auto third = build();
  ASSERT_TRUE(third.engine);
  sink_.str("");
  auto rebuilt = rollups(third.engine);
  EXPECT_EQ(sink_.str().find("rollups_reused"), std::string::npos);
  ASSERT_FALSE(rebuilt->all().empty());
  EXPECT_NE(rebuilt->all()[0].table, first_tables[0]);
  for (const auto& t : tables(*third.engine)) EXPECT_EQ(std::find(first_tables.begin(), first_tables.end(), t), first_tables.end()) << t;
}

// A start that takes everything from the state file finds its blocks on disk: warm_buffers reads
// every table of the file into DuckDB's memory; an engine in memory has nothing to read.
TEST_F(EngineState, ARestartFromTheStateFileWarmsEveryTableIntoMemory) {
  {
    auto built = build();
    ASSERT_TRUE(built.engine);
    ASSERT_FALSE(rollups(built.engine)->all().empty());
  }
  auto again = build();
  ASSERT_TRUE(again.engine);
  auto r = rollups(again.engine);
  auto base_table_bytes = [&] {
    return rows(*again.engine, "SELECT CAST(sum(memory_usage_bytes) AS BIGINT) FROM duckdb_memory() WHERE tag = 'BASE_TABLE'")[0][0]
        .get<int64_t>();
  };
  const int64_t cold = base_table_bytes();
  // A pass told to stop (the server shutting down) reads nothing more.
  const auto stopped = again.engine->warm_buffers([] { return false; });
  EXPECT_EQ(stopped.tables, 0);
  EXPECT_EQ(stopped.skipped, "");
  int asked = 0;
  const auto warm = again.engine->warm_buffers([&] { return ++asked > 0; });
  EXPECT_EQ(warm.skipped, "");
  EXPECT_EQ(warm.tables, static_cast<int>(tables(*again.engine).size())) << "every table of the file, rollups included";
  EXPECT_GE(asked, warm.tables) << "asked before each column";
  EXPECT_GT(warm.file_bytes, 0);
  const int64_t warmed = base_table_bytes();
  EXPECT_GT(warmed, cold);
  EXPECT_GE(warmed * 2, warm.file_bytes) << "most of the file's blocks are in memory now";
  EXPECT_LT(warm.resident_bytes, warmed);
  int calls = 0;
  const auto again_warm = again.engine->warm_buffers([&] { return ++calls > 0; });
  EXPECT_EQ(again_warm.skipped, "in memory already");
  EXPECT_EQ(again_warm.tables, 0);
  EXPECT_EQ(calls, 0);

  auto loaded = config::load_project(dir_, config::system_environment());
  ASSERT_TRUE(loaded.ok());
  auto in_memory = Engine::build(*loaded.project);
  ASSERT_TRUE(in_memory.engine);
  EXPECT_EQ(in_memory.engine->warm_buffers().skipped, "in memory");
  EXPECT_EQ(in_memory.engine->warm_buffers().tables, 0);
}

// Subsets live while the process serves: they are made in the in-memory scratch database, never
// in the state file (whose log and size they grew), and answer from there.
TEST_F(EngineState, SubsetsAreMadeOutsideTheStateFile) {
  auto built = build();
  ASSERT_TRUE(built.engine);
  const auto before = tables(*built.engine);
  std::stringstream sink;
  Logger log(sink);
  {
    query::SubsetCache subsets(built.engine, log);
    const Relation& orders = *built.engine->relation("orders");
    auto subset = subsets.get(orders, "region = ?", {std::string("North")}, query::Scope::local_development(), 0, "test");
    ASSERT_TRUE(subset.has_value()) << subset.error().for_author();
    EXPECT_EQ((*subset)->relation().database, std::string(kScratchDatabase));
    EXPECT_EQ((*subset)->rows(), 30'000);
    EXPECT_EQ(tables(*built.engine), before) << "nothing new in the state file";
    EXPECT_EQ(rows(*built.engine, "SELECT count(*), count(DISTINCT region) FROM " + (*subset)->relation().sql_name()), json::parse("[[30000, 1]]"));
    EXPECT_EQ(rows(*built.engine, "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'sightline_scratch'"), json::parse("[[1]]"));
  }
  EXPECT_EQ(rows(*built.engine, "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'sightline_scratch'"), json::parse("[[0]]"))
      << "dropped with the last reader";
}

// Rollups are kept per relation: a changed file rebuilds those of the relations that depend on it.
TEST_F(EngineState, AChangedFileRebuildsOnlyTheRollupsOfWhatDependsOnIt) {
  std::vector<std::string> orders_tables;
  {
    auto built = build();
    ASSERT_TRUE(built.engine);
    auto r = rollups(built.engine);
    for (const auto& x : r->all())
      if (x.relation == "orders") orders_tables.push_back(x.table);
    ASSERT_FALSE(orders_tables.empty());
    ASSERT_TRUE(std::any_of(r->all().begin(), r->all().end(), [](const auto& x) { return x.relation == "big_orders"; }));
  }
  write("data/regions.csv", "region,manager\nNorth,Cy\nSouth,Bo\n");
  sink_.str("");
  auto again = build();
  ASSERT_TRUE(again.engine);
  auto r = rollups(again.engine);
  std::set<std::string> reused, built;
  for (const auto& e : events("rollups_reused")) reused.insert(e["source"].get<std::string>());
  for (const auto& e : events("rollup_built")) built.insert(e["source"].get<std::string>());
  EXPECT_EQ(reused, std::set<std::string>{"orders"}) << sink_.str();
  EXPECT_EQ(built, std::set<std::string>{"big_orders"}) << "big_orders reads the changed regions: rebuilt";
  std::vector<std::string> now;
  bool big_rebuilt = false;
  for (const auto& x : r->all()) {
    if (x.relation == "orders") now.push_back(x.table);
    if (x.relation == "big_orders") big_rebuilt = std::find(orders_tables.begin(), orders_tables.end(), x.table) == orders_tables.end();
  }
  EXPECT_EQ(now, orders_tables) << "orders did not change: its rollups are the same tables";
  EXPECT_TRUE(big_rebuilt);
  // The answers of the rebuilt ones are the new data's.
  const auto& d = *project_.find_dashboard("big");
  auto req = query::parse_query_request(json::object());
  ASSERT_TRUE(req.has_value());
  auto plan = query::plan_widget(d, *d.find_widget("by_manager"), *again.engine, *req, query::Scope::local_development(), r.get());
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->read_from.starts_with("__sightline_rollup_")) << plan->read_from;
  EXPECT_EQ(testing::run_statement(*again.engine, plan->data)["rows"][0][0], "Bo");
  EXPECT_EQ(testing::run_statement(*again.engine, plan->data)["rows"][1][0], "Cy");
}

// DuckDB sums into 128-bit types, which its storage scans ~20x slower; rollups keep 64-bit sums
// when the column's total fits, and answers keep the rows' types.
TEST_F(EngineState, RollupsKeepSumsIn64BitsAndAnswerInTheRowsTypes) {
  auto built = build();
  ASSERT_TRUE(built.engine);
  auto r = rollups(built.engine);
  const query::Rollup* orders = nullptr;
  for (const auto& x : r->all())
    if (x.relation == "orders" && !orders) orders = &x;
  ASSERT_NE(orders, nullptr);
  auto types = rows(*built.engine, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = " +
                                       quote_literal(orders->table) + " AND column_name LIKE 'sum%' ORDER BY 1");
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types[0], json({"sum__amount", "DECIMAL(18,2)"}));
  const auto& d = *project_.find_dashboard("orders");
  auto req = query::parse_query_request(json::object());
  ASSERT_TRUE(req.has_value());
  auto plan = query::plan_widget(d, *d.find_widget("revenue"), *built.engine, *req, query::Scope::local_development(), r.get());
  ASSERT_TRUE(plan.has_value());
  ASSERT_TRUE(plan->read_from.starts_with("__sightline_rollup_"));
  auto answer = testing::run_statement(*built.engine, plan->data);
  auto truth = rows(*built.engine, "SELECT sum(amount) FROM orders");
  EXPECT_EQ(answer["rows"][0][0], truth[0][0]);
  EXPECT_EQ(answer["columns"][0]["type"], "decimal(38,2)") << answer["columns"] << ": the type a sum over the rows has";
}

TEST_F(EngineState, ADamagedStateFileIsReplaced) {
  { ASSERT_TRUE(build().engine); }
  fs::path file;
  for (const auto& e : fs::directory_iterator(state_dir()))
    if (e.path().extension() == ".duckdb") file = e.path();
  ASSERT_FALSE(file.empty());
  std::ofstream(file, std::ios::binary | std::ios::trunc) << std::string(10000, 'x');
  auto again = build();
  ASSERT_TRUE(again.engine);
  EXPECT_TRUE(again.engine->reused_relations().empty());
  bool warned = false;
  for (const auto& d : again.diagnostics) warned = warned || d.message.find("state file could not be opened") != std::string::npos;
  EXPECT_TRUE(warned);
  EXPECT_EQ(answers(*again.engine)[0].size(), 2u);
  for (const auto& d : again.diagnostics) EXPECT_EQ(d.message.find(dir_.string()), std::string::npos) << "no path in " << d.message;
}

TEST_F(EngineState, AnEngineBuiltBesideAnotherTakesANewGenerationAndTheOldFileGoesWithItsEngine) {
  auto first = build();
  ASSERT_TRUE(first.engine);
  const fs::path old_file = first.engine->state_file();
  auto second = build(StateFileUse::Fresh);
  ASSERT_TRUE(second.engine);
  EXPECT_NE(second.engine->state_file(), old_file);
  EXPECT_TRUE(second.engine->reused_relations().empty());
  EXPECT_TRUE(fs::exists(old_file)) << "still open by the serving engine";
  first = {};
  EXPECT_FALSE(fs::exists(old_file)) << "replaced by a newer generation: removed with its engine";
  const fs::path kept = second.engine->state_file();
  second = {};
  EXPECT_TRUE(fs::exists(kept));
  auto restarted = build();
  ASSERT_TRUE(restarted.engine);
  EXPECT_EQ(restarted.engine->state_file(), kept);
  EXPECT_EQ(restarted.engine->reused_relations().size(), 3u);
}

TEST_F(EngineState, AStateDirectoryThatCannotBeWrittenLeavesTheEngineInMemory) {
  fs::create_directories(dir_ / ".sightline");
  std::ofstream(state_dir()) << "a file where the folder should be";
  auto built = build();
  ASSERT_TRUE(built.engine);
  EXPECT_TRUE(built.engine->state_file().empty());
  ASSERT_FALSE(built.diagnostics.empty());
  EXPECT_EQ(built.diagnostics[0].severity, config::Diagnostic::Severity::Warning);
  EXPECT_NE(built.diagnostics[0].message.find("runs in memory"), std::string::npos) << built.diagnostics[0].message;
  EXPECT_EQ(answers(*built.engine)[0].size(), 2u);
}

TEST_F(EngineState, AFailedReloadKeepsTheLastGoodTableAndItsVersion) {
  json first;
  { first = answers(*build().engine); }
  write("data/regions.csv", "region,manager\nNorth,Ann\nSouth,Bo,extra,fields\n");
  {
    auto loaded = config::load_project(dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok());
    auto broken = Engine::build(*loaded.project, EngineOptions{.state_dir = state_dir()});
    EXPECT_FALSE(broken.engine) << "a source that cannot be read is an error";
  }
  write("data/regions.csv", "region,manager\nNorth,Ann\nSouth,Bo\n");
  auto again = build();
  ASSERT_TRUE(again.engine);
  EXPECT_EQ(answers(*again.engine), first);
  std::vector<std::string> reused = again.engine->reused_relations();
  std::sort(reused.begin(), reused.end());
  EXPECT_EQ(reused, std::vector<std::string>{"orders"}) << "the rewritten file has a new fingerprint: read again, as it must";
}

}  // namespace
}  // namespace sightline::engine
