#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/project.h"
#include "arrow/json_writer.h"
#include "engine/engine.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;

class EngineSources : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-sources-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data" / "parts");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  EngineBuild build() {
    auto loaded = config::load_project(dir_, config::system_environment());
    EXPECT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : config::format_diagnostic(loaded.diagnostics[0]));
    if (!loaded.ok()) return {};
    project_ = std::move(*loaded.project);
    return Engine::build(project_);
  }
  int64_t count(const Engine& e, const std::string& relation) {
    auto out = e.pool().run<QueryOutput>(std::chrono::seconds(10), [&](Connection& c) {
      return c.query("SELECT count(*)::BIGINT FROM " + quote_identifier(relation), 1);
    });
    EXPECT_TRUE(out.has_value());
    return static_cast<const int64_t*>(out->table.batches[0]->children[0]->buffers[1])[0];
  }

  fs::path dir_;
  config::Project project_;
};

TEST_F(EngineSources, EveryKindOfSourceBecomesAQueryableRelation) {
  write("data/semi.csv", "id;name;amount\n1;a;10\n2;b;20\n3;c;\n");
  write("data/parts/p1.csv", "id,kind\n1,x\n");
  write("data/parts/p2.csv", "id,kind,extra\n2,y,z\n");
  write("data/events.jsonl", "{\"id\": 1, \"tag\": \"a\"}\n{\"id\": 2, \"tag\": \"b\"}\n");
  {
    auto db = Database::open((dir_ / "data" / "warehouse.duckdb").string(), {});
    ASSERT_TRUE(db.has_value());
    auto c = Connection::open(**db);
    ASSERT_TRUE((*c)->execute("CREATE TABLE sales AS SELECT range AS id, range * 2 AS v FROM range(7)").has_value());
    ASSERT_TRUE((*c)->execute("COPY (SELECT range AS id, 'k' || (range % 3) AS k FROM range(50)) TO '" + (dir_ / "data" / "t.parquet").string() +
                              "' (FORMAT parquet)").has_value());
  }
  write("sightline.yaml", R"yaml(sources:
  semi: {path: data/semi.csv, csv: {delimiter: ";", header: true}, types: {amount: "DECIMAL(10,2)"}}
  parts: {path: "data/parts/*.csv", union_by_name: true}
  events: data/events.jsonl
  warehouse: {path: data/warehouse.duckdb, table: sales}
  pq: {path: data/t.parquet, materialize: true, order_by: k}
models:
  big: SELECT * FROM warehouse WHERE v > 4
)yaml");
  auto built = build();
  ASSERT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : config::format_diagnostic(built.diagnostics[0]));
  const Engine& e = *built.engine;
  EXPECT_EQ(count(e, "semi"), 3);
  EXPECT_EQ(e.relation("semi")->column("amount")->type, "DECIMAL(10,2)");
  EXPECT_EQ(count(e, "parts"), 2);
  EXPECT_NE(e.relation("parts")->column("extra"), nullptr);
  EXPECT_EQ(count(e, "events"), 2);
  EXPECT_EQ(count(e, "warehouse"), 7);
  EXPECT_EQ(count(e, "pq"), 50);
  EXPECT_EQ(count(e, "big"), 4);
  EXPECT_TRUE(e.relation("big")->is_model);
}

TEST_F(EngineSources, ProblemsPointAtTheSource) {
  write("data/ok.csv", "a\n1\n");
  write("sightline.yaml", "sources:\n  ok: data/ok.csv\n  gone: {path: data/nothing/*.parquet}\n  db: {path: data/none.duckdb, table: t}\nmodels:\n  m: SELECT nope FROM ok\n");
  auto built = build();
  EXPECT_FALSE(built.engine);
  std::string all;
  for (const auto& d : built.diagnostics) all += config::format_diagnostic(d) + "\n";
  EXPECT_NE(all.find("sightline.yaml:3:3: error: source 'gone' cannot be read"), std::string::npos) << all;
  EXPECT_NE(all.find("no file matches 'data/nothing/*.parquet'"), std::string::npos) << all;
  EXPECT_NE(all.find("sightline.yaml:4:3: error: source 'db': no such DuckDB file 'data/none.duckdb'"), std::string::npos) << all;
  EXPECT_EQ(all.find("LINE 1"), std::string::npos) << "DuckDB's excerpt of generated SQL is not shown";
}

TEST_F(EngineSources, ModelErrorsNameTheModel) {
  write("data/ok.csv", "a\n1\n");
  write("sightline.yaml", "sources:\n  ok: data/ok.csv\nmodels:\n  m: SELECT nope FROM ok\n");
  auto built = build();
  EXPECT_FALSE(built.engine);
  ASSERT_FALSE(built.diagnostics.empty());
  std::string text = config::format_diagnostic(built.diagnostics[0]);
  EXPECT_NE(text.find("sightline.yaml:4:3: error: model 'm' does not compile"), std::string::npos) << text;
  EXPECT_NE(text.find("nope"), std::string::npos) << text;
}

// A materialized source is clustered by the filtered column with the most values that still
// leaves each value two row groups of its own: 1.2M rows are 10 row groups, so the column of 4
// values (not the one of 40) comes first, then the declared order. Each row group then holds
// one or two of its values, and the rows and answers are those of the file.
TEST_F(EngineSources, AMaterializedSourceIsClusteredByAFilteredColumnOfFewValues) {
  {
    auto db = Database::open(":memory:", {.threads = 2});
    ASSERT_TRUE(db.has_value());
    auto c = Connection::open(**db);
    ASSERT_TRUE((*c)->execute("COPY (SELECT DATE '2024-01-01' + CAST(range % 366 AS INTEGER) AS day, "
                              "['North', 'South', 'East', 'West'][1 + CAST(hash(range) % 4 AS INTEGER)] AS \"sales region\", "
                              "CAST(hash(range * 3) % 40 AS INTEGER) AS store, CAST(range % 100 AS INTEGER) AS amount "
                              "FROM range(1200000)) TO '" +
                              (dir_ / "data" / "orders.parquet").string() + "' (FORMAT parquet)")
                    .has_value());
  }
  write("sightline.yaml", "sources:\n  orders: {path: data/orders.parquet, materialize: true, order_by: day}\n"
                          "  plain: {path: data/orders.parquet, materialize: true}\ndashboards: dashboards/*.yaml\n");
  fs::create_directories(dir_ / "dashboards");
  write("dashboards/orders.yaml", R"yaml(source: orders
filters:
  - { id: region, type: multiselect, column: sales region }
  - { id: store, type: select, column: store }
  - { id: day, type: daterange, column: day }
widgets:
  - { id: revenue, type: kpi, measure: sum(amount) }
)yaml");
  auto built = build();
  ASSERT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : built.diagnostics[0].message);
  EXPECT_EQ(built.engine->clustered_by("orders"), "\"sales region\"");
  EXPECT_EQ(built.engine->clustered_by("plain"), "") << "no dashboard filters it";
  auto run = [&](const std::string& sql) {
    auto out = built.engine->pool().run<QueryOutput>(std::chrono::seconds(30), [&](Connection& c) { return c.query(sql, 100); });
    EXPECT_TRUE(out.has_value()) << sql;
    return out ? nlohmann::json::parse(*arrow::write_json_rows(out->table))["rows"] : nlohmann::json();
  };
  // Row groups holding more than one region: at most the three boundaries between the four runs.
  auto groups = run("SELECT count(DISTINCT row_group_id) FILTER (WHERE regexp_extract(stats, 'Min: ([^,\\]]*)', 1) <> "
                    "regexp_extract(stats, 'Max: ([^,\\]]*)', 1)), count(DISTINCT row_group_id) FROM pragma_storage_info('orders') "
                    "WHERE column_name = 'sales region' AND segment_type <> 'VALIDITY'");
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_LE(groups[0][0].get<int64_t>(), 3)
      << run("SELECT row_group_id, string_agg(stats, ' ') FROM pragma_storage_info('orders') WHERE column_name = 'sales region' GROUP BY 1");
  EXPECT_GE(groups[0][1].get<int64_t>(), 8);
  // Within a region's run, the declared order: days ascending.
  EXPECT_EQ(run("SELECT count(*) FROM (SELECT day < lag(day) OVER () AND \"sales region\" = lag(\"sales region\") OVER () AS back "
                "FROM orders) WHERE back")[0][0],
            0);
  EXPECT_EQ(run("SELECT count(*), sum(amount), count(DISTINCT store) FROM orders"),
            run("SELECT count(*), sum(amount), count(DISTINCT store) FROM plain"));
}

}  // namespace
}  // namespace sightline::engine
